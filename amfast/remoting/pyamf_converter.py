"""py3amf (the maintained Python 3 PyAMF) as a second codec for amfast.

``PyAmfCodec`` reads and writes AMF0/AMF3 values and remoting envelopes with
py3amf's streams, contexts and reference tables, through subclasses of its
``amf0``/``amf3`` Encoder and Decoder that give amfast's type mapping
(docs/codec.md): ArrayCollection and ObjectProxy unwrap to list/dict, dates are
naive UTC with whole milliseconds, unknown aliases become
``amfast.class_def.as_types.TypedObject``, ByteArrays are ``AsByteArray``,
AMF0 numbers are floats, Vectors and Dictionaries are ``AsVector`` and
``AsDictionary``, XML is a minidom Document parsed without DTDs.
``amfast.remoting.pyamf_endpoint.PyAmfEndpoint`` serves channels with it.

Class mapping
-------------
A codec looks an alias (decoding) or a class (encoding, nearest mapped base
class first, as ``ClassDefMapper`` does) up in this order:

1. its own ``ClassDefMapper`` (the Flex messages, their small forms DSA/DSC/DSK,
   ArrayCollection/ObjectProxy and ``Error`` are in every mapper).  These
   mappings become ``ClassDefAlias`` objects that belong to the codec: nothing
   is registered in py3amf for them;
2. ``pyamf.CLASS_CACHE``: classes mapped with ``register_class_def`` /
   ``register_class_mapper`` below, and with ``pyamf.register_class`` directly
   (those only for their exact class, as py3amf does).  Registrations of
   py3amf's own classes (``pyamf.flex``, ``pyamf.flex.messaging``, ...) are not
   used for decoding: their aliases read as amfast's classes do;
3. (decoding) class loaders registered with ``pyamf.register_class_loader``,
   except py3amf's own ``flex_loader`` and ``blaze_loader``.

Nothing else: unlike ``pyamf.load_class``, no module is ever imported because
of a name in the input.  py3amf's ``TYPE_MAP`` (``pyamf.add_type``) and
``ALIAS_TYPES`` are not consulted: unmapped values encode as amfast's codec
encodes them.

Externalizable classes: the small messages are read and written natively (their
flag bytes through py3amf's stream, their values through py3amf's tables).  A
user's ``ExternClassDef`` calls ``amfast.encode.encode(value, context)`` /
``amfast.decode.decode(context)``, which only accept amfast's own contexts, so
it gets one: on writing, a context that records the raw bytes it is given and
whose values are then written again by py3amf (sharing the stream's reference
tables); on reading, a context holding the values py3amf has read so far, with
``readExternal`` run again each time it asks for one more value (so it must
not have side effects beyond ``obj``, nor swallow ``DecodeError``).  Values are
equal to what amfast's codec gives, but an object shared between such an
external form and the rest of the message arrives as two equal objects.

Limits: py3amf recurses in Python, so values nested deeper than about 300
levels are a ``DecodeError`` (amfast's ``max_depth`` is 512), and the other
``Decoder`` budgets are not applied.  Failures are amfast's ``DecodeError`` and
``EncodeError``; exceptions raised by user code (properties, ClassDefs) pass.

What is registered in py3amf globally, and why
----------------------------------------------
* Importing this module (or ``pyamf_endpoint``) registers nothing.  It imports
  ``pyamf.amf0``, ``pyamf.amf3`` and ``pyamf.remoting``, whose own import-time
  registrations (``ByteArray``, ``ErrorFault``, ``Server.Call.Failed``) happen
  as with any use of py3amf.  py3amf's Flex aliases are left alone (AmFast
  replaced them process-wide; amfast does not): ``pyamf.flex`` is not imported.
* ``register_class_def(class_def)`` puts a ``ClassDefAlias`` in
  ``pyamf.CLASS_CACHE`` under the ClassDef's alias and class, because that is
  what it is asked to do: make py3amf itself (``pyamf.encode``,
  ``pyamf.remoting``) and every PyAmfEndpoint map that class.
  ``register_class_mapper`` does so for each ClassDef of a mapper that is not
  built in.  ``unregister_class_def``/``unregister_class_mapper`` undo it.
  (With stock py3amf, externalizable ClassDefs are not supported: py3amf calls
  ``__readamf__``/``__writeamf__`` on the instance.  PyAmfCodec supports them.)
* Only a class loader the user registered, when it returns a class for an
  alias, gets it registered with ``pyamf.register_class`` — exactly what
  ``pyamf.load_class`` would do.  Likewise a class the user registered with
  ``pyamf.register_class`` is written by py3amf's own alias, which registers
  that class's unregistered base classes as py3amf always does.  Unmapped
  classes never touch py3amf's registry.
"""
from __future__ import annotations

try:
    import pyamf
    import pyamf.amf0
    import pyamf.amf3
    import pyamf.remoting
    from pyamf import util as _pyamf_util
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("pyamf_converter needs py3amf: pip install 'amfast[pyamf]'") from _exc

import datetime
import decimal
import enum
import math
import struct
import sys
import types
from typing import Any

from amfast import AmFastError
from amfast import decode as amf_decode
from amfast import encode as amf_encode
from amfast.class_def import (ARRAY_COLLECTION_ALIAS, OBJECT_PROXY_ALIAS, ClassDef, ClassDefMapper,
                              DynamicClassDef, ExternClassDef, _ProxyClassDef,
                              get_dynamic_attr_vals)
from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsNoProxy, AsProxy, AsVector,
                                       TypedObject)
from amfast.context import DecoderContext, EncoderContext
from amfast.decoder import DecodeError
from amfast.encoder import EncodeError
from amfast.remoting.packet import Header, Message, Packet
from amfast.remoting.flex_messages import (_HAS_NEXT, AbstractMessage, CommandMessage,
                                           _SmallMessageDef, _uuid_from_bytes, block_flags)
from amfast.xml_values import XmlRefused, is_xml, parse_xml, xml_to_string

__all__ = ["PyAmfConversionError", "ClassDefAlias", "class_def_alias", "register_class_def",
           "register_class_mapper", "unregister_class_def", "unregister_class_mapper",
           "PyAmfCodec", "packet_to_amfast", "message_to_amfast", "packet_to_pyamf",
           "message_to_pyamf"]


class PyAmfConversionError(AmFastError):
    """A value or mapping cannot be carried over between amfast and py3amf."""


# ============================================================================ aliases


