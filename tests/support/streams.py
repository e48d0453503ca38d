"""A Flex streaming connection read byte by byte from a plain socket.

``RawStream`` writes the open request by hand and reads the response itself, so that
every byte of the stream is seen when it arrives: the HTTP body (``ChunkedReader``
undoes chunked transfer encoding: waitress and uvicorn use it, wsgiref ends the body
with the connection), then the frames and NUL runs of
``amfast.remoting.framing.FrameReader``.  Every wait is bounded (``select``).
"""
from __future__ import annotations

import http.client
import re
import select
import socket
import time
import urllib.parse
from typing import Any

from amfast.decoder import Decoder
from amfast.remoting.framing import FrameReader

from tests.support.flex import TIMEOUT


class ChunkedReader:
    """Undoes HTTP/1.1 chunked transfer encoding of a body fed as it arrives."""

    _SIZE = re.compile(rb"([0-9a-fA-F]+)[^\r\n]*\r\n")

    def __init__(self):
        self._buffer = b""
        #: The last (empty) chunk was read.
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes that ``data`` completes."""
        self._buffer += data
        body = []
        while not self.ended:
            head = self._SIZE.match(self._buffer)
            if head is None:
                break
            size = int(head.group(1), 16)
            if size == 0:
                self.ended = True
                self._buffer = b""
                break
            end = head.end() + size
            if len(self._buffer) < end + 2:
                break
            body.append(self._buffer[head.end():end])
            self._buffer = self._buffer[end + 2:]
        return b"".join(body)


class RawStream:
    """An open stream: ``events`` lists ``("nul", count, t)`` and ``("frame", message, t)``
    in arrival order (``t`` from ``time.monotonic()``); ``raw`` is the body so far;
    ``ended`` is True once the server closed it."""

    def __init__(self, host: str, port: int, dsid: str, path: str = "/streaming",
                 timeout: float = TIMEOUT):
        self.host, self.port, self.path, self.dsid = host, port, path, dsid
        self.sock = socket.create_connection((host, port), timeout=timeout)
        form = f"DSId={urllib.parse.quote(dsid)}".encode()
        self.sock.sendall(
            f"POST {path}?command=open&version=1 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n".encode() + form)
        self.sock.setblocking(False)
        self.ended = False
        self.raw = b""
        self.events: list = []
        self._taken = 0
        self._received = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._received:
            if not self._recv(deadline - time.monotonic()):
                raise AssertionError(f"no response head: {self._received[:200]!r}")
        head, rest = self._received.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._chunks = ChunkedReader() if chunked else None
        self._frames = FrameReader()
        self._decoder = Decoder()
        self._body(rest)

    # -- transport ---------------------------------------------------------------------

    def _recv(self, timeout: float) -> bytes:
        """Bytes that came within ``timeout`` s (b"" if none; ``ended`` at EOF)."""
        if self.ended:
            return b""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            chunk = b""
        if not chunk:
            self.ended = True
        self._received += chunk
        return chunk

    def _body(self, data: bytes) -> None:
        if self._chunks is not None:
            data = self._chunks.feed(data)
            self.ended = self.ended or self._chunks.ended
        self.raw += data
        if self.status != 200:
            return
        now = time.monotonic()
        for item in self._frames.feed(data):
            if isinstance(item, int):
                self.events.append(("nul", item, now))
            else:
                self.events.append(("frame", self._decoder.decode(item, amf3=True), now))

    def _read(self, timeout: float) -> bool:
        data = self._recv(timeout)
        self._body(data)
        return bool(data)

    def body(self, timeout: float = 5.0) -> bytes:
        """The whole body of a response that is not a stream (an error reply)."""
        length = int(self.headers.get("content-length", -1))
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline and \
                (length < 0 or len(self.raw) < length):
            self._read(deadline - time.monotonic())
        return self.raw

    # -- frames ------------------------------------------------------------------------

    def frames(self) -> list:
        return [e[1] for e in self.events if e[0] == "frame"]

    def next_frame(self, timeout: float = 5.0) -> Any:
        """The next framed message not yet taken (None if the stream ended or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            frames = self.frames()
            if len(frames) > self._taken:
                self._taken += 1
                return frames[self._taken - 1]
            remaining = deadline - time.monotonic()
            if self.ended or remaining <= 0:
                return None
            self._read(remaining)

    def read_for(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds``."""
        deadline = time.monotonic() + seconds
        while not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._read(remaining)

    def read_to_end(self, timeout: float = 5.0) -> bool:
        """Read until the server ends the stream; True if it did within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        return self.ended

    # -- commands ------------------------------------------------------------------------

    def close_command(self, dsid: str | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            conn.request("POST", f"{self.path}?command=close&version=1",
                         f"DSId={dsid if dsid is not None else self.dsid}",
                         {"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()
