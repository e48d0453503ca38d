#!/usr/bin/env python3
"""Write the fuzzers' seed corpus: one folder per target under fuzz/corpus/ (git-ignored).

Seeds come from the real-client request captures (/work/shared/captures, or
``--captures DIR``) and from amfast's encodings of a corpus of values: every AMF0 and AMF3
type, references, cycles, typed and externalizable objects, Flex messages in their full and
small forms, and hand-written edge cases from the specs.  Files are named by the SHA-1 of
their content, so running the script again adds nothing twice.

    .venv/bin/python fuzz/make_corpus.py [--out fuzz/corpus] [--captures DIR]
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import struct
import sys
import xml.dom.minidom
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from amfast.class_def.as_types import AsByteArray, AsDictionary, AsProxy, AsVector, TypedObject
from amfast.decoder import DecodeError, Decoder
from amfast.encoder import EncodeError, Encoder
from amfast.remoting import Header, Message, Packet
from amfast.remoting.flex_messages import (
    AcknowledgeMessage,
    AsyncMessage,
    CommandMessage,
    ErrorMessage,
    RemotingMessage,
    to_small,
)

DEFAULT_OUT = REPO / "fuzz" / "corpus"
DEFAULT_CAPTURES = REPO.parent / "shared" / "captures"
VALUE_TARGETS = ("amf0", "amf3")
PACKET_TARGETS = ("packet", "server")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def utf3(text: str) -> bytes:
    """An inline AMF3 string of under 64 UTF-8 bytes (no marker)."""
    raw = text.encode("utf-8")
    assert len(raw) < 64
    return bytes([len(raw) << 1 | 1]) + raw


def utf0(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def dbl(value: float) -> bytes:
    return struct.pack(">d", value)


# ----------------------------------------------------------------------------- values


def sample_values() -> list:
    """Values of every kind the codec handles."""
    shared = {"shared": True}
    cycle: list = [1]
    cycle.append(cycle)
    node: dict = {"name": "n"}
    node["self"] = node
    doc = xml.dom.minidom.parseString('<root a="1"><child>text &amp; more</child><e/></root>')
    stamp = datetime.datetime(2021, 3, 4, 5, 6, 7, 890000)
    flex = [
        RemotingMessage(destination="svc", operation="echo", body=["hi", 1],
                        headers={"DSId": "nil", "DSEndpoint": "amf"}),
        CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION,
                       headers={"DSId": "nil", "DSMessagingVersion": 1}),
        CommandMessage(operation=CommandMessage.LOGIN_OPERATION, body="Y29ycmVjdDpjb3JyZWN0",
                       headers={"DSCredentialsCharset": "utf-8"}),
        CommandMessage(operation=CommandMessage.SUBSCRIBE_OPERATION, destination="chat",
                       headers={"DSSubtopic": "room1", "DSSelector": "prio > 2"}),
        CommandMessage(operation=CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                       headers={"DSAddSub": ["a_;_x = 1", "b_;_"], "DSRemSub": ["c_;_"]}),
        CommandMessage(operation=CommandMessage.POLL_OPERATION),
        AsyncMessage(destination="chat", body={"text": "hello"},
                     headers={"DSSubtopic": "room1", "prio": 5}),
        AcknowledgeMessage(body="ok", correlationId="X"),
        ErrorMessage(faultCode="Client.Authentication", faultString="no"),
    ]
    small = []
    for message in flex[1:8]:
        copy = type(message).__new__(type(message))
        copy.__dict__.update(vars(message))
        small.append(to_small(copy))
    return [
        None, True, False, 0, 1, -1, 0xFFFFFFF, -0x10000000, 0x10000000, 2 ** 31, -2 ** 53,
        0.5, -0.0, float("inf"), float("-inf"), float("nan"), 1e300, 5e-324,
        "", "a", "hello", "h\u00e9llo \u4e16\u754c \U0001F600", "x" * 70000, "0",
        [], [1, "two", 3.0, None, True], [[[[["deep"]]]]], list(range(200)),
        {}, {"a": 1, "b": "x", "nested": [1, 2]}, {"": 1, "0": "zero", "1": "one"},
        {"0": "a", "1": "b"}, {1: "int key", 2.5: "float key"},
        [shared, shared, "s", "s"], cycle, node,
        stamp, datetime.datetime(1970, 1, 1), datetime.datetime(1, 1, 1),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999000),
        datetime.datetime(1969, 12, 31, 23, 59, 59, 1000),
        AsByteArray(b""), AsByteArray(b"\x00\x01\xfe\xff"), AsByteArray(b"\x78\x9cnot zlib"),
        AsVector([1, -1, 2 ** 31 - 1, -2 ** 31], "int"), AsVector([0, 2 ** 32 - 1], "uint"),
        AsVector([1.5, float("nan")], "double", fixed=True),
        AsVector(["a", {"b": 1}, None], "object", class_name="com.example.Item"),
        AsVector([], "object"),
        AsDictionary({"k": 1, 2: "two", 3.5: None}), AsDictionary({}, weak_keys=True),
        TypedObject("com.example.Point", ["x", "y"], False, x=1, y=2),
        TypedObject("com.example.Dyn", ["a"], True, a="s", z=[1]),
        TypedObject("", [], True, anonymous=True),
        AsProxy([1, "b", shared]), AsProxy({"proxied": [shared]}),
        doc, [doc, doc],
        {"mixed": [stamp, AsByteArray(b"ab"), "s", 7, stamp]},
    ] + flex + small


def encodings(values: Iterable, amf3: bool) -> Iterator[bytes]:
    encoders = [Encoder(), Encoder(use_references=False), Encoder(use_collections=True,
                                                                  use_proxies=True),
                Encoder(use_legacy_xml=True)]
    for value in values:
        for encoder in encoders:
            try:
                yield encoder.encode(value, amf3)
            except EncodeError:
                continue


# Hand-written inputs from the specs: boundaries and rarely-encoded forms.
AMF3_LITERALS = [
    h("00"), h("01"), h("02"), h("03"),
    h("04 00"), h("04 7F"), h("04 81 00"), h("04 FF FF FF FF"), h("04 BF FF FF FF"),
    h("05") + dbl(-0.0), h("05 7FF8000000000001"), h("05 FFF0000000000000"),
    h("06 01"), h("06 0B") + b"hello" + h("06 00"),
    h("09 05 01 06 03 61 06 00"),  # a string reference
    h("09 03 03 61 04 01 01 04 02"),  # mixed array: a=1, [2]
    h("09 03 01 09 02"),  # an array holding a reference to itself
    h("0A 0B 01 03 61 04 01 01"),  # anonymous dynamic object
    h("0A 13") + utf3("com.x.P") + utf3("x") + h("04 01"),  # sealed typed object, 1 member
    h("09 05 01 0A 13") + utf3("com.x.P") + utf3("x") + h("04 01 0A 01 04 02"),  # trait ref
    h("0A 07") + utf3("flex.messaging.io.ArrayCollection") + h("09 05 01 04 01 06 03 62"),
    h("0A 07") + utf3("flex.messaging.io.ObjectProxy") + h("0A 0B 01 03 61 04 01 01"),
    h("0A 07") + utf3("flex.messaging.io.ArrayCollection") + h("09 03 01 0A 00"),
    h("0A 07") + utf3("DSK") + h("00"),
    h("0A 07") + utf3("DSC") + h("81 02 02 0C 21") + bytes(range(16)) + h("00 01 04 05"),
    h("0A 07") + utf3("DSA") + h("8F 80 01 06 03 62 06 03 63 06 07 64 73 74 0A 0B 01 01 00"),
    h("08 01") + dbl(1.5e12), h("08 01") + dbl(-62135596800000.0),
    h("09 05 01 08 01") + dbl(0.0) + h("08 02"),  # a date reference
    h("0C 07 61 62 63"), h("0C 01"), h("09 05 01 0C 03 61 0C 02"),
    h("0B 09") + b"<a/>", h("07 09") + b"<a/>", h("0B 01"),
    h("0D 05 00 00000001 FFFFFFFF"), h("0E 03 01 FFFFFFFF"), h("0F 03 00") + dbl(2.5),
    h("10 05 00 01 04 01 06 03 78"), h("10 03 01") + utf3("com.x.P") + h("01"),
    h("11 05 00 06 03 6B 04 01 04 02 06 03 76"), h("11 03 01 0A 0B 01 01 04 01"),
    # Dictionaries keyed by objects: an unmapped typed object and an array, a mapped class
    # (an ArrayCollection), a key referenced from its own value.
    h("11 05 00 0A 13") + utf3("com.x.K") + utf3("id") + h("04 07 06 03 62 09 03 01 04 01 01"),
    h("11 03 00 0A 07") + utf3("flex.messaging.io.ArrayCollection") + h("09 01 01 01"),
    h("09 05 01 11 03 00 0A 0B 01 01 0A 04 0A 04"),
]
AMF0_LITERALS = [
    h("00") + dbl(1.0), h("00") + dbl(float("nan")), h("01 00"), h("01 05"),
    h("02 0000"), h("02 0005") + b"hello", h("0C 00000001") + b"x",
    h("03") + utf0("a") + h("00") + dbl(1.0) + utf0("") + h("09"),
    h("03 0000 09"), h("05"), h("06"),
    h("07 0000"), h("0A 00000002 03 0000 09 07 0001"),  # a reference
    h("08 00000002") + utf0("0") + h("05") + utf0("1") + h("06 0000 09"),
    h("08 00000000") + utf0("k") + h("02 0001 76 0000 09"),
    h("08 00000001") + utf0("0") + h("07 0000 0000 09"),  # ECMA array holding itself
    # ECMA arrays referenced from inside an item: an object, a strict array, a nested dense
    # ECMA array referencing both, a sparse one around a dense one, AMF3 values beside.
    h("08 00000001") + utf0("0") + h("03") + utf0("x") + h("07 0000 0000 09 0000 09"),
    h("08 00000001") + utf0("0") + h("0A 00000001 07 0000 0000 09"),
    h("08 00000002") + utf0("0") + h("08 00000002") + utf0("0") + h("07 0000") + utf0("1")
    + h("07 0001 0000 09") + utf0("1") + h("07 0001 0000 09"),
    h("08 00000001") + utf0("k") + h("08 00000001") + utf0("0") + h("07 0000") + utf0("1")
    + h("07 0001 0000 09 0000 09"),
    h("08 00000003") + utf0("0") + h("11 0A 0B 01 03 61 06 07 61 62 63 01") + utf0("1")
    + h("03") + utf0("s") + h("07 0000 0000 09") + utf0("2") + h("11 0A 00 0000 09"),
    h("0A 00000000"), h("0A 00000003 05 05 05"),
    h("0B") + dbl(1.5e12) + h("0000"), h("0B") + dbl(0.0) + h("FFC4"),
    h("0D"), h("0E"), h("0F 00000004") + b"<a/>",
    h("10") + utf0("com.x.P") + utf0("x") + h("00") + dbl(1.0) + h("0000 09"),
    h("10") + utf0("flex.messaging.io.ArrayCollection") + h("0000 09"),
    h("11 09 03 01 04 01"), h("11 0A 0B 01 01"), h("0A 00000002 11 06 03 61 11 06 00"),
]


# ----------------------------------------------------------------------------- packets


def sample_packets() -> list:
    values = [v for v in sample_values()[:60] if not isinstance(v, str) or len(v) < 100]
    flex = [v for v in sample_values() if hasattr(v, "messageId")]
    packets = [
        Packet(Packet.FLASH_8, [], [Message("svc.echo", f"/{i}", [v])
                                    for i, v in enumerate(values[:20], 1)]),
        Packet(Packet.FLASH_9, [], [Message("svc.echo", f"/{i}", [v])
                                    for i, v in enumerate(values[20:], 1)]),
        Packet(Packet.FLASH_8, [Header("Credentials", False,
                                       {"userid": "correct", "password": "correct"})],
               [Message("svc.secret", "/1", [])]),
        Packet(Packet.FLASH_COM, [Header("Remember", True, [1, 2])],
               [Message("svc.fail", "/1", []), Message("plain", "/2", ["x"])]),
        Packet(Packet.FLASH_9, [], []),
    ]
    for i, message in enumerate(flex, 1):
        packets.append(Packet(Packet.FLASH_9, [], [Message("null", f"/{i}", [message])]))
    packets.append(Packet(Packet.FLASH_9, [], [Message("null", f"/{i}", [m])
                                               for i, m in enumerate(flex, 1)]))
    return packets


def packet_encodings() -> Iterator[bytes]:
    encoder = Encoder()
    for packet in sample_packets():
        try:
            yield encoder.encode_packet(packet, amf3=packet.is_amf3)
        except EncodeError:
            continue


def captures(folder: Path) -> list[bytes]:
    if not folder.is_dir():
        return []
    return [path.read_bytes() for path in sorted(folder.glob("*.bin"))]


def capture_values(raws: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The header and body values of captured packets, encoded again: (AMF0, AMF3)."""
    decoder, encoder = Decoder(), Encoder()
    amf0, amf3 = [], []
    for raw in raws:
        try:
            packet = decoder.decode_packet(raw)
        except DecodeError:
            continue
        for value in [h.value for h in packet.headers] + [m.body for m in packet.messages]:
            for amf3_, out in ((False, amf0), (True, amf3)):
                try:
                    out.append(encoder.encode(value, amf3_))
                except EncodeError:
                    pass
            if isinstance(value, list) and len(value) == 1:
                try:
                    amf3.append(encoder.encode(value[0], True))
                except EncodeError:
                    pass
    return amf0, amf3


