"""Store servers the tests start on free 127.0.0.1 ports, and stop, freeze and restart.

``StoreProcess`` runs one server binary; a store adds its command line
(``MemcachedProcess``, ``RedisProcess``; ``RedisCluster`` starts several Redis nodes
and joins them into a Cluster).  ``stop`` kills the process as a crash would, ``pause``
freezes it (SIGSTOP: it accepts connections and never answers), ``restart`` starts
it again empty on the same port.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.net import free_port, wait_for_port

#: The longest any start or stop may take (s).
WAIT = 10.0


def find_binary(name: str, *places: str) -> str | None:
    """The path of a server binary on PATH or in ``places``, or None."""
    return shutil.which(name) or next(
        (p for p in places if os.access(p, os.X_OK)), None)


class StoreProcess:
    """One store server process on 127.0.0.1:``port``."""

    def __init__(self, binary: str, port: int | None = None):
        self.binary = binary
        self.port = free_port() if port is None else port
        self.proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list:
        raise NotImplementedError

    def start(self) -> "StoreProcess":
        assert not self.running, f"{self.binary} is already running"
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port, self.proc, timeout=WAIT)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill the server, as a crash would: everything it held in memory is lost."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        if proc.stderr is not None:
            proc.stderr.close()

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it accepts connections but never answers.

        Returns once every thread of it has stopped: a signal takes effect asynchronously,
        and a busy machine may let the server answer one more request first.
        """
        self.proc.send_signal(signal.SIGSTOP)
        tasks = Path(f"/proc/{self.proc.pid}/task")
        deadline = time.monotonic() + WAIT
        while tasks.exists():  # (without /proc, best effort)
            states = set()
            for task in tasks.iterdir():
                try:
                    states.add((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
                except (OSError, IndexError):
                    pass  # a thread that ended meanwhile
            if states <= {"T", "t"}:
                return
            assert time.monotonic() < deadline, f"{self.binary} is still running: {states}"
            time.sleep(0.005)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)


class MemcachedProcess(StoreProcess):
    """A memcached (TCP only); ``servers`` is the list the memcache managers take as
    ``mc_servers``."""

    def __init__(self, binary: str, port: int | None = None, memory_mb: int = 64):
        StoreProcess.__init__(self, binary, port)
        self.memory_mb = memory_mb

    @property
    def servers(self) -> list:
        return [f"127.0.0.1:{self.port}"]

    def command(self) -> list:
        cmd = [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
               "-m", str(self.memory_mb)]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd += ["-u", "root"]  # memcached refuses to run as root otherwise
        return cmd


def memcached_binary() -> str | None:
    return find_binary("memcached", "/usr/bin/memcached", "/usr/local/bin/memcached",
                       "/usr/sbin/memcached")


class RedisProcess(StoreProcess):
    """A redis-server keeping everything in memory (no snapshots, no append-only file, so a
    restart loses everything, as a crash of an unpersisted Redis would); ``url`` is what
    the Redis managers take.  ``cluster``: a Cluster node."""

    def __init__(self, binary: str, port: int | None = None, cluster: bool = False,
                 directory: str | None = None):
        StoreProcess.__init__(self, binary, port)
        self.cluster = cluster
        self.directory = directory
        # Its Cluster bus port, free too (by default the port + 10000, maybe over 65535).
        self.bus_port = free_port() if cluster else None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list:
        cmd = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
               "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"]
        if self.cluster:
            cmd += ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                    "--cluster-node-timeout", "2000",
                    "--cluster-config-file", f"nodes-{self.port}.conf", "--dir", self.directory]
        return cmd

    def cli(self, *args: str, timeout: float = WAIT) -> str:
        """``redis-cli`` against this server; its output."""
        cli = find_binary("redis-cli", "/usr/bin/redis-cli", "/usr/local/bin/redis-cli")
        done = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(self.port), *args],
                              capture_output=True, text=True, timeout=timeout, check=True)
        return done.stdout


class RedisCluster:
    """``masters`` Redis nodes joined into a Cluster (no replicas) by ``redis-cli --cluster
    create``, in a temporary directory; ``url`` names one node."""

    def __init__(self, binary: str, directory: str, masters: int = 3):
        self.nodes = [RedisProcess(binary, cluster=True, directory=directory)
                      for _ in range(masters)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> "RedisCluster":
        try:
            for node in self.nodes:
                node.start()
            self.nodes[0].cli("--cluster", "create",
                              *[f"127.0.0.1:{n.port}" for n in self.nodes],
                              "--cluster-replicas", "0", "--cluster-yes")
            deadline = time.monotonic() + WAIT
            while "cluster_state:ok" not in self.nodes[0].cli("cluster", "info"):
                assert time.monotonic() < deadline, "the Redis Cluster did not come up"
                time.sleep(0.05)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def redis_binary() -> str | None:
    return find_binary("redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")


def redis_cli_binary() -> str | None:
    return find_binary("redis-cli", "/usr/bin/redis-cli", "/usr/local/bin/redis-cli")
