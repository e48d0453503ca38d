"""examples/messaging/redis_server.py: one chat served by several worker processes on Redis.

The example runs with three uvicorn workers on one port: requests land on several
processes, and two command-line chat clients see each other's lines on every channel kind.
Then three single-worker servers share one Redis, clients hold long-polls through one of
them, and it is killed (SIGKILL): the clients carry on through another, and every message
arrives once and in order.  (A kill can lose only a reply it was writing at that instant:
the test kills it while the polls are held, between two deliveries.)  Every wait is
bounded; every process is stopped at the end.
"""
from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest

from amfast.remoting.client import HttpError, RemotingService
from tests.support.net import free_port, wait_for_port
from tests.support.processes import EXAMPLES, Process, chat_conversation

pytest.importorskip("redis")
pytest.importorskip("uvicorn")

SCRIPT = EXAMPLES / "messaging" / "redis_server.py"
#: The HTTP client's timeout (s).
TIMEOUT = 10.0


def start_server(redis_server, prefix: str, workers: int, wait: int = 20000) -> tuple:
    port = free_port()
    server = Process([str(SCRIPT), "--port", str(port), "--url", redis_server.url,
                      "--prefix", prefix, "--secret", "s3cret", "--workers", str(workers),
                      "--wait", str(wait)])
    try:
        wait_for_port(port, server.proc, timeout=20)
    except Exception:
        server.stop()
        raise
    return port, server


@pytest.fixture(scope="module")
def chat_workers(redis_server):
    port, server = start_server(redis_server, f"ex{uuid.uuid4().hex[:10]}", workers=3)
    try:
        yield port
    finally:
        err = server.stop()
        assert "Traceback" not in err, err


def test_several_worker_processes_answer_on_one_port(chat_workers):
    pids = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        # A new HTTP connection each time: the kernel spreads them over the workers.
        pids.add(RemotingService(f"http://127.0.0.1:{chat_workers}/amf", timeout=TIMEOUT)
                 .remote_call("ChatService", "worker"))
    assert len(pids) >= 2, pids


@pytest.mark.parametrize("channel", ["longpoll", "streaming"])
def test_two_chat_clients_on_several_workers_see_each_others_lines(chat_workers, channel):
    chat_conversation(chat_workers, channel)


def test_a_worker_killed_while_clients_poll_through_it_loses_nothing(redis_server):
    prefix = f"kill{uuid.uuid4().hex[:10]}"
    started = [start_server(redis_server, prefix, workers=1, wait=5000) for _ in range(3)]
    ports = [port for port, _ in started]
    consumers, count = 6, 60
    received: dict = {n: [] for n in range(consumers)}
    moved = [0]

    def consume(n: int, client_id: str) -> None:
        which = 0  # every consumer polls through the first server until it fails
        deadline = time.monotonic() + 60
        while len(received[n]) < count and time.monotonic() < deadline:
            poller = RemotingService(f"http://127.0.0.1:{ports[which]}/longpoll",
                                     timeout=TIMEOUT)
            poller.client_id = client_id
            try:
                received[n] += [m.body for m in poller.poll()]
            except (HttpError, OSError):
                which += 1  # that process is gone: carry on through the next one
                moved[0] += 1
                time.sleep(0.05)

    try:
        ids = []
        for _ in range(consumers):
            subscriber = RemotingService(f"http://127.0.0.1:{ports[0]}/amf", timeout=TIMEOUT)
            subscriber.subscribe("chat")
            ids.append(subscriber.client_id)
        threads = [threading.Thread(target=consume, args=(n, i), daemon=True)
                   for n, i in enumerate(ids)]
        for thread in threads:
            thread.start()
        publisher = RemotingService(f"http://127.0.0.1:{ports[2]}/amf", timeout=TIMEOUT)
        for n in range(count):
            if n == count // 2:
                time.sleep(0.5)  # every poll is held again by now
                started[0][1].proc.send_signal(signal.SIGKILL)
                started[0][1].proc.wait(10)
            publisher.publish("chat", n)
            time.sleep(0.02)
        for thread in threads:
            thread.join(30)
        assert moved[0] >= consumers, "every consumer moved to another process"
        for n in range(consumers):
            assert received[n] == list(range(count)), f"consumer {n}: once, in order"
    finally:
        for _, server in started:
            err = server.stop()
            assert "Traceback" not in err, err
