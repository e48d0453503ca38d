"""The byte format of a Flex streaming connection (``StreamingAMFChannel``).

A stream's body carries each message as a frame: its length in lowercase hex,
CR LF, the message as one standalone AMF3 value, CR LF.  Between frames the
server may write NUL bytes: 2048 of them after the first frame (the
"kick-start" that makes browsers start delivering) and one as a heartbeat.
Flex's parser skips NULs and stray CR/LF between frames.

``frame`` writes a frame; ``FrameReader`` reads a stream's bytes as they come
and gives back frames and runs of NULs.  The servers, the Python client, the
tests and the benchmarks all use these two.
"""
from __future__ import annotations

import re
from typing import Iterator

__all__ = ["frame", "FrameReader", "FrameError", "HEARTBEAT", "KICKSTART", "MAX_FRAME_BYTES"]

#: Written when nothing else was for ``heart_interval`` milliseconds.
HEARTBEAT = b"\0"
#: Written after the first frame so that browsers deliver the stream at once.
KICKSTART = b"\0" * 2048
#: The longest frame a reader accepts by default (a frame is one message).
MAX_FRAME_BYTES = 16 * 1024 * 1024


class FrameError(ValueError):
    """The bytes are not a stream of frames."""


def frame(raw: bytes, *more: bytes) -> bytes:
    """One message's AMF3 bytes as a frame (given in parts: ``raw`` and ``more``)."""
    if not more:
        return b"%x\r\n%s\r\n" % (len(raw), raw)
    return b"".join((b"%x\r\n" % (len(raw) + sum(map(len, more))), raw, *more, b"\r\n"))


class FrameReader:
    """Reads frames from a stream's bytes, fed as they arrive.

    ``feed(data)`` returns what became complete: ``bytes`` for each frame's AMF3
    value, and an ``int`` for each run of NUL bytes (padding or heartbeats: how
    many).  Bytes of an unfinished frame wait for the next ``feed``.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES):
        self.max_frame_bytes = max_frame_bytes
        self._buffer = b""

    def feed(self, data: bytes) -> list:
        self._buffer += data
        return list(self._items())

    @property
    def pending(self) -> int:
        """Bytes received that are not a complete frame yet."""
        return len(self._buffer)

    def _items(self) -> Iterator[bytes | int]:
        buffer = self._buffer
        pos = 0
        try:
            while pos < len(buffer):
                nuls = _NULS.match(buffer, pos)
                if nuls:
                    pos = nuls.end()
                    yield pos - nuls.start()
                    continue
                skipped = _LINE_ENDS.match(buffer, pos)
                if skipped:
                    pos = skipped.end()
                    continue
                head = _HEAD.match(buffer, pos)
                if head is None:
                    if _PARTIAL_HEAD.fullmatch(buffer, pos):
                        return
                    raise FrameError(f"frame length {buffer[pos:pos + 16]!r} is not hex")
                length = int(head.group(1), 16)
                if length > self.max_frame_bytes:
                    raise FrameError(f"frame of {length} bytes is over the "
                                     f"{self.max_frame_bytes}-byte limit")
                if len(buffer) < head.end() + length:
                    return
                pos = head.end() + length
                yield buffer[head.end():pos]
        finally:
            self._buffer = buffer[pos:]


_NULS = re.compile(rb"\0+")
_LINE_ENDS = re.compile(rb"[\r\n]+")
_HEAD = re.compile(rb"([0-9a-fA-F]{1,8})\r\n")
_PARTIAL_HEAD = re.compile(rb"[0-9a-fA-F]{1,8}\r?")
