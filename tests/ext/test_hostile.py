"""Hostile input: every failure is a DecodeError subclass naming its kind, with an int
offset, quick and bounded."""
from __future__ import annotations

import datetime
import json
import random
import subprocess
import sys
import textwrap
import time
import tracemalloc
import types
from pathlib import Path

import pytest

import amfast
from amfast.class_def import ClassDef
from amfast.class_def.as_types import AsVector
from amfast.decoder import (BadReferenceError, ClassMappingError, InvalidUTF8Error,
                            LimitExceededError, MalformedDataError, RefusedValueError,
                            TruncatedDataError, UnknownMarkerError)
from tests.ext.conftest import (DecodeError, EncodeError, Ext, Point, dbl, decode, encode,
                                h, make_mapper, utf0, utf3)

REPO = Path(__file__).resolve().parents[2]


DECODE_ERRORS = (TruncatedDataError, LimitExceededError, BadReferenceError, UnknownMarkerError,
                 InvalidUTF8Error, MalformedDataError, RefusedValueError, ClassMappingError)


def assert_decode_error(raw, amf3: bool, kind: type | tuple = DECODE_ERRORS, limit: str = None,
                        **options) -> DecodeError:
    """Decoding ``raw`` raises ``kind`` (with ``limit`` for LimitExceededError), whose int
    ``offset`` is in range and in the text."""
    with pytest.raises(kind) as info:
        decode(raw, amf3, **options)
    err = info.value
    assert type(err.offset) is int, err
    assert 0 <= err.offset <= len(raw), (err.offset, len(raw))
    assert str(err.offset) in str(err), str(err)
    if limit is not None:
        assert err.limit == limit, (err.limit, limit)
    return err


def test_errors_are_amfast_errors():
    assert issubclass(DecodeError, amfast.AmFastError)
    assert issubclass(DecodeError, ValueError)
    assert issubclass(EncodeError, amfast.AmFastError)
    for kind in DECODE_ERRORS:
        assert issubclass(kind, DecodeError), kind


def test_decode_error_names_are_importable_everywhere():
    import amfast.decode
    import amfast.decoder
    import amfast.ext.decoder
    for kind in DECODE_ERRORS + (DecodeError,):
        for module in (amfast.decode, amfast.decoder, amfast.ext.decoder):
            assert getattr(module, kind.__name__) is kind, (module, kind)


def test_limit_exceeded_names_its_limit():
    err = assert_decode_error(h("09 03 01") * 3 + h("01"), True, LimitExceededError, max_depth=2)
    assert err.limit == "max_depth"


# ----------------------------------------------------------------- truncation

AMF3_SAMPLE = (h("09 0B 01") + h("06 0B") + b"hello" + h("04 80 C0 80 00")
               + h("08 01") + dbl(1.5e12)
               + h("0A 1B") + utf3("foo.Bar") + h("03 61") + h("05") + dbl(1.5)
               + h("03 62 0C 05 00 FF 01")
               + h("0D 05 00 00000001 00000002"))
AMF0_SAMPLE = (h("0A 00000005") + h("02 0005") + b"hello"
               + h("03") + utf0("a") + h("00") + dbl(1.0) + utf0("b") + h("0B") + dbl(0.0)
               + h("0000 0000 09")
               + h("10") + utf0("foo.Bar") + utf0("a") + h("01 01 0000 09")
               + h("11 09 03 01 06 03 78")
               + h("08 00000001") + utf0("0") + h("05 0000 09"))
RICH = {"s": "x" * 300, "l": [1, 2.5, None, True, -(2 ** 40)], "u": "\u00e9\u4e16",
        "d": datetime.datetime(2001, 2, 3, 4, 5, 6, 7000), "b": b"abc", "n": {"deep": [[{}]]}}


def _samples():
    mapper = make_mapper()
    typed = [Point(x=1, y=2), Point(x=3, y="q"), Ext(n=1, label="lbl")]
    yield "amf3-literal", True, AMF3_SAMPLE
    yield "amf0-literal", False, AMF0_SAMPLE
    for amf3 in (False, True):
        name = "amf3" if amf3 else "amf0"
        yield f"{name}-rich", amf3, encode(RICH, amf3)
        yield f"{name}-typed", amf3, encode(typed, amf3, class_def_mapper=mapper)