class ClassDefAlias(pyamf.ClassAlias):
    """A ``pyamf.ClassAlias`` that maps a class the way an amfast ``ClassDef`` says.

    Sealed names keep the ClassDef's order (py3amf sorts its own), instances
    are made with ``getInstance`` and filled with ``applyAttrVals``, and
    ``encode_types``/``decode_types`` apply.  Compiling it never registers
    anything (py3amf registers the base classes of its own aliases).
    """

    def __init__(self, class_def: ClassDef):
        self.class_def = class_def
        pyamf.ClassAlias.__init__(self, class_def.class_, class_def.alias, defer=True)
        self.compile()

    def checkClass(self, klass: type) -> None:
        """amfast maps classes whatever their ``__init__`` needs."""

    def compile(self) -> None:
        if self._compiled:
            return
        class_def = self.class_def
        external = isinstance(class_def, ExternClassDef)
        self.external = external
        self.dynamic = isinstance(class_def, DynamicClassDef) and not external
        self.sealed = not self.dynamic
        self.amf3 = bool(class_def.amf3 or external)
        self.static_attrs = [] if external else list(class_def.static_attrs)
        self.static_attrs_set = set(self.static_attrs)
        self.exclude_attrs = self.readonly_attrs = self.proxy_attrs = None
        self.synonym_attrs = {}
        self.bases = []
        self.inherited_dynamic = self.inherited_sealed = None
        self.encodable_properties = list(self.static_attrs) or None
        self.decodable_properties = list(self.static_attrs) or None
        self.non_static_encodable_properties = None
        self.shortcut_encode = self.shortcut_decode = False
        self.is_dict = False
        self._compiled = True

    # -- what amfast's codec does with a ClassDef --------------------------------------

    def static_values(self, obj: Any) -> list:
        class_def = self.class_def
        vals = list(class_def.getStaticAttrVals(obj))
        if class_def.encode_types:
            for index, name in enumerate(self.static_attrs):
                conv = class_def.encode_types.get(name)
                if conv is not None:
                    vals[index] = conv(vals[index])
        return vals

    def dynamic_values(self, obj: Any, include_private: bool = False) -> dict:
        class_def = self.class_def
        vals = class_def.getDynamicAttrVals(obj, include_private)
        if class_def.encode_types:
            vals = {name: (class_def.encode_types[name](val) if name in class_def.encode_types
                           else val) for name, val in vals.items()}
        return vals

    def apply(self, obj: Any, vals: dict) -> None:
        decode_types = self.class_def.decode_types
        if decode_types:
            for name, conv in decode_types.items():
                if name in vals:
                    vals[name] = conv(vals[name])
        self.class_def.applyAttrVals(obj, vals)

    # -- the pyamf.ClassAlias interface (used by stock py3amf codecs) -----------------

    def getEncodableAttributes(self, obj: Any, codec: Any = None) -> dict:
        include_private = bool(getattr(getattr(codec, "conf", None), "include_private", False))
        attrs = dict(zip(self.static_attrs, self.static_values(obj)))
        if self.dynamic:
            attrs.update(self.dynamic_values(obj, include_private))
        return attrs

    def getDecodableAttributes(self, obj: Any, attrs: dict, codec: Any = None) -> dict:
        return {key.decode() if isinstance(key, bytes) else key: val
                for key, val in attrs.items()}

    def applyAttributes(self, obj: Any, attrs: dict, codec: Any = None) -> None:
        self.apply(obj, self.getDecodableAttributes(obj, attrs, codec))

    def createInstance(self, codec: Any = None) -> Any:
        return self.class_def.getInstance()

    # -- externalizable classes (PyAmfCodec only) ------------------------------------------

    def write_external(self, obj: Any, encoder: "Amf3Encoder") -> None:
        """Run ``writeExternal`` on a recording context, then write its output with py3amf."""
        mapper = encoder.conf.amfast_mapper()
        recorder = _RecordingEncoderContext(mapper, encoder.conf.include_private)
        self.class_def.writeExternal(obj, recorder)
        values = recorder.getvalue()
        reader = DecoderContext(values, mapper, True)
        stream = encoder.stream

        def flush(upto: int) -> None:
            while reader.tell() < upto:
                encoder.writeElement(amf_decode.decode(reader))
            if reader.tell() != upto:
                raise EncodeError(f"{self.class_def.alias!r}: writeExternal wrote raw bytes in "
                                  "the middle of a value")

        for offset, raw in recorder.marks:
            flush(offset)
            stream.write(raw)
        flush(len(values))

    def read_external(self, obj: Any, decoder: "Amf3Decoder") -> None:
        """Run ``readExternal`` on a context holding the values py3amf read so far.

        When it asks for one more value than the context holds, py3amf reads it
        from the stream (with the stream's reference tables) and ``readExternal``
        runs again from the start.
        """
        mapper = decoder.conf.amfast_mapper()
        raws: list = []
        values: list = []
        for _ in range(_MAX_REPLAYS):
            encoder_context = EncoderContext(class_def_mapper=mapper, amf3=True)
            for value in values:
                amf_encode.encode(value, encoder_context)
            buffer = encoder_context.getvalue()
            context = _ReplayDecoderContext(buffer, mapper, decoder.stream, raws)
            if hasattr(obj, "__dict__"):
                obj.__dict__.clear()
            try:
                self.class_def.readExternal(obj, context)
            except DecodeError as exc:
                if exc.offset != len(buffer) or context.tell() != len(buffer):
                    raise
                values.append(decoder.readElement())
                continue
            if context.tell() != len(buffer) or context.raw_index != len(raws):
                raise DecodeError(f"{self.class_def.alias!r}: readExternal read less when run "
                                  "again (it must depend only on what it reads)")
            return
        raise DecodeError(f"{self.class_def.alias!r}: readExternal read more than "
                          f"{_MAX_REPLAYS} values")


_MAX_REPLAYS = 10000


class _RecordingEncoderContext(EncoderContext):
    """Keeps the raw writes of one ``writeExternal`` apart from its values.

    ``marks`` holds (offset among the values, bytes).  Raw writes of the
    externalizable objects inside those values (``nested``) stay in the values.
    """

    def __init__(self, mapper: ClassDefMapper, include_private: bool):
        EncoderContext.__init__(self, class_def_mapper=mapper, amf3=True,
                                include_private=include_private)
        self.marks: list = []
        self.nested = 0

    def write(self, raw: Any) -> None:
        if self.nested:
            EncoderContext.write(self, raw)
        else:
            self.marks.append((self.tell(), bytes(raw)))


class _ReplayDecoderContext(DecoderContext):
    """Values come from its buffer; raw reads from the py3amf stream (recorded for replays).

    Raw reads of the externalizable objects inside those values (``nested``)
    come from the buffer.
    """

    def __init__(self, buffer: bytes, mapper: ClassDefMapper, stream: Any, raws: list):
        DecoderContext.__init__(self, buffer, mapper, True)
        self._stream = stream
        self._raws = raws
        self.raw_index = 0
        self.nested = 0

    def read(self, n: int) -> bytes:
        if self.nested:
            return DecoderContext.read(self, n)
        if n < 0:
            raise ValueError("cannot read a negative number of bytes")
        index = self.raw_index
        self.raw_index += 1
        if index < len(self._raws):
            chunk = self._raws[index]
            if len(chunk) != n:
                raise DecodeError("readExternal read differently when run again (it must "
                                  "depend only on what it reads)")
            return chunk
        chunk = self._stream.read(n) if n else b""
        self._raws.append(chunk)
        return chunk


class _NestedExternDef(ExternClassDef):
    """An ExternClassDef met inside a value of another one's external form.

    It marks the recording/replaying context as nested while the real
    ClassDef reads or writes, so that its raw bytes stay inside the value.
    """

    def __init__(self, inner: ExternClassDef):
        ExternClassDef.__init__(self, inner.class_, inner.alias, _built_in=inner._built_in)
        self.inner = inner

    def getInstance(self) -> Any:
        return self.inner.getInstance()

    def writeExternal(self, obj: Any, context: Any) -> None:
        _counting_nesting(context, _RecordingEncoderContext, self.inner.writeExternal, obj)

    def readExternal(self, obj: Any, context: Any) -> None:
        _counting_nesting(context, _ReplayDecoderContext, self.inner.readExternal, obj)


def _transcoding_mapper(class_defs: list) -> ClassDefMapper:
    """A ClassDefMapper of ``class_defs`` (later ones win), externalizable ones nested."""
    mapper = ClassDefMapper()
    for class_def in list(mapper) + class_defs:
        if isinstance(class_def, ExternClassDef) and not isinstance(class_def, _ProxyClassDef):
            class_def = _NestedExternDef(class_def)
        mapper.mapClass(class_def)
    return mapper


class SmallMessageAlias(ClassDefAlias):
    """DSA/DSC/DSK: the flag-byte wire format of ``flex_messages._SmallMessageDef``."""

    def read_external(self, obj: Any, decoder: "Amf3Decoder") -> None:
        stream = decoder.stream
        AbstractMessage.__init__(obj, timestamp=0, messageId="")
        obj.correlationId = None
        if isinstance(obj, CommandMessage):
            obj.operation = 0
        for block in self.class_def.blocks:
            flags = []
            while True:
                byte = stream.read_uchar()
                flags.append(byte)
                if not byte & _HAS_NEXT:
                    break
            values = {}
            for index, byte in enumerate(flags):
                known = block[index] if index < len(block) else ()
                for bit in range(7):
                    if byte & (1 << bit):
                        value = decoder.readElement()
                        if bit < len(known):
                            values[known[bit]] = value
            for name, value in values.items():
                if name.endswith("Bytes"):
                    name, value = name[:-len("Bytes")], _uuid_from_bytes(value)
                setattr(obj, name, value)
        if obj.headers is None:
            obj.headers = {}

    def write_external(self, obj: Any, encoder: "Amf3Encoder") -> None:
        stream = encoder.stream
        for block in self.class_def.blocks:
            flags, values = block_flags(obj, block)
            stream.write(flags)
            for value in values:
                encoder.writeElement(value)


def _counting_nesting(context: Any, kind: type, call: Any, obj: Any) -> None:
    """``call(obj, context)``, counted in ``context.nested`` when the context is of ``kind``."""
    nesting = isinstance(context, kind)
    if nesting:
        context.nested += 1
    try:
        call(obj, context)
    finally:
        if nesting:
            context.nested -= 1


