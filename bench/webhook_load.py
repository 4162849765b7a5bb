"""LINE webhook load: what the app acknowledges and answers, next to a bare baseline.

    .venv/bin/python bench/webhook_load.py [--rates 100,200,300] [--seconds 5] [--workers 1,2]
                                           [--line-delay 2] [--distinct] [--profile DIR]
                                           [--cluster] [--repeat 3]

Needs a Redis server (REDIS_URL, default redis://127.0.0.1:6379/0); uses a key prefix of
its own and deletes it afterwards. Everything listens on loopback.

For each setup — a bare FastAPI endpoint that only verifies the LINE signature and answers
200 (the baseline), then `tsunagu serve` (RUN_WORKER=false) with 1 and with 2 `tsunagu
worker` processes — a separate load process sends signed text webhooks (one new customer
each, without a reply token, so each answer is a push) at fixed rates, open loop. It builds
every request (body, signature, HTTP head) before the clock starts and then only writes
each one's bytes at its time on a keep-alive connection (`bench/webhook_sender.py`), so
that it takes as little CPU as it can from the app it measures on the same machine. Printed
per rate: webhooks acknowledged per second, p50 and p99 acknowledgement latency, and end
to end (webhook sent → reply recorded by the fake LINE platform) p50 and p99, with the
ratio of the app's acknowledgement rate to the baseline's, and the cost: the user+system
CPU time every process of the setup spent from the first webhook until the last reply
(web process and workers; the baseline's one process), per event replied (acknowledged,
for the baseline), split into the web process's and the workers' (together) part, e.g.
`5.86 (1.21 + 4.65)`, and as events per CPU-second; last, the load process's own CPU
(user+system) per request while sending: what the generator took from the machine. With
`--repeat N`, every setup and rate is measured N times, the setups alternating (the whole
sequence above, N times over), and each setup and rate gets a row per run and a row of the
means (events per CPU-second: that of the mean CPU per event); the runs on a shared
machine differ by 20% or more. With `--line-delay`, every call to the fake LINE (profile,
reply, push) takes that many seconds more: a slow LINE should cost each answer that
delay, not hold up the acknowledgements or the other customers.
Every customer asks the same question, unless `--distinct`: then no two messages are the
same, and none is answered from the FAQ's recent decisions (`bot/faq/recent.py`). With
`--profile DIR`, py-spy records every process at 200 Hz during each rate.

With `--cluster`, the same table on a local Redis Cluster (three masters, three replicas,
in a temporary folder, stopped afterwards) with `REDIS_CLUSTER=true`: every event and every
decision is then acknowledged only once a replica has it (set `REDIS_WAIT_REPLICAS=0` to
see what that costs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
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

from bench.webhook_sender import post_request, send  # noqa: E402

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


def question(distinct: bool) -> str:
    """What each customer writes: the same question, or (`distinct`) one no one else wrote,
    so that no decision is taken from the FAQ's recent ones."""
    return f"注文番号{uuid.uuid4().int % 10**8:08d}について。{QUESTION}" if distinct else QUESTION


# How long before the first request its preparation may take: every request is built (and
# its event stamped with its send time) before the clock starts.
PREPARE_LEAD_SECONDS = 1.0


def webhook_request(url: str, secret: str, user: str, at: float, distinct: bool) -> bytes:
    """The whole HTTP request of a signed LINE webhook: one text message from the new
    customer `user`, stamped `at` (wall clock, seconds), with ids of its own."""
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": int(at * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": uuid.uuid4().hex[:26].upper(),
        "deliveryContext": {"isRedelivery": False},
        "message": {"id": str(uuid.uuid4().int)[:18], "type": "text", "text": question(distinct)},
    }
    body = json.dumps({"destination": "Ubench", "events": [event]}).encode()
    headers = {"Content-Type": "application/json", "X-Line-Signature": sign(secret, body)}
    return post_request(url, body, headers)


