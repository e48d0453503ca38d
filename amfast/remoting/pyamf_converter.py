"""py3amf (the maintained Python 3 PyAMF) as amfast's second codec.

``PyAmfCodec`` reads and writes values and remoting packets with py3amf's own
``amf0``/``amf3`` Encoder and Decoder.  Through the hooks py3amf offers (the
type dispatch, the contexts and their class aliases, single read or write
methods) they give and take amfast's values (docs/codec.md) and apply the
``amfast.decoder.Decoder`` budgets and ``xml_type``.  Vectors, which py3amf does not
read or write, and Dictionaries, which it reads without their reference slot and does
not write, get their own methods.  ``PyAmfEndpoint`` serves channels with it.

Class mapping: an alias (decoding) or a class (encoding, nearest mapped base
class first) is looked up in the codec's ``ClassDefMapper`` (which knows the Flex
messages and their small forms), then in ``pyamf.CLASS_CACHE`` (classes mapped
with ``register_class_def`` below or ``pyamf.register_class``, those for their
exact class only; py3amf's own classes are not used for decoding), then (decoding)
in the class loaders the user registered with ``pyamf.register_class_loader``.
Nothing else: unlike ``pyamf.load_class``, no module is imported because of a name
in the input.  ``pyamf.TYPE_MAP`` and ``ALIAS_TYPES`` are not consulted.

An ``ExternClassDef`` (the small Flex messages too) runs ``readExternal`` and
``writeExternal`` once per object, with an amfast context bridged to py3amf's
stream: raw bytes go to the stream, values are read and written by py3amf with
the stream's reference tables.  Values written pass through amfast's codec first,
so a list or dict shared between an external form and the rest of the message is
written twice (as equal values).

Nesting is bounded by ``max_depth`` and, as py3amf recurses in Python, by Python's
recursion limit (some 300 levels): both are a ``DecodeError``.  Failures are
amfast's ``DecodeError`` and ``EncodeError``; exceptions raised by user code while
encoding (properties, ClassDefs) pass.

What is registered in py3amf globally: nothing on import (py3amf's own modules
register what they always do; ``pyamf.flex`` is not imported, so py3amf's Flex
aliases stay as they are, unlike AmFast).  ``register_class_def`` puts a
``ClassDefAlias`` in ``pyamf.CLASS_CACHE`` under the alias and the class, as asked:
py3amf itself and every PyAmfEndpoint then map the class (stock py3amf cannot run
an ``ExternClassDef``); ``unregister_class_def`` undoes it.  A class a user's class
loader returns is registered with ``pyamf.register_class``, as ``pyamf.load_class``
does.
"""
from __future__ import annotations

try:
    import pyamf
    import pyamf.amf0
    import pyamf.amf3
    import pyamf.remoting
    from pyamf.util import BufferedByteStream  # py3amf's own: in C with its extension
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("pyamf_converter needs py3amf: pip install 'amfast[pyamf]'") from _exc

import datetime
import decimal
import enum
import operator
import struct
import sys
from typing import Any

from amfast import AmFastError, date_from_epoch, epoch_from_date
from amfast import decode as amf_decode
from amfast.class_def import (ARRAY_COLLECTION_ALIAS, OBJECT_PROXY_ALIAS, ClassDef, ClassDefMapper,
                              DynamicClassDef, ExternClassDef, SequenceClassDef,
                              _ProxyClassDef, get_dynamic_attr_vals)
from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsNoProxy, AsProxy, AsVector,
                                       IdentityKey, TypedObject, dictionary_key)
from amfast.context import DecoderContext, EncoderContext
from amfast.decoder import (DEFAULT_LIMITS, BadReferenceError, ClassMappingError, DecodeError,
                            InvalidUTF8Error, LimitExceededError, MalformedDataError,
                            RefusedValueError, TruncatedDataError, UnknownMarkerError,
                            check_options)
from amfast.encoder import EncodeError
from amfast.ext.decoder import dense_items
from amfast.ext.encoder import _REFUSED_TYPES
from amfast.remoting.packet import Header, Message, Packet
from amfast.xml_values import XmlMalformed, XmlRefused, is_xml, parse_xml, xml_to_string

__all__ = ["PyAmfConversionError", "ClassDefAlias", "class_def_alias", "register_class_def",
           "register_class_mapper", "unregister_class_def", "unregister_class_mapper",
           "PyAmfCodec", "packet_to_amfast", "message_to_amfast", "packet_to_pyamf",
           "message_to_pyamf"]


class PyAmfConversionError(AmFastError):
    """A value or mapping cannot be carried over between amfast and py3amf."""


_DOUBLE = struct.Struct(">d")
_VERSIONS = (Packet.FLASH_8, Packet.FLASH_COM, Packet.FLASH_9)
_VECTORS = {b"\x0d": "int", b"\x0e": "uint", b"\x0f": "double", b"\x10": "object"}
_VECTOR_MARKERS = {kind: marker for marker, kind in _VECTORS.items()}
_VECTOR_ITEMS = {"int": ("i", 4), "uint": ("I", 4), "double": ("d", 8)}
_DICTIONARY = b"\x11"


# ============================================================================== aliases


class _Alias(pyamf.ClassAlias):
    """A ``pyamf.ClassAlias`` complete as built: py3amf's compiling would register base
    classes in py3amf and sort the sealed names."""

    def __init__(self, klass: type, name: str, static_attrs=(), dynamic: bool = True,
                 external: bool = False, amf3: bool = False):
        self.klass, self.alias, self.anonymous = klass, name, not name
        self.static_attrs = list(static_attrs)
        self.dynamic, self.sealed, self.external, self.amf3 = dynamic, not dynamic, external, amf3
        # None makes py3amf's ClassDefinition take a non-dynamic alias as sealed.
        self.encodable_properties = self.decodable_properties = None
        self.exclude_attrs = self.readonly_attrs = self.proxy_attrs = None
        self.synonym_attrs, self.bases, self._compiled = {}, [], True

    def compile(self) -> None:
        """Nothing to compile."""

    def applyAttributes(self, obj: Any, attrs: dict, codec: Any = None) -> None:
        obj.update(attrs)


def _named(items: Any, codec: Any) -> dict:
    """Members by ``str`` name; AMF3 cannot carry an empty name (it ends the members)."""
    attrs = {key if type(key) is str else str(key): value for key, value in items}
    if "" in attrs and isinstance(codec, pyamf.amf3.Encoder):
        raise EncodeError("AMF3 objects cannot carry an empty member name")
    return attrs


def _include_private(codec: Any) -> bool:
    return bool(getattr(getattr(codec, "codec", None), "include_private", False))