def class_def_alias(class_def: ClassDef) -> ClassDefAlias:
    """The ``pyamf.ClassAlias`` for an amfast ClassDef (not registered anywhere)."""
    if not isinstance(class_def, ClassDef):
        raise PyAmfConversionError(f"not a ClassDef: {class_def!r}")
    if isinstance(class_def, _SmallMessageDef):
        return SmallMessageAlias(class_def)
    return ClassDefAlias(class_def)


# ======================================================================= registration


def register_class_def(class_def: ClassDef) -> ClassDefAlias:
    """Map a ClassDef in py3amf (``pyamf.CLASS_CACHE``), as ``pyamf.register_class`` does.

    Every PyAmfEndpoint and py3amf itself then encode and decode the class as
    amfast's codec does.  An alias that py3amf maps to another class raises
    ``PyAmfConversionError``; registering a ClassDef again replaces the earlier one.
    """
    alias = class_def_alias(class_def)
    for key in (class_def.alias, class_def.class_):
        current = pyamf.CLASS_CACHE.get(key)
        if current is not None and not isinstance(current, ClassDefAlias) and \
                current.klass is not class_def.class_:
            raise PyAmfConversionError(
                f"alias {class_def.alias!r} is already registered in py3amf for {current.klass!r}")
    for key in (class_def.alias, class_def.class_):
        old = pyamf.CLASS_CACHE.get(key)
        if isinstance(old, ClassDefAlias):
            # Drop the other key of an earlier registration this one replaces.
            for other in (old.class_def.alias, old.class_def.class_):
                if pyamf.CLASS_CACHE.get(other) is old:
                    del pyamf.CLASS_CACHE[other]
    pyamf.CLASS_CACHE[class_def.alias] = alias
    pyamf.CLASS_CACHE[class_def.class_] = alias
    return alias


def unregister_class_def(class_def: ClassDef) -> None:
    """Undo ``register_class_def`` (nothing happens if it is not registered)."""
    for key in (class_def.alias, class_def.class_):
        current = pyamf.CLASS_CACHE.get(key)
        if isinstance(current, ClassDefAlias) and current.class_def is class_def:
            del pyamf.CLASS_CACHE[key]


def register_class_mapper(class_mapper: ClassDefMapper) -> None:
    """``register_class_def`` for every ClassDef of a mapper that is not built in."""
    for class_def in class_mapper:
        if not class_def._built_in:
            register_class_def(class_def)


def unregister_class_mapper(class_mapper: ClassDefMapper) -> None:
    for class_def in class_mapper:
        if not class_def._built_in:
            unregister_class_def(class_def)


# ========================================================================== the mapping

_PYAMF_LOADERS = (pyamf.flex_loader, pyamf.blaze_loader)


def _is_pyamf_own(klass: Any) -> bool:
    module = getattr(klass, "__module__", "") or ""
    return module == "pyamf" or module.startswith(("pyamf.", "cpyamf"))


class _Mapping:
    """Which ClassAlias describes a class or an alias, for one codec (see the module doc)."""

    def __init__(self, class_def_mapper: ClassDefMapper):
        self.class_def_mapper = class_def_mapper
        self._local: dict = {}

    def _local_alias(self, class_def: ClassDef) -> ClassDefAlias:
        alias = self._local.get(class_def)
        if alias is None:
            alias = self._local[class_def] = class_def_alias(class_def)
        return alias

    def by_class(self, klass: type) -> Any:
        mapper = self.class_def_mapper
        cache = pyamf.CLASS_CACHE
        for base in klass.__mro__:
            class_def = mapper.getClassDefByClass(base)
            if class_def is not None and class_def.class_ is base:
                return self._local_alias(class_def)
            registered = cache.get(base)
            if registered is not None and (isinstance(registered, ClassDefAlias) or base is klass):
                return registered
        return None

    def by_alias(self, name: str) -> Any:
        class_def = self.class_def_mapper.getClassDefByAlias(name)
        if class_def is not None:
            return self._local_alias(class_def)
        registered = pyamf.CLASS_CACHE.get(name)
        if registered is not None and (isinstance(registered, ClassDefAlias)
                                       or not _is_pyamf_own(registered.klass)):
            return registered
        for loader in list(pyamf.CLASS_LOADERS):
            if loader in _PYAMF_LOADERS:
                continue
            found = loader(name)
            if found is None:
                continue
            if isinstance(found, pyamf.ClassAlias):
                pyamf.CLASS_CACHE[found.alias] = found
                pyamf.CLASS_CACHE[found.klass] = found
                return found
            if isinstance(found, type):
                return pyamf.register_class(found, name)
            raise TypeError("Expecting class object or ClassAlias from loader")
        return None


# ============================================================================= helpers

_REFUSED_TYPES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                  types.MethodType, types.CodeType, types.FrameType, types.GeneratorType)
_MIN_MS = -62135596800000.0
_MAX_MS = 253402300799999.0
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_ORDINAL = 719163
_MS_PER_DAY = 86400000
_STATUS_SUFFIXES = tuple(pyamf.remoting.STATUS_CODES.items())

A3_UNDEFINED, A3_NULL, A3_FALSE, A3_TRUE = b"\x00", b"\x01", b"\x02", b"\x03"
A3_INTEGER, A3_DOUBLE, A3_STRING, A3_XML_DOC = b"\x04", b"\x05", b"\x06", b"\x07"
A3_DATE, A3_ARRAY, A3_OBJECT, A3_XML, A3_BYTE_ARRAY = b"\x08", b"\x09", b"\x0a", b"\x0b", b"\x0c"
A3_VECTOR_INT, A3_VECTOR_UINT, A3_VECTOR_DOUBLE, A3_VECTOR_OBJECT = (
    b"\x0d", b"\x0e", b"\x0f", b"\x10")
A3_DICTIONARY = b"\x11"
_VECTOR_MARKERS = {"int": A3_VECTOR_INT, "uint": A3_VECTOR_UINT, "double": A3_VECTOR_DOUBLE,
                   "object": A3_VECTOR_OBJECT}


def _make_date(ms: float) -> datetime.datetime:
    """amfast's date: naive UTC, the milliseconds' fraction rounded to microseconds."""
    if not math.isfinite(ms) or not _MIN_MS <= ms <= _MAX_MS:
        raise DecodeError(f"date {ms} ms is out of range")
    whole = math.floor(ms)
    micros = int(whole) * 1000 + int(math.floor((ms - whole) * 1000.0 + 0.5))
    return _EPOCH + datetime.timedelta(microseconds=micros)