@pytest.mark.parametrize("name, amf3, raw", [pytest.param(*s, id=s[0]) for s in _samples()])
def test_every_truncation_is_a_decode_error(name, amf3, raw):
    mapper = make_mapper()
    decode(raw, amf3, class_def_mapper=mapper)  # the whole input is valid
    for cut in range(len(raw)):
        # A declared count cut short is refused before the items are read: over the bytes left.
        err = assert_decode_error(raw[:cut], amf3, (TruncatedDataError, LimitExceededError),
                                  class_def_mapper=mapper)
        if isinstance(err, LimitExceededError):
            assert err.limit == "bytes_left", (cut, err)


# ----------------------------------------------------------------- references out of range

BAD_REFERENCES = [
    pytest.param(True, h("06 00"), id="amf3-string-0-empty-table"),
    pytest.param(True, h("09 05 01 06 03 61 06 02"), id="amf3-string-1-of-1"),
    pytest.param(True, h("06 FE FF FF FE"), id="amf3-string-huge-index"),
    pytest.param(True, h("09 00"), id="amf3-array-0-empty-table"),
    pytest.param(True, h("09 03 01 09 02"), id="amf3-array-1-of-1"),
    pytest.param(True, h("0A 00"), id="amf3-object-0"),
    pytest.param(True, h("08 00"), id="amf3-date-0"),
    pytest.param(True, h("07 00"), id="amf3-xmldoc-0"),
    pytest.param(True, h("0B 00"), id="amf3-xml-0"),
    pytest.param(True, h("0C 00"), id="amf3-bytearray-0"),
    pytest.param(True, h("0D 00"), id="amf3-vector-0"),
    pytest.param(True, h("11 00"), id="amf3-dictionary-0"),
    pytest.param(True, h("09 FF FF FF FE"), id="amf3-object-huge-index"),
    pytest.param(True, h("0A 01"), id="amf3-trait-0-empty-table"),
    pytest.param(True, h("09 05 01 0A 0B 01 01 0A 05 01"), id="amf3-trait-1-of-1"),
    pytest.param(True, h("0A FF FF FF FD"), id="amf3-trait-huge-index"),
    pytest.param(False, h("07 0000"), id="amf0-0-empty-table"),
    pytest.param(False, h("07 FFFF"), id="amf0-65535"),
    pytest.param(False, h("0A 00000002 05 07 0001"), id="amf0-1-of-1"),
    pytest.param(False, h("0A 00000002 0B") + dbl(0.0) + h("0000 07 0001"),
                 id="amf0-date-takes-no-slot"),
]


@pytest.mark.parametrize("amf3, raw", BAD_REFERENCES)
def test_reference_out_of_range(amf3, raw):
    assert_decode_error(raw, amf3, BadReferenceError)


# ----------------------------------------------------------------- mapped aliases, wrong traits

WRONG_TRAITS = [
    pytest.param(h("0A 0B") + utf3("flex.messaging.io.ArrayCollection") + h("01"),
                 id="collection-alias-dynamic-traits"),
    pytest.param(h("0A 03") + utf3("flex.messaging.io.ObjectProxy"),
                 id="proxy-alias-sealed-traits"),
    pytest.param(h("0A 07") + utf3("flex.messaging.messages.RemotingMessage") + h("01"),
                 id="sealed-class-externalizable-traits"),
    pytest.param(h("0A 07") + utf3("Error") + h("01"), id="error-externalizable-traits"),
    # DSC whose messageIdBytes (2nd flag byte, bit 1) is a string, not a 16-byte ByteArray.
    pytest.param(h("0A 07") + utf3("DSC") + h("80 02 06 03 61 00 00"),
                 id="small-message-bad-uuid"),
]


@pytest.mark.parametrize("raw", WRONG_TRAITS)
def test_mapped_alias_with_wrong_traits(raw):
    """Traits that do not fit the mapped class: a usable value or a ClassMappingError."""
    try:
        value = decode(raw, True)
    except ClassMappingError as err:
        assert type(err.offset) is int
    else:
        assert not isinstance(value, ClassDef), "decoded an uninitialised ClassDef"
        repr(value)


