"""Store servers the tests start on free 127.0.0.1 ports, and stop, freeze and restart.

``StoreProcess`` runs one server binary; a store adds its command line
(``MemcachedProcess``, ``RedisProcess``, ``PostgresProcess``; ``RedisCluster`` starts
several Redis nodes and joins them into a Cluster).  ``stop`` kills the process as a crash
would, ``pause`` freezes it (SIGSTOP: it accepts connections and never answers), ``restart``
starts it again empty on the same port.
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

    def popen_options(self) -> dict:
        """More ``subprocess.Popen`` arguments (the user to run as...)."""
        return {}

    def start(self) -> "StoreProcess":
        assert not self.running, f"{self.binary} is already running"
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     **self.popen_options())
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


# -- PostgreSQL -----------------------------------------------------------------------------

#: Settings of the test clusters: loopback only, no Unix socket, no waiting for the disk (a
#: commit is written before it returns, so a crash of the server loses nothing).
POSTGRES_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "16MB",
}


def postgres_bindir() -> str | None:
    """The directory of Debian's newest PostgreSQL server binaries (or of those on PATH)."""
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return str(Path(found[-1]).parent)
    on_path = shutil.which("postgres")
    return str(Path(on_path).resolve().parent) if on_path else None


def postgres_user() -> tuple | None:
    """``(uid, gid)`` the server runs as: as root, the ``postgres`` system user Debian's package
    creates (the server refuses to run as root); else the current user.  None: root, no such
    user."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return os.getuid(), os.getgid()
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


class PostgresTemplate:
    """One ``initdb`` per session; each cluster starts from a copy of it (fast)."""

    def __init__(self, bindir: str, user: tuple):
        import tempfile

        self.bindir, self.user = bindir, user
        self.root = tempfile.mkdtemp(prefix="amfast-pg-")
        self._chown(self.root)
        self.data = os.path.join(self.root, "template")
        subprocess.run([os.path.join(bindir, "initdb"), "-D", self.data, "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
                        "--no-instructions"],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60, **self.run_as())
        self._count = 0

    def run_as(self) -> dict:
        uid, gid = self.user
        if uid == os.getuid():
            return {}
        return {"user": uid, "group": gid, "extra_groups": []}

    def _chown(self, path: str) -> None:
        if self.user[0] != os.getuid():
            os.chown(path, *self.user)

    def copy(self) -> str:
        """A new data directory, a copy of the template."""
        self._count += 1
        target = os.path.join(self.root, f"cluster{self._count}")
        shutil.copytree(self.data, target, symlinks=True)
        for folder, dirs, files in os.walk(target):
            self._chown(folder)
            for name in files:
                self._chown(os.path.join(folder, name))
        os.chmod(target, 0o700)
        return target

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class PostgresProcess(StoreProcess):
    """A private PostgreSQL cluster (its own data directory, copied from a template) on
    127.0.0.1:``port``; ``url`` is its SQLAlchemy URL (psycopg 3), user ``postgres``, trust.

    ``stop`` is an immediate shutdown (SIGQUIT, as a crash: the next start recovers from
    the log, so committed data is kept); ``pause`` freezes the postmaster and every backend;
    ``remove`` stops it and deletes its data.
    """

    def __init__(self, template: PostgresTemplate, port: int | None = None):
        StoreProcess.__init__(self, os.path.join(template.bindir, "postgres"), port)
        self.template = template
        self.data = template.copy()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def command(self) -> list:
        cmd = [self.binary, "-D", self.data, "-p", str(self.port)]
        for name, value in POSTGRES_SETTINGS.items():
            cmd += ["-c", f"{name}={value}"]
        return cmd

    def popen_options(self) -> dict:
        return self.template.run_as()

    def start(self) -> "PostgresProcess":
        StoreProcess.start(self)
        self._wait_accepting()
        return self

    def _wait_accepting(self) -> None:
        """The port opens before recovery ends: wait until a session can start."""
        import psycopg

        deadline = time.monotonic() + WAIT
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                dbname="postgres", connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "PostgreSQL does not accept sessions"
                time.sleep(0.05)

    def _processes(self) -> list:
        """The pids of the cluster: the postmaster and its children (each in a session of
        its own, so no process group reaches them all)."""
        pids = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and int(
                        (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass  # a process that ended meanwhile
        return pids

    def _signal_all(self, sig: int) -> list:
        """Send ``sig`` to the postmaster first (it forks no more), then to its children."""
        pids = self._processes()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        return pids

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            children = self._processes()[1:]
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGQUIT)  # immediate shutdown: the children go too
            for pid in children:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self._signal_all(signal.SIGKILL)
        StoreProcess.stop(self)

    def pause(self) -> None:
        """Freeze the postmaster and every backend (SIGSTOP): connections are accepted by
        the kernel, nothing answers."""
        pids = self._signal_all(signal.SIGSTOP)
        deadline = time.monotonic() + WAIT
        while True:
            states = set()
            for pid in pids:
                try:
                    states.add(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
                except (OSError, IndexError):
                    pass
            if states <= {"T", "t", "Z"}:
                return
            assert time.monotonic() < deadline, f"PostgreSQL is still running: {states}"
            time.sleep(0.005)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def remove(self) -> None:
        """Stop the cluster and delete its data directory."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