def _epoch_ms(value: datetime.date) -> float:
    """Milliseconds since the epoch: naive values are UTC, microseconds are truncated."""
    ms = (value.toordinal() - _EPOCH_ORDINAL) * _MS_PER_DAY
    if isinstance(value, datetime.datetime):
        ms += (value.hour * 3600000 + value.minute * 60000 + value.second * 1000
               + value.microsecond // 1000)
        if value.tzinfo is not None:
            offset = value.utcoffset()
            if offset is not None:
                ms -= (offset.days * _MS_PER_DAY + offset.seconds * 1000
                       + offset.microseconds // 1000)
    return float(ms)


_DOUBLE = struct.Struct(">d")


def _write_double(stream: Any, value: float) -> None:
    """A big-endian double with its exact bits (py3amf rewrites every NaN as 0xFFF8...)."""
    stream.write(_DOUBLE.pack(value))


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"string is not valid Unicode: {exc}") from None


def _parse_xml(raw: bytes) -> Any:
    try:
        return parse_xml(raw.decode("utf-8"), "minidom")
    except (XmlRefused, UnicodeDecodeError) as exc:
        raise DecodeError(str(exc)) from None


def _pyamf_flex() -> Any:
    """``pyamf.flex`` if something imported it (this module never does)."""
    return sys.modules.get("pyamf.flex")


class _Slot:
    """Takes an object-table slot that no value owns (the value inside a proxy)."""

    __slots__ = ()


# ============================================================================ decoders


class _Trait:
    """An AMF3 trait as read: its alias name, sealed names and the ClassAlias it maps to."""

    __slots__ = ("name", "names", "dynamic", "external", "alias", "reference")

    def __init__(self, name: str, names: list, dynamic: bool, external: bool, alias: Any):
        self.name = name
        self.names = names
        self.dynamic = dynamic
        self.external = external
        self.alias = alias
        self.reference = None


class Amf3Decoder(pyamf.amf3.Decoder):
    """py3amf's AMF3 decoder, giving amfast's values."""

    def __init__(self, stream: Any = None, conf: "PyAmfCodec | None" = None, **kwargs: Any):
        self.conf = conf
        pyamf.amf3.Decoder.__init__(self, stream, **kwargs)
        self._funcs = {
            A3_UNDEFINED: self.readNull, A3_NULL: self.readNull,
            A3_FALSE: self.readBoolFalse, A3_TRUE: self.readBoolTrue,
            A3_INTEGER: self.readInteger, A3_DOUBLE: self.readNumber,
            A3_STRING: self.readString, A3_XML_DOC: self.readXML, A3_DATE: self.readDate,
            A3_ARRAY: self.readArray, A3_OBJECT: self.readObject, A3_XML: self.readXML,
            A3_BYTE_ARRAY: self.readByteArray, A3_DICTIONARY: self.readDictionary,
            A3_VECTOR_INT: lambda: self.readVector(A3_VECTOR_INT),
            A3_VECTOR_UINT: lambda: self.readVector(A3_VECTOR_UINT),
            A3_VECTOR_DOUBLE: lambda: self.readVector(A3_VECTOR_DOUBLE),
            A3_VECTOR_OBJECT: lambda: self.readVector(A3_VECTOR_OBJECT),
        }

    def getTypeFunc(self, data: bytes) -> Any:
        func = self._funcs.get(data)
        if func is None:
            raise pyamf.DecodeError(f"unknown AMF3 marker 0x{data[0]:02X}" if data
                                    else "data ends early")
        return func

    # -- references ---------------------------------------------------------------

    def _object_ref(self, index: int) -> Any:
        objects = self.context._objects
        if index >= len(objects):
            raise pyamf.ReferenceError(f"object reference {index} points past the "
                                       f"{len(objects)} entries read so far")
        value = objects.getByReference(index)
        return None if isinstance(value, _Slot) else value

    def _replace_slot(self, slot: int, value: Any) -> None:
        self.context._objects.list[slot] = value

    # -- scalars --------------------------------------------------------------------

    def readDate(self) -> Any:
        ref = self.readInteger(False)
        if not ref & 1:
            return self._object_ref(ref >> 1)
        value = _make_date(self.stream.read_double())
        self.context.addObject(value)
        return value

    def readXML(self) -> Any:
        ref = self.readInteger(False)
        if not ref & 1:
            return self._object_ref(ref >> 1)
        value = _parse_xml(self.stream.read(ref >> 1))
        self.context.addObject(value)
        return value

    readXMLString = readXML

    def readByteArray(self) -> Any:
        ref = self.readInteger(False)
        if not ref & 1:
            return self._object_ref(ref >> 1)
        value = AsByteArray(self.stream.read(ref >> 1) if ref >> 1 else b"")
        self.context.addObject(value)
        return value

    # -- containers ------------------------------------------------------------------

    def readArray(self, into: list | None = None) -> Any:
        ref = self.readInteger(False)
        if not ref & 1:
            return self._object_ref(ref >> 1)
        size = ref >> 1
        key = self.readString()
        if not key:
            items = [] if into is None else into
            self.context.addObject(items)
            for _ in range(size):
                items.append(self.readElement())
            return items
        mixed: dict = {}
        self.context.addObject(mixed)
        while key:
            mixed[key] = self.readElement()
            key = self.readString()
        for index in range(size):
            mixed[index] = self.readElement()
        return mixed

    def readVector(self, marker: bytes) -> Any:
        ref = self.readInteger(False)
        if not ref & 1:
            return self._object_ref(ref >> 1)
        size = ref >> 1
        fixed = self.stream.read_uchar() != 0
        stream = self.stream
        if marker == A3_VECTOR_OBJECT:
            class_name = self.readString()
            vector = AsVector((), "object", fixed, class_name or "*")
            self.context.addObject(vector)
            for _ in range(size):
                vector.append(self.readElement())
            return vector
        if marker == A3_VECTOR_DOUBLE:
            items = [stream.read_double() for _ in range(size)]
            kind = "double"
        else:
            items = []
            for _ in range(size):
                raw = stream.read_ulong()
                items.append(raw - 0x100000000 if marker == A3_VECTOR_INT and raw & 0x80000000
                             else raw)
            kind = "int" if marker == A3_VECTOR_INT else "uint"
        vector = AsVector(items, kind, fixed)
        self.context.addObject(vector)
        return vector

    def readDictionary(self) -> Any:
        ref = self.readInteger(False)
        if not ref & 1:
            return self._object_ref(ref >> 1)
        size = ref >> 1
        value = AsDictionary(weak_keys=self.stream.read_uchar() != 0)
        self.context.addObject(value)
        for _ in range(size):
            key = self.readElement()
            try:
                value[key] = self.readElement()
            except TypeError:
                raise DecodeError(f"Dictionary key of type {type(key).__name__} cannot be a "
                                  "Python dict key") from None
        return value

    # -- objects ---------------------------------------------------------------------

    def _getClassDefinition(self, ref: int) -> _Trait:
        """The trait of an object whose header (without its inline bit) is ``ref``."""
        if not ref & 1:
            trait = self.context.getClassByReference(ref >> 1)
            if trait is None:
                raise pyamf.ReferenceError(f"trait reference {ref >> 1} points past the "
                                           "traits read so far")
            return trait
        external = bool(ref & 0x02)
        dynamic = bool(ref & 0x04)
        name = self.readString()
        names = [] if external else [self.readString() for _ in range(ref >> 3)]
        alias = self.conf.mapping.by_alias(name) if name else None
        if isinstance(alias, ClassDefAlias) and external != alias.external:
            raise DecodeError(f"class {name!r} arrives with "
                              f"{'externalizable' if external else 'sealed/dynamic'} traits "
                              "that do not match its ClassDef")
        trait = _Trait(name, names, dynamic, external, alias)
        self.context.addClass(trait, trait)
        return trait

    def _read_members(self, trait: _Trait, target: Any) -> None:
        for key in trait.names:
            target[key] = self.readElement()
        if trait.dynamic:
            key = self.readString()
            while key:
                target[key] = self.readElement()
                key = self.readString()

    def readObject(self, into: dict | None = None) -> Any:
        ref = self.readInteger(False)
        if not ref & 1:
            return self._object_ref(ref >> 1)
        trait = self._getClassDefinition(ref >> 1)
        if trait.external:
            return self._read_external(trait)
        alias = trait.alias
        if alias is None:
            if trait.name:
                obj = TypedObject(trait.name, trait.names, trait.dynamic)
            else:
                obj = {} if into is None else into
            self.context.addObject(obj)
            self._read_members(trait, obj)
            return obj
        if isinstance(alias, ClassDefAlias):
            obj = alias.class_def.getInstance()
            self.context.addObject(obj)
            vals: dict = {}
            self._read_members(trait, vals)
            alias.apply(obj, vals)
            return obj
        # A class mapped with pyamf.register_class: py3amf's own way.
        obj = alias.createInstance(codec=self)
        self.context.addObject(obj)
        attrs: dict = {}
        self._read_members(trait, attrs)
        alias.applyAttributes(obj, attrs, codec=self)
        return obj

    def _read_external(self, trait: _Trait) -> Any:
        alias = trait.alias
        if alias is None:
            raise DecodeError(f"externalizable class {trait.name!r} is not mapped, so its "
                              "bytes cannot be read")
        if not isinstance(alias, ClassDefAlias):
            obj = alias.createInstance(codec=self)
            self.context.addObject(obj)
            obj.__readamf__(pyamf.amf3.DataInput(self))
            return obj
        if isinstance(alias.class_def, _ProxyClassDef):
            return self._read_proxied()
        obj = alias.class_def.getInstance()
        self.context.addObject(obj)
        alias.read_external(obj, self)
        return obj

    def _read_proxied(self) -> Any:
        """The value inside an ArrayCollection/ObjectProxy: wrapper and value are one object."""
        objects = self.context._objects
        slot = len(objects)
        start = self.stream.tell()
        marker = self.stream.read(1)
        inline = marker in (A3_ARRAY, A3_OBJECT) and self.readInteger(False) & 1
        self.stream.seek(start + 1)
        if inline and marker == A3_ARRAY:
            holder: Any = []
            self.context.addObject(holder)
            value = self.readArray(into=holder)
        elif inline:
            holder = {}
            self.context.addObject(holder)
            value = self.readObject(into=holder)
        else:
            self.context.addObject(_Slot())
            self.stream.seek(start)
            value = self.readElement()
        self._replace_slot(slot, value)
        return value


class _Amf0Context(pyamf.amf0.Context):
    """An AMF0 context whose AMF3 switches use amfast's AMF3 encoder and decoder."""

    conf: Any = None

    def getAMF3Encoder(self, amf0_encoder: Any) -> "Amf3Encoder":
        encoder = self.extra.get("amf3_encoder")
        if encoder is None:
            encoder = self.extra["amf3_encoder"] = Amf3Encoder(amf0_encoder.stream, self.conf)
        return encoder

    def getAMF3Decoder(self, amf0_decoder: Any) -> Amf3Decoder:
        decoder = self.extra.get("amf3_decoder")
        if decoder is None:
            decoder = self.extra["amf3_decoder"] = Amf3Decoder(amf0_decoder.stream, self.conf)
        return decoder


class Amf0Decoder(pyamf.amf0.Decoder):
    """py3amf's AMF0 decoder, giving amfast's values."""

    def __init__(self, stream: Any = None, conf: "PyAmfCodec | None" = None, **kwargs: Any):
        self.conf = conf
        pyamf.amf0.Decoder.__init__(self, stream, **kwargs)
        a0 = pyamf.amf0
        self._funcs = {
            a0.TYPE_NUMBER: self.readNumber, a0.TYPE_BOOL: self.readBoolean,
            a0.TYPE_STRING: self.readString, a0.TYPE_OBJECT: self.readObject,
            a0.TYPE_NULL: self.readNull, a0.TYPE_UNDEFINED: self.readNull,
            a0.TYPE_UNSUPPORTED: self.readNull,
            a0.TYPE_REFERENCE: self.readReference, a0.TYPE_MIXEDARRAY: self.readMixedArray,
            a0.TYPE_ARRAY: self.readList, a0.TYPE_DATE: self.readDate,
            a0.TYPE_LONGSTRING: self.readLongString, a0.TYPE_XML: self.readXML,
            a0.TYPE_TYPEDOBJECT: self.readTypedObject, a0.TYPE_AMF3: self.readAMF3,
        }

    def buildContext(self, **kwargs: Any) -> _Amf0Context:
        context = _Amf0Context(**kwargs)
        context.conf = self.conf
        return context

    def getTypeFunc(self, data: bytes) -> Any:
        func = self._funcs.get(data)
        if func is None:
            raise pyamf.DecodeError(f"unknown or unsupported AMF0 marker 0x{data[0]:02X}"
                                    if data else "data ends early")
        return func

    def readNumber(self) -> float:
        return self.stream.read_double()

    def readDate(self) -> datetime.datetime:
        ms = self.stream.read_double()
        self.stream.read_short()  # time zone: reserved
        return _make_date(ms)

    def readXML(self) -> Any:
        return _parse_xml(self.stream.read(self.stream.read_ulong()))

    def _read_pairs(self, target: Any) -> None:
        stream = self.stream
        while True:
            key = self.readString()
            if not key and stream.peek(1) == pyamf.amf0.TYPE_OBJECTTERM:
                stream.read(1)
                return
            target[key] = self.readElement()

    def readObject(self) -> dict:
        obj: dict = {}
        self.context.addObject(obj)
        self._read_pairs(obj)
        return obj

    def readMixedArray(self) -> Any:
        objects = self.context._objects
        slot = len(objects)
        self.stream.read_ulong()  # the count is only a hint
        obj: dict = {}
        self.context.addObject(obj)
        self._read_pairs(obj)
        if all(str(index) in obj for index in range(len(obj))):
            items = [obj[str(index)] for index in range(len(obj))]
            objects.list[slot] = items
            return items
        return obj

    def readTypedObject(self) -> Any:
        name = self.readString()
        alias = self.conf.mapping.by_alias(name)
        if alias is None or (isinstance(alias, ClassDefAlias)
                             and isinstance(alias.class_def, _ProxyClassDef)):
            obj = TypedObject(name)
            self.context.addObject(obj)
            self._read_pairs(obj)
            return obj
        vals: dict = {}
        if isinstance(alias, ClassDefAlias):
            obj = alias.class_def.getInstance()
            self.context.addObject(obj)
            self._read_pairs(vals)
            alias.apply(obj, vals)
            return obj
        obj = alias.createInstance(codec=self)
        self.context.addObject(obj)
        self._read_pairs(vals)
        alias.applyAttributes(obj, vals, codec=self)
        return obj


# ============================================================================ encoders


class Amf3Encoder(pyamf.amf3.Encoder):
    """py3amf's AMF3 encoder, writing values as amfast's codec does."""

    def __init__(self, stream: Any = None, conf: "PyAmfCodec | None" = None, **kwargs: Any):
        self.conf = conf
        pyamf.amf3.Encoder.__init__(self, stream, **kwargs)

    # -- dispatch (cached per type by py3amf's writeElement) ---------------------------

    def getTypeFunc(self, data: Any) -> Any:
        t = type(data)
        conf = self.conf
        if t is str:
            return self.writeString
        if t is int:
            return self.writeInteger
        if t is float:
            return self.writeNumber
        if data is None:
            return self.writeNull
        if t is bool:
            return self.writeBoolean
        if t is dict:
            return self._write_proxy_object if conf.use_proxies else self.writeDict
        if t is list or t is tuple:
            return self._write_proxy_collection if conf.use_collections else self.writeList
        if t is datetime.datetime:
            return self.writeDate
        if issubclass(t, (pyamf.ASObject, pyamf.MixedArray)):
            return self._write_proxy_object if conf.use_proxies else \
                (lambda value: self.writeDict(dict(value)))
        alias = conf.mapping.by_class(t)
        if alias is not None:
            if isinstance(alias, ClassDefAlias):
                if isinstance(alias.class_def, _ProxyClassDef):
                    return (self._write_proxy_collection
                            if alias.class_def.alias == ARRAY_COLLECTION_ALIAS
                            else self._write_proxy_object)
                return lambda value: self._write_mapped(value, alias)
            return lambda value: self._write_native(value, alias)
        if issubclass(t, TypedObject):
            return self._write_typed_object
        if issubclass(t, pyamf.TypedObject):
            return lambda value: self._write_typed(value, value.alias, (), True, value.items())
        if issubclass(t, AsDictionary):
            return self._write_dictionary
        if issubclass(t, AsVector):
            return self._write_vector
        if issubclass(t, (bytes, bytearray, memoryview)):
            return self.writeByteArray
        if issubclass(t, pyamf.amf3.ByteArray):
            return lambda value: self.writeByteArray(bytes(value))
        if t is pyamf.UndefinedType:
            return self.writeUndefined
        flex = _pyamf_flex()
        if flex is not None and issubclass(t, flex.ArrayCollection):
            return lambda value: self._write_proxy_collection(list(value))
        if flex is not None and issubclass(t, flex.ObjectProxy):
            return lambda value: self._write_proxy_object(value._amf_object)
        if issubclass(t, enum.Enum):
            return lambda value: self.writeElement(value.value)
        if issubclass(t, int):
            return lambda value: self.writeInteger(int(value))
        if issubclass(t, (float, decimal.Decimal)):
            return lambda value: self.writeNumber(float(value))
        if issubclass(t, str):
            return lambda value: self.writeString(str(value))
        if issubclass(t, dict):
            if conf.use_proxies:
                return self._write_proxy_object
            return lambda value: self.writeDict(dict(value))
        if issubclass(t, (list, tuple)):
            return self._write_proxy_collection if conf.use_collections else self.writeList
        if issubclass(t, (set, frozenset)):
            return lambda value: self.writeElement(list(value))
        if issubclass(t, datetime.date):
            return self.writeDate
        if issubclass(t, AsProxy):
            return self._write_as_proxy
        if issubclass(t, AsNoProxy):
            return lambda value: self._write_unproxied(value.source)
        if is_xml(data):
            return self.writeXML
        if conf.use_proxies:
            return self._write_proxy_object
        return self._write_anonymous

    # -- scalars ------------------------------------------------------------------------

    def serialiseString(self, s: Any) -> None:
        self.serialiseBytes(_utf8(s) if isinstance(s, str) else s)

    def writeString(self, s: str) -> None:
        self.stream.write(A3_STRING)
        self.serialiseString(s)

    def writeInteger(self, n: int) -> None:
        if pyamf.amf3.MIN_29B_INT <= n <= pyamf.amf3.MAX_29B_INT:
            self.stream.write(A3_INTEGER)
            self.stream.write(pyamf.amf3.encode_int(n))
            return
        try:
            value = float(n)
        except OverflowError:
            raise EncodeError(f"int {n} is too large for an AMF number") from None
        self.writeNumber(value)

    def writeNumber(self, n: float) -> None:
        self.stream.write(A3_DOUBLE)
        _write_double(self.stream, n)

    def _u29(self, n: int) -> None:
        if not 0 <= n <= pyamf.amf3.MAX_29B_INT:
            raise EncodeError(f"length or count {n} does not fit AMF3's 29 bits")
        self.stream.write(pyamf.amf3.encode_int(n))

    def _ref(self, value: Any) -> bool:
        """Write a reference if ``value`` was written before; else enter it in the table."""
        index = self.context.getObjectReference(value)
        if index != -1:
            self._u29(index << 1)
            return True
        self.context.addObject(value)
        return False

    def writeDate(self, value: Any) -> None:
        self.stream.write(A3_DATE)
        if self._ref(value):
            return
        self.stream.write(b"\x01")
        _write_double(self.stream, _epoch_ms(value))

    def writeByteArray(self, value: Any) -> None:
        self.stream.write(A3_BYTE_ARRAY)
        if self._ref(value):
            return
        data = memoryview(value).cast("B").tobytes() if isinstance(value, memoryview) \
            else bytes(value)
        self._u29((len(data) << 1) | 1)
        self.stream.write(data)

    writeBytes = writeByteArray

    def writeXML(self, value: Any) -> None:
        self.stream.write(A3_XML_DOC if self.conf.use_legacy_xml else A3_XML)
        if self._ref(value):
            return
        data = _utf8(xml_to_string(value))
        self._u29((len(data) << 1) | 1)
        self.stream.write(data)

    # -- traits and members -----------------------------------------------------------

    def _write_trait(self, key: Any, alias: str, names: Any, dynamic: bool,
                     external: bool) -> None:
        context = self.context
        index = context.classes.get(key)
        if index is not None:
            self._u29((index << 2) | 1)
            return
        if external:
            header = 0x07
        else:
            header = 0x03 | (0x08 if dynamic else 0) | (len(names) << 4)
        self._u29(header)
        self.serialiseString(alias)
        for name in names:
            self.serialiseString(name)
        context.classes[key] = context.class_idx
        context.class_idx += 1

    def _write_pairs(self, items: Any) -> None:
        for key, value in items:
            if type(key) is not str:
                key = str(key)
            if not key:
                raise EncodeError("AMF3 objects cannot carry an empty member name")
            self.serialiseString(key)
            self.writeElement(value)
        self.stream.write(b"\x01")

    def _plain_attrs(self, value: Any) -> dict:
        if isinstance(value, _REFUSED_TYPES) or (
                not hasattr(value, "__dict__") and not hasattr(type(value), "__slots__")):
            raise EncodeError(f"cannot encode {type(value).__name__!s} values as AMF")
        return get_dynamic_attr_vals(value, None, self.conf.include_private)

    # -- containers -------------------------------------------------------------------

    def _array_body(self, value: Any) -> None:
        self._u29((len(value) << 1) | 1)
        self.stream.write(b"\x01")
        for item in value:
            self.writeElement(item)

    def writeList(self, value: Any, is_proxy: bool = False) -> None:
        self.stream.write(A3_ARRAY)
        if self._ref(value):
            return
        self._array_body(value)

    def writeDict(self, value: dict) -> None:
        self.stream.write(A3_OBJECT)
        if self._ref(value):
            return
        self._write_trait(None, "", (), True, False)
        self._write_pairs(value.items())

    def _write_anonymous(self, value: Any) -> None:
        self.stream.write(A3_OBJECT)
        if self._ref(value):
            return
        self._write_trait(None, "", (), True, False)
        self._write_pairs(self._plain_attrs(value).items())

    def _write_proxy(self, value: Any, collection: bool) -> None:
        self.stream.write(A3_OBJECT)
        if self._ref(value):
            return
        alias = ARRAY_COLLECTION_ALIAS if collection else OBJECT_PROXY_ALIAS
        self._write_trait(alias, alias, (), False, True)
        # The wrapped value takes its own slot in the object table.
        self.context.addObject(_Slot())
        if collection:
            self.stream.write(A3_ARRAY)
            self._array_body(value)
            return
        self.stream.write(A3_OBJECT)
        self._write_trait(None, "", (), True, False)
        self._write_pairs(value.items() if isinstance(value, dict)
                          else self._plain_attrs(value).items())

    def _write_proxy_collection(self, value: Any) -> None:
        self._write_proxy(value, True)

    def _write_proxy_object(self, value: Any) -> None:
        self._write_proxy(value, False)

    def _write_as_proxy(self, value: AsProxy) -> None:
        source = value.source
        self._write_proxy(source, isinstance(source, (list, tuple)))

    def _write_unproxied(self, value: Any) -> None:
        """AsNoProxy: a plain Array/Object even when collections or proxies are on."""
        if isinstance(value, dict) and not isinstance(value, (TypedObject, AsDictionary)):
            self.writeDict(value if type(value) is dict else dict(value))
        elif isinstance(value, (list, tuple)) and not isinstance(value, AsVector):
            self.writeList(value)
        else:
            self.writeElement(value)

    def _write_vector(self, value: AsVector) -> None:
        kind = value.type
        stream = self.stream
        stream.write(_VECTOR_MARKERS[kind])
        if self._ref(value):
            return
        self._u29((len(value) << 1) | 1)
        stream.write_uchar(1 if value.fixed else 0)
        if kind == "object":
            self.serialiseString(value.class_name or "*")
            for item in value:
                self.writeElement(item)
            return
        for item in value:
            if kind == "double":
                if not isinstance(item, (int, float)):
                    raise EncodeError(f"{item!r} does not fit a Vector.<Number>")
                try:
                    _write_double(stream, float(item))
                except OverflowError:
                    raise EncodeError(f"{item!r} does not fit a Vector.<Number>") from None
                continue
            try:
                number = int(item.__index__())
            except (AttributeError, TypeError):
                number = None
            if number is None or (kind == "int" and not -0x80000000 <= number <= 0x7FFFFFFF) \
                    or (kind == "uint" and not 0 <= number <= 0xFFFFFFFF):
                raise EncodeError(f"{item!r} does not fit a Vector.<{kind}>")
            stream.write_ulong(number & 0xFFFFFFFF)

    def _write_dictionary(self, value: AsDictionary) -> None:
        self.stream.write(A3_DICTIONARY)
        if self._ref(value):
            return
        self._u29((len(value) << 1) | 1)
        self.stream.write_uchar(1 if getattr(value, "weak_keys", False) else 0)
        for key, item in value.items():
            self.writeElement(key)
            self.writeElement(item)

    # -- typed objects -------------------------------------------------------------------

    def _write_typed(self, value: Any, alias: str, static_attrs: tuple, dynamic: bool,
                     items: Any) -> None:
        self.stream.write(A3_OBJECT)
        if self._ref(value):
            return
        extra = [(key, item) for key, item in items if key not in static_attrs]
        dynamic = bool(dynamic or extra)
        self._write_trait(("typed", alias, static_attrs, dynamic), alias, static_attrs,
                          dynamic, False)
        for name in static_attrs:
            self.writeElement(value.get(name))
        if dynamic:
            self._write_pairs(extra)

    def _write_typed_object(self, value: TypedObject) -> None:
        self._write_typed(value, value.alias, tuple(value.static_attrs), value.dynamic,
                          value.items())

    def _write_mapped(self, value: Any, alias: ClassDefAlias) -> None:
        self.stream.write(A3_OBJECT)
        if self._ref(value):
            return
        class_def = alias.class_def
        self._write_trait(class_def, class_def.alias, alias.static_attrs, alias.dynamic,
                          alias.external)
        if alias.external:
            alias.write_external(value, self)
            return
        for item in alias.static_values(value):
            self.writeElement(item)
        if alias.dynamic:
            self._write_pairs(alias.dynamic_values(value, self.conf.include_private).items())

    def _write_native(self, value: Any, alias: Any) -> None:
        """A class mapped with pyamf.register_class, written as py3amf writes it."""
        self.stream.write(A3_OBJECT)
        if self._ref(value):
            return
        definition = pyamf.amf3.ClassDefinition(alias)
        external = definition.encoding == pyamf.amf3.ObjectEncoding.EXTERNAL
        dynamic = definition.encoding == pyamf.amf3.ObjectEncoding.DYNAMIC
        names = () if external else tuple(alias.static_attrs or ())
        self._write_trait(("pyamf", alias), "" if alias.anonymous else alias.alias, names,
                          dynamic, external)
        if external:
            value.__writeamf__(pyamf.amf3.DataOutput(self))
            return
        attrs = alias.getEncodableAttributes(value, codec=self)
        for name in names:
            self.writeElement(attrs.pop(name, None))
        if dynamic:
            self._write_pairs(attrs.items())

    # py3amf's own callers (ArrayCollection.__writeamf__, DataOutput) land here.
    def writeObject(self, obj: Any, is_proxy: bool = False) -> None:
        if isinstance(obj, dict) and type(obj) is not TypedObject:
            self.writeDict(obj)
        else:
            self.writeElement(obj)


class Amf0Encoder(pyamf.amf0.Encoder):
    """py3amf's AMF0 encoder, writing values as amfast's codec does.

    With ``use_amf3`` every value is written as an AMF3 switch (marker 0x11).
    """

    def __init__(self, stream: Any = None, conf: "PyAmfCodec | None" = None,
                 use_amf3: bool = False, **kwargs: Any):
        self.conf = conf
        pyamf.amf0.Encoder.__init__(self, stream, **kwargs)
        self.use_amf3 = use_amf3

    def buildContext(self, **kwargs: Any) -> _Amf0Context:
        context = _Amf0Context(**kwargs)
        context.conf = self.conf
        return context

    def getTypeFunc(self, data: Any) -> Any:
        if self.use_amf3:
            return self.writeAMF3
        t = type(data)
        if data is None:
            return self.writeNull
        if t is str:
            return self.writeString
        if t is float or t is int:
            return self.writeNumber
        if t is bool:
            return self.writeBoolean
        if t is dict:
            return self._write_dict
        if t is list or t is tuple:
            return self.writeList
        if issubclass(t, (pyamf.ASObject, pyamf.MixedArray)):
            return self._write_dict
        alias = self.conf.mapping.by_class(t)
        if alias is not None:
            if isinstance(alias, ClassDefAlias):
                if alias.amf3:
                    return self.writeAMF3
                return lambda value: self._write_typed(
                    value, alias.class_def.alias, self._mapped_pairs(value, alias))
            return lambda value: self._write_native(value, alias)
        if issubclass(t, TypedObject):
            return lambda value: self._write_typed(value, value.alias, value.items())
        if issubclass(t, pyamf.TypedObject):
            return lambda value: self._write_typed(value, value.alias, value.items())
        if issubclass(t, (AsVector, AsDictionary, bytes, bytearray, memoryview,
                          pyamf.amf3.ByteArray)):
            return self.writeAMF3
        if t is pyamf.UndefinedType:
            return self.writeUndefined
        flex = _pyamf_flex()
        if flex is not None and issubclass(t, (flex.ArrayCollection, flex.ObjectProxy)):
            return self.writeAMF3
        if issubclass(t, enum.Enum):
            return lambda value: self.writeElement(value.value)
        if issubclass(t, (int, float, decimal.Decimal)):
            return self.writeNumber
        if issubclass(t, str):
            return lambda value: self.writeString(str(value))
        if issubclass(t, dict):
            return self._write_dict
        if issubclass(t, (list, tuple, set, frozenset)):
            return self.writeList
        if issubclass(t, datetime.date):
            return self.writeDate
        if issubclass(t, (AsProxy, AsNoProxy)):
            return lambda value: self.writeElement(value.source)
        if is_xml(data):
            return self.writeXML
        return self._write_anonymous

    def _name(self, name: str) -> None:
        """A UTF-8 name with a u16 length (keys, aliases)."""
        raw = _utf8(name)
        if len(raw) > 0xFFFF:
            raise EncodeError(f"name of {len(raw)} bytes is too long for AMF0 (65535 at most)")
        self.stream.write_ushort(len(raw))
        self.stream.write(raw)

    def writeString(self, u: str) -> None:
        self.writeBytes(_utf8(u))

    def writeNumber(self, n: Any) -> None:
        try:
            value = float(n)
        except OverflowError:
            raise EncodeError(f"int {n} is too large for an AMF number") from None
        self.writeType(pyamf.amf0.TYPE_NUMBER)
        _write_double(self.stream, value)

    def writeDate(self, d: Any) -> None:
        self.writeType(pyamf.amf0.TYPE_DATE)
        _write_double(self.stream, _epoch_ms(d))
        self.stream.write_short(0)

    def writeXML(self, e: Any) -> None:
        data = _utf8(xml_to_string(e))
        self.writeType(pyamf.amf0.TYPE_XML)
        self.stream.write_ulong(len(data))
        self.stream.write(data)

    def _write_pairs(self, items: Any) -> None:
        for key, value in items:
            self._name(key if type(key) is str else str(key))
            self.writeElement(value)
        self.stream.write(b"\x00\x00" + pyamf.amf0.TYPE_OBJECTTERM)

    def _ref(self, value: Any) -> bool:
        if self.writeReference(value) != -1:
            return True
        self.context.addObject(value)
        return False

    def _write_dict(self, value: Any) -> None:
        if self._ref(value):
            return
        self.writeType(pyamf.amf0.TYPE_OBJECT)
        self._write_pairs(value.items())

    def _write_typed(self, value: Any, alias: str, items: Any) -> None:
        if self._ref(value):
            return
        self.writeType(pyamf.amf0.TYPE_TYPEDOBJECT)
        self._name(alias)
        self._write_pairs(items)

    def _mapped_pairs(self, value: Any, alias: ClassDefAlias) -> list:
        pairs = list(zip(alias.static_attrs, alias.static_values(value)))
        if alias.dynamic:
            pairs.extend(alias.dynamic_values(value, self.conf.include_private).items())
        return pairs

    def _write_native(self, value: Any, alias: Any) -> None:
        alias.compile()
        if alias.amf3:
            self.writeAMF3(value)
            return
        if self._ref(value):
            return
        if alias.anonymous:
            self.writeType(pyamf.amf0.TYPE_OBJECT)
        else:
            self.writeType(pyamf.amf0.TYPE_TYPEDOBJECT)
            self._name(alias.alias)
        attrs = alias.getEncodableAttributes(value, codec=self)
        pairs = [(name, attrs.pop(name)) for name in (alias.static_attrs or ()) if name in attrs]
        pairs.extend(attrs.items())
        self._write_pairs(pairs)

    def _write_anonymous(self, value: Any) -> None:
        if self._ref(value):
            return
        if isinstance(value, _REFUSED_TYPES) or (
                not hasattr(value, "__dict__") and not hasattr(type(value), "__slots__")):
            raise EncodeError(f"cannot encode {type(value).__name__!s} values as AMF")
        self.writeType(pyamf.amf0.TYPE_OBJECT)
        self._write_pairs(get_dynamic_attr_vals(value, None, self.conf.include_private).items())


# =============================================================================== codec


class PyAmfCodec:
    """py3amf, reading and writing values and envelopes as amfast's codec does.

    ``class_def_mapper`` maps classes for this codec only (a new ClassDefMapper,
    which knows the Flex messages, when None); ``use_collections``,
    ``use_proxies``, ``use_legacy_xml`` and ``include_private`` are the
    ``amfast.encoder.Encoder`` options.
    """

    def __init__(self, class_def_mapper: ClassDefMapper | None = None,
                 use_collections: bool = False, use_proxies: bool = False,
                 use_legacy_xml: bool = False, include_private: bool = False):
        self.class_def_mapper = ClassDefMapper() if class_def_mapper is None \
            else class_def_mapper
        self.mapping = _Mapping(self.class_def_mapper)
        self.use_collections = use_collections
        self.use_proxies = use_proxies
        self.use_legacy_xml = use_legacy_xml
        self.include_private = include_private
        self._transcoding: tuple | None = None

    def amfast_mapper(self) -> ClassDefMapper:
        """The mapper amfast's codec uses inside externalizable classes' external forms.

        This codec's ClassDefs and those registered in py3amf (``register_class_def``),
        this codec's winning.
        """
        class_defs = [alias.class_def for alias in list(pyamf.CLASS_CACHE.values())
                      if isinstance(alias, ClassDefAlias)] + list(self.class_def_mapper)
        key = tuple(map(id, class_defs))
        cached = self._transcoding
        if cached is None or cached[0] != key:
            cached = self._transcoding = (key, _transcoding_mapper(class_defs), class_defs)
        return cached[1]

    # -- single values ------------------------------------------------------------------

    def encode(self, value: Any, amf3: bool = False) -> bytes:
        stream = _pyamf_util.BufferedByteStream()
        encoder = Amf3Encoder(stream, self) if amf3 else Amf0Encoder(stream, self)
        _encoding(lambda: encoder.writeElement(value))
        return stream.getvalue()

    def decode(self, raw: Any, amf3: bool = False) -> Any:
        stream = _stream_of(raw)
        decoder = Amf3Decoder(stream, self) if amf3 else Amf0Decoder(stream, self)
        return _decoding(decoder.readElement, stream)

    # -- remoting envelopes ---------------------------------------------------------------

    def decode_envelope(self, raw: Any) -> pyamf.remoting.Envelope:
        """A ``pyamf.remoting.Envelope`` of ``Request``s (calls) and ``Response``s (replies).

        Bodies keep their order and duplicates; every string is kept as sent
        (``Response.amfast_response`` holds a reply's response field).
        """
        stream = _stream_of(raw)
        return _decoding(lambda: self._read_envelope(stream), stream)

    def _read_envelope(self, stream: Any) -> pyamf.remoting.Envelope:
        version = stream.read_ushort()
        if version not in (Packet.FLASH_8, Packet.FLASH_COM, Packet.FLASH_9):
            raise DecodeError(f"unknown AMF packet version {version}", 0)
        envelope = pyamf.remoting.Envelope(version)
        decoder = Amf0Decoder(stream, self)
        for _ in range(stream.read_ushort()):
            name = _read_name(stream)
            required = stream.read_uchar() != 0
            stream.read_ulong()  # length: clients send wrong values, never trusted
            decoder.context.clear()
            envelope.headers[name] = decoder.readElement()
            envelope.headers.set_required(name, required)
        for _ in range(stream.read_ushort()):
            target = _read_name(stream)
            response = _read_name(stream)
            stream.read_ulong()
            decoder.context.clear()
            if Message.isRequestTarget(target) and stream.peek(1) == b"\x0a":
                stream.read(1)
                body = [decoder.readElement() for _ in range(stream.read_ulong())]
            else:
                body = decoder.readElement()
            name, message = message_to_pyamf(Message(target, response, body))
            message.envelope = envelope
            envelope.bodies.append((name, message))
        return envelope

    def encode_envelope(self, envelope: pyamf.remoting.Envelope) -> bytes:
        """The bytes of an Envelope: as amfast's codec writes the same Packet."""
        stream = _pyamf_util.BufferedByteStream()
        _encoding(lambda: self._write_envelope(envelope, stream))
        return stream.getvalue()

    def _write_envelope(self, envelope: pyamf.remoting.Envelope, stream: Any) -> None:
        amf3 = envelope.amfVersion == Packet.FLASH_9
        encoder = Amf0Encoder(stream, self, use_amf3=amf3)
        stream.write_ushort(envelope.amfVersion or 0)
        headers = envelope.headers
        stream.write_ushort(len(headers))
        for name, value in headers.items():
            encoder._name(name)
            stream.write_uchar(1 if headers.is_required(name) else 0)
            encoder.context.clear()
            _with_length(stream, lambda: encoder.writeElement(value))
        stream.write_ushort(len(envelope.bodies))
        for name, message in envelope.bodies:
            target, response = _target_and_response(name, message)
            encoder._name(target)
            encoder._name(response)
            encoder.context.clear()
            body = message.body
            if Message.isRequestTarget(target) and isinstance(body, (list, tuple)):
                _with_length(stream, lambda: self._write_arguments(encoder, body))
            else:
                _with_length(stream, lambda: encoder.writeElement(body))

    @staticmethod
    def _write_arguments(encoder: Amf0Encoder, body: Any) -> None:
        """A call's arguments: a strict array that takes no reference slot (as amfast's codec)."""
        encoder.writeType(pyamf.amf0.TYPE_ARRAY)
        encoder.stream.write_ulong(len(body))
        for arg in body:
            encoder.writeElement(arg)


def _stream_of(raw: Any) -> Any:
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    elif not isinstance(raw, bytes) and hasattr(raw, "read"):
        raw = bytes(raw.read())
    if not isinstance(raw, bytes):
        raise DecodeError(f"cannot decode from {type(raw).__name__}: give bytes, bytearray, "
                          "memoryview or a file-like object")
    return _pyamf_util.BufferedByteStream(raw)


def _decoding(read: Any, stream: Any) -> Any:
    """Run a read; every failure becomes amfast's DecodeError (with the offset)."""
    try:
        return read()
    except DecodeError as exc:
        if exc.offset is not None:
            raise
        raise DecodeError(str(exc), stream.tell()) from exc
    except RecursionError:
        raise DecodeError("values nested too deeply", stream.tell()) from None
    except Exception as exc:
        raise DecodeError(f"{type(exc).__name__}: {exc}", stream.tell()) from exc


def _encoding(write: Any) -> None:
    """Run a write; py3amf's own failures become amfast's EncodeError (user errors pass)."""
    try:
        write()
    except RecursionError:
        raise EncodeError("value nested too deeply (a cycle py3amf cannot reference?)") from None
    except (pyamf.BaseError, OverflowError) as exc:
        raise EncodeError(str(exc)) from exc


def _read_name(stream: Any) -> str:
    length = stream.read_ushort()
    return stream.read(length).decode("utf-8") if length else ""


def _with_length(stream: Any, write: Any) -> None:
    """Write a u32 length, then what ``write`` writes, and patch the length in."""
    at = stream.tell()
    stream.write_ulong(0)
    write()
    end = stream.tell()
    stream.seek(at)
    stream.write_ulong(end - at - 4)
    stream.seek(end)


def _target_and_response(name: str, message: Any) -> tuple:
    if isinstance(message, pyamf.remoting.Response):
        return (f"{name}{pyamf.remoting.STATUS_CODES[message.status]}",
                getattr(message, "amfast_response", "null"))
    return message.target, name


# ========================================================================== conversion


def packet_to_amfast(envelope: pyamf.remoting.Envelope) -> Packet:
    """A ``pyamf.remoting.Envelope`` as an ``amfast.remoting.Packet``."""
    headers = [Header(name, envelope.headers.is_required(name), value)
               for name, value in envelope.headers.items()]
    messages = [message_to_amfast(name, message) for name, message in envelope.bodies]
    version = envelope.amfVersion
    if version not in (Packet.FLASH_8, Packet.FLASH_COM, Packet.FLASH_9):
        version = Packet.FLASH_8
    return Packet(version, headers, messages)


def message_to_amfast(name: str, message: Any) -> Message:
    """A ``pyamf.remoting.Request``/``Response`` (under its envelope name) as a Message."""
    target, response = _target_and_response(name, message)
    return Message(target, response, message.body)


def message_to_pyamf(message: Message) -> tuple:
    """(name, Request or Response): a reply's target ``/n/onResult`` splits into ``/n``."""
    target = message.target
    if target is not None:
        for status, suffix in _STATUS_SUFFIXES:
            if target.endswith(suffix):
                reply = pyamf.remoting.Response(message.body, status)
                reply.amfast_response = "" if message.response is None else message.response
                return target[:-len(suffix)], reply
    request = pyamf.remoting.Request("null" if target is None else target)
    request.body = message.body
    return ("null" if message.response is None else message.response), request


def packet_to_pyamf(packet: Packet) -> pyamf.remoting.Envelope:
    """An ``amfast.remoting.Packet`` as a ``pyamf.remoting.Envelope``."""
    envelope = pyamf.remoting.Envelope(packet.client_type or 0)
    for header in packet.headers:
        envelope.headers[header.name] = header.value
        envelope.headers.set_required(header.name, bool(header.required))
    for message in packet.messages:
        name, converted = message_to_pyamf(message)
        converted.envelope = envelope
        envelope.bodies.append((name, converted))
    return envelope