# ----------------------------------------------------------------------------- writing


def seeds(captures_dir: Path = DEFAULT_CAPTURES) -> dict[str, list[bytes]]:
    """The seeds of every target, in memory."""
    values = sample_values()
    captured = captures(captures_dir)
    cap0, cap3 = capture_values(captured)
    amf0 = list(encodings(values, False)) + AMF0_LITERALS + cap0
    amf3 = list(encodings(values, True)) + AMF3_LITERALS + cap3
    packets = captured + list(packet_encodings())
    return {
        "amf0": amf0,
        "amf3": amf3,
        "packet": packets,
        "server": packets,
        "differential": [b"\x00" + raw for raw in amf0] + [b"\x01" + raw for raw in amf3],
    }


def write(out: Path = DEFAULT_OUT, captures_dir: Path = DEFAULT_CAPTURES,
          max_len: int = 1 << 16) -> dict[str, int]:
    """Write every target's seeds into ``out/<target>/``; the number of files per target."""
    counts = {}
    for target, raws in seeds(captures_dir).items():
        folder = out / target
        folder.mkdir(parents=True, exist_ok=True)
        names = set()
        for raw in raws:
            if len(raw) > max_len:
                continue
            name = hashlib.sha1(raw).hexdigest()
            names.add(name)
            path = folder / name
            if not path.exists():
                path.write_bytes(raw)
        counts[target] = len(names)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--captures", type=Path, default=DEFAULT_CAPTURES)
    parser.add_argument("--max-len", type=int, default=1 << 16,
                        help="leave out seeds longer than this (bytes)")
    args = parser.parse_args(argv)
    counts = write(args.out, args.captures, args.max_len)
    for target, count in counts.items():
        print(f"{args.out / target}: {count} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