# ----------------------------------------------------------------- declared lengths

HUGE = h("FF FF FF FF")  # U29 0x1FFFFFFF: inline, length 2**28 - 1

TRUNCATED = (TruncatedDataError, None)
OVER = {name: (LimitExceededError, name) for name in (
    "max_string_bytes", "max_xml_bytes", "max_bytearray_bytes", "max_elements", "bytes_left")}

HUGE_LENGTHS = [
    pytest.param(True, h("06") + HUGE + b"ab", OVER["max_string_bytes"], id="amf3-string"),
    pytest.param(True, h("07") + HUGE + b"<a/>", OVER["max_xml_bytes"], id="amf3-xmldoc"),
    pytest.param(True, h("0B") + HUGE + b"<a/>", OVER["max_xml_bytes"], id="amf3-xml"),
    pytest.param(True, h("0C") + HUGE + b"\x00\x01", OVER["max_bytearray_bytes"],
                 id="amf3-bytearray"),
    pytest.param(True, h("09") + HUGE + h("01 04 01"), OVER["max_elements"],
                 id="amf3-array-dense"),
    pytest.param(True, h("0D") + HUGE + h("00 00000001"), OVER["max_elements"],
                 id="amf3-vector-int"),
    pytest.param(True, h("0E") + HUGE + h("00 00000001"), OVER["max_elements"],
                 id="amf3-vector-uint"),
    pytest.param(True, h("0F") + HUGE + h("00") + dbl(1.0), OVER["max_elements"],
                 id="amf3-vector-double"),
    pytest.param(True, h("10") + HUGE + h("00 01 01"), OVER["max_elements"],
                 id="amf3-vector-object"),
    pytest.param(True, h("11") + HUGE + h("00 04 01 04 02"), OVER["max_elements"],
                 id="amf3-dictionary"),
    pytest.param(True, h("0A FF FF FF F3 01"), OVER["max_elements"], id="amf3-sealed-count-2**25"),
    pytest.param(True, h("0D 07 00 00000001"), OVER["bytes_left"],
                 id="amf3-vector-3-ints-in-4-bytes"),
    pytest.param(True, h("0F 05 00") + dbl(1.0), OVER["bytes_left"],
                 id="amf3-vector-2-doubles-in-8-bytes"),
    pytest.param(False, h("02 FFFF") + b"ab", TRUNCATED, id="amf0-string"),
    pytest.param(False, h("0C FFFFFFFF") + b"ab", OVER["max_string_bytes"],
                 id="amf0-long-string"),
    pytest.param(False, h("0F FFFFFFFF") + b"<a/>", OVER["max_xml_bytes"], id="amf0-xml"),
    pytest.param(False, h("0A FFFFFFFF 05 05"), OVER["max_elements"], id="amf0-strict-array"),
    pytest.param(False, h("08 FFFFFFFF") + utf0("0") + h("05"), TRUNCATED, id="amf0-ecma-array"),
    pytest.param(False, h("03 FFFF") + b"k", TRUNCATED, id="amf0-key"),
    pytest.param(False, h("10 FFFF") + b"a.B", TRUNCATED, id="amf0-alias"),
]


@pytest.mark.parametrize("amf3, raw, expected", HUGE_LENGTHS)
def test_declared_length_beyond_input_fails_fast_without_allocating(amf3, raw, expected):
    kind, limit = expected
    tracemalloc.start()
    try:
        start = time.perf_counter()
        assert_decode_error(raw, amf3, kind, limit)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.25, f"took {elapsed:.3f}s"
    assert peak < 4 * 2 ** 20, f"peak {peak} bytes"


# ----------------------------------------------------------------- each budget by name

