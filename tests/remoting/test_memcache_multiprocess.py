"""Two server processes sharing one memcached: what a client does via one, another sees via the other.

Both run examples/messaging/memcache_server.py on their own free port, with the session's
memcached, one key prefix and one secret.  Two more, whose worker threads live as long as
the process (the example under waitress, and under gunicorn's gthread workers), share a
private memcached that is restarted and stopped under them.  Clients use amfast's
RemotingService; every wait is bounded.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from amfast.remoting.client import RemotingFault, RemotingService
from tests.remoting.test_memcache_managers import (DOWN_LIMIT, assert_all_ok,
                                                   assert_unavailable, attempt,
                                                   in_every_worker_thread, until_available)
from tests.support.net import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "messaging" / "memcache_server.py"
#: The long-poll hold of both servers (ms) and how often a held poll re-checks memcached (ms).
WAIT_MS = 2000
POLL_INTERVAL_MS = 100
#: The longest any HTTP exchange of these tests may take (s).
TIMEOUT = 10.0
#: Worker threads of the waitress and gunicorn processes.
WORKER_THREADS = 8


class ServerProcess:
    """The example's channel set served in a subprocess; its output goes to a file (a pipe
    could fill up).  ``server`` is "dev" or "waitress" (memcache_server.py), or "gunicorn"
    (gthread workers); ``threads`` is the worker threads of waitress and gunicorn."""

    def __init__(self, mc_servers: list, prefix: str, secret: str, server: str = "dev",
                 threads: int = WORKER_THREADS):
        self.port = free_port()
        self.threads = threads
        self.log = tempfile.TemporaryFile()
        if server == "gunicorn":
            factory = (f"build_channel_set({mc_servers!r}, {prefix!r}, {secret!r}, "
                       f"wait={WAIT_MS}, poll_interval={POLL_INTERVAL_MS}, "
                       f"max_held={threads - 1})")
            cmd = [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", str(threads),
                   "-w", "1", "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "2",
                   "--pythonpath", str(SCRIPT.parent), f"{SCRIPT.stem}:{factory}"]
        else:
            cmd = [sys.executable, str(SCRIPT), "--port", str(self.port), "--prefix", prefix,
                   "--secret", secret, "--wait", str(WAIT_MS),
                   "--poll-interval", str(POLL_INTERVAL_MS), "--server", server,
                   "--threads", str(threads), "--max-held", str(threads - 1)]
            for mc_server in mc_servers:
                cmd += ["--mc", mc_server]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 15.0) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"server on {self.port} not ready after {timeout}s: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def url(self, channel: str = "amf") -> str:
        return f"http://127.0.0.1:{self.port}/{channel.lstrip('/')}"

    def client(self, channel: str = "amf", client_id: str | None = None) -> RemotingService:
        service = RemotingService(self.url(channel), timeout=TIMEOUT)
        service.client_id = client_id
        return service

    def cpu_seconds(self) -> float:
        """User + system CPU time the process used so far."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def servers(memcached):
    """Processes A and B: one memcached, one key prefix, one secret."""
    prefix = f"mp{uuid.uuid4().hex[:12]}"
    secret = uuid.uuid4().hex
    started = [ServerProcess(memcached.servers, prefix, secret) for _ in range(2)]
    try:
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def topic() -> str:
    """A destination no other test publishes to."""
    return f"chat-{uuid.uuid4().hex[:8]}"


def bodies(messages: list) -> list:
    return [m.body for m in messages]


def poll_until(client: RemotingService, count: int, timeout: float = 5.0) -> list:
    """Poll until ``count`` messages came (or ``timeout``); every message polled."""
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += client.poll()
        if len(got) < count:
            time.sleep(0.02)
    return got


def test_a_subscriber_on_a_polls_what_b_published(servers, topic):
    a, b = servers
    consumer = a.client()
    consumer.ping()
    client_id = consumer.subscribe(topic)
    producer = b.client()
    for n in range(5):
        producer.publish(topic, {"n": n})
    got = poll_until(consumer, 5)
    assert bodies(got) == [{"n": n} for n in range(5)]
    assert {m.clientId for m in got} == {client_id}
    assert consumer.poll() == []  # each once
    # A poll of the same connection through B gets what was published since, once.
    producer.publish(topic, "via b")
    via_b = b.client(client_id=consumer.client_id)
    assert bodies(poll_until(via_b, 1)) == ["via b"]
    assert consumer.poll() == []


def test_server_code_in_b_publishes_to_a_subscriber_on_a(servers):
    a, b = servers
    consumer = a.client()
    consumer.subscribe("chat")
    b.client().remote_call("ChatService", "announce", "from b")
    got = [m.body for m in poll_until(consumer, 1) if m.body.get("text") == "from b"]
    assert got == [{"user": "server", "text": "from b"}]


def test_a_long_poll_on_a_returns_what_b_published_within_a_second(servers, topic):
    a, b = servers
    consumer = a.client()
    consumer.subscribe(topic)
    long_poll = a.client("longpoll", consumer.client_id)
    result: list = []

    def wait() -> None:
        try:
            result.append((long_poll.poll(), time.monotonic()))
        except Exception as exc:  # reported by the assertion below
            result.append((exc, time.monotonic()))

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    time.sleep(0.5)  # the poll is held by now (it is held up to WAIT_MS)
    assert not result, result
    published = time.monotonic()
    b.client().publish(topic, "wake up")
    waiter.join(TIMEOUT)
    assert result, "the long-poll did not return"
    messages, returned = result[0]
    assert not isinstance(messages, Exception), messages
    assert bodies(messages) == ["wake up"]
    assert returned - published < 1.0


