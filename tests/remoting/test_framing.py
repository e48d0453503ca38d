"""The stream frame format: ``frame`` writes, ``FrameReader`` reads (whatever the chunking)."""
from __future__ import annotations

import random

import pytest

from amfast.remoting.framing import (HEARTBEAT, KICKSTART, FrameError, FrameReader, frame)


def test_a_frame_is_hex_length_crlf_bytes_crlf():
    assert frame(b"abc") == b"3\r\nabc\r\n"
    assert frame(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert frame(b"") == b"0\r\n\r\n"


def test_the_reader_gives_frames_and_nul_runs_in_order():
    stream = frame(b"open") + KICKSTART + frame(b"m1") + frame(b"m2") + HEARTBEAT + frame(b"end")
    assert FrameReader().feed(stream) == [b"open", 2048, b"m1", b"m2", 1, b"end"]


@pytest.mark.parametrize("seed", range(5))
def test_any_chunking_gives_the_same_frames(seed):
    rng = random.Random(seed)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.randrange(300))) for _ in range(20)]
    stream = KICKSTART.join(frame(p) for p in payloads)
    reader = FrameReader()
    items, pos = [], 0
    while pos < len(stream):
        step = rng.randint(1, 40)
        items += reader.feed(stream[pos:pos + step])
        pos += step
    assert [i for i in items if isinstance(i, bytes)] == payloads
    assert sum(i for i in items if isinstance(i, int)) == len(KICKSTART) * (len(payloads) - 1)
    assert reader.pending == 0


def test_an_unfinished_frame_waits_for_more_bytes():
    reader = FrameReader()
    assert reader.feed(b"a\r\n01234") == []
    assert reader.pending == 8
    assert reader.feed(b"56789\r\n") == [b"0123456789"]


def test_stray_line_ends_between_frames_are_skipped_as_flex_does():
    assert FrameReader().feed(b"\r\n\r\n2\r\nab\n\n1\r\nc") == [b"ab", b"c"]


@pytest.mark.parametrize("garbage", [b"zz\r\n", b"<html>", b"123456789\r\n"])
def test_bytes_that_are_not_frames_are_a_frame_error(garbage):
    with pytest.raises(FrameError):
        FrameReader().feed(garbage)


def test_a_frame_over_the_limit_is_refused_before_it_is_buffered():
    with pytest.raises(FrameError):
        FrameReader(max_frame_bytes=10).feed(b"b\r\n")