BUDGETS = [
    pytest.param(True, h("06 09") + b"abcd", "max_string_bytes", 3, id="max_string_bytes"),
    pytest.param(False, h("02 0004") + b"abcd", "max_string_bytes", 3, id="max_string_bytes-0"),
    pytest.param(True, h("0C 09") + b"abcd", "max_bytearray_bytes", 3, id="max_bytearray_bytes"),
    pytest.param(True, h("0B 09") + b"<a/>", "max_xml_bytes", 3, id="max_xml_bytes"),
    pytest.param(True, h("09 09 01 01 01 01 01"), "max_elements", 3, id="max_elements-array"),
    pytest.param(True, h("0A 0B 01") + (h("03 61 01") + h("03 62 01") + h("03 63 01")
                                        + h("03 64 01")) + h("01"),
                 "max_elements", 3, id="max_elements-members"),
    pytest.param(False, h("03") + (utf0("a") + h("05")) * 4 + h("0000 09"),
                 "max_elements", 3, id="max_elements-members-0"),
    pytest.param(True, h("09 09 01 01 01 01 01"), "max_nodes", 3, id="max_nodes"),
    pytest.param(True, h("09 03 01 09 03 01 01"), "max_depth", 1, id="max_depth"),
]


@pytest.mark.parametrize("amf3, raw, limit, value", BUDGETS)
def test_each_budget_is_named_when_exceeded(amf3, raw, limit, value):
    decode(raw, amf3)  # within the defaults
    assert_decode_error(raw, amf3, LimitExceededError, limit, **{limit: value})


# ----------------------------------------------------------------- nesting depth


def _nest(amf3: bool, kind: str, depth: int) -> bytes:
    """``depth`` nested containers of one kind around a null."""
    null = h("01") if amf3 else h("05")
    if kind == "array":
        return (h("09 03 01") if amf3 else h("0A 00000001")) * depth + null
    if kind == "object":
        if amf3:
            return h("0A 0B 01 03 61") * depth + null + h("01") * depth
        return (h("03") + utf0("a")) * depth + null + h("00 00 09") * depth
    if kind == "ecma":
        return (h("08 00000001") + utf0("k")) * depth + null + h("00 00 09") * depth
    if kind == "dictionary":
        return h("11 03 00 04 01") * depth + null
    if kind == "vector":
        return h("10 03 00 01") * depth + null
    raise ValueError(kind)


KINDS = [(True, "array"), (True, "object"), (True, "dictionary"), (True, "vector"),
         (False, "array"), (False, "object"), (False, "ecma")]


@pytest.mark.parametrize("amf3, kind", KINDS)
def test_max_depth_is_enforced(amf3, kind):
    assert decode(_nest(amf3, kind, 5), amf3, max_depth=10) is not None
    assert_decode_error(_nest(amf3, kind, 20), amf3, LimitExceededError, "max_depth",
                        max_depth=10)


def test_max_depth_counts_across_the_amf3_switch():
    raw = h("0A 00000001") * 6 + h("11") + h("09 03 01") * 6 + h("01")
    assert_decode_error(raw, False, LimitExceededError, "max_depth", max_depth=10)


_DEEP_SCRIPT = textwrap.dedent("""
    import json
    from tests.ext.test_hostile import _nest
    from amfast.decoder import Decoder, LimitExceededError
    from amfast.encoder import Encoder, EncodeError
    N = 100000
    out = {}
    cases = [(a, k, _nest(a, k, N)) for a, k in %r]
    cases.append((False, "amf0-then-amf3",
                  b"\\x0a\\x00\\x00\\x00\\x01" * (N // 2) + b"\\x11"
                  + b"\\x09\\x03\\x01" * (N // 2) + b"\\x01"))
    for amf3, kind, raw in cases:
        for options in ({}, {"max_depth": 1000}):
            name = f"decode-{'amf3' if amf3 else 'amf0'}-{kind}-{options}"
            try:
                Decoder(amf3=amf3, **options).decode(raw)
                out[name] = "no error"
            except LimitExceededError as err:
                out[name] = err.limit if type(err.offset) is int else "no offset"
            except BaseException as err:
                out[name] = type(err).__name__
    deep = None
    for _ in range(N):
        deep = [deep]
    for amf3 in (False, True):
        name = f"encode-{'amf3' if amf3 else 'amf0'}-list"
        try:
            Encoder(amf3=amf3).encode(deep)
            out[name] = "encoded"
        except (EncodeError, RecursionError) as err:
            out[name] = "refused"
        except BaseException as err:
            out[name] = type(err).__name__
    print(json.dumps(out))
""") % (KINDS,)


