"""Helpers of the fault tests: a private Redis server, and worker processes to kill.

Everything listens on loopback only, and every process started here is stopped by the
test that started it (also when the test fails).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from bot.serving import free_port
from tests.conftest import ROOT

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class PrivateRedis:
    """A `redis-server` of one test, on its own port, persisting every write (AOF, fsync
    always), so that what it acknowledged survives a restart."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        """Start the server and wait until it answers."""
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except redis.exceptions.RedisError:
                    pass
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the private redis-server did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Shut the server down as an operator would (SIGTERM: it flushes and exits)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def worker_env(**values: str) -> dict[str, str]:
    """The environment of a worker process: ours, plus `values` (upper-cased names)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LINE_", "SLACK_", "REDIS_URL", "KEY_PREFIX"))
    }
    env.update({"PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json"})
    env.update({key.upper(): value for key, value in values.items()})
    return env


class WorkerProcess:
    """`tsunagu worker` in a process of its own, to be killed and started again."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        """Start (or restart) the worker."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from bot.composition.cli import main; main()",
                "worker",
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when the machine or the OOM killer strikes."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM, and SIGKILL if it takes too long."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout=20)
        except TimeoutError:
            await self.kill()
