"""SequenceClassDef: instances of a mapped class travel as lists."""
from __future__ import annotations

import pytest

from amfast.class_def import ClassDefMapper, SequenceClassDef
from amfast.decoder import Decoder
from amfast.encoder import Encoder


class Rows:
    """Iterable, and with attributes that must not be sent."""

    def __init__(self, *items):
        self.items = items
        self.cursor = "secret"

    def __iter__(self):
        return iter(self.items)


@pytest.fixture
def mapper():
    mapper = ClassDefMapper()
    mapper.mapClass(SequenceClassDef(Rows))
    return mapper


@pytest.mark.parametrize("amf3", [False, True])
def test_sent_as_a_list(mapper, amf3):
    raw = Encoder(amf3=amf3, class_def_mapper=mapper).encode({"rows": Rows(1, "a", Rows(2))})
    assert b"secret" not in raw
    assert Decoder(amf3=amf3).decode(raw) == {"rows": [1, "a", [2]]}


def test_array_collection_with_collections_and_own_conversion(mapper):
    raw = Encoder(amf3=True, class_def_mapper=mapper, use_collections=True).encode(Rows(1, 2))
    assert b"flex.messaging.io.ArrayCollection" in raw
    assert Decoder(amf3=True).decode(raw) == [1, 2]
    mapper.mapClass(SequenceClassDef(Rows, lambda rows: [len(rows.items)]))
    assert Decoder(amf3=True).decode(Encoder(amf3=True, class_def_mapper=mapper).encode(
        Rows(7, 8, 9))) == [3]


def test_never_mapped_for_decoding(mapper):
    assert mapper.getClassDefByAlias(SequenceClassDef(Rows).alias) is None


def test_code_generation_sees_a_list(mapper):
    from amfast.class_def.code_generator import generated_class_defs
    from amfast.class_def.wire_types import ARRAY, resolve
    assert list(generated_class_defs(mapper)) == []
    assert resolve(Rows, mapper).kind == ARRAY


@pytest.mark.parametrize("amf3", [False, True])
@pytest.mark.parametrize("use_collections", [False, True])
def test_py3amf_endpoint_writes_the_same_bytes(mapper, amf3, use_collections):
    pytest.importorskip("pyamf")
    from amfast.remoting import Message, Packet
    from amfast.remoting.endpoint import AmfEndpoint
    from amfast.remoting.pyamf_endpoint import PyAmfEndpoint

    packet = Packet(Packet.FLASH_9 if amf3 else Packet.FLASH_8, [],
                    [Message("/1/onResult", "", {"rows": Rows(1, "a", Rows(2))})])
    ours = AmfEndpoint(Encoder(class_def_mapper=mapper, use_collections=use_collections))
    theirs = PyAmfEndpoint(mapper, use_collections=use_collections)
    assert theirs.encodePacket(packet) == ours.encodePacket(packet)