async def load(
    url: str, secret: str, rate: float, seconds: float, out: Path, distinct: bool = False
) -> None:
    """Send `rate` webhooks a second for `seconds`, open loop; write what happened to `out`:
    the results (`user`, `sent`, `acked`, `status` each) and this process's CPU seconds
    while sending (`cpu_seconds`; building the requests before is not counted)."""
    total = int(rate * seconds)
    start_at = time.time() + PREPARE_LEAD_SECONDS
    users = ["U" + uuid.uuid4().hex for _ in range(total)]
    requests = [
        webhook_request(url, secret, user, start_at + n / rate, distinct)
        for n, user in enumerate(users)
    ]
    # What was built stays alive until the end: keep the collector from walking it.
    gc.collect()
    gc.freeze()
    if time.time() > start_at:
        print(f"load: building the requests overran the start by "
              f"{time.time() - start_at:.2f} s", file=sys.stderr)  # fmt: skip
    report = await send(url, requests, rate, start_at, limit=500)
    results = [
        {"user": user, "sent": o.sent, "acked": o.acked, "status": o.status}
        for user, o in zip(users, report.outcomes, strict=True)
    ]
    document = {"results": results, "cpu_seconds": report.cpu_seconds}
    await asyncio.to_thread(out.write_text, json.dumps(document))


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


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU time the processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Fields after the command name (which may hold spaces) start at index 2.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def cpu_by_role(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by the web process ("web") and by all the workers together
    ("workers"; 0 when there are none), each read as `cpu_seconds` reads them."""
    workers = [pid for role, pid in processes.items() if role != "web"]
    return {"web": cpu_seconds([processes["web"]]), "workers": cpu_seconds(workers)}


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


def start_profiles(processes: dict[str, int], folder: Path, label: str) -> list[Any]:
    """py-spy recording each process at 200 Hz into `folder/<label>-<role>.txt` (collapsed
    stacks, one line per stack with its sample count)."""
    folder.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    profilers = []
    for role, pid in processes.items():
        output = folder / f"{label}-{role}.txt"
        command = [py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
        profilers.append(
            subprocess.Popen(
                [*command, "--output", str(output)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return profilers


def stop_profiles(profilers: list[Any]) -> None:
    """Stop the recordings; py-spy writes its file on SIGINT."""
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        profiler.wait(timeout=60)


async def measure(
    url: str,
    secret: str,
    rate: float,
    seconds: float,
    sent_at: dict[str, float] | None,
    processes: dict[str, int],
    profile: Path | None = None,
    label: str = "",
    distinct: bool = False,
) -> dict[str, float]:
    """One load run from a separate process; the figures of it, with the CPU that the
    `processes` (by role) spent meanwhile. With `profile`, each is recorded by py-spy."""
    profilers = start_profiles(processes, profile, label) if profile is not None else []
    cpu_before = cpu_by_role(processes)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    loader = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--load", url, "--secret", secret,
        "--rate", str(rate), "--seconds", str(seconds), "--out", str(out),
        *(["--distinct"] if distinct else []), cwd=ROOT,
    )  # fmt: skip
    await loader.wait()
    document = json.loads(await asyncio.to_thread(out.read_text))
    await asyncio.to_thread(out.unlink)
    results = document["results"]
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
        "load_cpu_ms_per_request": document["cpu_seconds"] * 1000 / len(results),
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
    cpu_after = cpu_by_role(processes)
    stop_profiles(profilers)
    done = figures.get("replied", figures["acked"])
    figures.update(cpu_figures(cpu_after["web"] - cpu_before["web"],
                               cpu_after["workers"] - cpu_before["workers"], done))  # fmt: skip
    return figures


def cpu_figures(web: float, workers: float, done: float) -> dict[str, float]:
    """CPU per event (ms) in all, of the web process and of the workers together, and
    events per CPU-second, from the CPU seconds each role spent on `done` events."""
    if not done:
        nan = float("nan")
        return {"cpu_ms_per_event": nan, "cpu_web_ms": nan, "cpu_workers_ms": nan,
                "events_per_cpu_s": nan}  # fmt: skip
    total = web + workers
    return {
        "cpu_ms_per_event": total * 1000 / done,
        "cpu_web_ms": web * 1000 / done,
        "cpu_workers_ms": workers * 1000 / done,
        "events_per_cpu_s": done / total if total > 0 else float("nan"),
    }


async def bench_on_cluster(
    rates: list[float],
    seconds: float,
    workers_list: list[int],
    line_delay: float = 0.0,
    profile: Path | None = None,
    distinct: bool = False,
    repeat: int = 1,
) -> None:
    """`bench` on a local Redis Cluster started for the run, and stopped (with its folder)
    whatever happens."""
    from tests.cluster import LocalCluster

    local = LocalCluster(Path(tempfile.mkdtemp(prefix="tsunagu-bench-")))
    try:
        await asyncio.to_thread(local.start)
        await bench(
            rates,
            seconds,
            workers_list,
            line_delay,
            profile,
            distinct,
            repeat,
            redis_url=local.url,
            cluster=True,
        )
    finally:
        local.stop()
        shutil.rmtree(local.directory, ignore_errors=True)


Row = tuple[str, float, int, dict[str, float]]
"""(setup, offered rate, run number, figures)"""


async def bench(
    rates: list[float],
    seconds: float,
    workers_list: list[int],
    line_delay: float = 0.0,
    profile: Path | None = None,
    distinct: bool = False,
    repeat: int = 1,
    *,
    redis_url: str | None = None,
    cluster: bool = False,
) -> None:
    """Measure the baseline, then the app with each number of workers, at every rate; all
    of that `repeat` times over (the setups alternating), then print the table."""
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
    env = app_env(secret, token, platform.base_url, redis_url, prefix, cluster)
    rows: list[Row] = []
    try:
        for run in range(1, repeat + 1):
            for rate, figures in await measure_baseline(
                rates, seconds, secret, profile, distinct, run
            ):
                rows.append(("baseline", rate, run, figures))
            for workers in workers_list:
                name = f"app, {workers} worker{'s' if workers > 1 else ''}"
                for rate, figures in await measure_app(
                    workers, rates, seconds, secret, env, first_reply, profile, distinct, run
                ):
                    rows.append((name, rate, run, figures))
    finally:
        await platform.stop()
        if not cluster:  # (a cluster goes away whole)
            client = aioredis.Redis.from_url(redis_url)
            async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                await client.delete(key)
            await client.aclose()

    slow = f", every LINE call {line_delay:g} s" if line_delay else ""
    if cluster:
        waits = os.environ.get("REDIS_WAIT_REPLICAS", "1")
        slow += f", on a local Redis Cluster (3 masters, 3 replicas, WAIT {waits})"
    what = "a different message each" if distinct else "the same question each"
    runs = f", {repeat} runs alternating" if repeat > 1 else ""
    print(
        f"\nLINE webhooks ({what}), {seconds:g} s per rate{runs}{slow}, on {os.cpu_count()} CPUs\n"
    )
    print_table(rows, repeat)


def run_label(run: int) -> str:
    """The suffix of a profile's file name for a run ("" for the first, as before)."""
    return "" if run == 1 else f"-run{run}"


async def measure_baseline(
    rates: list[float], seconds: float, secret: str, profile: Path | None, distinct: bool, run: int
) -> list[tuple[float, dict[str, float]]]:
    """Start the bare baseline endpoint, measure it at every rate, stop it."""
    port = free_port()
    base = spawn(["-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                  f"from bench.webhook_load import run_baseline; run_baseline({port}, {secret!r})"],
                 dict(os.environ))  # fmt: skip
    results = []
    try:
        await asyncio.to_thread(wait_port, port)  # the fake LINE in this loop keeps answering
        for rate in rates:
            label = f"baseline-{rate:g}{run_label(run)}"
            results.append((rate, await measure(
                f"http://127.0.0.1:{port}/line/webhook", secret, rate, seconds, None,
                {"web": base.pid}, profile, label, distinct)))  # fmt: skip
    finally:
        stop(base)
    return results


def app_env(
    secret: str, token: str, line_url: str, redis_url: str, prefix: str, cluster: bool
) -> dict[str, str]:
    """The environment of the app's processes: the fake LINE, Redis under a prefix of the
    bench's own, quiet logs, no FAQ watching and no "solved?" question."""
    return {
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
        "LINE_API_BASE_URL": line_url,
        "LINE_DATA_API_BASE_URL": line_url,
        "PYTHONPATH": str(ROOT),
        "REDIS_CLUSTER": "true" if cluster else "false",
    }


async def measure_app(
    workers: int,
    rates: list[float],
    seconds: float,
    secret: str,
    env: dict[str, str],
    first_reply: dict[str, float],
    profile: Path | None,
    distinct: bool,
    run: int,
) -> list[tuple[float, dict[str, float]]]:
    """Start `tsunagu serve` (RUN_WORKER=false) and `workers` `tsunagu worker` processes,
    measure them at every rate, stop them."""
    cli = ["-c", "from bot.composition.cli import main; main()"]
    port = free_port()
    server = spawn([*cli, "serve", "--port", str(port)], {**env, "RUN_WORKER": "false"})
    pool = [spawn([*cli, "worker"], env) for _ in range(workers)]
    results = []
    try:
        await asyncio.to_thread(wait_port, port)  # the fake LINE in this loop keeps answering
        await asyncio.sleep(8)  # the workers share the shards out (a few heartbeats)
        for rate in rates:
            first_reply.clear()
            results.append((rate, await measure(
                f"http://127.0.0.1:{port}/line/webhook", secret, rate, seconds, first_reply,
                {"web": server.pid} | {f"worker{n}": w.pid for n, w in enumerate(pool)},
                profile, f"app{workers}-{rate:g}{run_label(run)}", distinct)))  # fmt: skip
    finally:
        for process in [server, *pool]:
            stop(process)
    return results


def mean_figures(runs: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each figure over the runs; events per CPU-second is that of the mean CPU
    per event (not the mean of the ratios)."""
    mean = {
        key: sum(f[key] for f in runs) / len(runs) for key in runs[0] if all(key in f for f in runs)
    }
    ms = mean["cpu_ms_per_event"]
    mean["events_per_cpu_s"] = 1000 / ms if ms > 0 else float("nan")
    return mean


def with_means(rows: list[Row], repeat: int) -> list[tuple[str, float, str, dict[str, float]]]:
    """The rows grouped by setup and rate (in the order measured), every run then (with more
    than one run) their mean, labelled "mean"."""
    groups: dict[tuple[str, float], list[Row]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    table: list[tuple[str, float, str, dict[str, float]]] = []
    for (name, rate), runs in groups.items():
        table.extend((name, rate, str(run), figures) for _, _, run, figures in runs)
        if repeat > 1:
            table.append((name, rate, "mean", mean_figures([r[3] for r in runs])))
    return table


def cpu_cell(f: dict[str, float]) -> str:
    """CPU ms per event, and for the app its split: `5.86 (1.21 + 4.65)` (web + workers)."""
    total = f"{f['cpu_ms_per_event']:.2f}"
    if f.get("cpu_workers_ms", 0) == 0 and "e2e_p50" not in f:
        return total  # the baseline: one process
    return f"{total} ({f['cpu_web_ms']:.2f} + {f['cpu_workers_ms']:.2f})"


def print_table(rows: list[Row], repeat: int) -> None:
    """The markdown table: every run (and the means), each against the baseline of the same
    run and rate (the means against the baseline's mean)."""
    table = with_means(rows, repeat)
    baseline = {(rate, run): f for name, rate, run, f in table if name == "baseline"}
    print("| setup | run | offered/s | acked/s | vs baseline | ack p50 ms | ack p50 vs baseline "
          "| ack p99 ms | reply p50 ms | reply p99 ms | replied | not 2xx "
          "| CPU ms/event web + workers | events/CPU-s | load gen CPU ms/request |")  # fmt: skip
    print("| --- " * 15 + "|")
    for name, rate, run, f in table:
        base = baseline.get((rate, run), {})
        ratio = f["acked_per_s"] / base["acked_per_s"] if base.get("acked_per_s") else float("nan")
        p50_ratio = f["ack_p50"] / base["ack_p50"] if base.get("ack_p50") else float("nan")
        e2e = (
            f"{f['e2e_p50']:.0f} | {f['e2e_p99']:.0f} | {f['replied']:.0f}/{f['acked']:.0f}"
            if "e2e_p50" in f
            else "– | – | –"
        )
        print(
            f"| {name} | {run} | {rate:g} | {f['acked_per_s']:.0f} | {ratio:.2f} "
            f"| {f['ack_p50']:.1f} | {p50_ratio:.1f}× | {f['ack_p99']:.1f} | {e2e} "
            f"| {f['refused']:.0f} | {cpu_cell(f)} | {f['events_per_cpu_s']:.0f} "
            f"| {f['load_cpu_ms_per_request']:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="100,200,300")
    parser.add_argument(
        "--workers", default="1,2", help="worker processes beside the web process, per setup"
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--line-delay", type=float, default=0.0, help="seconds every fake LINE call takes"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder for py-spy profiles (200 Hz, collapsed stacks) of every process, per rate",
    )
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="every customer writes a different message (else all ask the same question)",
    )
    parser.add_argument(
        "--cluster", action="store_true", help="on a local Redis Cluster started for the run"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure every setup and rate this many times, alternating, and print the means",
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        from bot.serving import run_event_loop  # uvloop: the cheapest loop at hand

        run_event_loop(
            load(args.load, args.secret, args.rate, args.seconds, Path(args.out), args.distinct)
        )
        return
    rates = [float(r) for r in args.rates.split(",")]
    workers = [int(n) for n in args.workers.split(",")]
    run = bench_on_cluster if args.cluster else bench
    asyncio.run(
        run(rates, args.seconds, workers, args.line_delay, args.profile, args.distinct, args.repeat)
    )


if __name__ == "__main__":
    main()
