"""How the e2e tests judge one reported item.

A client reports each item as ``{"name", "sent", "outcome", "got"}``: ``outcome`` is
``result`` (the responder's result handler ran), ``fault`` (its fault handler ran) or
``callfailed`` (the whole request failed, e.g. an HTTP error); ``sent`` and ``got`` are
*descriptions* of ActionScript values made by the client (see ``describe`` in the clients):

    {"t": "number", "v": "-0"}     numbers as the player prints them ("NaN", "Infinity", "-0")
    {"t": "string", "v": "..."}    {"t": "boolean", "v": true}    {"t": "null"}  {"t": "undefined"}
    {"t": "date", "v": "<ms since the epoch>"}    {"t": "xml", "v": "<toXMLString()>"}
    {"t": "bytearray", "v": "<hex>"}   {"t": "array", "v": [...], "extra": {named members}}
    {"t": "object", "v": {members}, "className": "<class, when not Object>"}
    {"t": "vector", "class": "...", "v": [...]}   {"t": "ref", "i": n} (an object met before)
    {"t": "hole"} (a missing index of a sparse array)

An ``Expect`` says what the item should show: the outcome, what came back (``ECHO``: the
same description as was sent) and what the server decoded (``server``: compared strictly
with what the ``e2e`` service recorded under the item's name; ``NOT_CALLED``: the service
must not have run; ``UNCHECKED``: the item does not reach a recording service).
"""
from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

ECHO = object()
UNCHECKED = object()
NOT_CALLED = object()


@dataclass
class Expect:
    got: Any = ECHO
    outcome: str = "result"
    server: Any = UNCHECKED
    why: str = ""  # shown with a failure: why this is the expected behaviour
    bug: str = ""  # a known amfast bug makes this item fail: it is xfail(strict) until fixed
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------- descriptions


def num(value: float | int | str) -> dict:
    return {"t": "number", "v": value}


def s(value: str) -> dict:
    return {"t": "string", "v": value}


def b(value: bool) -> dict:
    return {"t": "boolean", "v": value}


NULL = {"t": "null"}
UNDEFINED = {"t": "undefined"}
HOLE = {"t": "hole"}


def arr(*items: Any, extra: dict | None = None) -> dict:
    out = {"t": "array", "v": [wrap(i) for i in items]}
    if extra:
        out["extra"] = {k: wrap(v) for k, v in extra.items()}
    return out


def obj(members: dict | None = None, class_name: str | None = None, **kw: Any) -> dict:
    members = dict(members or {}, **kw)
    out = {"t": "object", "v": {k: wrap(v) for k, v in members.items()}}
    if class_name:
        out["className"] = class_name
    return out


def date(ms: float) -> dict:
    return {"t": "date", "v": ms}


def date_of(dt: datetime.datetime) -> dict:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return date(round(dt.timestamp() * 1000))


def xml(text: str) -> dict:
    return {"t": "xml", "v": text}


def bytearray_(hex_text: str) -> dict:
    return {"t": "bytearray", "v": hex_text}


def vector(class_name: str, *items: Any) -> dict:
    return {"t": "vector", "class": class_name, "v": [wrap(i) for i in items]}


def wrap(value: Any) -> dict:
    """A description from a plain Python value (descriptions pass through)."""
    if isinstance(value, dict) and "t" in value:
        return value
    if value is None:
        return NULL
    if isinstance(value, bool):
        return b(value)
    if isinstance(value, (int, float)):
        return num(value)
    if isinstance(value, str):
        return s(value)
    if isinstance(value, (list, tuple)):
        return arr(*value)
    if isinstance(value, dict):
        return obj(value)
    raise TypeError(f"no description for {value!r}")


class Partial(dict):
    """An object description that only requires the members it lists."""


def partial_obj(members: dict | None = None, **kw: Any) -> Partial:
    return Partial(obj(members, **kw))


# ----------------------------------------------------------------- comparing descriptions


def short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _number(value: Any) -> float:
    return float(value)  # "NaN", "Infinity", "-Infinity" and "-0" parse too