class _ObjectAlias(_Alias):
    """Anonymous objects (a dict or an instance's attributes) and unmapped typed objects."""

    def __init__(self, name: str = "", static_attrs=(), dynamic: bool = True):
        _Alias.__init__(self, TypedObject if name else dict, name, static_attrs, dynamic)

    def createInstance(self, codec: Any = None) -> Any:
        return TypedObject(self.alias, self.static_attrs, self.dynamic) if self.alias else {}

    def getEncodableAttributes(self, obj: Any, codec: Any = None) -> dict:
        if isinstance(obj, TypedObject):
            attrs = {name: obj.get(name) for name in self.static_attrs}
            attrs.update(_named(obj.items(), codec))
            return attrs
        if isinstance(obj, dict):
            return _named(obj.items(), codec)
        if isinstance(obj, _REFUSED_TYPES) or (
                not hasattr(obj, "__dict__") and not hasattr(type(obj), "__slots__")):
            raise EncodeError(f"cannot encode {type(obj).__name__!s} values as AMF")
        return _named(get_dynamic_attr_vals(obj, None, _include_private(codec)).items(), codec)


_ANONYMOUS = _ObjectAlias()


class _Held:
    """Stands for an externalizable object while py3amf reads or writes its form (py3amf
    calls ``__readamf__``/``__writeamf__`` on the object; this hands them to the alias)."""

    __slots__ = ("alias", "value")

    def __init__(self, alias: "ClassDefAlias", value: Any = None):
        self.alias, self.value = alias, value

    def __readamf__(self, data_input: Any) -> None:
        self.value = self.alias.read_external(data_input.decoder)

    def __writeamf__(self, data_output: Any) -> None:
        self.alias.write_external(self.value, data_output.encoder)


class ClassDefAlias(_Alias):
    """A ``pyamf.ClassAlias`` that maps a class the way an amfast ``ClassDef`` says.

    Sealed names keep the ClassDef's order, instances come from ``getInstance`` and
    are filled by ``applyAttrVals``, ``encode_types``/``decode_types`` apply, and an
    ``ExternClassDef`` reads and writes its own form.
    """

    def __init__(self, class_def: ClassDef):
        external = isinstance(class_def, ExternClassDef)
        _Alias.__init__(self, class_def.class_, class_def.alias,
                        () if external else class_def.static_attrs,
                        isinstance(class_def, DynamicClassDef) and not external, external,
                        bool(class_def.amf3 or external))
        self.class_def = class_def

    def getEncodableAttributes(self, obj: Any, codec: Any = None) -> dict:
        class_def = self.class_def
        attrs = dict(zip(self.static_attrs, class_def.getStaticAttrVals(obj)))
        if self.dynamic:
            attrs.update(_named(class_def.getDynamicAttrVals(
                obj, _include_private(codec)).items(), codec))
        for name, convert in (class_def.encode_types or {}).items():
            if name in attrs:
                attrs[name] = convert(attrs[name])
        return attrs

    def applyAttributes(self, obj: Any, attrs: dict, codec: Any = None) -> None:
        # Stock py3amf hands names over as bytes.
        attrs = {key.decode() if isinstance(key, bytes) else key: value
                 for key, value in attrs.items()}
        for name, convert in (self.class_def.decode_types or {}).items():
            if name in attrs:
                attrs[name] = convert(attrs[name])
        self.class_def.applyAttrVals(obj, attrs)

    def createInstance(self, codec: Any = None) -> Any:
        if self.external and isinstance(codec, Amf3Decoder):
            return _Held(self)
        return self.class_def.getInstance()

    def read_external(self, decoder: "Amf3Decoder") -> Any:
        obj = self.class_def.getInstance()
        decoder.context.set_object(decoder.context.last_slot(), obj)  # the form may refer to it
        self.class_def.readExternal(obj, _ReadBridge(decoder))
        return obj

    def write_external(self, obj: Any, encoder: "Amf3Encoder") -> None:
        bridge = _WriteBridge()
        self.class_def.writeExternal(obj, bridge)
        bridge.replay(encoder)


class _ProxyAlias(ClassDefAlias):
    """ArrayCollection/ObjectProxy: the wrapper and the value it wraps are one object."""

    def read_external(self, decoder: "Amf3Decoder") -> Any:
        context = decoder.context
        context.proxy_slot = slot = context.last_slot()
        value = decoder.readElement()
        context.proxy_slot = None
        context.set_object(slot, value)
        return value

    def write_external(self, value: Any, encoder: "Amf3Encoder") -> None:
        if self.alias == ARRAY_COLLECTION_ALIAS:
            encoder.writeList(value)
        else:
            encoder.write_object(value, _ANONYMOUS)


_PROXIES = {alias: _ProxyAlias(_ProxyClassDef(alias))
            for alias in (ARRAY_COLLECTION_ALIAS, OBJECT_PROXY_ALIAS)}


def class_def_alias(class_def: ClassDef) -> ClassDefAlias:
    """The ``pyamf.ClassAlias`` for an amfast ClassDef (not registered anywhere)."""
    if not isinstance(class_def, ClassDef):
        raise PyAmfConversionError(f"not a ClassDef: {class_def!r}")
    if isinstance(class_def, _ProxyClassDef):
        return _PROXIES[class_def.alias]
    return ClassDefAlias(class_def)


# ======================================================================= registration


def register_class_def(class_def: ClassDef) -> ClassDefAlias:
    """Map a ClassDef in py3amf (``pyamf.CLASS_CACHE``), as ``pyamf.register_class`` does.

    An alias that py3amf maps to another class raises ``PyAmfConversionError``;
    registering a ClassDef again replaces the earlier one.
    """
    alias = class_def_alias(class_def)
    cache = pyamf.CLASS_CACHE
    for key in (class_def.alias, class_def.class_):
        current = cache.get(key)
        if current is not None and not isinstance(current, ClassDefAlias) and \
                current.klass is not class_def.class_:
            raise PyAmfConversionError(
                f"alias {class_def.alias!r} is already registered in py3amf for {current.klass!r}")
    for key in (class_def.alias, class_def.class_):
        old = cache.get(key)
        if isinstance(old, ClassDefAlias):
            unregister_class_def(old.class_def)  # both keys of the one this replaces
    cache[class_def.alias] = cache[class_def.class_] = alias
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


