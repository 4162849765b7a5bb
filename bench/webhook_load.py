"""LINE webhook load: what the app acknowledges and answers, next to a bare baseline.

    .venv/bin/python bench/webhook_load.py [--rates 50,100,150,200] [--seconds 5] [--line-delay 2]
                                           [--cluster]

Needs a Redis server (REDIS_URL, default redis://127.0.0.1:6379/0); uses a key prefix of
its own and deletes it afterwards. Everything listens on loopback.

For each setup — a bare FastAPI endpoint that only verifies the LINE signature and answers
200 (the baseline), then `tsunagu serve` (RUN_WORKER=false) with 1 and with 2 `tsunagu
worker` processes — a separate load process sends signed text webhooks (one new customer
each, without a reply token, so each answer is a push) at fixed rates, open loop. Printed
per rate: webhooks acknowledged per second, p50 and p99 acknowledgement latency, and end
to end (webhook sent → reply recorded by the fake LINE platform) p50 and p99, with the
ratio of the app's acknowledgement rate to the baseline's. With `--line-delay`, every call
to the fake LINE (profile, reply, push) takes that many seconds more: a slow LINE should
cost each answer that delay, not hold up the acknowledgements or the other customers.

With `--cluster`, the same table on a local Redis Cluster (three masters, three replicas,
in a temporary folder, stopped afterwards) with `REDIS_CLUSTER=true`: every event and every
decision is then acknowledged only once a replica has it (set `REDIS_WAIT_REPLICAS=0` to
see what that costs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTION = "送料はいくらですか？"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# -- the baseline app ----------------------------------------------------------------------


def baseline_app(secret: str) -> Any:
    """A FastAPI app that verifies the signature and answers 200: the floor of any webhook."""
    app = FastAPI()

    @app.post("/line/webhook")
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        expected = sign(secret, body).encode()
        if not hmac.compare_digest(expected, request.headers.get("x-line-signature", "").encode()):
            return JSONResponse({"detail": "invalid signature"}, status_code=401)
        json.loads(body)
        return JSONResponse({})

    return app


def run_baseline(port: int, secret: str) -> None:
    import uvicorn

    uvicorn.run(baseline_app(secret), host="127.0.0.1", port=port, log_level="warning")


# -- the load process ------------------------------------------------------------------------


async def load(url: str, secret: str, rate: float, seconds: float, out: Path) -> None:
    """Send `rate` webhooks a second for `seconds`, open loop; write what happened to `out`."""
    import aiohttp

    results: list[dict[str, Any]] = []
    connector = aiohttp.TCPConnector(limit=500)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(user: str) -> None:
            now = time.time()
            event = {
                "type": "message",
                "mode": "active",
                "timestamp": int(now * 1000),
                "source": {"type": "user", "userId": user},
                "webhookEventId": uuid.uuid4().hex[:26].upper(),
                "deliveryContext": {"isRedelivery": False},
                "message": {"id": str(uuid.uuid4().int)[:18], "type": "text", "text": QUESTION},
            }
            body = json.dumps({"destination": "Ubench", "events": [event]}).encode()
            headers = {"Content-Type": "application/json", "X-Line-Signature": sign(secret, body)}
            sent = time.time()
            status = 0
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                pass
            results.append({"user": user, "sent": sent, "acked": time.time(), "status": status})

        tasks = []
        began = time.monotonic()
        total = int(rate * seconds)
        for n in range(total):
            delay = began + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one("U" + uuid.uuid4().hex)))
        await asyncio.gather(*tasks)
    await asyncio.to_thread(out.write_text, json.dumps(results))


# -- the orchestration -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_port(port: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=None
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def measure(
    url: str, secret: str, rate: float, seconds: float, sent_at: dict[str, float] | None
) -> dict[str, float]:
    """One load run from a separate process; the figures of it."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    loader = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--load", url, "--secret", secret,
        "--rate", str(rate), "--seconds", str(seconds), "--out", str(out), cwd=ROOT,
    )  # fmt: skip
    await loader.wait()
    results = json.loads(await asyncio.to_thread(out.read_text))
    await asyncio.to_thread(out.unlink)
    acked = [r for r in results if 200 <= r["status"] < 300]
    span = max(r["acked"] for r in results) - min(r["sent"] for r in results)
    latencies = [r["acked"] - r["sent"] for r in acked]
    figures = {
        "sent": len(results),
        "acked": len(acked),
        "refused": len(results) - len(acked),
        "acked_per_s": len(acked) / span if span > 0 else float("nan"),
        "ack_p50": percentile(latencies, 0.5) * 1000,
        "ack_p99": percentile(latencies, 0.99) * 1000,
    }
    if sent_at is not None:
        # Wait (bounded) for the replies, then read the end-to-end times.
        deadline = time.monotonic() + 30
        users = [r["user"] for r in acked]
        while time.monotonic() < deadline:  # filled in by the fake platform meanwhile
            if all(u in sent_at for u in users):
                break
            await asyncio.sleep(0.2)
        e2e = [sent_at[r["user"]] - r["sent"] for r in acked if r["user"] in sent_at]
        figures.update(
            replied=len(e2e),
            e2e_p50=percentile(e2e, 0.5) * 1000,
            e2e_p99=percentile(e2e, 0.99) * 1000,
        )
    return figures


