"""What the sealed attributes of a mapped class look like on the wire, from Python type hints.

The code generators declare each attribute with the type the client receives. It comes from
the return type of the attribute's ``encode_types`` callable when there is one (what goes on
the wire is what that callable returns), else from the class's annotations, else from the
annotation of the ``__init__`` parameter of the same name; an attribute without any of
these is ``ANY``.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import decimal
import enum
import sys
import types
import typing
from typing import Any, Callable, Iterable

from amfast.class_def import ClassDef, ClassDefMapper, SequenceClassDef
from amfast.class_def.as_types import AsByteArray, AsDictionary, AsVector

STRING = "string"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"
DATE = "date"
BYTES = "bytes"
XML = "xml"
ARRAY = "array"  # ``item`` is the element type
MAP = "map"  # an anonymous object with string keys; ``item`` is the value type
CLASS = "class"  # a class of the same mapper; ``class_def`` is its ClassDef
ANY = "any"

KINDS = (STRING, INTEGER, NUMBER, BOOLEAN, DATE, BYTES, XML, ARRAY, MAP, CLASS, ANY)


@dataclasses.dataclass(frozen=True)
class WireType:
    """One attribute's type as the client sees it; ``nullable`` when the hint allows None."""

    kind: str
    item: WireType | None = None
    class_def: ClassDef | None = None
    nullable: bool = False


ANY_TYPE = WireType(ANY)

# Checked in this order: the first base class that matches decides (bool before int, the
# amfast collection types before list and dict, which they subclass).
_SCALARS: tuple = (
    (bool, BOOLEAN), (int, INTEGER), ((float, decimal.Decimal), NUMBER), (str, STRING),
    ((bytes, bytearray, memoryview, AsByteArray), BYTES),
    ((datetime.date,), DATE),
)
_XML_CLASS_NAMES = frozenset({"xml.dom.minidom.Document", "xml.etree.ElementTree.Element"})
_OPAQUE = (AsVector, AsDictionary, datetime.time)
_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Collection)
_MAPPINGS = (dict, collections.abc.Mapping)


def resolve(hint: Any, class_mapper: ClassDefMapper | None = None) -> WireType:
    """The wire type of a value annotated ``hint``.

    A class mapped in ``class_mapper`` (other than amfast's built-in ones) is ``CLASS``.
    """
    if hint is None or hint is type(None) or hint is Any or hint is object:
        return ANY_TYPE
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return resolve(args[0], class_mapper)
    if origin in (typing.Union, types.UnionType):
        present = [arg for arg in args if arg is not type(None)]
        return _common([resolve(arg, class_mapper) for arg in present],
                       nullable=len(present) < len(args))
    if origin is typing.Literal:
        return _common([resolve(type(value), class_mapper) for value in args], nullable=False)
    base = origin if origin is not None else hint
    if not isinstance(base, type):
        return ANY_TYPE
    return _resolve_class(base, args, class_mapper)


def _resolve_class(base: type, args: tuple, class_mapper: ClassDefMapper | None) -> WireType:
    if issubclass(base, enum.Enum):  # amfast sends an Enum member's value
        return _common([resolve(type(member.value), class_mapper) for member in base],
                       nullable=False)
    if issubclass(base, _OPAQUE):
        return ANY_TYPE
    for classes, kind in _SCALARS:
        if issubclass(base, classes):
            return WireType(kind)
    if f"{base.__module__}.{base.__qualname__}" in _XML_CLASS_NAMES:
        return WireType(XML)
    if class_mapper is not None:
        class_def = class_mapper.getClassDefByClass(base)
        if isinstance(class_def, SequenceClassDef):
            return WireType(ARRAY, ANY_TYPE)
        if class_def is not None and not class_def._built_in:
            return WireType(CLASS, class_def=class_def)
    if issubclass(base, _MAPPINGS):
        return WireType(MAP, resolve(args[1], class_mapper) if len(args) == 2 else ANY_TYPE)
    if issubclass(base, _SEQUENCES):
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        return WireType(ARRAY, _common([resolve(arg, class_mapper) for arg in items],
                                       nullable=False))
    return ANY_TYPE


def _common(resolved: list, nullable: bool) -> WireType:
    """The one type all of ``resolved`` share, else ANY (nullable when None was allowed)."""
    distinct = set(resolved)
    if len(distinct) != 1:
        return ANY_TYPE
    found = distinct.pop()
    return dataclasses.replace(found, nullable=found.nullable or nullable)


_MISSING = object()


def _hints(obj: Any) -> dict:
    """Resolved type hints of a class or function; those that cannot be resolved left out."""
    try:
        return typing.get_type_hints(obj)
    except Exception:  # a forward reference or a typo the user's code never evaluates
        pass
    hints: dict = {}
    for owner in reversed(obj.__mro__) if isinstance(obj, type) else (obj,):
        if isinstance(owner, type):
            module = sys.modules.get(owner.__module__)
            globalns, localns = (vars(module) if module else {}), dict(vars(owner))
            annotations = vars(owner).get("__annotations__") or {}
        else:
            globalns, localns = getattr(owner, "__globals__", {}), None
            annotations = getattr(owner, "__annotations__", None) or {}
        for name, hint in annotations.items():
            holder = types.SimpleNamespace(__annotations__={name: hint})
            try:
                hints.update(typing.get_type_hints(holder, globalns, localns))
            except Exception:
                hints.pop(name, None)
    return hints


def _returned_type(func: Callable) -> Any:
    """What an ``encode_types`` callable returns: the class itself, or its return annotation."""
    if isinstance(func, type):
        return func
    return _hints(func).get("return", _MISSING) if callable(func) else _MISSING


def field_types(class_def: ClassDef, class_mapper: ClassDefMapper | None = None
                ) -> list[tuple[str, WireType]]:
    """``(attribute, WireType)`` for each sealed attribute, in ``static_attrs`` order."""
    class_ = class_def.class_
    annotations = _hints(class_)
    init = getattr(class_, "__init__", None)
    init_annotations = _hints(init) if isinstance(init, types.FunctionType) else {}
    encode_types = class_def.encode_types or {}
    out = []
    for attr in class_def.static_attrs:
        if attr in encode_types:
            hint = _returned_type(encode_types[attr])
        else:
            hint = annotations.get(attr, init_annotations.get(attr, _MISSING))
        out.append((attr, ANY_TYPE if hint is _MISSING else resolve(hint, class_mapper)))
    return out


def referenced_class_defs(types_: Iterable[WireType]) -> list[ClassDef]:
    """The mapped classes that ``types_`` name, each once, in order of appearance."""
    found: dict[str, ClassDef] = {}
    for wire_type in types_:
        while wire_type is not None:
            if wire_type.class_def is not None:
                found.setdefault(wire_type.class_def.alias, wire_type.class_def)
            wire_type = wire_type.item
    return list(found.values())
