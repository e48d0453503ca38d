"""What each item of the Apache Royale 0.9.12 client (royale/src/Main.as) must show.

The client is compiled to JavaScript (release build) and runs in Chromium.  What Royale
itself does, said here once: it writes -0 as the AMF3 integer 0 (its writer tests
``n === (n|0)``); it writes a function as undefined; classes without an alias go as
anonymous objects with sealed members; it writes every value with references (strings,
objects, traits), so shared and cyclic values arrive shared and cyclic.  What Royale
cannot do is left out of the client: an empty key ("") in a dynamic object (AMF3 ends the
members with an empty name), Vector.<uint> and Vector.<Number> (its writer leaves out their
elements), and reading an AMF3 Dictionary (it takes marker 0x11 for the AMF0 switch).
AMFNetConnection sends no packet headers (so no Credentials): secure calls are tested
through ChannelSet.login.
"""
from __future__ import annotations

import datetime
import uuid
from xml.dom import minidom

from amfast.class_def.as_types import AsByteArray, AsVector
from tests.e2e.expect import (NULL, Expect, arr, b, bytearray_, date, date_of, num, obj,
                              partial_obj, s, vector, xml)
from tests.e2e.server import Address, Badge, Customer, Level, Person, Tagged, samples



def _naive(ms: float) -> datetime.datetime:
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)


def _person(name, age, tags) -> Person:
    return Person(name, age, tags)


def _tagged(**members) -> Tagged:
    t = Tagged.__new__(Tagged)
    t.__dict__.update(members)
    return t


def _xml_check(text: str):
    def check(value) -> str | None:
        if not isinstance(value, minidom.Document):
            return f"expected a xml.dom.minidom.Document, got {type(value).__name__}"
        root = value.documentElement
        child = root.getElementsByTagName("child")[0].firstChild.data
        if (root.tagName, root.getAttribute("a"), child) != ("root", "1", text):
            return f"unexpected document {value.toxml()!r}"
        return None
    return check


def _identity(check, description: str):
    def run(value) -> str | None:
        try:
            ok = check(value)
        except Exception as exc:  # a wrong shape
            return f"{description}: {type(exc).__name__}: {exc} in {value!r:.200}"
        return None if ok else f"{description}: got {value!r:.200}"
    return run


def _vector(items, kind, class_name=None):
    def check(value) -> str | None:
        if not isinstance(value, AsVector) or list(value) != items or value.type != kind:
            return f"expected AsVector({items!r}, type={kind!r}), got {value!r}"
        if class_name is not None and value.class_name != class_name:
            return f"expected class_name {class_name!r}, got {value.class_name!r}"
        return None
    return check


def nc_error(name: str, message: str) -> dict:
    """A NetConnection fault: amfast's AS Error (alias "Error"), read into e2e.NcError."""
    return obj(name=s(name), message=s(message), errorId=num(5000), class_name="e2e.NcError")


def ro_fault(code: str, text: str) -> dict:
    """A RemoteObject fault: the ErrorMessage's faultCode and faultString."""
    return obj(faultCode=s(code), faultString=s(text))


