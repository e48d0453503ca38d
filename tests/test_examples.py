"""examples/hello: the server runs as a process on a free port and the client's output is checked.

Every wait is bounded and the server is stopped at the end.
"""
from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for_port

HELLO = Path(__file__).resolve().parents[1] / "examples" / "hello"
WAIT = 15.0


@pytest.fixture
def hello_server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-u", str(HELLO / "server.py"), str(port)],
                            cwd=HELLO.parents[1], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc, timeout=WAIT)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(WAIT)
        proc.stdout.close()
        proc.stderr.close()


def test_hello_client_against_hello_server(hello_server):
    port, server = hello_server
    result = subprocess.run([sys.executable, str(HELLO / "client.py"), str(port)],
                            cwd=HELLO.parents[1], capture_output=True, text=True,
                            timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "NetConnection echo: {'hello': ['world', 1.0]}",  # AMF0: the number comes back a float
        "RemoteObject echo: hi",
        "fault as expected: ValueError: Example error.",
        "refused as expected: SecurityError: Target requires authentication.",
        "with credentials: only for logged-in users",
    ]
    assert server.poll() is None, "the server must keep serving"


def test_hello_server_announces_its_url(hello_server):
    port, server = hello_server
    ready, _, _ = select.select([server.stdout], [], [], WAIT)
    assert ready, "the server printed nothing"
    line = server.stdout.readline().decode()
    assert line.strip() == (f"Serving ExampleService (echo, raiseException, secret) at "
                            f"http://127.0.0.1:{port}/amf")
