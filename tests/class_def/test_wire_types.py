"""wire_types: the type a client sees for each sealed attribute of a mapped class."""
from __future__ import annotations

import collections.abc
import datetime
import decimal
import enum
import typing
import xml.dom.minidom
from typing import Annotated, Any, Literal, Optional

import pytest

from amfast.class_def import ClassDef, ClassDefMapper
from amfast.class_def.as_types import AsByteArray, AsDictionary, AsError, AsVector, TypedObject
from amfast.class_def.wire_types import (ANY, ANY_TYPE, ARRAY, BOOLEAN, BYTES, CLASS, DATE,
                                         INTEGER, MAP, NUMBER, STRING, XML, WireType,
                                         field_types, referenced_class_defs, resolve)


class Mapped:
    pass


class Unmapped:
    pass


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Mixed(enum.Enum):
    ONE = 1
    TWO = "two"


class Size(enum.IntEnum):
    SMALL = 1


MAPPER = ClassDefMapper()
MAPPED_DEF = ClassDef(Mapped, "test.Mapped")
MAPPER.mapClass(MAPPED_DEF)

S, I, N = WireType(STRING), WireType(INTEGER), WireType(NUMBER)


@pytest.mark.parametrize("hint, expected", [
    (str, S), (int, I), (bool, WireType(BOOLEAN)), (float, N), (decimal.Decimal, N),
    (datetime.datetime, WireType(DATE)), (datetime.date, WireType(DATE)),
    (bytes, WireType(BYTES)), (bytearray, WireType(BYTES)), (AsByteArray, WireType(BYTES)),
    (xml.dom.minidom.Document, WireType(XML)),
    (list, WireType(ARRAY, ANY_TYPE)), (list[str], WireType(ARRAY, S)),
    (tuple[int, ...], WireType(ARRAY, I)), (tuple[int, int], WireType(ARRAY, I)),
    (tuple[int, str], WireType(ARRAY, ANY_TYPE)), (set[float], WireType(ARRAY, N)),
    (typing.Sequence[str], WireType(ARRAY, S)),
    (collections.abc.Iterable, ANY_TYPE),
    (dict, WireType(MAP, ANY_TYPE)), (dict[str, int], WireType(MAP, I)),
    (typing.Mapping[str, float], WireType(MAP, N)), (TypedObject, WireType(MAP, ANY_TYPE)),
    (Optional[str], WireType(STRING, nullable=True)), (str | None, WireType(STRING, nullable=True)),
    (list[str | None], WireType(ARRAY, WireType(STRING, nullable=True))),
    (str | int, ANY_TYPE), (Literal["a", "b"], S), (Annotated[int, "meta"], I),
    (Color, S), (Size, I), (Mixed, ANY_TYPE),
    (AsVector, ANY_TYPE), (AsDictionary, ANY_TYPE), (datetime.time, ANY_TYPE),
    (Any, ANY_TYPE), (object, ANY_TYPE), (None, ANY_TYPE), (Unmapped, ANY_TYPE),
    (Mapped, WireType(CLASS, class_def=MAPPED_DEF)),
    (list[Mapped], WireType(ARRAY, WireType(CLASS, class_def=MAPPED_DEF))),
    (AsError, ANY_TYPE),  # mapped by every mapper, but built in: nothing is generated for it
    ("not evaluated", ANY_TYPE),
])
def test_resolve(hint, expected):
    assert resolve(hint, MAPPER) == expected


def test_a_mapped_class_without_a_mapper_is_any():
    assert resolve(Mapped) == ANY_TYPE


def test_encode_types_return_type_wins_over_annotations():
    def stamp(value) -> float:
        return value.timestamp()

    def untyped(value):
        return value

    class Event:
        when: datetime.datetime
        key: bytes
        raw: int
        label: str

        def __init__(self, count: int = 0, label: bytes = b""):
            self.count = count

    class_def = ClassDef(Event, "test.Event", ("when", "key", "raw", "count", "label", "other"),
                         encode_types={"when": stamp, "key": str, "raw": untyped})
    assert field_types(class_def) == [
        ("when", N),  # the callable's return annotation
        ("key", S),  # a type used as the callable
        ("raw", ANY_TYPE),  # a callable that says nothing: not the attribute's annotation
        ("count", I),  # the __init__ parameter's annotation
        ("label", S),  # the class annotation before the __init__ one
        ("other", ANY_TYPE),
    ]


def test_an_unresolvable_annotation_leaves_only_that_attribute_untyped():
    namespace: dict = {}
    exec("class Broken:\n    good: int\n    bad: 'NoSuchName'\n", namespace)
    class_def = ClassDef(namespace["Broken"], "test.Broken", ("good", "bad"))
    assert field_types(class_def) == [("good", I), ("bad", ANY_TYPE)]


def test_referenced_class_defs_once_each_in_order():
    other = ClassDef(Unmapped, "test.Other")
    types = [WireType(ARRAY, WireType(CLASS, class_def=other)),
             WireType(CLASS, class_def=MAPPED_DEF), WireType(CLASS, class_def=other), S]
    assert referenced_class_defs(types) == [other, MAPPED_DEF]