def _run_isolated(script: str) -> dict:
    """Run ``script`` in a fresh interpreter (a crash must not take the suite down); it
    prints one JSON object as its last line."""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_deep_nesting_in_a_separate_process():
    """100000 nested containers: over max_depth (never RecursionError or a crash)."""
    results = _run_isolated(_DEEP_SCRIPT)
    bad = {k: v for k, v in results.items()
           if (k.startswith("decode") and v != "max_depth")
           or (k.startswith("encode") and v not in ("refused", "encoded"))}
    assert not bad, bad


_HUGE_MAX_DEPTH_SCRIPT = textwrap.dedent("""
    import json
    from amfast.decoder import Decoder, LimitExceededError
    out = {}
    for amf3, raw in ((True, b"\\x09\\x03\\x01" * 100000 + b"\\x01"),
                      (False, b"\\x0a\\x00\\x00\\x00\\x01" * 100000 + b"\\x05")):
        try:
            decoder = Decoder(amf3=amf3, max_depth=10 ** 6)
        except ValueError:
            out[str(amf3)] = "setting refused"
            continue
        try:
            decoder.decode(raw)
            out[str(amf3)] = "decoded"
        except LimitExceededError as err:
            out[str(amf3)] = err.limit
        except BaseException as err:
            out[str(amf3)] = type(err).__name__
    print(json.dumps(out))
""")


def test_huge_max_depth_never_crashes():
    """A max_depth beyond what the C stack holds is refused or handled, never a segfault."""
    results = _run_isolated(_HUGE_MAX_DEPTH_SCRIPT)
    assert set(results.values()) <= {"setting refused", "decoded", "max_depth"}, results


# ----------------------------------------------------------------- invalid UTF-8

BAD_UTF8 = [
    pytest.param(True, h("06 05 FF FE"), id="amf3-string"),
    pytest.param(True, h("06 05 C0 80"), id="amf3-overlong"),
    pytest.param(True, h("06 07 ED A0 80"), id="amf3-surrogate"),
    pytest.param(True, h("06 03 C3"), id="amf3-cut-sequence"),
    pytest.param(True, h("0A 0B 01 05 FF FE 01 01"), id="amf3-member-name"),
    pytest.param(True, h("0A 0B 05 FF FE 01"), id="amf3-alias"),
    pytest.param(False, h("02 0002 FF FE"), id="amf0-string"),
    pytest.param(False, h("0C 00000002 FF FE"), id="amf0-long-string"),
    pytest.param(False, h("03 0002 FF FE 05 0000 09"), id="amf0-key"),
    pytest.param(False, h("10 0002 FF FE 0000 09"), id="amf0-alias"),
    pytest.param(False, h("0F 00000004 3C FF 2F 3E"), id="amf0-xml"),
]


@pytest.mark.parametrize("amf3, raw", BAD_UTF8)
def test_invalid_utf8(amf3, raw):
    assert_decode_error(raw, amf3, InvalidUTF8Error)


# ----------------------------------------------------------------- unknown markers

# 0x0D "unsupported" is not here: Ruffle sends it, and it decodes as undefined.
AMF0_UNKNOWN = [0x04, 0x09, 0x0E, 0x12, 0x7F, 0xFF]


@pytest.mark.parametrize("marker", AMF0_UNKNOWN, ids=lambda m: f"0x{m:02X}")
def test_amf0_unknown_marker(marker):
    err = assert_decode_error(bytes([marker]), False, UnknownMarkerError)
    assert err.offset in (0, 1)
    raw = h("0A 00000002 05") + bytes([marker])
    err = assert_decode_error(raw, False, UnknownMarkerError)
    assert err.offset in (6, 7)


def test_amf3_unknown_markers():
    for marker in range(0x12, 0x100):
        err = assert_decode_error(bytes([marker]), True, UnknownMarkerError)
        assert err.offset in (0, 1), (marker, err.offset)
        err = assert_decode_error(h("09 05 01 01") + bytes([marker]), True, UnknownMarkerError)
        assert err.offset in (4, 5), (marker, err.offset)


