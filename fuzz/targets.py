"""The fuzz targets: functions of the raw input bytes, shared by the atheris runner
(``fuzz/run.py``), the bounded run in ``make test`` (tests/test_fuzz_bounded.py) and the
regression tests (tests/test_fuzz_regressions.py).

A target returns None when amfast behaved, and raises when it did not: ``FuzzFailure`` for
a broken invariant, or whatever unexpected exception amfast let escape.

``amf0``, ``amf3``
    The value decoder.  Decoding gives a value or one of ``DecodeError``'s subclasses (never
    the bare root) whose ``offset`` is an int within the input; nothing else.  The value can
    be walked, encodes again (or fails with ``EncodeError``), what the encoder wrote decodes,
    and encoding is a fixpoint after one round: ``encode(decode(encode(v))) == encode(v)``.
``packet``
    The packet decoder, with the same invariants for ``decode_packet``/``encode_packet``.
``differential``
    amfast against py3amf, on values both accept: first input byte even = AMF0, odd =
    AMF3, the rest is the value.  The decoded values must be equal after normalisation
    (see ``normalise``).  py3amf is only asked about inputs amfast accepted, with its
    import-by-alias class loader switched off for the call.
``server``
    The WSGI channel in this process: the input is POSTed to ``/amf`` of a channel set with
    login, secure targets and messaging.  The answer is a 200 whose AMF reply decodes, or a
    plain 400; never a 500, and no fault carries a traceback.
"""
from __future__ import annotations

import datetime
import io
import math
import os
import zlib
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import amfast
from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsVector, IdentityKey,
                                       TypedObject)
from amfast.decoder import (BadReferenceError, ClassMappingError, DecodeError, Decoder,
                            InvalidUTF8Error, LimitExceededError, MalformedDataError,
                            RefusedValueError, TruncatedDataError, UnknownMarkerError)
from amfast.encoder import EncodeError, Encoder
from amfast.remoting import Packet
from amfast.remoting.flex_messages import AbstractMessage, ErrorMessage

__all__ = [
    "KNOWN_BUGS",
    "STRICT_TARGETS",
    "TARGETS",
    "Disagreement",
    "FuzzFailure",
    "Skip",
    "amf0",
    "amf3",
    "differential",
    "normalise",
    "packet",
    "server",
]

DECODER = Decoder()
ENCODER = Encoder()
#: The most values a walk or a normalisation visits (bounds the work per input).
WALK_BUDGET = 200_000


class FuzzFailure(AssertionError):
    """amfast broke one of a target's invariants."""


class Disagreement(FuzzFailure):
    """amfast and py3amf decoded one input to different values."""


class Skip(Exception):
    """The differential target cannot compare this input (a documented py3amf difference)."""


# ----------------------------------------------------------------------------- helpers


def _check_decode_error(err: DecodeError, data: bytes) -> None:
    if type(err.offset) is not int or not 0 <= err.offset <= len(data):
        raise FuzzFailure(f"DecodeError without a valid offset: {err.offset!r} ({err})")
    if not _classify(err):
        raise FuzzFailure(f"a DecodeError of no kind: {type(err).__name__}: {err}")


def _classify(err: DecodeError) -> int:
    """Branch on the kind of error (and the budget exceeded), so that coverage-guided fuzzing
    tells them apart; 0 for an error of no known kind."""
    if isinstance(err, TruncatedDataError):
        return 1
    if isinstance(err, BadReferenceError):
        return 2
    if isinstance(err, LimitExceededError):
        if err.limit == "max_depth":
            return 3
        if err.limit == "bytes_left":
            return 4
        if err.limit == "max_elements":
            return 5
        return 6
    if isinstance(err, InvalidUTF8Error):
        return 7
    if isinstance(err, UnknownMarkerError):
        return 8
    if isinstance(err, MalformedDataError):
        return 9
    if isinstance(err, RefusedValueError):
        return 10
    if isinstance(err, ClassMappingError):
        return 11
    return 0