_PYAMF_LOADERS = (pyamf.flex_loader, pyamf.blaze_loader)


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
        for base in klass.__mro__:
            class_def = self.class_def_mapper.getClassDefByClass(base)
            if class_def is not None and class_def.class_ is base:
                return self._local_alias(class_def)
            registered = pyamf.CLASS_CACHE.get(base)
            if registered is not None and (isinstance(registered, ClassDefAlias) or base is klass):
                return registered
        return None

    def by_alias(self, name: str) -> Any:
        class_def = self.class_def_mapper.getClassDefByAlias(name)
        if class_def is not None:
            return self._local_alias(class_def)
        registered = pyamf.CLASS_CACHE.get(name)
        module = getattr(getattr(registered, "klass", None), "__module__", "") or ""
        if registered is not None and (isinstance(registered, ClassDefAlias) or not (
                module == "pyamf" or module.startswith(("pyamf.", "cpyamf")))):
            return registered
        for loader in list(pyamf.CLASS_LOADERS):
            found = None if loader in _PYAMF_LOADERS else loader(name)
            if isinstance(found, pyamf.ClassAlias):
                pyamf.CLASS_CACHE[found.alias] = pyamf.CLASS_CACHE[found.klass] = found
                return found
            if isinstance(found, type):
                return pyamf.register_class(found, name)
            if found is not None:
                raise TypeError("Expecting class object or ClassAlias from loader")
        return None


# ========================================================================== the bridges


class _Pull(ExternClassDef):
    """A read bridge's tokens (and their class mapping): each one is the next value
    py3amf reads."""

    def __init__(self, decoder: "Amf3Decoder"):
        ExternClassDef.__init__(self, object, "p", _built_in=True)
        self.decoder = decoder

    def getClassDefByAlias(self, alias: str) -> "_Pull":
        return self

    def getInstance(self) -> Any:
        return self.decoder.readElement()

    def readExternal(self, obj: Any, context: Any) -> None:
        """Nothing: the value came whole from py3amf."""


#: Reading back what amfast's codec wrote needs no budgets (nesting is bounded as written).
_UNBOUNDED = {name: sys.maxsize for name in DEFAULT_LIMITS if name != "max_depth"}
#: An externalizable object of the inline trait "p", then objects of that trait.
_TOKEN_HEAD, _TOKEN = b"\x0a\x07\x03p", b"\x0a\x01"