# ----------------------------------------------------------------- hostile XML

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">'
                    for i in range(1, 10))
          + "]><lolz>&lol9;</lolz>")
HOSTILE_XML = [
    pytest.param('<!DOCTYPE a><a/>', id="doctype"),
    pytest.param('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                 '<a>&x;</a>', id="xxe-file"),
    pytest.param('<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><a/>', id="external-dtd"),
    pytest.param('<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>',
                 id="parameter-entity"),
    pytest.param('<!DOCTYPE a [<!ENTITY e "inner">]><a>&e;</a>', id="internal-entity"),
    pytest.param(LAUGHS, id="billion-laughs"),
    pytest.param('<a><b></a>', id="malformed"),
]
MALFORMED_XML = {'<a><b></a>'}


def _xml_encodings(text: str):
    body = text.encode("utf-8")
    yield False, h("0F") + len(body).to_bytes(4, "big") + body
    yield True, h("0B") + utf3(text)
    yield True, h("07") + utf3(text)


@pytest.mark.parametrize("text", HOSTILE_XML)
@pytest.mark.parametrize("xml_type", ["minidom", "etree"])
def test_hostile_xml_is_refused(text, xml_type):
    kind = MalformedDataError if text in MALFORMED_XML else RefusedValueError
    for amf3, raw in _xml_encodings(text):
        start = time.perf_counter()
        assert_decode_error(raw, amf3, kind, xml_type=xml_type)
        assert time.perf_counter() - start < 1.0


# ----------------------------------------------------------------- fuzz


def _mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.4 and data:
            data[min(pos, len(data) - 1)] = rng.getrandbits(8)
        elif op < 0.6:
            data[pos:pos] = bytes([rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF, rng.getrandbits(8)])])
        elif op < 0.8 and data:
            del data[min(pos, len(data) - 1)]
        else:
            data = data[:pos]
    return bytes(data)


def test_random_bytes_fuzz():
    """~3000 random or mutated inputs: each gives a value or a DecodeError of one of the
    kinds (never the bare root), nothing else."""
    rng = random.Random(0xA3F)
    mapper = make_mapper()
    seeds = {True: [raw for _, amf3, raw in _samples() if amf3],
             False: [raw for _, amf3, raw in _samples() if not amf3]}
    deadline = time.monotonic() + 20
    done = 0
    for i in range(3000):
        if time.monotonic() > deadline:
            break
        amf3 = bool(i & 1)
        if i % 3 == 0:
            raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 48)))
        else:
            raw = _mutate(rng, rng.choice(seeds[amf3]))
        try:
            decode(raw, amf3, class_def_mapper=mapper)
        except DECODE_ERRORS as err:
            assert type(err.offset) is int, raw.hex()
        except Exception as err:  # anything else is a codec bug
            pytest.fail(f"{type(err).__name__}: {err} for amf3={amf3} input {raw.hex()}")
        done += 1
    assert done >= 500, f"only {done} inputs in the time budget"


# ----------------------------------------------------------------- values the encoder refuses

REFUSED = [
    pytest.param(Point, id="class"),
    pytest.param(lambda: None, id="function"),
    pytest.param(types, id="module"),
    pytest.param(2 ** 1100, id="int-beyond-double"),
    pytest.param(-(2 ** 1100), id="negative-int-beyond-double"),
    pytest.param("lone \ud800 surrogate", id="lone-surrogate"),
    pytest.param({"k": "\udfff"}, id="lone-surrogate-nested"),
    pytest.param(AsVector([2 ** 31], type="int"), id="vector-int-out-of-range"),
    pytest.param(AsVector([-1], type="uint"), id="vector-uint-negative"),
    pytest.param(AsVector(["x"], type="int"), id="vector-int-of-str"),
    pytest.param(AsVector([None], type="uint"), id="vector-uint-of-none"),
    pytest.param(AsVector(["x"], type="double"), id="vector-double-of-str"),
]


@pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])
@pytest.mark.parametrize("value", REFUSED)
def test_encoder_refuses(value, amf3):
    with pytest.raises(EncodeError):
        encode(value, amf3)