def walk(value: Any, budget: int = WALK_BUDGET) -> int:
    """Visit a decoded value graph (cycle-safe, bounded); the number of values visited."""
    seen: set = set()
    stack = [value]
    count = 0
    while stack and count < budget:
        item = stack.pop()
        count += 1
        if item is None or isinstance(item, (bool, int, float, str)):
            continue
        if isinstance(item, (datetime.datetime, AsByteArray, bytes)):
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (list, tuple)):  # AsVector too
            stack.extend(item)
        elif isinstance(item, AsDictionary):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, IdentityKey):
            stack.append(item.value)
        elif isinstance(item, TypedObject):
            stack.append(item.alias)
            stack.extend(item.values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, AbstractMessage):
            stack.extend(vars(item).values())
        elif hasattr(item, "toxml") or isinstance(item, ElementTree.Element):
            continue
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return count


def _fixpoint(value: Any, amf3: bool) -> None:
    """The value encodes (or EncodeError), the bytes decode, and encoding is stable from the
    second round on: a field the first decoding defaulted may appear once (a small message
    whose messageId was null decodes again with messageId ""), never later."""
    try:
        raw = ENCODER.encode(value, amf3)
    except EncodeError:
        return
    seen = [raw]
    for _round in range(2):
        try:
            again = DECODER.decode(raw, amf3)
        except DecodeError as err:
            raise FuzzFailure(f"the encoder wrote bytes the decoder refuses: {err}; "
                              f"encoded {raw.hex()}") from None
        raw = ENCODER.encode(again, amf3)
        if raw == seen[-1]:
            return
        seen.append(raw)
    raise FuzzFailure("encoding is not stable: " + " then ".join(r.hex() for r in seen))


def _packet_fixpoint(packet: Packet) -> None:
    try:
        raw = ENCODER.encode_packet(packet, amf3=packet.is_amf3)
    except EncodeError:
        return
    seen = [raw]
    for _round in range(2):
        try:
            again = DECODER.decode_packet(raw)
        except DecodeError as err:
            raise FuzzFailure(f"the encoder wrote a packet the decoder refuses: {err}; "
                              f"encoded {raw.hex()}") from None
        raw = ENCODER.encode_packet(again, amf3=again.is_amf3)
        if raw == seen[-1]:
            return
        seen.append(raw)
    raise FuzzFailure("packet encoding is not stable: " + " then ".join(r.hex() for r in seen))


# ----------------------------------------------------------------------------- value targets


def _value(data: bytes, amf3: bool) -> None:
    try:
        value = DECODER.decode(data, amf3)
    except DecodeError as err:
        _check_decode_error(err, data)
        return
    walk(value)
    _fixpoint(value, amf3)


def amf0(data: bytes) -> None:
    """The AMF0 value decoder (see the module docstring)."""
    _value(data, False)


def amf3(data: bytes) -> None:
    """The AMF3 value decoder (see the module docstring)."""
    _value(data, True)


def packet(data: bytes) -> None:
    """The packet decoder (see the module docstring)."""
    try:
        decoded = DECODER.decode_packet(data)
    except DecodeError as err:
        _check_decode_error(err, data)
        return
    if decoded.client_type not in (Packet.FLASH_8, Packet.FLASH_COM, Packet.FLASH_9):
        raise FuzzFailure(f"packet version {decoded.client_type!r} accepted")
    for header in decoded.headers:
        walk((header.name, header.required, header.value))
    for message in decoded.messages:
        walk((message.target, message.response, message.body))
    _packet_fixpoint(decoded)


# ----------------------------------------------------------------------------- differential

_PY3AMF: Any = None


def _py3amf() -> Any:
    global _PY3AMF
    if _PY3AMF is None:
        import pyamf
        import pyamf.amf0
        import pyamf.amf3
        import pyamf.flex
        _PY3AMF = pyamf
    return _PY3AMF


def _refuse_to_import(alias: Any) -> None:
    raise _py3amf().UnknownClassAlias(f"not loading {alias!r}")


def py3amf_decode(raw: bytes, amf3: bool) -> Any:
    """The first value py3amf reads from ``raw``, its class loader never importing anything."""
    pyamf = _py3amf()
    saved = pyamf.load_class
    pyamf.load_class = _refuse_to_import
    try:
        decoder = pyamf.get_decoder(pyamf.AMF3 if amf3 else pyamf.AMF0, raw)
        return decoder.readElement()
    finally:
        pyamf.load_class = saved


