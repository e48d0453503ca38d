"""What each item of the Haxe SWF client (haxe/Main.hx, run by Ruffle 0.6.0) must show.

Ruffle sends AMF0 whatever objectEncoding says.  What Ruffle itself cannot do is
left out of the client and said here: it serializes by plain recursion (no AMF0
references: shared objects arrive as copies, a cycle overflows its stack and kills
the player, so there is no cyclic value and no flash.xml.XMLDocument, whose node
links are cycles); it sends registered classes as anonymous objects (no typed
object 0x10); it cannot read an AMF0 reference in a reply (the second use of a
shared list arrives as undefined); Date.setTime panics on times it finds
ambiguous, so there is no far-future date.
"""
from __future__ import annotations

import datetime
from xml.dom import minidom

from tests.e2e.expect import (NOT_CALLED, NULL, UNDEFINED, Expect, arr, bytearray_, date_of, num,
                              obj, partial_obj, s, vector, xml)
from tests.e2e.server import samples

UTC = datetime.timezone.utc


def _naive(ms: float) -> datetime.datetime:
    return (datetime.datetime(1970, 1, 1, tzinfo=UTC)
            + datetime.timedelta(milliseconds=ms)).replace(tzinfo=None)


def _xml_root(value) -> str | None:
    if not isinstance(value, minidom.Document):
        return f"expected a xml.dom.minidom.Document, got {type(value).__name__} {value!r:.100}"
    root = value.documentElement
    text = root.getElementsByTagName("child")[0].firstChild.data
    if (root.tagName, root.getAttribute("a"), text) != ("root", "1", "text \u00e9"):
        return f"unexpected document {value.toxml()!r}"
    return None


def as_error(name: str, message: str) -> dict:
    """A NetConnection fault: the AS Error object amfast sends on /n/onStatus."""
    return partial_obj(name=s(name), message=s(message), errorId=num(5000))



ECHOED = {
    # numbers: AMF0 numbers are doubles; every one comes back bit for bit
    "number.zero": 0.0, "number.int": 42.0, "number.negative": -7.0,
    "number.int_max": 2147483647.0, "number.int_min": -2147483648.0,
    "number.uint_max": 4294967295.0, "number.float": 3.5, "number.tenth": 0.1,
    "number.pow53": 9007199254740992.0, "number.large": 1e300, "number.tiny": 5e-324,
    "number.neg_zero": -0.0, "number.nan": float("nan"), "number.inf": float("inf"),
    "number.neg_inf": float("-inf"),
    "boolean.true": True, "boolean.false": False,
    "string.empty": "", "string.ascii": "hello", "string.bmp": "h\u00e9llo \u4e16\u754c",
    "string.astral": "smile \U0001F600", "string.nul": "a\x00b",
    "string.controls": "tab\tnl\ncr\r",
    "string.long": "abcdefghij" * 7000,  # 70000 bytes: long string 0x0C
    "string.long_unicode": "\u00e9" * 40000,
    "string.max_short": "x" * 65535,
    "null": None,
    "object.empty": {}, "object.flat": {"a": 1.0, "b": "x", "c": True, "d": None},
    "object.nested": {"a": 1.0, "b": "x", "nested": [1.0, 2.0],
                      "inner": {"deep": {"deeper": "y"}}},
    "object.odd_keys": {"": "empty key", "\u00e9t\u00e9": "unicode key", "1": "numeric key",
                        "with space": 2.0},
    # Ruffle sends every Array as an ECMA array 0x08; dense ones decode to lists
    "array.empty": [], "array.dense": [1.0, "two", 3.25],
    "array.nested": [[1.0, 2.0], [], [[3.0]]],
    "array.of_objects": [{"a": 1.0}, {"b": 2.0}],
    "date.epoch": _naive(0), "date.millis": _naive(1577934245678),
    "date.before_epoch": _naive(-1000000000000),
    "xml.e4x": _xml_root,
}

ITEMS: dict[str, Expect] = {name: Expect(server=value) for name, value in ECHOED.items()}

