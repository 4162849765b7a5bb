"""Time to serve help-center pages: index, entry, search, and a 304 revalidation.

Run: .venv/bin/python bench/help_center.py [--requests 300]
Needs a Redis at TSUNAGU_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0); its keys use a
prefix of their own and are deleted afterwards. Requests go through the whole app in this
process (httpx's ASGI transport: routing, rendering, the matcher, Redis), one at a time, so
the figures are the server's own time per page, without a network in between.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.composition.app import create_app
from bot.composition.runtime import Runtime
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TSUNAGU_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
QUERIES = ["送料っていくら？", "how much is postage", "返品したい", "ポイントの期限", "xyzzy"]


@dataclass(frozen=True)
class Case:
    """One kind of page request."""

    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    search: bool = False  # vary the query from request to request


async def timed(client: httpx.AsyncClient, n: int, case: Case) -> list[float]:
    """Milliseconds per request, for `n` requests one after another."""
    out = []
    for i in range(n):
        params = dict(case.params)
        if case.search:
            params["q"] = QUERIES[i % len(QUERIES)]
        started = time.perf_counter()
        response = await client.get(case.path, params=params, headers=case.headers)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 304), response.status_code
    return out


async def main(n: int) -> None:
    prefix = f"bench-help-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=REDIS_URL,
        key_prefix=prefix,
        faq_dir=ROOT / "faq_data",
        faq_watch=False,
        secret_key="bench",
        run_worker=False,
    )
    rt = Runtime(settings)
    app = create_app(settings, runtime=rt)
    await rt.start(run_worker=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            etag = (await client.get("/help/shipping-fee?lang=ja")).headers["etag"]
            cases = [
                Case("index (ja)", "/help", {"lang": "ja"}),
                Case("entry (en)", "/help/shipping-fee", {"lang": "en"}),
                Case("search", "/help", {"lang": "ja"}, search=True),
                Case("entry, 304", "/help/shipping-fee", {"lang": "ja"}, {"If-None-Match": etag}),
                Case("sitemap", "/help/sitemap.xml"),
            ]
            print(f"{n} requests each, one at a time, {len(rt.faq.entries)} FAQ entries")
            print(f"{'page':<12} {'p50 ms':>8} {'p99 ms':>8}")
            for case in cases:
                await timed(client, 20, case)  # warm up
                ms = sorted(await timed(client, n, case))
                p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
                print(f"{case.name:<12} {statistics.median(ms):>8.2f} {p99:>8.2f}")
    finally:
        await rt.stop()
        async for key in rt.redis.scan_iter(match=f"{prefix}:*", count=1000):
            await rt.redis.delete(key)
        await rt.redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