def _ms(value: datetime.datetime) -> float:
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None) - value.utcoffset()
    delta = value - datetime.datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds / 1000


def normalise(value: Any, py3amf_side: bool = False) -> Any:
    """A decoded value as comparable nested tuples, for either decoder.

    What the two decoders give differently by design is made equal here (and only here):
    * numbers are floats (py3amf gives AMF0 integral numbers as ints), NaN is one token;
    * py3amf's Undefined is None;
    * dates are milliseconds (py3amf goes through float seconds: compared within 1 ms);
    * ByteArrays are bytes, inflated when they are zlib streams (py3amf inflates them);
    * objects and arrays are dicts with str keys; a dict whose keys are exactly 0..n-1 is
      a list (amfast turns such AMF0 ECMA arrays into lists, py3amf keeps MixedArrays);
    * ArrayCollection and ObjectProxy are their contents (amfast unwraps them);
    * a Dictionary is its (key, value) pairs (py3amf gives a ``(dict, weak)`` tuple), an
      object key is the object (amfast wraps it in an ``IdentityKey``);
    * XML is its serialisation;
    * sharing is ignored (py3amf keeps a collection and its source array apart), a cycle
      is ``("cycle", depth)`` of the container it returns to.
    Values one side has no counterpart for (Vectors, mapped classes) raise ``Skip``; and
    ``differential`` does not compare references to AMF0 dates nor anything involving a
    Dictionary, where py3amf's reference tables are wrong.
    """
    budget = [WALK_BUDGET // 10]
    path: dict = {}

    def norm(item: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise Skip("too many values to compare")
        if item is None:
            return None
        if py3amf_side and item is _py3amf().Undefined:
            return None
        if isinstance(item, IdentityKey):
            return norm(item.value)
        if isinstance(item, bool):
            return ("bool", item)
        if isinstance(item, (int, float)):
            number = float(item)
            return ("nan",) if math.isnan(number) else ("num", number)
        if isinstance(item, str):
            return ("str", item)
        if isinstance(item, datetime.datetime):
            return ("date", _ms(item))
        if isinstance(item, ElementTree.Element):
            return ("xml", ElementTree.tostring(item, encoding="unicode"))
        if py3amf_side and isinstance(item, _py3amf().amf3.ByteArray):
            return ("bytes", item.getvalue())
        if isinstance(item, bytes):
            raw = bytes(item)
            if raw[:2] == b"\x78\x9c":  # py3amf inflates what looks like zlib
                try:
                    raw = zlib.decompress(raw)
                except zlib.error:
                    pass
            return ("bytes", raw)
        if id(item) in path:
            return ("cycle", path[id(item)])
        path[id(item)] = len(path)
        try:
            return container(item)
        finally:
            del path[id(item)]

    def container(item: Any) -> Any:
        if py3amf_side:
            pyamf = _py3amf()
            if isinstance(item, pyamf.flex.ObjectProxy):
                return norm(item._amf_object)
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], dict):
                return ("dictionary", pairs(item[0]))
            if isinstance(item, pyamf.TypedObject):
                return ("typed", str(item.alias), mapping(item))
            if isinstance(item, (pyamf.ASObject, pyamf.MixedArray)) or type(item) is dict:
                return mapping(item)
            if isinstance(item, list) and type(item) in (list, pyamf.flex.ArrayCollection):
                return ("list", [norm(v) for v in item])
            raise Skip(f"py3amf gave a {type(item).__name__}")
        if isinstance(item, AsVector):
            raise Skip("py3amf has no Vectors")
        if isinstance(item, AsDictionary):
            return ("dictionary", pairs(item))
        if isinstance(item, TypedObject):
            if item.alias in _py3amf().CLASS_CACHE:
                raise Skip(f"py3amf maps the alias {item.alias!r}")
            return ("typed", item.alias, mapping(item))
        if type(item) is dict:
            return mapping(item)
        if type(item) is list:
            return ("list", [norm(v) for v in item])
        raise Skip(f"amfast gave a {type(item).__name__}")

    def pairs(item: dict) -> list:
        # py3amf keeps null and undefined keys apart, amfast reads both as None: keys that
        # normalise alike are one key, as in a dict (first position, last value).
        merged: dict = {}
        for key, val in item.items():
            nkey = norm(key)
            merged.setdefault(repr(nkey), [nkey, None])[1] = norm(val)
        return [tuple(pair) for pair in merged.values()]

    def mapping(item: dict) -> Any:
        keys = [k if isinstance(k, str) else str(k) for k in item]
        if len(set(keys)) != len(keys):
            raise Skip("keys collide once made strings")
        values = dict(zip(keys, item.values()))
        if set(keys) == {str(i) for i in range(len(keys))}:
            return ("list", [norm(values[str(i)]) for i in range(len(keys))])
        return ("dict", [(k, norm(values[k])) for k in sorted(keys)])

    return norm(value)