ECHOED = {
    # AMF3 integers are 29-bit; Royale writes anything else as a double.
    "int.zero": 0, "int.one": 1, "int.minus_one": -1, "int.max29": 268435455,
    "int.min29": -268435456, "int.over29": 268435456.0, "int.under29": -268435457.0,
    "int.max32": 2147483647.0, "int.over32": 2147483648.0,
    "number.float": 3.5, "number.tenth": 0.1, "number.pow53": 9007199254740992.0,
    "number.large": 1e300, "number.tiny": 5e-324, "number.nan": float("nan"),
    "number.inf": float("inf"), "number.neg_inf": float("-inf"),
    "null": None, "boolean.true": True, "boolean.false": False,
    "string.empty": "", "string.ascii": "hello", "string.bmp": "h\u00e9llo \u4e16\u754c",
    "string.astral": "smile \U0001F600", "string.nul": "a\x00b",
    "string.long": "abcdefghij" * 7000,
    "string.same_twice": ["dup", "dup", "dup"],
    "date.epoch": _naive(0), "date.millis": _naive(1577934245678),
    "date.before_epoch": _naive(-1000000000000),
    "date.same_twice": _identity(lambda v: v[0] is v[1] and v[0] == _naive(86400000),
                                 "expected one datetime twice (an AMF3 object reference)"),
    "array.empty": [], "array.dense": [1, "two", 3.25], "array.nested": [[1, 2], [], [[3]]],
    "object.empty": {}, "object.flat": {"a": 1, "b": "x", "c": True, "d": None},
    "object.nested": {"a": 1, "b": "x", "nested": [1, 2], "inner": {"deep": {"deeper": "y"}}},
    "object.odd_keys": {"1": "numeric key", "\u00e9t\u00e9": "unicode key", "with space": 2},
    "object.same_traits": [{"a": 1, "b": 2}, {"a": 3, "b": 4}],
    "reference.same_object_twice": _identity(
        lambda v: v[0] is v[1] and v[0] == {"s": "shared"},
        "expected one dict twice (an AMF3 object reference)"),
    "reference.cycle": _identity(lambda v: v["self"] is v and v["name"] == "cyclic",
                                 "expected a dict whose 'self' is itself"),
    "reference.array_cycle": _identity(lambda v: v[1] is v and v[0] == "loop",
                                       "expected a list that contains itself"),
    # Mapped aliases decode to the server's classes (ClassDef on the channel's endpoint).
    "typed.person": _person("Ann", 41, ["a", "b"]),
    "typed.person_nulls": _person(None, 0, None),
    "typed.two_persons": [_person("A", 1, []), _person("B", 2, ["x"])],
    "typed.dynamic": _tagged(kind="k", extra="dyn", count=3),
    "bytearray": AsByteArray(b"\x00\x01\x02\x7f\x80\xff"),
    "bytearray.empty": AsByteArray(b""),
    "bytearray.same_twice": _identity(
        lambda v: v[0] is v[1] and v[0] == b"\x00\x01\x02\x7f\x80\xff",
        "expected one ByteArray twice (an AMF3 object reference)"),
    "xml.ascii": _xml_check("text"),
    "vector.int": _vector([1, -2], "int"),
}

ITEMS: dict[str, Expect] = {f"nc.{name}": Expect(server=value) for name, value in ECHOED.items()}

ITEMS.update({
    "nc.undefined": Expect(got=NULL, server=None, why="AMF3 undefined decodes to None"),
    "nc.number.neg_zero": Expect(got=num(0), server=0,
                                 why="Royale writes -0 as the AMF3 integer 0"),
    "nc.function": Expect(got=NULL, server=None, why="Royale writes a function as undefined"),
    # AMF3 arrays with named or sparse members decode to dicts (dense indexes as ints).
    "nc.array.sparse": Expect(got=obj({"0": "first", "5": "sixth"}),
                              server={0: "first", "5": "sixth"}),
    "nc.array.assoc": Expect(got=obj(name="value", other=2), server={"name": "value", "other": 2}),
    "nc.array.mixed": Expect(got=obj({"0": 1, "1": 2, "label": "mixed"}),
                             server={0: 1, 1: 2, "label": "mixed"}),
    "nc.typed.unregistered": Expect(got=obj(label="plain"), server={"label": "plain"},
                                    why="a class without alias travels as an anonymous object"),
    # flex.messaging.io.ArrayCollection (externalizable) decodes to its list.
    "nc.arraycollection": Expect(got=arr(1, "two", obj(three=3)), server=[1, "two", {"three": 3}]),
    "nc.xml": Expect(server=_xml_check("text \u00e9")),
    "nc.vector.string": Expect(server=_vector(["a", "b"], "object", ""),
                               got=vector("Vector.<Object>", "a", "b"),
                               why="Royale writes the type name '' (Object) for Vector.<String>"),
    "nc.call.several_args": Expect(server=[1, "two", None, True]),
    "nc.call.no_args": Expect(got=date_of(datetime.datetime(2021, 6, 7, 8, 9, 10, 500000))),
    "nc.fault.raised": Expect(outcome="fault", got=nc_error("E2EError", "boom \u00e9")),
    "nc.fault.unknown_method": Expect(outcome="fault", got=nc_error(
        "RemotingError", "Target 'e2e.nope' not found.")),
    "nc.fault.unknown_service": Expect(outcome="fault", got=nc_error(
        "RemotingError", "Target 'nope.echo' not found.")),
    "nc.secure.no_credentials": Expect(outcome="fault", got=nc_error(
        "SecurityError", "Target requires authentication.")),
})

