"""What the HTTP benchmarks share: server subprocesses, process figures from /proc, an asyncio
HTTP client for Flex requests, and the Markdown tables they print.

Everything talks to 127.0.0.1 only.  The figures come from Linux's /proc (0 elsewhere).
"""
from __future__ import annotations

import asyncio
import gc
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from amfast.decoder import Decoder  # noqa: E402
from amfast.encoder import Encoder  # noqa: E402
from amfast.remoting import Message, Packet  # noqa: E402
# The tests' helpers, shared: free ports, and the reader of chunked HTTP bodies.
from tests.support.net import free_port  # noqa: E402,F401
from tests.support.streams import ChunkedReader as Dechunker  # noqa: E402,F401

__all__ = ["ROOT", "free_port", "ServerProcess", "cpu_seconds", "rss_kb", "raise_nofile",
           "HttpConn", "read_head", "Dechunker", "ENCODER", "DECODER", "flex_packet",
           "flex_reply", "print_table"]


# ============================================================================= processes


class ServerProcess:
    """``python <args>`` in a subprocess serving on ``port``; ready once the port accepts.

    Its stderr goes to a file (a pipe nobody reads would fill up and freeze the
    server); ``log_tail()`` shows it when something went wrong.
    """

    def __init__(self, args: list, port: int, label: str, timeout: float = 15.0,
                 env: dict | None = None):
        self.port = port
        self.label = label
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, *map(str, args)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log, cwd=ROOT)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} server exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.label} server did not start in {timeout:.0f} s")

    def log_tail(self, size: int = 2000) -> str:
        if self.log.closed:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.log.close()


def _proc_stat_fields(pid: int) -> list:
    # The command name may hold spaces and parentheses: the fields start after the last ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (0.0 where unavailable)."""
    try:
        fields = _proc_stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def rss_kb(pid: int) -> int:
    """A process's resident set size in KiB (VmRSS; 0 where unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ============================================================================= asyncio HTTP


class HttpConn:
    """One HTTP/1.1 client connection, reopened when the server closes it (wsgiref)."""

    def __init__(self, port: int, stats: dict):
        self.port = port
        self.stats = stats
        self.reader = self.writer = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port,
                                                                 limit=1 << 24)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes,
                   content_type: str = "application/x-amf") -> bytes:
        for attempt in range(5):
            try:
                if self.writer is None:
                    await self._open()
                self.writer.write(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
                    .encode() + body)
                await self.writer.drain()
                status, headers, close = await read_head(self.reader)
                if "content-length" in headers:
                    data = await self.reader.readexactly(int(headers["content-length"]))
                else:
                    data = await self.reader.read()
                    close = True
                if close:
                    self.close()
                if status != 200:
                    raise RuntimeError(f"HTTP {status}: {data[:100]!r}")
                return data
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                self.stats["errors"] = self.stats.get("errors", 0) + 1
                self.stats["last_error"] = repr(exc)
                self.close()
                await asyncio.sleep(0.01 * (attempt + 1))
        raise RuntimeError(f"POST {path} failed 5 times: {self.stats.get('last_error')}")


async def read_head(reader) -> tuple:
    """An HTTP response's head: ``(status, headers with lower-case names, close)``."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split()[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    close = version == "HTTP/1.0" or headers.get("connection", "").lower() == "close"
    return int(status), headers, close


ENCODER, DECODER = Encoder(), Decoder()


def flex_packet(message) -> bytes:
    """One Flex message as the AMF3 request packet a Flex client POSTs."""
    return ENCODER.encode_packet(Packet(Packet.FLASH_9, [], [Message("null", "/1", [message])]),
                                 amf3=True)


def flex_reply(raw: bytes):
    """The Flex message a reply packet carries."""
    return DECODER.decode_packet(raw).messages[0].body


# ============================================================================= py3amf


def py3amf_amf3(what: str) -> tuple[str, Callable[[Any], bytes]]:
    """py3amf's AMF3 encoding of one value, and its label (``what``: the adapter in use):
    with its Cython extension when ``bench/.py3amf-cython`` is on the path."""
    import pyamf

    try:
        import cpyamf.amf3  # noqa: F401
        label = f"py3amf+cpyamf ({what})"
    except ImportError:
        label = f"py3amf pure ({what})"

    def encode(value: Any) -> bytes:
        return pyamf.encode(value, encoding=pyamf.AMF3).getvalue()

    return label, encode


# ============================================================================= timing


def interleaved_times(encoders: dict, args: dict, max_runs: int, budget_s: float
                      ) -> tuple[dict, int]:
    """Wall times (s) of each of ``encoders`` (label -> function) on its ``args[label]``,
    after a warm-up; as many rounds as ``budget_s`` allows (3 to ``max_runs``).  Every
    round runs each function once, so that the load of a shared machine weighs on all of
    them alike.  Returns ``({label: [seconds, ...]}, rounds)``."""
    warm_up = 0.0
    for label, encode in encoders.items():
        start = time.perf_counter()
        encode(args[label])
        warm_up += time.perf_counter() - start
    runs = max(3, min(max_runs, int(budget_s / max(warm_up, 1e-9))))
    times: dict = {label: [] for label in encoders}
    for _ in range(runs):
        for label, encode in encoders.items():
            gc.collect()
            start = time.perf_counter()
            encode(args[label])
            times[label].append(time.perf_counter() - start)
    return times, runs


# ============================================================================= tables


def print_table(header: tuple, rows: list) -> None:
    """A Markdown table, columns padded to their widest cell."""
    width = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, width)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, width)) + " |")