def same(a: Any, b: Any) -> bool:
    """Equality of normalised values; dates within a millisecond."""
    if isinstance(a, tuple) and isinstance(b, tuple) and a[:1] == b[:1] == ("date",):
        return abs(a[1] - b[1]) <= 1.0
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    return a == b


_DIFF_DECODER = Decoder(xml_type="etree")


def differential(data: bytes) -> None:
    """amfast vs py3amf (see the module docstring)."""
    if not data:
        return
    amf3_ = bool(data[0] & 1)
    raw = data[1:]
    try:
        ours = _DIFF_DECODER.decode(raw, amf3_)
    except DecodeError as err:
        _check_decode_error(err, raw)
        return
    try:
        mine = normalise(ours)
    except Skip:
        return
    try:
        theirs = py3amf_decode(raw, amf3_)
    except Exception:  # noqa: BLE001 - py3amf refuses it: nothing to compare
        return
    try:
        other = normalise(theirs, py3amf_side=True)
    except Skip:
        return
    if not amf3_ and _has_node(mine, "date") and b"\x07" in raw:
        return  # py3amf gives AMF0 dates a reference slot: later references shift
    if _has_node(mine, "dictionary") or _has_node(other, "dictionary"):
        # py3amf's reference table does not hold the Dictionary it returns, and it reads a
        # Dictionary marker with a reference as a new empty Dictionary whatever the index
        # names: references to and from Dictionaries cannot be compared.
        return
    if not same(mine, other):
        raise Disagreement(f"amfast and py3amf disagree on {'AMF3' if amf3_ else 'AMF0'} "
                          f"{raw.hex()}:\n amfast: {mine!r}\n py3amf: {other!r}")


def _has_node(normalised: Any, kind: str) -> bool:
    if isinstance(normalised, tuple) and normalised[:1] == (kind,):
        return True
    if isinstance(normalised, (tuple, list)):
        return any(_has_node(x, kind) for x in normalised)
    return False


# ----------------------------------------------------------------------------- server

_SERVER: Any = None
#: The server's state (connections, subscriptions, messages) is dropped this often.
SERVER_RESET_EVERY = 500


def _build_server() -> Any:
    from amfast import remoting
    from amfast.remoting.channel import SecurityError
    from amfast.remoting.connection_manager import MemoryConnectionManager
    from amfast.remoting.subscription_manager import MemorySubscriptionManager
    from amfast.remoting.wsgi_channel import WsgiChannel, WsgiChannelSet

    class FuzzChannelSet(WsgiChannelSet):
        def login(self, user, password):
            if (user, password) == ("correct", "correct"):
                return True
            raise SecurityError("Invalid credentials.")

    channel_set = FuzzChannelSet(connection_manager=MemoryConnectionManager(),
                                 subscription_manager=MemorySubscriptionManager(max_messages=50))
    channel_set.mapChannel(WsgiChannel("amf", max_body_size=1 << 20))

    def fail(*_args):
        raise ValueError("boom")

    def whoami(packet, message, *args):
        body = message.body
        connection = getattr(body[0], "connection", None) if isinstance(body, list) and body \
            else None
        if connection is None:
            return {"authenticated": bool(packet.authenticated)}
        return {"id": connection.id, "authenticated": connection.authenticated}

    for name in ("svc", "echo"):
        service = remoting.Service(name)
        service.mapTarget(remoting.CallableTarget(lambda *values: list(values), "echo"))
        service.mapTarget(remoting.CallableTarget(fail, "fail"))
        service.mapTarget(remoting.CallableTarget(lambda: "secret", "secret", secure=True))
        service.mapTarget(remoting.ExtCallableTarget(whoami, "whoami"))
        channel_set.service_mapper.mapService(service)
    channel_set.calls = 0
    return channel_set