ITEMS.update({
    # The battery's 49 calls travel in one packet, which must succeed as a whole.
    "battery.packet": Expect(why="Ruffle batches one frame's calls into one packet; a value "
                             "the server cannot decode fails every call in it"),
    "undefined": Expect(got=NULL, server=None, why="AMF0 undefined decodes to None, sent as null"),
    # ECMA arrays that are not dense are dicts in Python, and come back as objects.
    "array.sparse": Expect(got=obj({"0": s("first"), "5": s("sixth")}),
                           server={"0": "first", "5": "sixth"},
                           why="an ECMA array whose keys are not 0..n-1 decodes to a dict"),
    "array.assoc": Expect(got=obj(name="value", other=2), server={"name": "value", "other": 2.0}),
    "array.mixed": Expect(got=obj({"0": 1, "1": 2, "label": "mixed"}),
                          server={"0": 1.0, "1": 2.0, "label": "mixed"}),
    # Ruffle writes no references: a shared object arrives (and returns) as two copies.
    "reference.same_object_twice": Expect(got=arr(obj(s="shared"), obj(s="shared")),
                                          server=[{"s": "shared"}, {"s": "shared"}]),
    "reference.same_array_twice": Expect(got=obj(first=arr(1, 2), second=arr(1, 2)),
                                         server={"first": [1.0, 2.0], "second": [1.0, 2.0]}),
    # Ruffle sends registered classes as anonymous objects.
    "typed.registered": Expect(got=obj(x=1.5, y=-2), server={"x": 1.5, "y": -2.0}),
    "typed.unregistered": Expect(got=obj(label="plain"), server={"label": "plain"}),
    # Ruffle writes the AMF0 'unsupported' marker 0x0D for a ByteArray and a Vector; it
    # has no payload and reads as undefined.
    "bytearray": Expect(got=NULL, server=None,
                        why="AMF0 0x0D (unsupported) is a value without payload: undefined"),
    "vector.int": Expect(got=NULL, server=None,
                         why="AMF0 0x0D (unsupported) is a value without payload: undefined"),
    # Three calls made in one frame share one packet.
    "batched.1": Expect(server=3), "batched.2": Expect(server=3), "batched.3": Expect(server=3),
    "batched.packet": Expect(),
    "fault.raised": Expect(outcome="fault", got=as_error("E2EError", "boom \u00e9")),
    "fault.unknown_method": Expect(outcome="fault", got=as_error(
        "RemotingError", "Target 'e2e.nope' not found.")),
    "fault.unknown_service": Expect(outcome="fault", got=as_error(
        "RemotingError", "Target 'nope.echo' not found.")),
    "secure.no_credentials": Expect(outcome="fault", got=as_error(
        "SecurityError", "Target requires authentication.")),
    "secure.credentials": Expect(got=s("the secret")),
    "secure.wrong_password": Expect(outcome="fault", got=as_error(
        "SecurityError", "Invalid credentials.")),
    "header.unknown_required": Expect(outcome="fault", server=NOT_CALLED, got=as_error(
        "RemotingError", "Required header 'X-Unknown-Required' is not understood.")),
    "header.unknown_optional": Expect(got=s("x"), server="x"),
    "call.several_args": Expect(server=[1.0, "two", None, True]),
    "call.no_args": Expect(got=date_of(datetime.datetime(2021, 6, 7, 8, 9, 10, 500000))),
    "replies.packet": Expect(),
})

# What the server's encoder sends (e2e.sample(kind)), as Ruffle reads it.
_S = samples()
REPLIES = {
    "int_small": num(7), "int_amf3_max": num(2 ** 28 - 1), "int_amf3_over": num(2 ** 28),
    "int_big": num(2 ** 40), "int_negative": num(-(2 ** 28)), "float": num(0.1),
    "float_neg_zero": num("-0"), "float_nan": num("NaN"), "float_inf": num("Infinity"),
    "decimal": num(1.25), "bool": {"t": "boolean", "v": True}, "none": NULL,
    "string_unicode": s(_S["string_unicode"]), "string_long": s(_S["string_long"]),
    "list": arr(1, "two", None, 3.5), "tuple": arr(1, 2), "set": arr(3),
    "dict": obj(a=1, b=arr(True, False), c=obj(d=None)),
    "dict_int_keys": obj({"1": "one", "2": "two"}),
    "datetime_naive": date_of(_S["datetime_naive"]),
    "datetime_aware": date_of(_S["datetime_aware"]),
    "date": date_of(datetime.datetime(2021, 6, 7)),
    "xml_minidom": xml('<sample kind="dom">\n  <item>\u00e9</item>\n</sample>'),
    "xml_etree": xml('<sample kind="etree"/>'),
    "bytes": bytearray_("00017f80ff"),
    # Ruffle 0.6 cannot read AMF0 references (0x07): the second use is undefined.
    "shared_list": arr(arr(1, 2), UNDEFINED),
    # A mapped class goes out as switch 0x11 + AMF3 typed object; Ruffle makes a Point.
    "point": obj(x=1.5, y=-2, class_name="Point"),
    # An unmapped alias is an AMF0 typed object 0x10; no class is registered for it.
    "typed_unmapped": obj(a=1, b="x"),
    "vector_int": vector("__AS3__.vec::Vector.<int>", 1, -2, 3),
    "vector_double": vector("__AS3__.vec::Vector.<Number>", 1.5, -2),
    "vector_object": vector("__AS3__.vec::Vector.<Object>", "a", "b"),
    "dictionary": obj(k="v", class_name="flash.utils::Dictionary"),
}
ITEMS.update({f"reply.{kind}": Expect(got=got) for kind, got in REPLIES.items()})