# What the server's encoder sends (e2e.sample(kind)), as Royale reads it.
_S = samples()
REPLIES = {
    "int_small": num(7), "int_amf3_max": num(2 ** 28 - 1), "int_amf3_over": num(2 ** 28),
    "int_big": num(2 ** 40), "int_negative": num(-(2 ** 28)), "float": num(0.1),
    "float_neg_zero": num("-0"), "float_nan": num("NaN"), "float_inf": num("Infinity"),
    "decimal": num(1.25), "bool": b(True), "none": NULL,
    "string_unicode": s(_S["string_unicode"]), "string_long": s(_S["string_long"]),
    "list": arr(1, "two", None, 3.5), "tuple": arr(1, 2), "set": arr(3),
    "dict": obj(a=1, b=arr(True, False), c=obj(d=None)),
    "dict_int_keys": obj({"1": "one", "2": "two"}),
    "datetime_naive": date_of(_S["datetime_naive"]),
    "datetime_aware": date_of(_S["datetime_aware"]),
    "date": date_of(datetime.datetime(2021, 6, 7)),
    "xml_etree": xml('<sample kind="etree"/>'),
    "bytes": bytearray_("00017f80ff"),
    # AMF3 keeps references: the same list twice.
    "shared_list": arr(arr(1, 2), {"t": "ref", "i": 1}),
    "point": obj(x=1.5, y=-2),  # e2e.Point is not registered in the Royale client
    "person": obj(name="Ann", age=41, tags=arr("a", "b"), class_name="e2e.Person"),
    "tagged": obj(kind="k", extra="dyn", class_name="e2e.Tagged"),
    "typed_unmapped": obj(a=1, b="x"),
    "vector_int": vector("Vector.<int>", 1, -2, 3),
    "vector_double": vector("Vector.<Number>", 1.5, -2),
    # AsVector's default class_name '*' reads as Vector.<void> in Royale.
    "vector_object": vector("Vector.<void>", "a", "b"),
}
ITEMS.update({f"nc.reply.{kind}": Expect(got=got) for kind, got in REPLIES.items()})
ITEMS["nc.reply.xml_minidom"] = Expect(
    got=xml('<sample kind="dom">\n  <item>\u00e9</item>\n</sample>'))

# RemoteObject over an AMFChannel (Flex RemotingMessages, AMF3).
ITEMS.update({
    "ro.string": Expect(server="hello \u00e9"),
    "ro.number": Expect(server=3.5),
    "ro.object": Expect(server={"a": 1, "nested": {"b": [1, 2]}}),
    "ro.array": Expect(server=[1, "two", None]),
    "ro.date": Expect(server=_naive(1577934245678)),
    "ro.person": Expect(server=_person("Ann", 41, ["a", "b"])),
    "ro.dynamic": Expect(server=_tagged(kind="k", extra="dyn")),
    "ro.arraycollection": Expect(got=arr("x", "y"), server=["x", "y"]),
    "ro.several_args": Expect(server=[1, "two"]),
    "ro.sample.person": Expect(got=REPLIES["person"]),
    "ro.sample.bytes": Expect(got=REPLIES["bytes"]),
    "ro.fault.raised": Expect(outcome="fault", got=ro_fault("E2EError", "boom \u00e9")),
    "ro.fault.unknown_operation": Expect(outcome="fault", got=ro_fault(
        "FlexMessageError", "Operation 'e2e.nope' not found.")),
    "ro.fault.unknown_destination": Expect(outcome="fault", got=ro_fault(
        "FlexMessageError", "Operation 'nope.echo' not found.")),
})

# ChannelSet.login / logout around a secure operation.
_NEEDS_LOGIN = ro_fault("Client.Authentication", "Operation requires authentication.")
ITEMS.update({
    "login.secret_before": Expect(outcome="fault", got=_NEEDS_LOGIN),
    "login.wrong_password": Expect(outcome="fault", got=ro_fault("Client.Authentication",
                                                                 "Invalid credentials.")),
    "login.secret_after_wrong": Expect(outcome="fault", got=_NEEDS_LOGIN),
    "login.right_password": Expect(got=NULL),
    "login.secret": Expect(got=s("the secret")),
    "login.whoami": Expect(got=s("correct")),
    "login.logout": Expect(got=NULL),
    "login.secret_after_logout": Expect(outcome="fault", got=_NEEDS_LOGIN),
})


def _ack(correlation: str) -> dict:
    return partial_obj(correlation=s(f"mx.messaging.messages.{correlation}"))