def _same_number(a: Any, b: Any) -> bool:
    x, y = _number(a), _number(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y and math.copysign(1, x) == math.copysign(1, y)


def diff_description(expected: Any, actual: Any, path: str = "") -> str | None:
    """None when ``actual`` matches ``expected``, else where and how they differ."""
    where = path or "the value"
    if not isinstance(actual, dict) or "t" not in actual:
        return f"{where}: not a description: {short(actual)}"
    if expected.get("t") != actual.get("t"):
        return (f"{where}: expected type {expected.get('t')!r}, got {actual.get('t')!r} "
                f"({short(actual)} instead of {short(expected)})")
    kind = expected["t"]
    if kind in ("number", "date"):
        if not _same_number(expected["v"], actual["v"]):
            return f"{where}: expected {kind} {expected['v']}, got {actual['v']}"
        return None
    if kind in ("string", "boolean", "xml", "bytearray", "ref"):
        key = "i" if kind == "ref" else "v"
        if expected.get(key) != actual.get(key):
            e, a = expected.get(key), actual.get(key)
            if isinstance(e, str) and isinstance(a, str):
                at = next((i for i, (x, y) in enumerate(zip(e, a)) if x != y),
                          min(len(e), len(a)))
                return (f"{where}: {kind} differs at character {at} (lengths {len(e)} and "
                        f"{len(a)}): expected ...{e[at:at + 20]!r}, got ...{a[at:at + 20]!r}")
            return f"{where}: expected {kind} {short(e)}, got {short(a)}"
        return None
    if kind in ("array", "vector"):
        if kind == "vector" and expected.get("class") != actual.get("class"):
            return f"{where}: expected {expected.get('class')}, got {actual.get('class')}"
        e_items, a_items = expected["v"], actual["v"]
        if len(e_items) != len(a_items):
            return (f"{where}: expected {len(e_items)} elements, got {len(a_items)}: "
                    f"{short(actual)}")
        for i, (e, a) in enumerate(zip(e_items, a_items)):
            problem = diff_description(e, a, f"{path}[{i}]")
            if problem:
                return problem
        return _diff_members(expected.get("extra") or {}, actual.get("extra") or {},
                             f"{path}<named>", False)
    if kind == "object":
        if expected.get("className") != actual.get("className"):
            return (f"{where}: expected class {expected.get('className') or 'Object'}, got "
                    f"{actual.get('className') or 'Object'}: {short(actual)}")
        return _diff_members(expected["v"], actual["v"], path, isinstance(expected, Partial))
    return None  # null, undefined, hole


def _diff_members(expected: dict, actual: dict, path: str, partial: bool) -> str | None:
    missing = sorted(set(expected) - set(actual))
    if missing:
        return f"{path or 'the object'}: missing members {missing}; got {short(actual)}"
    if not partial:
        unexpected = sorted(set(actual) - set(expected))
        if unexpected:
            return f"{path or 'the object'}: unexpected members {unexpected}: {short(actual)}"
    for key in sorted(expected):
        problem = diff_description(expected[key], actual[key], f"{path}.{key}")
        if problem:
            return problem
    return None


# ----------------------------------------------------------------- comparing server values


def diff_python(expected: Any, actual: Any, path: str = "") -> str | None:
    """Strict comparison of a decoded value: types, float bits (NaN, -0.0), containers."""
    where = path or "the value"
    if callable(expected) and not isinstance(expected, type):
        return expected(actual)
    if type(expected) is not type(actual):
        return (f"{where}: expected {type(expected).__name__} {expected!r:.200}, "
                f"got {type(actual).__name__} {actual!r:.200}")
    if isinstance(expected, float):
        if not _same_number(expected, actual):
            return f"{where}: expected {expected!r}, got {actual!r}"
        return None
    if isinstance(expected, (list, tuple)):
        if len(expected) != len(actual):
            return f"{where}: expected {len(expected)} items, got {len(actual)}: {actual!r:.300}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            problem = diff_python(e, a, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if set(expected) != set(actual):
            return (f"{where}: expected keys {sorted(map(repr, expected))}, "
                    f"got {sorted(map(repr, actual))}")
        for key in expected:
            problem = diff_python(expected[key], actual[key], f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if hasattr(expected, "__dict__") and not isinstance(expected, (datetime.date,)):
        return diff_python(vars(expected), vars(actual), f"{path}<{type(expected).__name__}>")
    if expected != actual:
        if isinstance(expected, str) and len(expected) > 80:
            at = next((i for i, (x, y) in enumerate(zip(expected, actual)) if x != y),
                      min(len(expected), len(actual)))
            return (f"{where}: strings differ at {at} (lengths {len(expected)}, {len(actual)}): "
                    f"expected ...{expected[at:at + 20]!r}, got ...{actual[at:at + 20]!r}")
        return f"{where}: expected {expected!r:.200}, got {actual!r:.200}"
    return None


def check_item(expect: Expect, item: dict | None, received: list | None) -> list[str]:
    """Every problem with one reported item (empty: it passed)."""
    problems = []
    if item is None:
        return ["the client did not report this item"]
    if item.get("outcome") != expect.outcome:
        problems.append(f"expected outcome {expect.outcome!r}, got {item.get('outcome')!r} "
                        f"with {short(item.get('got'))}")
    else:
        wanted = item.get("sent") if expect.got is ECHO else expect.got
        if isinstance(wanted, Callable):
            problem = wanted(item.get("got"))
        else:
            problem = diff_description(wanted, item.get("got"))
        if problem:
            problems.append("client got back: " + problem)
    if expect.server is NOT_CALLED:
        if received:
            problems.append(f"the server ran the call, which it must not: received {received!r:.200}")
    elif expect.server is not UNCHECKED:
        if not received:
            problems.append("the server's e2e service never received this item")
        else:
            problem = diff_python(expect.server, received[-1])
            if problem:
                problems.append("server decoded: " + problem)
    if problems and expect.why:
        problems.append(f"(expected because: {expect.why})")
    if problems:
        problems.append(f"sent: {short(item.get('sent'))}")
    return problems
