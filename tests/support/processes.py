"""Example programs run as processes, and the chat conversation the examples' tests hold."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: How long a step of an example may take (s).
WAIT = 15.0


class Process:
    """A process whose standard output is collected line by line in a thread."""

    def __init__(self, args: list, stdin: bool = False, env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-u", *args], cwd=ROOT, text=True, env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Callable[[list], bool], timeout: float = WAIT) -> bool:
        """Wait until ``predicate(lines)`` holds, the process ends or ``timeout`` passes."""
        if wait_until(lambda: predicate(self.lines) or self.proc.poll() is not None,
                      timeout, 0.02) and self.proc.poll() is not None:
            self._reader.join(1)
        return predicate(self.lines)

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


def chat_conversation(port: int, channel: str) -> None:
    """Two examples/messaging chat clients on ``channel`` each see the other's lines, once and
    in order."""
    client_py = str(EXAMPLES / "messaging" / "client.py")
    clients = {name: Process([client_py, name, "--port", str(port), "--channel", channel],
                             stdin=True)
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