def _message(body: dict, subtopic: str) -> dict:
    return obj(body=obj(body), destination=s("e2e-chat"), subtopic=s(subtopic))


for _kind in ("polling", "longpoll"):
    _room, _other = f"room-{_kind}", f"other-{_kind}"
    ITEMS.update({
        f"msg.{_kind}.subscribe": Expect(got=_ack("CommandMessage")),
        f"msg.{_kind}.other_subscribe": Expect(got=_ack("CommandMessage")),
        f"msg.{_kind}.send": Expect(got=_ack("AsyncMessage")),
        f"msg.{_kind}.send_other": Expect(got=_ack("AsyncMessage")),
        f"msg.{_kind}.server_publish": Expect(got=b(True)),
        # The room's Consumer gets the Producer's message, then the server's, and nothing
        # sent to the other subtopic; the other Consumer gets only its own.
        f"msg.{_kind}.received": Expect(got=arr(
            _message({"text": "hello \u00e9", "n": 1, "when": date(0)}, _room),
            _message({"from": "server", "text": "from the server"}, _room))),
        f"msg.{_kind}.other_received": Expect(got=arr(_message({"text": "elsewhere"}, _other))),
        f"msg.{_kind}.unsubscribe": Expect(got=_ack("CommandMessage")),
        f"msg.{_kind}.other_unsubscribe": Expect(got=_ack("CommandMessage")),
    })

# The classes amfast.codegen wrote from server.codegen_mapper (royale/src/e2e/Codegen.as): each
# is registered under the alias of its [RemoteClass] metadata, and an object of each comes
# back as an instance of the same generated class (the client describes it by its class name,
# declared variables and dynamic members, so the echo must equal what was sent).
_badge = Badge.__new__(Badge)
_badge.__dict__.update(label="gold", weight=2.5, color="red")
ITEMS.update({
    "codegen.remote_class_aliases": Expect(got=arr(
        "e2e.codegen.Address", "e2e.codegen.Customer", "e2e.codegen.Badge")),
    "codegen.address": Expect(server=Address("Main St", 12, ["flat 3"])),
    "codegen.customer": Expect(server=Customer(
        uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"), "Ann", 4.5, True,
        _naive(1577934245678), Level.GOLD, Address("Side St", 1, []), ["a", "b"],
        {"speed": 4.5}, AsByteArray(b"\x00\x01\xff"), None)),
    "codegen.badge": Expect(server=_badge),
})

# examples/addressbook through typed objects (royale/src/e2e/AddressBookItem.as): the user
# arrives as an e2e.AbUser with its e-mail addresses and without its lazy phone numbers,
# is saved back edited, and the save leaves the phone numbers alone.
def _user(first_name: str, emails: list) -> dict:
    return obj({"class": "e2e.AbUser", "sa_key": [1], "sa_lazy": ["phone_numbers"],
                "first_name": first_name, "last_name": "Lee", "emails": emails,
                "email_classes": ["e2e.AbEmail"] * len(emails), "phone_numbers": None})


_EDITED = _user("Anna", ["anna@work.example", "anna@royale.example"])
ITEMS.update({
    "addressbook.load": Expect(got=_user("Ann", ["ann@work.example", "ann@home.example"])),
    "addressbook.save": Expect(got=_EDITED),
    "addressbook.reload": Expect(got=_EDITED),
    "addressbook.phone_numbers": Expect(got=obj(numbers=["555-0101", "555-0102"],
                                                classes=["e2e.AbPhoneNumber"] * 2)),
})

# examples/django_project through its Django channel (royale/src/e2e/DjangoItem.as): a
# Django user logs in, saves a new note (a notes.Note), loads it back with its author (a
# notes.User without its password hash), changes it, saves it again and reloads it.
def _note(title: str) -> dict:
    return obj({"class": "e2e.DjNote", "title": title, "body": "saved by the Royale client",
                "author_class": "e2e.DjUser", "author": "royale", "no_password": True,
                "same_author": True})


ITEMS.update({
    "django.save_before_login": Expect(outcome="fault", got=_NEEDS_LOGIN),
    "django.login": Expect(got=s("logged in")),
    "django.whoami": Expect(got=s("royale")),
    "django.save": Expect(got=b(True)),
    "django.load": Expect(got=_note("from royale")),
    "django.update": Expect(got=b(True)),
    "django.reload": Expect(got=_note("changed by royale")),
})
