"""examples/messaging: the chat server and two command-line clients, for each channel kind.

The server runs as a process on a free port; for each channel (``amf`` polling,
``longpoll``, ``streaming``) two clients run as processes, lines are piped to their
standard input, and each must print the other's lines.  Every wait is bounded; every
process is stopped at the end.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for_port

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "messaging"
WAIT = 15.0


class Process:
    """A process whose standard output is collected line by line in a thread."""

    def __init__(self, args: list, stdin: bool = False):
        self.proc = subprocess.Popen(
            [sys.executable, "-u", *args], cwd=EXAMPLES.parents[1], text=True,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.lines):
                return True
            if self.proc.poll() is not None:
                self._reader.join(1)
                return predicate(self.lines)
            time.sleep(0.02)
        return False

    def send(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = WAIT) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        self._reader.join(2)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        return err


@pytest.fixture(scope="module")
def chat_server():
    port = free_port()
    server = Process([str(EXAMPLES / "server.py"), str(port)])
    try:
        wait_for_port(port, server.proc)
        yield port
    finally:
        err = server.stop()
        assert "Traceback" not in err, err


@pytest.mark.parametrize("channel", ["amf", "longpoll", "streaming"])
def test_two_chat_clients_see_each_others_lines(chat_server, channel):
    clients = {name: Process([str(EXAMPLES / "client.py"), name, "--port", str(chat_server),
                              "--channel", channel], stdin=True)
               for name in ("alice", "bob")}
    try:
        for name, client in clients.items():
            assert client.wait_for(lambda lines: any(
                line.startswith("subscribed as") for line in lines)), (name, client.lines)
        said = {"alice": [f"hello from alice {n} on {channel}" for n in range(3)],
                "bob": [f"hi from bob {n} on {channel}" for n in range(3)]}
        for name, client in clients.items():
            for text in said[name]:
                client.send(text)
        for name, other in (("alice", "bob"), ("bob", "alice")):
            expected = [f"[{other}] {text}" for text in said[other]]
            client = clients[name]
            assert client.wait_for(lambda lines: all(e in lines for e in expected)), \
                (name, client.lines)
            received = [line for line in client.lines if line.startswith(f"[{other}]")]
            assert received == expected, "each line once, in order"
        for name, client in clients.items():
            assert client.finish() == 0, (name, client.stop())
    finally:
        errors = {name: client.stop() for name, client in clients.items()}
    for name, err in errors.items():
        assert "Traceback" not in err, (name, err)
