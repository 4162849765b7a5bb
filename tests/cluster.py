"""A local Redis Cluster for the tests: six `redis-server` processes on loopback (three
masters, three replicas) joined by `redis-cli --cluster create`, in a temporary folder.

The test that starts one stops it (also when the test fails). Ports are picked free at run
time below 55536, so that each node's cluster bus (port + 10000) is a valid port too.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.crc import key_slot

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
_LOWEST_PORT, _HIGHEST_PORT = 20000, 55535  # the bus port (+10000) must stay below 65536


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """`count` ports nobody listens on, each with its bus port (+10000) free too."""
    chance = random.SystemRandom()
    ports: list[int] = []
    for _ in range(10_000):
        port = chance.randrange(_LOWEST_PORT, _HIGHEST_PORT + 1)
        taken = {p for q in ports for p in (q, q + 10000)}
        if port in taken or port + 10000 in taken:
            continue
        if _bindable(port) and _bindable(port + 10000):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError("no free ports for a local Redis Cluster")


@dataclass
class Node:
    """One `redis-server` of the cluster."""

    port: int
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        """A plain client of this node alone."""
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)


class LocalCluster:
    """Three masters and three replicas on loopback, `cluster-node-timeout` 2 s."""

    def __init__(self, directory: Path, *, masters: int = 3, node_timeout_ms: int = 2000):
        self.directory = directory
        self.masters = masters
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[Node] = []

    @property
    def url(self) -> str:
        """The redis:// URL of the first node (the client finds the others)."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout: float = 60.0) -> LocalCluster:
        """Start the servers, join them into a cluster and wait until every slot is served
        and every master's replica is in sync."""
        for port in free_cluster_ports(self.masters * 2):
            (self.directory / str(port)).mkdir(parents=True)
            self.nodes.append(Node(port, self._spawn(port)))
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            self._wait(lambda node=node: node.client().ping(), deadline, f"node {node.port}")
        created = subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}")
        self.wait_healthy(deadline)
        return self

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        folder = self.directory / str(port)
        return subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(folder),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(self.node_timeout_ms),
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def restart(self, port: int, timeout: float = 60.0) -> None:
        """Start a killed node again, as a supervisor would: it remembers the cluster
        (nodes.conf) and rejoins it, as the replica of whoever took its slots over. Returns
        once the cluster is healthy again."""
        for node in self.nodes:
            if node.port == port and node.process.poll() is not None:
                node.process = self._spawn(port)
        self.wait_healthy(time.monotonic() + timeout)

    def wait_healthy(self, deadline: float) -> None:
        """Until every live node says the cluster is ok and each master has a synced replica."""

        def healthy() -> bool:
            for node in self.live_nodes():
                client = node.client()
                if "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
                role = client.info("replication")
                if role["role"] == "slave" and role.get("master_link_status") != "up":
                    return False
            return len(self.master_ports()) == self.masters

        self._wait(healthy, deadline, "a healthy cluster")

    def live_nodes(self) -> list[Node]:
        """The nodes whose process runs."""
        return [node for node in self.nodes if node.process.poll() is None]

    def master_ports(self) -> list[int]:
        """Ports of the live masters that serve slots, as a live node sees them."""
        ports = []
        for line in self._cluster_nodes():
            fields = line.split()
            if "master" in fields[2] and "fail" not in fields[2] and len(fields) > 8:
                ports.append(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(ports)

    def port_of_slot(self, slot: int) -> int:
        """The port of the master serving `slot` now."""
        shards = self.live_nodes()[0].client().execute_command("CLUSTER", "SLOTS")
        for start, end, master, *_ in shards:
            if int(start) <= slot <= int(end):
                return int(master[1])
        raise LookupError(f"slot {slot} is not served")

    def port_of_key(self, key: str) -> int:
        """The port of the master serving `key` now."""
        return self.port_of_slot(key_slot(key.encode()))

    def replica_of(self, port: int) -> int:
        """The port of the replica of the master at `port`."""
        master_id = self.nodes_by_port()[port]
        for line in self._cluster_nodes():
            fields = line.split()
            if fields[3] == master_id:
                return int(fields[1].split("@")[0].rsplit(":", 1)[1])
        raise LookupError(f"no replica of {port}")

    def nodes_by_port(self) -> dict[int, str]:
        """Node ids by port."""
        return {
            int(line.split()[1].split("@")[0].rsplit(":", 1)[1]): line.split()[0]
            for line in self._cluster_nodes()
        }

    def role_of(self, port: int) -> str:
        """'master' or 'slave', as the node at `port` says of itself."""
        node = next(node for node in self.nodes if node.port == port)
        return str(node.client().info("replication")["role"])

    def kill(self, port: int) -> None:
        """SIGKILL one node: no goodbye, as when its machine dies."""
        for node in self.nodes:
            if node.port == port and node.process.poll() is None:
                node.process.send_signal(signal.SIGKILL)
                node.process.wait()

    def __enter__(self) -> LocalCluster:
        """`with LocalCluster(folder) as cluster:` starts it and stops it (also on failure)."""
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every node and wait for them (SIGKILL: nothing of theirs is kept anyway)."""
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait()

    def _cluster_nodes(self) -> list[str]:
        text = self.live_nodes()[0].client().execute_command("CLUSTER", "NODES")
        return [line for line in str(text).splitlines() if line.strip()]

    @staticmethod
    def _wait(condition: object, deadline: float, what: str) -> None:
        assert callable(condition)
        while True:
            try:
                if condition():
                    return
            except (redis.exceptions.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"local Redis Cluster: no {what} in time")
            time.sleep(0.05)
