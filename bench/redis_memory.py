"""Redis memory and network per 1,000 conversations, for capacity planning (docs/scaling.md).

    .venv/bin/python bench/redis_memory.py [--customers 1000]

Starts a private `redis-server` (no persistence, a free loopback port, stopped afterwards),
then plays `--customers` web customers through the real runtime: each opens a conversation,
asks two FAQ questions and says it is solved (the bot answers, asks "Did this solve it?",
then the CES question). Prints `INFO memory`'s growth, the sum of `MEMORY USAGE` over the
keys by kind, the bytes Redis received and sent (`INFO stats`), and the CPU time Redis
(`INFO cpu`) and this process spent per event.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.composition.runtime import Runtime  # noqa: E402
from bot.model import Inbound, InboundKind  # noqa: E402
from bot.serving import free_port  # noqa: E402
from bot.settings import Settings  # noqa: E402

MESSAGES = ["送料はいくらですか？", "ポイントの有効期限は？", "解決しました"]


def kind_of(key: str, prefix: str) -> str:
    """A key's kind: its name with the customer, event and message ids left out."""
    rest = key[len(prefix) + 1 :]
    if rest.startswith("conv:{"):
        tail = rest.split("}:", 1)[1]
        return "conv:" + tail.split(":", 1)[0]
    return ":".join(part for part in rest.split(":")[:2] if "{" not in part)


async def play(url: str, customers: int) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=url,
        key_prefix="mem",
        faq_dir=ROOT / "faq_data",
        faq_watch=False,
        secret_key="bench",
    )
    runtime = Runtime(settings)
    await runtime.start(run_worker=False)
    try:
        for n, text in enumerate(MESSAGES):
            for customer in range(customers):
                await runtime.inbox.put(
                    Inbound(
                        event_id=f"bench-{customer}-{n}",
                        channel="web",
                        user_id=f"w_bench{customer:06d}",
                        kind=InboundKind.TEXT,
                        text=text,
                        locale="ja",
                    )
                )
            await runtime.drain_inbox()
    finally:
        await runtime.stop()
        await runtime.redis.aclose()


def main() -> None:
    import redis

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tsunagu-mem-"))
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, decode_responses=True)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        before_memory = int(client.info("memory")["used_memory"])
        stats = client.info("stats")
        before_in, before_out = stats["total_net_input_bytes"], stats["total_net_output_bytes"]
        redis_cpu = client.info("cpu")
        began, cpu_began = time.monotonic(), time.process_time()
        asyncio.run(play(f"redis://127.0.0.1:{port}/0", args.customers))
        took, app_cpu = time.monotonic() - began, time.process_time() - cpu_began
        cpu_after = client.info("cpu")
        redis_cpu_s = sum(
            float(cpu_after[name]) - float(redis_cpu[name])
            for name in ("used_cpu_user", "used_cpu_sys")
        )
        stats = client.info("stats")
        net_in = stats["total_net_input_bytes"] - before_in
        net_out = stats["total_net_output_bytes"] - before_out
        used = int(client.info("memory")["used_memory"]) - before_memory
        by_kind: Counter[str] = Counter()
        count: Counter[str] = Counter()
        for key in client.scan_iter(match="mem:*", count=1000):
            kind = kind_of(key, "mem")
            by_kind[kind] += int(client.memory_usage(key, samples=0) or 0)
            count[kind] += 1
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)

    n = args.customers
    events = n * len(MESSAGES)
    print(f"\n{n} web conversations, {events} events ({took:.1f} s)\n")
    print("| keys | count | bytes per conversation | MB per 1,000 conversations |")
    print("| --- | ---: | ---: | ---: |")
    for kind, size in by_kind.most_common():
        print(f"| {kind} | {count[kind]} | {size / n:,.0f} | {size / n / 1000:.2f} |")
    total = sum(by_kind.values())
    keys = sum(count.values())
    print(f"| all (MEMORY USAGE) | {keys} | {total / n:,.0f} | {total / n / 1000:.2f} |")
    print(f"| INFO used_memory growth | | {used / n:,.0f} | {used / n / 1000:.2f} |")
    per_event = f"{net_in / events:,.0f} B in, {net_out / events:,.0f} B out"
    print(f"\nnetwork: {per_event} of Redis per event")
    print(
        f"CPU per event: Tsunagu (inbox, worker, dispatcher, FAQ; no HTTP) "
        f"{app_cpu * 1000 / events:.2f} ms, Redis {redis_cpu_s * 1000 / events:.3f} ms"
    )


if __name__ == "__main__":
    main()