def test_an_idle_long_poll_does_not_busy_loop(servers, topic):
    a, _ = servers
    if not Path(f"/proc/{a.proc.pid}/stat").exists():
        pytest.skip("needs /proc to read the server's CPU time")
    consumer = a.client()
    consumer.subscribe(topic)
    long_poll = a.client("longpoll", consumer.client_id)
    before, started = a.cpu_seconds(), time.monotonic()
    assert long_poll.poll() == []
    held = time.monotonic() - started
    used = a.cpu_seconds() - before
    assert WAIT_MS / 1000 - 0.1 <= held < WAIT_MS / 1000 + 1.0
    # 20 re-checks of memcached (every POLL_INTERVAL_MS) cost a few ms each; a busy loop
    # would use the whole hold.
    assert used < 0.3, f"{used:.2f}s of CPU during a {held:.1f}s idle long-poll"


def test_a_stream_on_a_pushes_what_b_published(servers, topic):
    a, b = servers
    consumer = a.client()
    consumer.subscribe(topic)
    stream = consumer.stream(a.url("streaming"))
    try:
        b.client().publish(topic, "pushed")
        frames = iter(stream)
        assert next(frames).body == "pushed"
    finally:
        stream.close()


def test_a_session_attribute_set_via_a_is_read_via_b(servers):
    a, b = servers
    via_a = a.client()
    via_a.ping()
    assert via_a.remote_call("SessionService", "set", "nick", "ann") is True
    via_b = b.client(client_id=via_a.client_id)
    assert via_b.remote_call("SessionService", "get", "nick") == "ann"
    via_b.remote_call("SessionService", "set", "nick", {"first": "Ann", "n": 2})
    assert via_a.remote_call("SessionService", "get", "nick") == {"first": "Ann", "n": 2}
    # Another connection has its own session.
    assert b.client().remote_call("SessionService", "get", "nick") is None


def test_a_login_via_a_authorises_a_secure_call_via_b(servers):
    a, b = servers
    via_a = a.client()
    via_a.ping()
    via_b = b.client(client_id=via_a.client_id)
    with pytest.raises(RemotingFault) as refused:
        via_b.remote_call("ChatService", "whoami")
    assert refused.value.code == "Client.Authentication"
    via_a.login("ann", "chat")
    assert via_b.remote_call("ChatService", "whoami") == "ann"
    # A logout via B is seen by A.
    via_b.logout()
    with pytest.raises(RemotingFault) as refused:
        via_a.remote_call("ChatService", "whoami")
    assert refused.value.code == "Client.Authentication"


def test_a_disconnect_via_b_ends_the_connection_and_its_subscriptions(servers, topic):
    a, b = servers
    consumer = a.client()
    consumer.subscribe(topic)
    old_id = consumer.client_id
    b.client(client_id=old_id).disconnect()
    b.client().publish(topic, "after disconnect")
    # The id is signed by the shared secret: A gives it fresh state, without the subscription.
    again = a.client(client_id=old_id)
    assert again.poll() == []
    assert again.client_id == old_id


def test_neither_process_wrote_a_traceback(servers):
    """Nothing above is a server error (this test runs after the others of the module)."""
    for server in servers:
        output = server.output()
        assert "Traceback" not in output, output[-3000:]
        assert server.proc.poll() is None, output[-3000:]


# -- memcached restarted and stopped under processes that keep their worker threads -------------


@pytest.fixture
def threaded_servers(memcached_factory):
    """A private memcached, and two processes sharing it: the example under waitress and
    under gunicorn's gthread workers, WORKER_THREADS threads each."""
    pytest.importorskip("waitress")
    pytest.importorskip("gunicorn")
    mc = memcached_factory()
    prefix, secret = f"mt{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    started = [ServerProcess(mc.servers, prefix, secret, server)
               for server in ("waitress", "gunicorn")]
    try:
        for server in started:
            server.wait_ready()
        yield mc, started
    finally:
        for server in started:
            server.stop()


def test_after_memcached_comes_back_every_thread_of_every_process_serves(threaded_servers):
    mc, processes = threaded_servers
    for process in processes:  # every worker thread holds a memcached socket
        assert_all_ok(in_every_worker_thread(process, "before"))

    mc.restart()  # with no request meanwhile: memcached closed every one of those sockets
    for process in processes:
        assert_all_ok([attempt(process.client().ping, DOWN_LIMIT)
                       for _ in range(2 * process.threads)])
        assert_all_ok(in_every_worker_thread(process, "after the restart"))

    mc.stop()
    for process in processes:
        for _ in range(2 * process.threads):
            assert_unavailable(attempt(process.client().ping, DOWN_LIMIT))
    mc.start()  # the same port, empty
    for process in processes:
        until_available(process.client().ping)
        assert_all_ok(in_every_worker_thread(process, "after the outage"))
    for process in processes:  # a memcached that went away is a fault, not a server error
        output = process.output()
        assert "Traceback" not in output, output[-3000:]
        assert process.proc.poll() is None, output[-3000:]