def _server() -> Any:
    global _SERVER
    if _SERVER is None:
        _SERVER = _build_server()
    return _SERVER


def post(channel_set: Callable, data: bytes, path: str = "/amf",
         content_type: str = "application/x-amf") -> tuple[str, dict, bytes]:
    """POST ``data`` to a WSGI application in this process: (status, headers, body)."""
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "fuzz", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data), "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status
        answer["headers"] = {k.lower(): v for k, v in headers}

    chunks = channel_set(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], body


def _no_traceback(text: Any, where: str) -> None:
    if isinstance(text, str) and ("Traceback" in text or 'File "' in text):
        raise FuzzFailure(f"{where} carries a traceback: {text[:500]!r}")


def server(data: bytes) -> None:
    """The WSGI channel in this process (see the module docstring)."""
    channel_set = _server()
    channel_set.calls += 1
    if channel_set.calls % SERVER_RESET_EVERY == 0:
        channel_set.connection_manager.reset()
        channel_set.subscription_manager.reset()
    # Failures are logged at warning level: keep them out of the fuzzer's output.
    disabled, amfast.logger.disabled = amfast.logger.disabled, True
    try:
        status, headers, body = post(channel_set, data)
    finally:
        amfast.logger.disabled = disabled
    code = int(status.split()[0])
    if code == 400:
        if not headers.get("content-type", "").startswith("text/plain"):
            raise FuzzFailure(f"400 answered with {headers.get('content-type')!r}")
        return
    if code != 200:
        raise FuzzFailure(f"HTTP {status}: {body[:300]!r}")
    if headers.get("content-type") != "application/x-amf":
        raise FuzzFailure(f"200 answered with {headers.get('content-type')!r}")
    try:
        reply = DECODER.decode_packet(body)
    except DecodeError as err:
        raise FuzzFailure(f"the server's reply does not decode: {err}") from None
    for message in reply.messages:
        if not message.target.endswith(("/onResult", "/onStatus")):
            raise FuzzFailure(f"reply target {message.target!r}")
        reply_body = message.body
        if isinstance(reply_body, ErrorMessage):
            for field in ("faultString", "faultDetail"):
                _no_traceback(getattr(reply_body, field, None), f"ErrorMessage.{field}")
        elif message.target.endswith("/onStatus"):
            _no_traceback(getattr(reply_body, "message", None), "onStatus message")


# ----------------------------------------------------------------------------- known bugs


#: Failures already reported as amfast bugs, each with an xfail(strict=True) test in
#: tests/test_fuzz_regressions.py: (target, short name, predicate(data, exception)).
#: ``TARGETS`` let them pass so that fuzzing goes on finding new bugs; ``STRICT_TARGETS``
#: do not, nor does any target when AMFAST_FUZZ_STRICT=1.  Remove an entry once its bug
#: is fixed.
KNOWN_BUGS: list[tuple[str, str, Callable[[bytes, BaseException], bool]]] = []


def _tolerating_known(name: str, target: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        try:
            target(data)
        except Exception as exc:
            if os.environ.get("AMFAST_FUZZ_STRICT") != "1":
                for known_target, _bug, predicate in KNOWN_BUGS:
                    if known_target in (name, "*") and predicate(data, exc):
                        return
            raise
    run.__name__ = run.__qualname__ = f"{target.__name__}_tolerating_known_bugs"
    run.__doc__ = target.__doc__
    return run


#: name -> target function, every invariant enforced
STRICT_TARGETS: dict[str, Callable[[bytes], None]] = {
    "amf0": amf0,
    "amf3": amf3,
    "packet": packet,
    "differential": differential,
    "server": server,
}
#: name -> target function, the KNOWN_BUGS let through
TARGETS: dict[str, Callable[[bytes], None]] = {
    name: _tolerating_known(name, target) for name, target in STRICT_TARGETS.items()}
