"""examples/asgi: the Starlette application runs as a process (uvicorn); its JSON routes and
its AMF channels answer, a publish through one reaches consumers of the others, and a
SIGTERM ends the open stream with its DISCONNECT.  Every wait is bounded."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from amfast.remoting.client import RemotingService  # noqa: E402
from amfast.remoting.flex_messages import CommandMessage  # noqa: E402
from tests.support.net import free_port, wait_for_port  # noqa: E402
from tests.support.streams import RawStream  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "examples" / "asgi" / "app.py"
WAIT = 15.0


@pytest.fixture
def asgi_example():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-u", str(APP), str(port)], cwd=APP.parents[2],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc, timeout=WAIT)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        proc.stdout.close()
        proc.stderr.close()


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return json.loads(response.read())


def post_json(url: str, data: dict):
    request = urllib.request.Request(url, json.dumps(data).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return json.loads(response.read())


def test_json_routes_and_amf_channels_side_by_side(asgi_example):
    port, proc = asgi_example
    base = f"http://127.0.0.1:{port}"
    rpc = RemotingService(f"{base}/flex/amf", timeout=WAIT)
    assert rpc.call("ChatService.echo", "hello") == "hello"
    polling = RemotingService(f"{base}/flex/amf", timeout=WAIT)
    polling.subscribe("chat")
    holder = RemotingService(f"{base}/flex/longpoll", timeout=WAIT)
    holder.subscribe("chat")
    held: list = []
    thread = threading.Thread(target=lambda: held.extend(holder.poll()), daemon=True)
    thread.start()
    streamer = RemotingService(f"{base}/flex/amf", timeout=WAIT)
    streamer.subscribe("chat")
    stream = RawStream("127.0.0.1", port, streamer.client_id, "/flex/streaming")
    assert stream.next_frame(WAIT).correlationId == "open"
    assert get_json(f"{base}/api/status") == {"connections": 3, "held": 2}

    assert post_json(f"{base}/api/announce", {"text": "from the web"})["published"]
    thread.join(WAIT)
    assert [m.body["text"] for m in held] == ["from the web"]
    assert [m.body["text"] for m in polling.poll()] == ["from the web"]
    assert stream.next_frame(WAIT).body == {"user": "web", "text": "from the web"}
    assert rpc.remote_call("ChatService", "announce", "from amf") is True
    assert stream.next_frame(WAIT).body["text"] == "from amf"

    proc.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown, then the lifespan's
    last = None
    while (frame := stream.next_frame(WAIT)) is not None:
        last = frame
    assert isinstance(last, CommandMessage) and \
        last.operation == CommandMessage.DISCONNECT_OPERATION
    # uvicorn ends by raising the signal it handled again, once its shutdown is done.
    assert proc.wait(WAIT) in (0, -signal.SIGTERM)
    assert b"Traceback" not in proc.stderr.read()
    stream.close()
    for client in (rpc, polling, holder, streamer):
        client.close()