async def bench_on_cluster(rates: list[float], seconds: float, line_delay: float = 0.0) -> None:
    """`bench` on a local Redis Cluster started for the run, and stopped (with its folder)
    whatever happens."""
    from tests.cluster import LocalCluster

    local = LocalCluster(Path(tempfile.mkdtemp(prefix="tsunagu-bench-")))
    try:
        await asyncio.to_thread(local.start)
        await bench(rates, seconds, line_delay, redis_url=local.url, cluster=True)
    finally:
        local.stop()
        shutil.rmtree(local.directory, ignore_errors=True)


async def bench(
    rates: list[float],
    seconds: float,
    line_delay: float = 0.0,
    *,
    redis_url: str | None = None,
    cluster: bool = False,
) -> None:
    import redis.asyncio as aioredis

    from channels.line.fake_platform import FakeLinePlatform

    redis_url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    secret, token = "bench-secret-" + uuid.uuid4().hex, "bench-token-" + uuid.uuid4().hex
    platform = await FakeLinePlatform(channel_secret=secret, access_token=token).start()
    for endpoint in ("profile", "reply", "push"):
        platform.slow(endpoint, line_delay)
    first_reply: dict[str, float] = {}
    platform.on_sent = lambda sent: first_reply.setdefault(sent.to, sent.at)
    rows: list[tuple[str, float, dict[str, float]]] = []

    # The baseline.
    port = free_port()
    base = spawn(["-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                  f"from bench.webhook_load import run_baseline; run_baseline({port}, {secret!r})"],
                 dict(os.environ))  # fmt: skip
    try:
        wait_port(port)
        for rate in rates:
            rows.append(("baseline", rate, await measure(
                f"http://127.0.0.1:{port}/line/webhook", secret, rate, seconds, None)))  # fmt: skip
    finally:
        stop(base)

    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "KEY_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "FAQ_WATCH": "false",
        "SECRET_KEY": "bench",
        "ADMIN_TOKEN": "bench-admin",
        "ASK_IF_SOLVED": "false",
        "LINE_CHANNEL_SECRET": secret,
        "LINE_CHANNEL_ACCESS_TOKEN": token,
        "LINE_API_BASE_URL": platform.base_url,
        "LINE_DATA_API_BASE_URL": platform.base_url,
        "PYTHONPATH": str(ROOT),
        "REDIS_CLUSTER": "true" if cluster else "false",
    }
    cli = ["-c", "from bot.composition.cli import main; main()"]
    try:
        for workers in (1, 2):
            port = free_port()
            server = spawn([*cli, "serve", "--port", str(port)], {**env, "RUN_WORKER": "false"})
            pool = [spawn([*cli, "worker"], env) for _ in range(workers)]
            try:
                wait_port(port)
                await asyncio.sleep(8)  # the workers share the shards out (a few heartbeats)
                for rate in rates:
                    first_reply.clear()
                    figures = await measure(
                        f"http://127.0.0.1:{port}/line/webhook", secret, rate, seconds, first_reply
                    )
                    rows.append(
                        (f"app, {workers} worker{'s' if workers > 1 else ''}", rate, figures)
                    )
            finally:
                for process in [server, *pool]:
                    stop(process)
    finally:
        await platform.stop()
        if not cluster:  # (a cluster goes away whole)
            client = aioredis.Redis.from_url(redis_url)
            async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                await client.delete(key)
            await client.aclose()

    baseline = {rate: f["acked_per_s"] for name, rate, f in rows if name == "baseline"}
    slow = f", every LINE call {line_delay:g} s" if line_delay else ""
    if cluster:
        waits = os.environ.get("REDIS_WAIT_REPLICAS", "1")
        slow += f", on a local Redis Cluster (3 masters, 3 replicas, WAIT {waits})"
    print(f"\nLINE webhooks, {seconds:g} s per rate{slow}, on {os.cpu_count()} CPUs\n")
    print("| setup | offered/s | acked/s | vs baseline | ack p50 ms | ack p99 ms "
          "| reply p50 ms | reply p99 ms | replied | not 2xx |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rate, f in rows:
        ratio = f["acked_per_s"] / baseline[rate] if baseline.get(rate) else float("nan")
        e2e = (
            f"{f['e2e_p50']:.0f} | {f['e2e_p99']:.0f} | {f['replied']:.0f}/{f['acked']:.0f}"
            if "e2e_p50" in f
            else "– | – | –"
        )
        print(
            f"| {name} | {rate:g} | {f['acked_per_s']:.0f} | {ratio:.2f} | {f['ack_p50']:.1f} "
            f"| {f['ack_p99']:.1f} | {e2e} | {f['refused']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="50,100,150,200")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--line-delay", type=float, default=0.0, help="seconds every fake LINE call takes"
    )
    parser.add_argument(
        "--cluster", action="store_true", help="on a local Redis Cluster started for the run"
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        asyncio.run(load(args.load, args.secret, args.rate, args.seconds, Path(args.out)))
        return
    rates = [float(r) for r in args.rates.split(",")]
    if args.cluster:
        asyncio.run(bench_on_cluster(rates, args.seconds, args.line_delay))
    else:
        asyncio.run(bench(rates, args.seconds, args.line_delay))


if __name__ == "__main__":
    main()
