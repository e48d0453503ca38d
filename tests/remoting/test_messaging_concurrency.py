"""8 publishers x 500 messages to 20 subscribers over HTTP, against one server.

The subscribers are spread over the three channel kinds: polling (``/amf``), long-polling
(``/longpoll``) and streaming (``/streaming``).  Every subscriber must receive every
message exactly once, and each publisher's messages in the order it published them.
amfast's own client (``RemotingService``, ``MessageStream``) does the HTTP.  Every loop is
bounded in count and in time: the test fails, never hangs.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from amfast.remoting.client import RemotingService
from amfast.remoting.subscription_manager import MemorySubscriptionManager
from amfast.remoting.wsgi_channel import (
    StreamingWsgiChannel,
    WsgiChannel,
    WsgiChannelSet,
)
from tests.support.net import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]

PUBLISHERS = 8
PER_PUBLISHER = 500
TOTAL = PUBLISHERS * PER_PUBLISHER
KINDS = ["polling"] * 7 + ["longpoll"] * 7 + ["streaming"] * 6  # 20 subscribers
#: The whole exchange must end within this many seconds.
DEADLINE = 45.0


def build() -> WsgiChannelSet:
    channel_set = WsgiChannelSet(
        subscription_manager=MemorySubscriptionManager(ttl=600000, max_messages=100000),
        max_held=None)  # the server below has a thread for each held request
    channel_set.mapChannel(WsgiChannel("amf"))
    channel_set.mapChannel(WsgiChannel("longpoll", wait_interval=2000, poll_interval=500))
    channel_set.mapChannel(StreamingWsgiChannel("streaming", heart_interval=1000))
    return channel_set


def serve(kind: str, port: int) -> None:
    """The server process: ``build()`` on 127.0.0.1:port under ``kind``."""
    channel_set = build()
    if kind == "waitress":
        import waitress
        # One thread per held long-poll or stream, plus room for the other requests.
        waitress.serve(channel_set, host="127.0.0.1", port=port, threads=48,
                       connection_limit=200, _quiet=True)
    else:
        from amfast.remoting.wsgi_server import make_server
        make_server(channel_set, "127.0.0.1", port).serve_forever()


class ServerProcess:
    """The server in its own process (its own GIL), stopped at the end; bounded waits."""

    def __init__(self, kind: str):
        self.port = free_port()
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                f"from tests.remoting.test_messaging_concurrency import serve; "
                f"serve({kind!r}, {self.port})")
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.proc)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
        return err.decode(errors="replace")


def dev_server_backlog() -> int:
    """The listen backlog of amfast's threaded development server (``ss`` reads it from the
    kernel; without ``ss``, the value the server passes to ``listen``)."""
    import shutil

    from amfast.remoting.wsgi_server import make_server
    server = make_server(lambda environ, start_response: [], "127.0.0.1", 0)
    try:
        if shutil.which("ss"):
            out = subprocess.run(["ss", "-ltnH", f"sport = :{server.server_port}"],
                                 capture_output=True, text=True, timeout=10).stdout.split()
            if len(out) >= 3 and out[0] == "LISTEN":
                return int(out[2])
        return int(server.request_queue_size)
    finally:
        server.server_close()


#: Enough for the 28 clients of this test connecting at once (waitress listens with 1024).
MIN_BACKLOG = 128


def test_threaded_dev_server_backlog_holds_a_burst_of_clients():
    assert dev_server_backlog() >= MIN_BACKLOG


class Subscriber:
    def __init__(self, base: str, kind: str, end: float):
        self.kind = kind
        self.end = end
        path = {"polling": "/amf", "longpoll": "/longpoll", "streaming": "/streaming"}[kind]
        self.client = RemotingService(base + path, timeout=10)
        self.client_id = self.client.subscribe("chat")
        self.received: list = []
        self.client_ids: set = set()
        self.error: BaseException | None = None
        self.stream = self.client.stream() if kind == "streaming" else None

    def take(self, messages) -> None:
        for message in messages:
            self.received.append((message.body["p"], message.body["n"]))
            self.client_ids.add(message.clientId)

    def run(self) -> None:
        try:
            if self.stream is not None:
                for message in self.stream:
                    self.take([message])
                    if len(self.received) >= TOTAL or time.monotonic() > self.end:
                        break
                return
            for _ in range(100000):  # bounded; the deadline ends it first
                if len(self.received) >= TOTAL or time.monotonic() > self.end:
                    return
                self.take(self.client.poll())
                if self.kind == "polling":
                    time.sleep(0.02)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError:
                pass
        self.client.close()


def publisher(base: str, p: int, errors: list, end: float) -> None:
    client = RemotingService(base + "/amf", timeout=10)
    try:
        for n in range(PER_PUBLISHER):
            if time.monotonic() > end:
                raise TimeoutError(f"publisher {p} stopped at {n}")
            client.publish("chat", {"p": p, "n": n})
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["waitress", "wsgiref"])
def test_every_subscriber_gets_every_message_once_in_publisher_order(kind):
    pytest.importorskip(kind)
    if kind == "wsgiref" and dev_server_backlog() < MIN_BACKLOG:
        pytest.skip("amfast's threaded server listens with a backlog under "
                    f"{MIN_BACKLOG}: connections are reset under this load (see "
                    "test_threaded_dev_server_backlog_holds_a_burst_of_clients)")
    server = ServerProcess(kind)
    subscribers: list[Subscriber] = []
    try:
        started = time.monotonic()
        end = started + DEADLINE
        subscribers = [Subscriber(server.base_url, k, end) for k in KINDS]
        readers = [threading.Thread(target=s.run, daemon=True) for s in subscribers]
        for thread in readers:
            thread.start()
        errors: list = []
        writers = [threading.Thread(target=publisher, args=(server.base_url, p, errors, end),
                                    daemon=True) for p in range(PUBLISHERS)]
        for thread in writers:
            thread.start()
        for thread in writers + readers:
            thread.join(max(0.1, end + 5 - time.monotonic()))
        elapsed = time.monotonic() - started
        assert not errors, errors[:3]
        assert not any(t.is_alive() for t in writers + readers), "threads still running"
        for s in subscribers:
            assert s.error is None, (s.kind, s.error)
        for index, s in enumerate(subscribers):
            where = f"subscriber {index} ({s.kind})"
            assert s.client_ids == {s.client_id}, where
            assert len(s.received) == TOTAL, (where, len(s.received), f"{elapsed:.1f}s")
            assert len(set(s.received)) == TOTAL, f"{where}: duplicates"
            for p in range(PUBLISHERS):
                order = [n for q, n in s.received if q == p]
                assert order == list(range(PER_PUBLISHER)), f"{where}: publisher {p} order"
        print(f"\n{TOTAL} messages x {len(subscribers)} subscribers in {elapsed:.1f}s "
              f"under {kind}")
    finally:
        for s in subscribers:
            s.close()
        server.stop()
