"""Decoded AMF values as JSON, for the service browser: bounded in depth and size.

Objects keep their class (``"$class"``: the alias a ``ClassDefMapper`` gives it, or
its Python name), byte arrays are
shown as hex (``"$bytes"``), dates as ISO 8601 text, numbers JSON cannot hold (NaN,
infinities) as text.  Past ``max_depth`` levels or ``max_items`` values in all, the
rest is cut and marked ``"$cut"``.
"""
from __future__ import annotations

import datetime
import decimal
import enum
import math
import xml.dom.minidom
import xml.etree.ElementTree
from typing import Any

from amfast.class_def import ClassDefMapper
from amfast.class_def.as_types import AsNoProxy, AsProxy, TypedObject

__all__ = ["to_json"]

MAX_BYTES_SHOWN = 4096
MAX_TEXT = 100000


class _Budget:
    __slots__ = ("items", "mapper")

    def __init__(self, items: int, mapper: ClassDefMapper | None):
        self.items = items
        self.mapper = mapper

    def class_name(self, value: Any) -> str:
        class_def = None if self.mapper is None else self.mapper.getClassDefByClass(type(value))
        if class_def is not None and class_def.alias:
            return class_def.alias
        return f"{type(value).__module__}.{type(value).__qualname__}"


def to_json(value: Any, max_depth: int = 32, max_items: int = 10000,
            mapper: ClassDefMapper | None = None) -> Any:
    """``value`` as JSON-ready data (dicts with text keys, lists, text, numbers);
    ``mapper`` names the classes of objects by their aliases."""
    return _convert(value, max_depth, _Budget(max_items, mapper), set())


def _convert(value: Any, depth: int, budget: _Budget, seen: set) -> Any:
    budget.items -= 1
    if budget.items < 0 or depth < 0:
        return {"$cut": True}
    if value is None or isinstance(value, (bool, int)) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return _convert(value.value, depth, budget, seen)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        shown = {"$bytes": raw[:MAX_BYTES_SHOWN].hex(), "length": len(raw)}
        return shown if len(raw) <= MAX_BYTES_SHOWN else {**shown, "$cut": True}
    if isinstance(value, xml.dom.minidom.Node):
        return {"$xml": value.toxml()[:MAX_TEXT]}
    if isinstance(value, xml.etree.ElementTree.Element):
        return {"$xml": xml.etree.ElementTree.tostring(value, "unicode")[:MAX_TEXT]}
    if id(value) in seen:
        return {"$ref": "(a value that contains itself)"}
    seen.add(id(value))
    try:
        return _container(value, depth - 1, budget, seen)
    finally:
        seen.discard(id(value))


def _container(value: Any, depth: int, budget: _Budget, seen: set) -> Any:
    if isinstance(value, (AsProxy, AsNoProxy)):
        return _convert(value.source, depth + 1, budget, seen)
    if isinstance(value, TypedObject):
        out = {"$class": value.alias}
        out.update(_members(value.items(), depth, budget, seen))
        return out
    if isinstance(value, dict):
        out = _members(value.items(), depth, budget, seen)
        return out if type(value) is dict else {"$class": type(value).__name__, **out}
    if isinstance(value, (list, tuple, set, frozenset)):
        out = []
        for item in value:
            if budget.items <= 0:
                out.append({"$cut": True})
                break
            out.append(_convert(item, depth, budget, seen))
        return out
    members = getattr(value, "__dict__", None)
    out = {"$class": budget.class_name(value)}
    if isinstance(members, dict):
        out.update(_members(members.items(), depth, budget, seen))
    return out


def _members(items: Any, depth: int, budget: _Budget, seen: set) -> dict:
    out: dict = {}
    for key, item in items:
        if budget.items <= 0:
            out["$cut"] = True
            break
        out[key if isinstance(key, str) else str(key)] = _convert(item, depth, budget, seen)
    return out
