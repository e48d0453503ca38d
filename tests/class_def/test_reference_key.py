"""ClassDef.referenceKey: instances that stand for one thing are written once, then as
references, by both endpoints."""
from __future__ import annotations

import pytest

from amfast.class_def import ClassDef, ClassDefMapper
from amfast.decoder import Decoder
from amfast.encoder import Encoder


class Row:
    def __init__(self, pk, name):
        self.pk = pk
        self.name = name


class RowDef(ClassDef):
    def referenceKey(self, obj):
        return obj.pk


@pytest.fixture
def mapper():
    mapper = ClassDefMapper()
    mapper.mapClass(RowDef(Row, "test.Row", ("pk", "name")))
    return mapper


@pytest.mark.parametrize("amf3", [False, True])
def test_one_row_is_one_object(mapper, amf3):
    # Two instances of row 1 (as an ORM loads one row twice), one of row 2, an unsaved one.
    rows = [Row(1, "a"), Row(1, "a"), Row(2, "b"), Row(None, "new"), Row(None, "new")]
    raw = Encoder(amf3=amf3, class_def_mapper=mapper).encode(rows)
    back = Decoder(amf3=amf3, class_def_mapper=mapper).decode(raw)
    assert back[0] is back[1] and back[0] is not back[2] and back[3] is not back[4]
    assert [(r.pk, r.name) for r in back] == [(1, "a"), (1, "a"), (2, "b"), (None, "new"),
                                              (None, "new")]


def test_without_references_every_instance_is_written(mapper):
    rows = [Row(1, "a"), Row(1, "a")]
    raw = Encoder(amf3=True, class_def_mapper=mapper, use_references=False).encode(rows)
    back = Decoder(amf3=True, class_def_mapper=mapper).decode(raw)
    assert back[0] is not back[1]


@pytest.mark.parametrize("amf3", [False, True])
def test_py3amf_endpoint_writes_the_same_bytes(mapper, amf3):
    pytest.importorskip("pyamf")
    from amfast.remoting import Message, Packet
    from amfast.remoting.endpoint import AmfEndpoint
    from amfast.remoting.pyamf_endpoint import PyAmfEndpoint

    body = [Row(1, "a"), Row(1, "a"), Row(2, "b")]
    packet = Packet(Packet.FLASH_9 if amf3 else Packet.FLASH_8, [],
                    [Message("/1/onResult", "", body), Message("/2/onResult", "", body)])
    ours = AmfEndpoint(Encoder(class_def_mapper=mapper))
    assert PyAmfEndpoint(mapper).encodePacket(packet) == ours.encodePacket(packet)