class _ReadBridge(DecoderContext):
    """The amfast context ``readExternal`` reads from: ``read(n)`` takes raw bytes from
    py3amf's stream, and ``amfast.decode.decode`` decodes tokens standing for the values
    py3amf reads next (with the stream's reference tables)."""

    def __init__(self, decoder: "Amf3Decoder"):
        self._stream = decoder.stream
        DecoderContext.__init__(self, decoder.budget.tokens(), class_def_mapper=_Pull(decoder),
                                amf3=True)

    def read(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("cannot read a negative number of bytes")
        return self._stream.read(n)


class _Passed(ExternClassDef):
    """What a write bridge keeps out of amfast's codec (all but plain data), and its class
    mapping: written, an object is only noted; read back, it is the same object."""

    def __init__(self):
        ExternClassDef.__init__(self, object, "p", _built_in=True)
        self.kept: list = []
        self._next = 0

    def getClassDefByClass(self, class_: type) -> "_Passed":
        return self

    getClassDefByAlias = getClassDefByClass

    def writeExternal(self, obj: Any, context: Any) -> None:
        self.kept.append(obj)

    def getInstance(self) -> Any:
        self._next += 1
        return self.kept[self._next - 1]

    def readExternal(self, obj: Any, context: Any) -> None:
        """Nothing: the object is the one written."""


class _WriteBridge(EncoderContext):
    """The amfast context ``writeExternal`` writes to: raw writes are kept with their
    place among the values, which amfast's codec writes; ``replay`` writes both to
    py3amf's stream, the values by py3amf."""

    def __init__(self):
        self._passed = _Passed()
        EncoderContext.__init__(self, class_def_mapper=self._passed, amf3=True)
        self._raw: list = []

    def write(self, raw: Any) -> None:
        self._raw.append((self.tell(), bytes(raw)))

    def replay(self, encoder: "Amf3Encoder") -> None:
        values = self.getvalue()
        reader = DecoderContext(values, class_def_mapper=self._passed, amf3=True, **_UNBOUNDED)
        for offset, raw in self._raw + [(len(values), b"")]:
            while reader.tell() < offset:
                encoder.writeElement(amf_decode.decode(reader))
            encoder.stream.write(raw)


# ============================================================================= decoding


class _Budget:
    """The decoding budgets of one call (``amfast.decoder.DEFAULT_LIMITS``)."""

    def __init__(self, codec: "PyAmfCodec", stream: BufferedByteStream):
        self.__dict__.update(codec.limits)
        self.codec, self.stream = codec, stream
        self.nodes = self.depth = 0
        self._tokens = b""

    def over(self, limit: str, message: str) -> LimitExceededError:
        """The error for a budget exceeded; its ``limit`` names the budget (a
        ``DEFAULT_LIMITS`` name, or "bytes_left" for a count the input cannot hold)."""
        return LimitExceededError(message, self.stream.tell(), limit)

    def count(self, n: int, item_bytes: int = 1) -> int:
        """A declared count: within ``max_elements`` and the bytes left."""
        if n > self.max_elements:
            raise self.over("max_elements",
                            f"{n} elements are over the {self.max_elements}-element limit")
        if n > self.stream.remaining() // item_bytes:
            raise self.over("bytes_left", f"declared count {n} exceeds the "
                            f"{self.stream.remaining()} bytes left")
        return n

    def members(self, n: int) -> None:
        if n > self.max_elements:
            raise self.over("max_elements", f"object with more than {self.max_elements} members")

    def size(self, n: int, limit: str, what: str) -> int:
        if n > getattr(self, limit):
            raise self.over(limit, f"{what} of {n} bytes is over the {getattr(self, limit)}-byte "
                            "limit")
        return n

    def tokens(self) -> bytes:
        """A read bridge's buffer: a token for every value the input can still hold (each
        takes a byte at least, and a node: the first buffer is long enough for the rest)."""
        if not self._tokens:
            count = min(self.stream.remaining(), self.max_nodes - self.nodes) + 1
            self._tokens = _TOKEN_HEAD + _TOKEN * count
        return self._tokens


class _Reading:
    """What both decoders add to py3amf's: the budgets, amfast's dates and XML."""

    #: Markers of values that nest others, which amfast counts against max_depth.
    CONTAINERS: frozenset = frozenset()

    def readElement(self) -> Any:
        budget = self.budget
        budget.nodes += 1
        if budget.nodes > budget.max_nodes:
            raise budget.over("max_nodes", f"more than {budget.max_nodes} values")
        marker = self.stream.read(1)
        func = self._func_cache.get(marker)
        if func is None:
            try:
                func = self.getTypeFunc(marker)
            except pyamf.DecodeError:  # py3amf's AMF3 decoder refuses unknown markers itself
                func = None
            self._func_cache[marker] = func
            if func is None:
                raise UnknownMarkerError(f"unknown or unsupported marker 0x{marker[0]:02X}",
                                         self.stream.tell() - 1)
        if marker not in self.CONTAINERS:
            return func()
        budget.depth += 1
        if budget.depth > budget.max_depth:
            raise budget.over("max_depth", f"values nested deeper than {budget.max_depth} levels")
        value = func()
        budget.depth -= 1
        return value.value if type(value) is _Held else value

    def read_date(self, ms: float) -> datetime.datetime:
        try:
            value = date_from_epoch(ms)
        except (OverflowError, ValueError):
            raise MalformedDataError(f"date {ms} ms is out of range",
                                     self.stream.tell()) from None
        if self.codec.aware_datetimes:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value

    def read_xml(self, n: int) -> Any:
        if self.codec.xml_type == "refuse":
            raise RefusedValueError("XML values are refused by this decoder", self.stream.tell())
        self.budget.size(n, "max_xml_bytes", "XML")
        raw = self.stream.read(self.budget.size(n, "max_string_bytes", "string"))
        try:
            return parse_xml(raw.decode("utf-8"), self.codec.xml_type)
        except UnicodeDecodeError as exc:
            raise InvalidUTF8Error(f"invalid UTF-8 in XML: {exc.reason}",
                                   self.stream.tell()) from None
        except XmlMalformed as exc:
            raise MalformedDataError(str(exc), self.stream.tell()) from None
        except XmlRefused as exc:
            raise RefusedValueError(str(exc), self.stream.tell()) from None


class Amf3Decoder(_Reading, pyamf.amf3.Decoder):
    """py3amf's AMF3 decoder giving amfast's values, within the budgets."""

    CONTAINERS = frozenset((pyamf.amf3.TYPE_ARRAY, pyamf.amf3.TYPE_OBJECT, b"\x10",
                            _DICTIONARY))

    def __init__(self, stream: BufferedByteStream, codec: "PyAmfCodec", budget: _Budget):
        pyamf.amf3.Decoder.__init__(self, stream, context=_Amf3Context())
        self.codec, self.budget = codec, budget

    def getTypeFunc(self, data: bytes) -> Any:
        if data in _VECTORS:
            return lambda: self.read_vector(_VECTORS[data])
        if data == _DICTIONARY:
            return self.read_dictionary
        if data == pyamf.amf3.TYPE_UNDEFINED:
            return self.readNull
        return pyamf.amf3.Decoder.getTypeFunc(self, data)

    def _readLength(self) -> tuple:
        length, is_reference = pyamf.amf3.Decoder._readLength(self)
        if not is_reference:
            self.budget.size(length, "max_string_bytes", "string")
        return length, is_reference

    def _header(self) -> tuple:
        """(length or count, True) for an inline value, (the value, False) for a reference."""
        # py3amf's unsigned reading garbles a U29 with its top bit set; its signed one does not.
        ref = self.readInteger(True) & 0x1FFFFFFF
        return (ref >> 1, True) if ref & 1 else (self.context.getObject(ref >> 1), False)

    def _inline(self, read: Any, *args: Any) -> Any:
        """A referenceable value: ``read(length or count, *args)`` if it is inline."""
        n, inline = self._header()
        if not inline:
            return n
        value = read(n, *args)
        self.context.addObject(value)
        return value

    def readDate(self) -> Any:
        return self._inline(lambda _: self.read_date(self.stream.read_double()))

    def readXML(self) -> Any:
        return self._inline(self.read_xml)

    readXMLString = readXML

    def readByteArray(self) -> Any:
        return self._inline(lambda n: AsByteArray(self.stream.read(
            self.budget.size(n, "max_bytearray_bytes", "ByteArray"))))

    def readArray(self) -> Any:
        """A list, or a plain dict when there are named members (py3amf's MixedArray
        would be copied after its items were read, leaving their references to it)."""
        n, inline = self._header()
        if not inline:
            return n
        self.budget.count(n)
        key = self.readString()
        if not key:
            items: list = []
            self.context.addObject(items)
            for _ in range(n):
                items.append(self.readElement())
            return items
        mixed: dict = {}
        self.context.addObject(mixed)
        while key:
            self.budget.members(len(mixed) + 1)
            mixed[key] = self.readElement()
            key = self.readString()
        for index in range(n):
            mixed[index] = self.readElement()
        return mixed

    def read_vector(self, kind: str) -> AsVector:
        n, inline = self._header()
        if not inline:
            return n
        fixed = self.stream.read_uchar() != 0
        if kind == "object":
            vector = AsVector((), kind, fixed, self.readString())
            self.budget.count(n)
            self.context.addObject(vector)
            vector.extend(self.readElement() for _ in range(n))
            return vector
        code, size = _VECTOR_ITEMS[kind]
        items = struct.unpack(f">{n}{code}", self.stream.read(self.budget.count(n, size) * size))
        vector = AsVector(items, kind, fixed)
        self.context.addObject(vector)
        return vector

    def read_dictionary(self) -> AsDictionary:
        n, inline = self._header()
        if not inline:
            return n
        value = AsDictionary(weak_keys=self.stream.read_uchar() != 0)
        self.budget.count(n, 2)
        self.context.addObject(value)
        for _ in range(n):
            key = dictionary_key(self.readElement())
            value[key] = self.readElement()
        return value

    def _getClassDefinition(self, ref: int) -> Any:
        # py3amf's looks aliases up globally and imports the modules they name.
        if not ref & 1:
            return self.context.getClassByReference(ref >> 1)
        ref >>= 1
        at = self.stream.tell()
        name = self.readString()
        names = [] if ref & 1 else [self.readString()
                                    for _ in range(self.budget.count(ref >> 2))]
        class_def = pyamf.amf3.ClassDefinition(
            self.codec.trait_alias(name, names, bool(ref & 2), bool(ref & 1), at))
        class_def.encoding, class_def.attr_len, class_def.static_properties = \
            ref & 0x03, len(names), names
        self.context.addClass(class_def, None)
        return class_def

    def _readDynamic(self, class_def: Any, obj: dict) -> None:
        key = self.readString()
        while key:
            self.budget.members(len(obj) + 1)
            obj[key] = self.readElement()
            key = self.readString()


class Amf0Decoder(_Reading, pyamf.amf0.Decoder):
    """py3amf's AMF0 decoder giving amfast's values, within the budgets."""

    CONTAINERS = frozenset((pyamf.amf0.TYPE_OBJECT, pyamf.amf0.TYPE_MIXEDARRAY,
                            pyamf.amf0.TYPE_ARRAY, pyamf.amf0.TYPE_TYPEDOBJECT))

    def __init__(self, stream: BufferedByteStream, codec: "PyAmfCodec", budget: _Budget,
                 ecma_lists: set):
        pyamf.amf0.Decoder.__init__(self, stream, context=_Amf0Context(codec))
        self.codec, self.budget = codec, budget
        #: Offsets of the dense ECMA arrays referenced from inside: found by a first read
        #: of the call, read straight into their lists by the second (``_read_twice``).
        self.ecma_lists = ecma_lists
        self._ecma_open: dict = {}  # ECMA arrays being read: slot -> referenced from inside

    def getTypeFunc(self, data: bytes) -> Any:
        if data == pyamf.amf0.TYPE_UNDEFINED:
            return self.readNull
        return pyamf.amf0.Decoder.getTypeFunc(self, data)

    def readNumber(self) -> float:
        return self.stream.read_double()

    def readString(self, bytes: bool = False) -> Any:
        n = self.budget.size(self.stream.read_ushort(), "max_string_bytes", "string")
        return self.stream.read(n) if bytes else self.context.getStringForBytes(self.stream.read(n))

    def readLongString(self) -> str:
        n = self.budget.size(self.stream.read_ulong(), "max_string_bytes", "string")
        return self.context.getStringForBytes(self.stream.read(n))

    def readDate(self) -> datetime.datetime:
        ms = self.stream.read_double()
        self.stream.read_short()  # time zone: reserved
        return self.read_date(ms)  # AMF0 dates take no reference slot

    def readXML(self) -> Any:
        return self.read_xml(self.stream.read_ulong())

    def readList(self) -> list:
        self.budget.count(self.stream.read_ulong())
        self.stream.seek(-4, 1)
        return pyamf.amf0.Decoder.readList(self)

    def readObjectAttributes(self, obj: Any) -> dict:
        attrs: dict = {}
        while True:
            key = self.readString()
            if not key and self.stream.peek() == pyamf.amf0.TYPE_OBJECTTERM:
                self.stream.read(1)
                return attrs
            self.budget.members(len(attrs) + 1)
            attrs[key] = self.readElement()

    def readObject(self) -> dict:
        obj: dict = {}
        self.context.addObject(obj)
        obj.update(self.readObjectAttributes(obj))
        return obj

    def readReference(self) -> Any:
        index = self.stream.read_ushort()
        if index in self._ecma_open:
            self._ecma_open[index] = True
        return self.context.getObject(index)

    def readMixedArray(self) -> Any:
        """A list when the keys are "0".."n-1" (how Ruffle sends every dense Array), else a
        dict; one referenced from inside its items makes the call read twice (as
        ``amfast.decoder``'s, docs/codec.md "ECMA arrays")."""
        start = self.stream.tell()
        self.stream.read_ulong()  # the count is only a hint
        slot = len(self.context._objects)
        if start in self.ecma_lists:
            items: list = []
            self.context.addObject(items)
            dense = dense_items(self.readObjectAttributes(items))
            if dense is None:
                raise MalformedDataError("ECMA array read differently the second time", start)
            items.extend(dense)
            return items
        self._ecma_open[slot] = False
        try:
            obj = self.readObject()
        finally:
            referenced = self._ecma_open.pop(slot)
        items = dense_items(obj)
        if items is None:
            return obj
        if referenced:
            self.ecma_lists.add(start)
        self.context.set_object(slot, items)
        return items


def _entry(table: Any, index: int, kind: str) -> Any:
    """A reference's entry; past the table (py3amf gives None) an error."""
    try:
        return table[index]
    except (IndexError, KeyError):
        raise pyamf.ReferenceError(f"{kind} reference {index} points past the {len(table)} "
                                   "entries read so far") from None


class _Tables:
    """What both contexts change in py3amf's: a reference past the object table is an
    error (py3amf gives None), and objects are written as ``writing`` describes them."""

    #: The alias of the object being written.
    writing: Any = None

    def getObject(self, ref: int) -> Any:
        return _entry(self._objects.list, ref, "object")

    def set_object(self, slot: int, obj: Any) -> None:
        self._objects.list[slot] = obj

    def last_slot(self) -> int:
        return len(self._objects) - 1

    def getClassAlias(self, klass: Any) -> Any:
        return self.writing


class _Amf3Context(_Tables, pyamf.amf3.Context):
    """py3amf's AMF3 tables: bad references are errors; the slot of an ArrayCollection or
    ObjectProxy holds the value it wraps; traits are kept by alias (amfast keeps one per
    ClassDef, typed alias...), not by Python class."""

    #: The slot of a proxy whose value is being read: the value's first slot is its too.
    proxy_slot: int | None = None

    def getString(self, ref: int) -> bytes:
        return _entry(self.strings.list, ref, "string")

    def getClassByReference(self, ref: int) -> Any:
        return _entry(self.class_ref, ref, "trait")

    def addObject(self, obj: Any) -> int:
        if self.proxy_slot is not None:
            self._objects.list[self.proxy_slot] = obj
            self.proxy_slot = None
        return pyamf.amf3.Context.addObject(self, obj)

    def getClass(self, klass: type) -> Any:
        return self.classes.get(self.writing)

    def addClass(self, definition: Any, klass: Any) -> int:
        return pyamf.amf3.Context.addClass(self, definition, self.writing)


class _Amf0Context(_Tables, pyamf.amf0.Context):
    """py3amf's AMF0 tables, with amfast's class mapping and AMF3 coders."""

    def __init__(self, codec: "PyAmfCodec"):
        self.codec = codec
        pyamf.amf0.Context.__init__(self)

    def getClassAlias(self, klass: Any) -> Any:
        if not isinstance(klass, str):
            return self.writing
        alias = self.codec.mapping.by_alias(klass)  # a typed object read
        return _ObjectAlias(klass) if alias is None or isinstance(alias, _ProxyAlias) else alias

    def getAMF3Decoder(self, amf0_decoder: Amf0Decoder) -> "Amf3Decoder":
        if "amf3_decoder" not in self.extra:
            self.extra["amf3_decoder"] = Amf3Decoder(amf0_decoder.stream, self.codec,
                                                     amf0_decoder.budget)
        return self.extra["amf3_decoder"]

    def getAMF3Encoder(self, amf0_encoder: "Amf0Encoder") -> "Amf3Encoder":
        if "amf3_encoder" not in self.extra:
            self.extra["amf3_encoder"] = Amf3Encoder(amf0_encoder.stream, self.codec)
        return self.extra["amf3_encoder"]


# ============================================================================= encoding


def _plainer(t: type) -> Any:
    """How a value of type ``t`` travels as a plainer one (enum, int/float/str subclass,
    a Dictionary's IdentityKey)."""
    if issubclass(t, (enum.Enum, IdentityKey)):
        return operator.attrgetter("value")
    for kinds, convert in (((int,), int), ((float, decimal.Decimal), float), ((str,), str)):
        if issubclass(t, kinds):
            return convert
    return None


class _Writing:
    """What both encoders add to py3amf's: exact doubles, amfast's objects."""

    def writeNumber(self, n: Any) -> None:
        # py3amf writes every NaN as one bit pattern; amfast keeps the value's.
        self.stream.write(self.NUMBER + _DOUBLE.pack(float(n)))

    def write_object(self, value: Any, alias: Any) -> None:
        """py3amf's writeObject, ``value`` described by ``alias``."""
        self.context.writing = alias
        self.writeObject(value)

    def write_anonymous(self, value: Any) -> None:
        self.write_object(value, _ANONYMOUS)

    def write_typed(self, value: Any, static_attrs: tuple = ()) -> None:
        extra = any(key not in static_attrs for key in value)
        key = (value.alias, static_attrs, bool(getattr(value, "dynamic", True) or extra))
        if key not in self._typed:
            self._typed[key] = _ObjectAlias(*key)
        self.write_object(value, self._typed[key])

    def keyed(self, value: Any, alias: Any) -> Any:
        """The object written for ``value``: the first one with the same
        ``ClassDef.referenceKey`` in this context, so that py3amf writes a reference."""
        class_def = getattr(alias, "class_def", None)
        reference_key = getattr(class_def, "referenceKey", None)
        if reference_key is None:
            return value
        key = reference_key(value)
        if key is None:
            return value
        return self.context.extra.setdefault("amfast.keyed", {}).setdefault(
            (class_def, key), value)

    def write_as(self, convert: Any) -> Any:
        return lambda value: self.writeElement(convert(value))


class Amf3Encoder(_Writing, pyamf.amf3.Encoder):
    """py3amf's AMF3 encoder writing amfast's values as amfast's codec does."""

    NUMBER = pyamf.amf3.TYPE_NUMBER

    def __init__(self, stream: BufferedByteStream, codec: "PyAmfCodec"):
        pyamf.amf3.Encoder.__init__(self, stream, context=_Amf3Context())
        self.codec, self._typed, self._held = codec, {}, {}

    def getTypeFunc(self, data: Any) -> Any:
        t, codec = type(data), self.codec
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
            return self.write_object_proxy if codec.use_proxies else self.write_anonymous
        if t is list or t is tuple:
            return self.write_collection if codec.use_collections else self.writeList
        if t is datetime.datetime:
            return self.writeDate
        alias = codec.mapping.by_class(t)
        if alias is not None:
            if isinstance(getattr(alias, "class_def", None), SequenceClassDef):
                return self.write_as(alias.class_def.toList)
            return lambda value: self.write_aliased(value, alias)
        if issubclass(t, TypedObject):
            return lambda value: self.write_typed(value, value.static_attrs)
        if issubclass(t, AsDictionary):
            return self.write_dictionary
        if issubclass(t, AsVector):
            return self.write_vector
        if issubclass(t, (bytes, bytearray, memoryview)):
            return self.writeByteArray
        if _plainer(t) is not None:
            return self.write_as(_plainer(t))
        if issubclass(t, dict):
            return self.write_object_proxy if codec.use_proxies else self.write_as(dict)
        if issubclass(t, (list, tuple)):
            return self.write_collection if codec.use_collections else self.writeList
        if issubclass(t, (set, frozenset)):
            return self.write_as(list)
        if issubclass(t, datetime.date):
            return self.writeDate
        if issubclass(t, AsProxy):
            return lambda value: self.write_proxy(value.source,
                                                  isinstance(value.source, (list, tuple)))
        if issubclass(t, AsNoProxy):
            return lambda value: self.write_unproxied(value.source)
        if t is pyamf.UndefinedType:
            return self.writeUndefined
        if is_xml(data):
            return self.writeXML
        return self.write_object_proxy if codec.use_proxies else self.write_anonymous

    def _referenced(self, value: Any) -> bool:
        """Write a reference if ``value`` was written before; else enter it in the table."""
        index = self.context.getObjectReference(value)
        if index != -1:
            self._writeInteger(index << 1)
            return True
        self.context.addObject(value)
        return False

    def writeDate(self, value: datetime.date) -> None:
        self.stream.write(pyamf.amf3.TYPE_DATE)
        if not self._referenced(value):
            self.stream.write(b"\x01" + _DOUBLE.pack(epoch_from_date(value)))

    def writeXML(self, value: Any) -> None:
        self.stream.write(pyamf.amf3.TYPE_XML if self.codec.use_legacy_xml
                          else pyamf.amf3.TYPE_XMLSTRING)
        if not self._referenced(value):
            data = xml_to_string(value).encode("utf-8")
            self._writeInteger((len(data) << 1) | 1)
            self.stream.write(data)

    def write_vector(self, value: AsVector) -> None:
        self.stream.write(_VECTOR_MARKERS[value.type])
        if self._referenced(value):
            return
        self._writeInteger((len(value) << 1) | 1)
        self.stream.write_uchar(1 if value.fixed else 0)
        if value.type == "object":
            self.serialiseString("*" if value.class_name is None else value.class_name)
            for item in value:
                self.writeElement(item)
            return
        try:
            items = [item if isinstance(item, (int, float)) else None for item in value] \
                if value.type == "double" else [operator.index(item) for item in value]
            self.stream.write(struct.pack(f">{len(items)}{_VECTOR_ITEMS[value.type][0]}",
                                          *items))
        except (struct.error, TypeError, OverflowError):
            raise EncodeError(f"{value!r:.100} does not fit a Vector.<{value.type}>") from None

    def write_dictionary(self, value: AsDictionary) -> None:
        self.stream.write(_DICTIONARY)
        if not self._referenced(value):
            self._writeInteger((len(value) << 1) | 1)
            self.stream.write_uchar(1 if getattr(value, "weak_keys", False) else 0)
            for key, item in value.items():
                self.writeElement(key)
                self.writeElement(item)

    def write_aliased(self, value: Any, alias: Any) -> None:
        value = self.keyed(value, alias)
        if isinstance(alias, ClassDefAlias) and alias.external:
            # One stand-in per object, so that py3amf writes a reference when it comes again.
            if id(value) not in self._held:
                self._held[id(value)] = _Held(alias, value)
            value = self._held[id(value)]
        self.write_object(value, alias)

    def write_proxy(self, value: Any, collection: bool) -> None:
        self.write_aliased(value, _PROXIES[ARRAY_COLLECTION_ALIAS if collection
                                           else OBJECT_PROXY_ALIAS])

    def write_collection(self, value: Any) -> None:
        self.write_proxy(value, True)

    def write_object_proxy(self, value: Any) -> None:
        self.write_proxy(value, False)

    def write_unproxied(self, value: Any) -> None:
        """AsNoProxy: a plain Array/Object even when collections or proxies are on."""
        if isinstance(value, dict) and not isinstance(value, (TypedObject, AsDictionary)):
            self.write_anonymous(value if type(value) is dict else dict(value))
        elif isinstance(value, (list, tuple)) and not isinstance(value, AsVector):
            self.writeList(value)
        else:
            self.writeElement(value)


class Amf0Encoder(_Writing, pyamf.amf0.Encoder):
    """py3amf's AMF0 encoder writing amfast's values as amfast's codec does; with
    ``use_amf3`` every value is written as an AMF3 switch (marker 0x11)."""

    NUMBER = pyamf.amf0.TYPE_NUMBER

    def __init__(self, stream: BufferedByteStream, codec: "PyAmfCodec", use_amf3: bool = False):
        pyamf.amf0.Encoder.__init__(self, stream, context=_Amf0Context(codec))
        self.codec, self.use_amf3, self._typed = codec, use_amf3, {}

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
            return self.write_anonymous
        if t is list or t is tuple:
            return self.writeList
        alias = self.codec.mapping.by_class(t)
        if alias is not None and isinstance(getattr(alias, "class_def", None), SequenceClassDef):
            return self.write_as(alias.class_def.toList)
        if alias is not None:
            return self.writeAMF3 if alias.amf3 else lambda value: self.write_object(
                self.keyed(value, alias), alias)
        if issubclass(t, TypedObject):
            return self.write_typed
        if issubclass(t, (AsVector, AsDictionary, bytes, bytearray, memoryview)):
            return self.writeAMF3
        if _plainer(t) is not None:
            return self.write_as(_plainer(t))
        if issubclass(t, dict):
            return self.write_anonymous
        if issubclass(t, (list, tuple, set, frozenset)):
            return self.writeList
        if issubclass(t, datetime.date):
            return self.writeDate
        if issubclass(t, (AsProxy, AsNoProxy)):
            return self.write_as(operator.attrgetter("source"))
        if t is pyamf.UndefinedType:
            return self.writeUndefined
        if is_xml(data):
            return self.writeXML
        return self.write_anonymous

    def serialiseString(self, s: str) -> None:
        raw = self.context.getBytesForString(s)
        if len(raw) > 0xFFFF:
            raise EncodeError(f"name of {len(raw)} bytes is too long for AMF0 (65535 at most)")
        self.stream.write(struct.pack(">H", len(raw)) + raw)

    def writeDate(self, value: datetime.date) -> None:
        self.stream.write(pyamf.amf0.TYPE_DATE + _DOUBLE.pack(epoch_from_date(value))
                          + b"\x00\x00")

    def writeXML(self, value: Any) -> None:
        data = xml_to_string(value).encode("utf-8")
        self.stream.write(pyamf.amf0.TYPE_XML + struct.pack(">I", len(data)) + data)


# ================================================================================ codec


class PyAmfCodec:
    """py3amf reading and writing values and packets as amfast's codec does.

    ``class_def_mapper`` maps classes for this codec only (a new ClassDefMapper, which
    knows the Flex messages, when None).  ``use_collections``, ``use_proxies``,
    ``use_legacy_xml`` and ``include_private`` are the ``amfast.encoder.Encoder``
    options; ``aware_datetimes``, ``xml_type`` and the budgets (``max_depth=...``, see
    ``amfast.decoder.DEFAULT_LIMITS``) the ``amfast.decoder.Decoder`` ones.
    """

    def __init__(self, class_def_mapper: ClassDefMapper | None = None,
                 use_collections: bool = False, use_proxies: bool = False,
                 use_legacy_xml: bool = False, include_private: bool = False,
                 aware_datetimes: bool = False, xml_type: str = "minidom", **limits: int):
        check_options(xml_type, limits)
        self.class_def_mapper = ClassDefMapper() if class_def_mapper is None \
            else class_def_mapper
        self.mapping = _Mapping(self.class_def_mapper)
        self.use_collections, self.use_proxies = use_collections, use_proxies
        self.use_legacy_xml, self.include_private = use_legacy_xml, include_private
        self.aware_datetimes, self.xml_type = aware_datetimes, xml_type
        self.limits = dict(DEFAULT_LIMITS, **limits)

    def trait_alias(self, name: str, names: list, dynamic: bool, external: bool,
                    at: int) -> Any:
        """The alias of an AMF3 object read, by its trait."""
        alias = self.mapping.by_alias(name) if name else None
        if alias is None and external:
            raise ClassMappingError(f"externalizable class {name!r} is not mapped, so its bytes "
                              "cannot be read", at)
        if alias is None:
            return _ObjectAlias(name, names, dynamic) if name else _ANONYMOUS
        if isinstance(alias, ClassDefAlias) and external != alias.external:
            raise ClassMappingError(f"class {name!r} arrives with "
                              f"{'externalizable' if external else 'sealed/dynamic'} traits "
                              "that do not match its ClassDef", at)
        return alias

    def encode(self, value: Any, amf3: bool = False) -> bytes:
        stream = BufferedByteStream()
        _encoding((Amf3Encoder if amf3 else Amf0Encoder)(stream, self).writeElement, value)
        return stream.getvalue()

    def decode(self, raw: Any, amf3: bool = False) -> Any:
        stream = _stream_of(raw)
        if amf3:
            return _decoding(stream, Amf3Decoder(stream, self, _Budget(self, stream)).readElement)
        return _read_twice(stream, lambda lists: Amf0Decoder(
            stream, self, _Budget(self, stream), lists).readElement())

    def decode_packet(self, raw: Any) -> Packet:
        """An ``amfast.remoting.Packet``; bodies keep their order and duplicates."""
        stream = _stream_of(raw)
        return _read_twice(stream, lambda lists: self._read_packet(stream, lists))

    def _read_packet(self, stream: BufferedByteStream, ecma_lists: set) -> Packet:
        version = stream.read_ushort()
        if version not in _VERSIONS:
            raise UnknownMarkerError(f"unknown AMF packet version {version}", 0)
        budget = _Budget(self, stream)
        decoder = Amf0Decoder(stream, self, budget, ecma_lists)
        packet = Packet(version)
        for _ in range(stream.read_ushort()):
            name, required = decoder.readString(), stream.read_uchar() != 0
            stream.read_ulong()  # length: clients send wrong values, never trusted
            decoder.context.clear()
            packet.headers.append(Header(name, required, decoder.readElement()))
        for _ in range(stream.read_ushort()):
            target, response = decoder.readString(), decoder.readString()
            stream.read_ulong()
            decoder.context.clear()
            if Message.isRequestTarget(target) and stream.peek() == pyamf.amf0.TYPE_ARRAY:
                stream.read(1)  # a call's arguments: a strict array with no reference slot
                body = [decoder.readElement() for _ in range(budget.count(stream.read_ulong()))]
            else:
                body = decoder.readElement()
            packet.messages.append(Message(target, response, body))
        return packet

    def encode_packet(self, packet: Packet) -> bytes:
        """The bytes amfast's codec writes for ``packet`` (AMF3 bodies for AMF3 clients)."""
        stream = BufferedByteStream()
        _encoding(self._write_packet, packet, stream)
        return stream.getvalue()

    def _write_packet(self, packet: Packet, stream: BufferedByteStream) -> None:
        encoder = Amf0Encoder(stream, self, use_amf3=packet.is_amf3)
        stream.write_ushort(packet.client_type or 0)
        stream.write_ushort(len(packet.headers))
        for header in packet.headers:
            encoder.serialiseString(header.name)
            stream.write_uchar(1 if header.required else 0)
            _with_length(encoder, encoder.writeElement, header.value)
        stream.write_ushort(len(packet.messages))
        for message in packet.messages:
            encoder.serialiseString("null" if message.target is None else message.target)
            encoder.serialiseString("null" if message.response is None else message.response)
            if message.is_request and isinstance(message.body, (list, tuple)):
                _with_length(encoder, _write_arguments, encoder, message.body)
            else:
                _with_length(encoder, encoder.writeElement, message.body)


def _write_arguments(encoder: Amf0Encoder, args: Any) -> None:
    """A call's arguments: a strict array that takes no reference slot."""
    encoder.stream.write(pyamf.amf0.TYPE_ARRAY + struct.pack(">I", len(args)))
    for arg in args:
        encoder.writeElement(arg)


def _with_length(encoder: Amf0Encoder, write: Any, *args: Any) -> None:
    """A u32 length, then what ``write(*args)`` writes with fresh reference tables."""
    stream = encoder.stream
    at = stream.tell()
    stream.write_ulong(0)
    encoder.context.clear()
    write(*args)
    end = stream.tell()
    stream.seek(at)
    stream.write_ulong(end - at - 4)
    stream.seek(end)


def _stream_of(raw: Any) -> BufferedByteStream:
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    elif not isinstance(raw, bytes) and hasattr(raw, "read"):
        raw = bytes(raw.read())
    if not isinstance(raw, bytes):
        raise DecodeError(f"cannot decode from {type(raw).__name__}: give bytes, bytearray, "
                          "memoryview or a file-like object")
    return BufferedByteStream(raw)


def _decoding(stream: BufferedByteStream, read: Any, *args: Any) -> Any:
    """``read(*args)``; every failure becomes a DecodeError with the offset in ``stream``."""
    try:
        return read(*args)
    except DecodeError as exc:
        if exc.offset is not None:
            raise
        located = type(exc)(str(exc), stream.tell())
        located.limit = getattr(exc, "limit", None)
        raise located from exc
    except RecursionError:
        raise LimitExceededError("values nested too deeply", stream.tell(),
                                 "max_depth") from None
    except (IOError, pyamf.EOStream):
        raise TruncatedDataError("data ends early", stream.tell()) from None
    except pyamf.ReferenceError as exc:
        raise BadReferenceError(str(exc), stream.tell()) from None
    except UnicodeDecodeError as exc:
        raise InvalidUTF8Error(f"invalid UTF-8 in string: {exc.reason}", stream.tell()) from None
    except Exception as exc:
        raise MalformedDataError(f"{type(exc).__name__}: {exc}", stream.tell()) from exc


def _read_twice(stream: BufferedByteStream, read: Any) -> Any:
    """``read(ecma_lists)`` through ``_decoding``; once more from the start when the first
    read found dense ECMA arrays referenced from inside (their offsets in ``ecma_lists``),
    which the second reads straight into their lists: the whole call, at most twice."""
    ecma_lists: set = set()
    value = _decoding(stream, read, ecma_lists)
    if ecma_lists:
        stream.seek(0)
        value = _decoding(stream, read, ecma_lists)
    return value


def _encoding(write: Any, *args: Any) -> None:
    """``write(*args)``; py3amf's own failures become EncodeError (user errors pass)."""
    try:
        write(*args)
    except RecursionError:
        raise EncodeError("value nested too deeply") from None
    except (pyamf.BaseError, OverflowError, UnicodeEncodeError) as exc:
        raise EncodeError(f"{type(exc).__name__}: {exc}") from exc


# =========================================================================== conversion


def packet_to_amfast(envelope: pyamf.remoting.Envelope) -> Packet:
    """A ``pyamf.remoting.Envelope`` as an ``amfast.remoting.Packet``."""
    version = envelope.amfVersion if envelope.amfVersion in _VERSIONS else Packet.FLASH_8
    return Packet(version, [Header(name, envelope.headers.is_required(name), value)
                            for name, value in envelope.headers.items()],
                  [message_to_amfast(name, message) for name, message in envelope.bodies])


def message_to_amfast(name: str, message: Any) -> Message:
    """A ``pyamf.remoting.Request``/``Response`` (under its envelope name) as a Message."""
    if isinstance(message, pyamf.remoting.Response):
        return Message(f"{name}{pyamf.remoting.STATUS_CODES[message.status]}",
                       getattr(message, "amfast_response", "null"), message.body)
    return Message(message.target, name, message.body)


def message_to_pyamf(message: Message) -> tuple:
    """(name, Request or Response): a reply's target ``/n/onResult`` splits into ``/n``."""
    target = "null" if message.target is None else message.target
    for status, suffix in pyamf.remoting.STATUS_CODES.items():
        if target.endswith(suffix):
            reply = pyamf.remoting.Response(message.body, status)
            reply.amfast_response = "" if message.response is None else message.response
            return target[:-len(suffix)], reply
    request = pyamf.remoting.Request(target)
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
