"""py3amf (the maintained Python 3 PyAMF) as amfast's second codec.

``PyAmfCodec`` reads and writes values and remoting packets with py3amf's own
``amf0``/``amf3`` Encoder and Decoder.  A translation layer, through the hooks
py3amf offers (the context, class aliases, the type dispatch and single read
or write methods), makes them give and take amfast's values (docs/codec.md):
dicts are anonymous objects, unknown aliases ``TypedObject``, ByteArrays
``AsByteArray``, Vectors and Dictionaries ``AsVector``/``AsDictionary``, dates
naive UTC with whole milliseconds, XML parsed without DTDs; ArrayCollection and
ObjectProxy unwrap (and wrap with ``use_collections``/``use_proxies``).  It also
applies the ``amfast.decoder.Decoder`` budgets (``max_depth``,
``max_elements``...) and ``xml_type``.  ``PyAmfEndpoint`` serves channels with it.

Class mapping
-------------
A codec looks an alias (decoding) or a class (encoding, nearest mapped base
class first, as ``ClassDefMapper`` does) up in this order:

1. its own ``ClassDefMapper`` (the Flex messages, their small forms DSA/DSC/DSK,
   ArrayCollection/ObjectProxy and ``Error`` are in every mapper).  These become
   ``ClassDefAlias`` objects of the codec: nothing is registered in py3amf;
2. ``pyamf.CLASS_CACHE``: classes mapped with ``register_class_def`` /
   ``register_class_mapper`` below, and with ``pyamf.register_class`` directly
   (those only for their exact class, as py3amf does).  Registrations of
   py3amf's own classes (``pyamf.flex``, ...) are not used for decoding;
3. (decoding) class loaders registered with ``pyamf.register_class_loader``,
   except py3amf's own ``flex_loader`` and ``blaze_loader``.

Nothing else: unlike ``pyamf.load_class``, no module is ever imported because of
a name in the input.  ``pyamf.TYPE_MAP`` and ``ALIAS_TYPES`` are not consulted.

Externalizable classes (``ExternClassDef``, the small Flex messages included)
run ``readExternal``/``writeExternal`` once per object with an amfast context
bridged to py3amf's stream: raw reads and writes go to the stream, and values
are read and written by py3amf with the stream's reference tables.  Written
values pass through amfast's codec first (a list or dict shared between an
external form and the rest of the message is written twice: equal values).

Nesting is bounded by ``max_depth`` and, since py3amf recurses in Python, by
Python's recursion limit (about 300 levels by default): both are a
``DecodeError``.  Failures are amfast's ``DecodeError`` and ``EncodeError``;
exceptions raised by user code while encoding (properties, ClassDefs) pass.

What is registered in py3amf globally, and why
----------------------------------------------
* Importing this module (or ``pyamf_endpoint``) registers nothing.  It imports
  ``pyamf.amf0``, ``pyamf.amf3`` and ``pyamf.remoting``, whose own import-time
  registrations (``ByteArray``, ``ErrorFault``, ``Server.Call.Failed``) happen
  as with any use of py3amf.  py3amf's Flex aliases are left alone (AmFast
  replaced them process-wide; amfast does not): ``pyamf.flex`` is not imported.
* ``register_class_def(class_def)`` puts a ``ClassDefAlias`` in
  ``pyamf.CLASS_CACHE`` under the ClassDef's alias and class: that is what it is
  asked to do, make py3amf itself (``pyamf.encode``, ``pyamf.remoting``) and
  every PyAmfEndpoint map that class.  ``register_class_mapper`` does so for each
  ClassDef of a mapper that is not built in; ``unregister_*`` undo it.  (Stock
  py3amf cannot run an ``ExternClassDef``: it calls ``__readamf__``/``__writeamf__``
  on the instance.  PyAmfCodec can.)
* Only a class loader the user registered, when it returns a class for an
  alias, gets it registered with ``pyamf.register_class``, as ``pyamf.load_class``
  would do.
"""
from __future__ import annotations

try:
    import pyamf
    import pyamf.amf0
    import pyamf.amf3
    import pyamf.remoting
    from pyamf.util.pure import BufferedByteStream
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("pyamf_converter needs py3amf: pip install 'amfast[pyamf]'") from _exc

import datetime
import decimal
import enum
import operator
import struct
from typing import Any

from amfast import AmFastError, date_from_epoch, epoch_from_date
from amfast import decode as amf_decode
from amfast.class_def import (ARRAY_COLLECTION_ALIAS, OBJECT_PROXY_ALIAS, ClassDef, ClassDefMapper,
                              DynamicClassDef, ExternClassDef, _ProxyClassDef,
                              get_dynamic_attr_vals)
from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsNoProxy, AsProxy, AsVector,
                                       TypedObject)
from amfast.context import DecoderContext, EncoderContext
from amfast.decoder import DEFAULT_LIMITS, DecodeError, check_options
from amfast.encoder import EncodeError
from amfast.ext.encoder import _REFUSED_TYPES
from amfast.remoting import Header, Message, Packet
from amfast.xml_values import XmlRefused, is_xml, parse_xml, xml_to_string

__all__ = ["PyAmfConversionError", "ClassDefAlias", "class_def_alias", "register_class_def",
           "register_class_mapper", "unregister_class_def", "unregister_class_mapper",
           "PyAmfCodec", "packet_to_amfast", "message_to_amfast", "packet_to_pyamf",
           "message_to_pyamf"]


class PyAmfConversionError(AmFastError):
    """A value or mapping cannot be carried over between amfast and py3amf."""


_DOUBLE = struct.Struct(">d")
_VERSIONS = (Packet.FLASH_8, Packet.FLASH_COM, Packet.FLASH_9)
_STATUS_SUFFIXES = tuple(pyamf.remoting.STATUS_CODES.items())
#: AMF3 markers py3amf has no reader or writer for (Vector.<int|uint|Number|Object>).
_VECTOR_MARKERS = {b"\x0d": "int", b"\x0e": "uint", b"\x0f": "double", b"\x10": "object"}
_VECTOR_KIND_MARKERS = {kind: marker for marker, kind in _VECTOR_MARKERS.items()}
_VECTOR_FORMATS = {"int": ("i", 4), "uint": ("I", 4), "double": ("d", 8)}
_AMF3_DICTIONARY = b"\x11"


# ============================================================================== aliases


class _Alias(pyamf.ClassAlias):
    """A ``pyamf.ClassAlias`` complete as built.

    py3amf's own compiling would register the base classes in py3amf and sort
    the sealed names; these keep the order they are given and register nothing.
    """

    def __init__(self, klass: type, name: str, static_attrs=(), dynamic: bool = True,
                 external: bool = False, amf3: bool = True):
        self.klass = klass
        self.alias = name
        self.anonymous = not name
        self.static_attrs = list(static_attrs)
        self.static_attrs_set = set(self.static_attrs)
        self.dynamic = dynamic
        self.sealed = not dynamic
        self.external = external
        self.amf3 = amf3
        # None: py3amf's ClassDefinition then takes a non-dynamic alias as sealed.
        self.encodable_properties = self.decodable_properties = None
        self.exclude_attrs = self.readonly_attrs = self.proxy_attrs = None
        self.synonym_attrs = {}
        self.bases = []
        self._compiled = True

    def compile(self) -> None:
        """Nothing to compile (see the class docstring)."""

    def applyAttributes(self, obj: Any, attrs: dict, codec: Any = None) -> None:
        obj.update(attrs)


def _named(items: Any, codec: Any) -> dict:
    """Members as ``{str: value}``; AMF3 cannot carry an empty name (it ends the members)."""
    attrs = {key if type(key) is str else str(key): value for key, value in items}
    if "" in attrs and isinstance(codec, pyamf.amf3.Encoder):
        raise EncodeError("AMF3 objects cannot carry an empty member name")
    return attrs


def _include_private(codec: Any) -> bool:
    return bool(getattr(getattr(codec, "codec", None), "include_private", False))


class _ObjectAlias(_Alias):
    """Anonymous objects (a dict, or any instance's attributes) and unmapped typed objects."""

    def __init__(self, name: str = "", static_attrs=(), dynamic: bool = True):
        _Alias.__init__(self, TypedObject if name else dict, name, static_attrs, dynamic,
                        amf3=False)

    def createInstance(self, codec: Any = None) -> Any:
        if self.alias:
            return TypedObject(self.alias, self.static_attrs, self.dynamic)
        return {}

    def getEncodableAttributes(self, obj: Any, codec: Any = None) -> dict:
        if isinstance(obj, TypedObject):
            attrs = _named(((name, obj.get(name)) for name in self.static_attrs), codec)
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
    """Stands for an externalizable object while py3amf reads or writes its form.

    py3amf calls ``__readamf__``/``__writeamf__`` on the object itself; this
    object has them and hands the work to its alias.
    """

    __slots__ = ("alias", "value")

    def __init__(self, alias: "ClassDefAlias", value: Any = None):
        self.alias = alias
        self.value = value

    def __readamf__(self, data_input: Any) -> None:
        self.value = self.alias.read_external(data_input.decoder)

    def __writeamf__(self, data_output: Any) -> None:
        self.alias.write_external(self.value, data_output.encoder)


class ClassDefAlias(_Alias):
    """A ``pyamf.ClassAlias`` that maps a class the way an amfast ``ClassDef`` says.

    Sealed names keep the ClassDef's order, instances are made with
    ``getInstance`` and filled with ``applyAttrVals``, ``encode_types`` and
    ``decode_types`` apply, and an ``ExternClassDef`` reads and writes its form.
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
        if class_def.encode_types:
            for name, convert in class_def.encode_types.items():
                if name in attrs:
                    attrs[name] = convert(attrs[name])
        return attrs

    def applyAttributes(self, obj: Any, attrs: dict, codec: Any = None) -> None:
        attrs = {key.decode() if isinstance(key, bytes) else key: value
                 for key, value in attrs.items()}
        if self.class_def.decode_types:
            for name, convert in self.class_def.decode_types.items():
                if name in attrs:
                    attrs[name] = convert(attrs[name])
        self.class_def.applyAttrVals(obj, attrs)

    def createInstance(self, codec: Any = None) -> Any:
        if self.external and isinstance(codec, Amf3Decoder):
            return _Held(self)
        return self.class_def.getInstance()

    def read_external(self, decoder: "Amf3Decoder") -> Any:
        obj = self.class_def.getInstance()
        # The form may refer to the object it fills.
        decoder.context.setObject(decoder.context.lastSlot(), obj)
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
        slot = context.lastSlot()
        context.proxy_slot = slot
        value = decoder.readElement()
        context.proxy_slot = None
        context.setObject(slot, value)
        return value

    def write_external(self, value: Any, encoder: "Amf3Encoder") -> None:
        if self.alias == ARRAY_COLLECTION_ALIAS:
            encoder.writeList(value)
        else:
            encoder.write_object(value, _ANONYMOUS)


_PROXY_ALIASES = {alias: _ProxyAlias(_ProxyClassDef(alias))
                  for alias in (ARRAY_COLLECTION_ALIAS, OBJECT_PROXY_ALIAS)}


def class_def_alias(class_def: ClassDef) -> ClassDefAlias:
    """The ``pyamf.ClassAlias`` for an amfast ClassDef (not registered anywhere)."""
    if not isinstance(class_def, ClassDef):
        raise PyAmfConversionError(f"not a ClassDef: {class_def!r}")
    if isinstance(class_def, _ProxyClassDef):
        return _PROXY_ALIASES[class_def.alias]
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


# ========================================================================= the bridges


class _Pull(ExternClassDef):
    """The tokens of a read bridge: decoding one gives the next value py3amf reads."""

    def __init__(self, decoder: "Amf3Decoder"):
        ExternClassDef.__init__(self, object, "p", _built_in=True)
        self.decoder = decoder

    def getClassDefByAlias(self, alias: str) -> "_Pull":
        """A read bridge's whole class mapping: every token is this."""
        return self

    def getInstance(self) -> Any:
        return self.decoder.readElement()

    def readExternal(self, obj: Any, context: Any) -> None:
        """Nothing: the value came whole from py3amf."""


#: An externalizable object with the inline trait "p", then objects referring to that trait.
_TOKEN_HEAD = b"\x0a\x07\x03p"
_TOKEN = b"\x0a\x01"


class _ReadBridge(DecoderContext):
    """The amfast context an ``ExternClassDef.readExternal`` reads its form from.

    ``read(n)`` takes raw bytes from py3amf's stream.  ``amfast.decode.decode``
    decodes the context's own buffer: a run of tokens, each of which is the
    next value py3amf reads from the stream (with its reference tables).
    """

    def __init__(self, decoder: "Amf3Decoder"):
        self._stream = decoder.stream
        DecoderContext.__init__(self, decoder.budget.tokens(), _Pull(decoder), True)

    def read(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("cannot read a negative number of bytes")
        return self._stream.read(n)


class _Passed(ExternClassDef):
    """What a write bridge keeps out of amfast's codec: every value but plain data.

    Written, such a value is only noted (its form is empty); read back, it is
    the same object, which py3amf then writes.
    """

    def __init__(self):
        ExternClassDef.__init__(self, object, "p", _built_in=True)
        self.kept: list = []
        self._next = 0

    def getClassDefByClass(self, class_: type) -> "_Passed":
        """A write bridge's whole class mapping: every class amfast's codec looks up."""
        return self

    getClassDefByAlias = getClassDefByClass

    def writeExternal(self, obj: Any, context: Any) -> None:
        self.kept.append(obj)

    def getInstance(self) -> Any:
        obj = self.kept[self._next]
        self._next += 1
        return obj

    def readExternal(self, obj: Any, context: Any) -> None:
        """Nothing: the object is the one written."""


class _WriteBridge(EncoderContext):
    """The amfast context an ``ExternClassDef.writeExternal`` writes its form to.

    Raw writes are kept apart with their place among the values; values go
    through amfast's codec (objects kept by identity, see ``_Passed``).
    ``replay`` then writes both to py3amf's stream, values by py3amf.
    """

    def __init__(self):
        self._passed = _Passed()
        EncoderContext.__init__(self, self._passed, True)
        self._raw: list = []

    def write(self, raw: Any) -> None:
        self._raw.append((self.tell(), bytes(raw)))

    def replay(self, encoder: "Amf3Encoder") -> None:
        values = self.getvalue()
        reader = DecoderContext(values, self._passed, True)
        for offset, raw in self._raw + [(len(values), b"")]:
            while reader.tell() < offset:
                encoder.writeElement(amf_decode.decode(reader))
            encoder.stream.write(raw)


# ============================================================================ decoding


def _limit(message: str, stream: Any) -> DecodeError:
    """A decoding budget is exceeded."""
    return DecodeError(message, stream.tell())


class _Budget:
    """The decoding budgets of one call (``amfast.decoder.DEFAULT_LIMITS``), as py3amf reads."""

    def __init__(self, codec: "PyAmfCodec", stream: Any):
        self.__dict__.update(codec.limits)
        self.xml_type = codec.xml_type
        self.aware_datetimes = codec.aware_datetimes
        self.stream = stream
        self.nodes = 0
        self.depth = 0
        self._tokens: bytes | None = None

    def count(self, n: int, item_bytes: int = 1) -> int:
        """A declared count: within ``max_elements`` and the bytes left."""
        if n > self.max_elements:
            raise _limit(f"{n} elements are over the {self.max_elements}-element limit",
                         self.stream)
        left = self.stream.remaining()
        if n > left // item_bytes:
            raise DecodeError(f"declared count {n} exceeds the {left} bytes left",
                              self.stream.tell())
        return n

    def members(self, n: int) -> None:
        if n > self.max_elements:
            raise _limit(f"object with more than {self.max_elements} members", self.stream)

    def size(self, n: int, limit: str, what: str) -> int:
        if n > getattr(self, limit):
            raise _limit(f"{what} of {n} bytes is over the {getattr(self, limit)}-byte limit",
                         self.stream)
        return n

    def tokens(self) -> bytes:
        """A read bridge's buffer: a token for every value the input could still hold."""
        if self._tokens is None:
            count = min(len(self.stream), self.max_nodes) + 1
            self._tokens = _TOKEN_HEAD + _TOKEN * count
        return self._tokens


class _Reading:
    """What both decoders add to py3amf's: budgets, amfast's dates and XML."""

    #: Markers of values that nest others (amfast counts them against max_depth).
    CONTAINERS: frozenset = frozenset()

    def readElement(self) -> Any:
        budget = self.budget
        budget.nodes += 1
        if budget.nodes > budget.max_nodes:
            raise _limit(f"more than {budget.max_nodes} values", self.stream)
        marker = self.stream.read(1)
        func = self._func_cache.get(marker)
        if func is None:
            func = self.getTypeFunc(marker)
            if func is None:
                raise DecodeError(f"unknown or unsupported marker 0x{marker[0]:02X}",
                                  self.stream.tell() - 1)
            self._func_cache[marker] = func
        if marker not in self.CONTAINERS:
            return func()
        budget.depth += 1
        if budget.depth > budget.max_depth:
            raise _limit(f"values nested deeper than {budget.max_depth} levels", self.stream)
        value = func()
        budget.depth -= 1
        return value.value if type(value) is _Held else value

    def read_date(self, ms: float) -> datetime.datetime:
        try:
            value = date_from_epoch(ms)
        except (OverflowError, ValueError):
            raise DecodeError(f"date {ms} ms is out of range", self.stream.tell()) from None
        if self.budget.aware_datetimes:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value

    def read_xml(self, n: int) -> Any:
        budget = self.budget
        if budget.xml_type == "refuse":
            raise DecodeError("XML values are refused by this decoder", self.stream.tell())
        budget.size(n, "max_xml_bytes", "XML")
        budget.size(n, "max_string_bytes", "string")
        try:
            return parse_xml(self.stream.read(n).decode("utf-8"), budget.xml_type)
        except (XmlRefused, UnicodeDecodeError) as exc:
            raise DecodeError(str(exc), self.stream.tell()) from None


class Amf3Decoder(_Reading, pyamf.amf3.Decoder):
    """py3amf's AMF3 decoder giving amfast's values, within the budgets."""

    CONTAINERS = frozenset((pyamf.amf3.TYPE_ARRAY, pyamf.amf3.TYPE_OBJECT, b"\x10",
                            _AMF3_DICTIONARY))

    def __init__(self, stream: Any, codec: "PyAmfCodec", budget: _Budget):
        pyamf.amf3.Decoder.__init__(self, stream, context=_Amf3Context())
        self.codec = codec
        self.budget = budget

    def getTypeFunc(self, data: bytes) -> Any:
        kind = _VECTOR_MARKERS.get(data)
        if kind is not None:
            return lambda: self.readVector(kind)
        if data == _AMF3_DICTIONARY:
            return self.readAsDictionary
        if data == pyamf.amf3.TYPE_UNDEFINED:
            return self.readNull
        return pyamf.amf3.Decoder.getTypeFunc(self, data)

    def _readLength(self) -> tuple:
        length, is_reference = pyamf.amf3.Decoder._readLength(self)
        if not is_reference:
            self.budget.size(length, "max_string_bytes", "string")
        return length, is_reference

    def _header(self) -> tuple:
        """(length or count, True) of an inline value, (the value, False) of a reference."""
        ref = self.readInteger(False)
        if ref & 1:
            return ref >> 1, True
        return self.context.getObject(ref >> 1), False

    def readDate(self) -> Any:
        ref, inline = self._header()
        if not inline:
            return ref
        value = self.read_date(self.stream.read_double())
        self.context.addObject(value)
        return value

    def readXML(self) -> Any:
        n, inline = self._header()
        if not inline:
            return n
        value = self.read_xml(n)
        self.context.addObject(value)
        return value

    readXMLString = readXML

    def readByteArray(self) -> Any:
        n, inline = self._header()
        if not inline:
            return n
        value = AsByteArray(self.stream.read(self.budget.size(n, "max_bytearray_bytes",
                                                              "ByteArray")))
        self.context.addObject(value)
        return value

    def readArray(self) -> Any:
        start = self.stream.tell()
        n, inline = self._header()
        if not inline:
            return n
        self.budget.count(n)
        slot = len(self.context._objects)
        self.stream.seek(start)
        array = pyamf.amf3.Decoder.readArray(self)
        if type(array) is pyamf.MixedArray:
            self.budget.members(len(array) - n)
            array = dict(array)
            self.context.setObject(slot, array)
        return array

    def readVector(self, kind: str) -> AsVector:
        n, inline = self._header()
        if not inline:
            return n
        fixed = self.stream.read_uchar() != 0
        if kind == "object":
            class_name = self.readString()
            self.budget.count(n)
            vector = AsVector((), "object", fixed, class_name)
            self.context.addObject(vector)
            for _ in range(n):
                vector.append(self.readElement())
            return vector
        code, size = _VECTOR_FORMATS[kind]
        self.budget.count(n, size)
        vector = AsVector(struct.unpack(f">{n}{code}", self.stream.read(n * size)), kind, fixed)
        self.context.addObject(vector)
        return vector

    def readAsDictionary(self) -> AsDictionary:
        n, inline = self._header()
        if not inline:
            return n
        value = AsDictionary(weak_keys=self.stream.read_uchar() != 0)
        self.budget.count(n, 2)
        self.context.addObject(value)
        for _ in range(n):
            at = self.stream.tell()
            key = self.readElement()
            try:
                value[key] = self.readElement()
            except TypeError:
                raise DecodeError(f"Dictionary key of type {type(key).__name__} cannot be a "
                                  "Python dict key", at) from None
        return value

    def _getClassDefinition(self, ref: int) -> Any:
        # py3amf looks aliases up in its global registry and imports modules they name.
        if not ref & 1:
            return self.context.getClassByReference(ref >> 1)
        ref >>= 1
        at = self.stream.tell()
        name = self.readString()
        external = bool(ref & 1)
        names = []
        if not external:
            names = [self.readString() for _ in range(self.budget.count(ref >> 2))]
        alias = self.codec.trait_alias(name, names, bool(ref & 2), external, at)
        class_def = pyamf.amf3.ClassDefinition(alias)
        class_def.encoding = ref & 0x03
        class_def.attr_len = len(names)
        class_def.static_properties = names
        self.context.addClass(class_def, alias.klass)
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

    def __init__(self, stream: Any, codec: "PyAmfCodec", budget: _Budget):
        pyamf.amf0.Decoder.__init__(self, stream, context=_Amf0Context(codec))
        self.codec = codec
        self.budget = budget

    def getTypeFunc(self, data: bytes) -> Any:
        if data == pyamf.amf0.TYPE_UNDEFINED:
            return self.readNull
        return pyamf.amf0.Decoder.getTypeFunc(self, data)

    def readNumber(self) -> float:
        return self.stream.read_double()

    def readString(self, bytes: bool = False) -> Any:
        raw = self.stream.read(self.budget.size(self.stream.read_ushort(), "max_string_bytes",
                                                "string"))
        return raw if bytes else self.context.getStringForBytes(raw)

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

    def readMixedArray(self) -> Any:
        self.stream.read_ulong()  # the count is only a hint
        slot = len(self.context._objects)
        obj = self.readObject()
        # Ruffle sends every dense Array this way, keys "0".."n-1".
        if all(str(index) in obj for index in range(len(obj))):
            items: list = []
            # An item that referred to the array while it was read is the array itself.
            items.extend(items if obj[str(index)] is obj else obj[str(index)]
                         for index in range(len(obj)))
            self.context.setObject(slot, items)
            return items
        return obj


# ============================================================================ encoding


def _coerced(t: type) -> Any:
    """How a value of type ``t`` travels as a plainer one (enum, int/float/str subclass)."""
    if issubclass(t, enum.Enum):
        return lambda value: value.value
    if issubclass(t, int):
        return int
    if issubclass(t, (float, decimal.Decimal)):
        return float
    if issubclass(t, str):
        return str
    return None


class _Writing:
    """What both encoders add to py3amf's: exact doubles, amfast's dates and objects."""

    def writeNumber(self, n: Any) -> None:
        # py3amf writes every NaN as one bit pattern; amfast keeps the value's.
        self.stream.write(self.NUMBER + _DOUBLE.pack(float(n)))

    def write_object(self, value: Any, alias: Any) -> None:
        """py3amf's writeObject, the object described by ``alias`` (see the contexts)."""
        self.context.writing = alias
        self.writeObject(value)

    def write_typed(self, value: Any, static_attrs: tuple = ()) -> None:
        extra = any(key not in static_attrs for key in value)
        key = (value.alias, static_attrs, bool(getattr(value, "dynamic", True) or extra))
        alias = self.context.typed.get(key)
        if alias is None:
            alias = self.context.typed[key] = _ObjectAlias(*key)
        self.write_object(value, alias)

    def write_anonymous(self, value: Any) -> None:
        self.write_object(value, _ANONYMOUS)

    def write_coerced(self, convert: Any) -> Any:
        return lambda value: self.writeElement(convert(value))


class Amf3Encoder(_Writing, pyamf.amf3.Encoder):
    """py3amf's AMF3 encoder writing amfast's values as amfast's codec does."""

    NUMBER = pyamf.amf3.TYPE_NUMBER

    def __init__(self, stream: Any, codec: "PyAmfCodec"):
        pyamf.amf3.Encoder.__init__(self, stream, context=_Amf3Context())
        self.codec = codec
        self._held: dict = {}

    def getTypeFunc(self, data: Any) -> Any:
        t = type(data)
        codec = self.codec
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
            return lambda value: self.write_aliased(value, alias)
        if issubclass(t, (TypedObject, pyamf.TypedObject)):
            return lambda value: self.write_typed(value, tuple(getattr(value, "static_attrs",
                                                                       ())))
        if issubclass(t, AsDictionary):
            return self.writeAsDictionary
        if issubclass(t, AsVector):
            return self.writeVector
        if issubclass(t, (bytes, bytearray, memoryview, pyamf.amf3.ByteArray)):
            return self.writeByteArray
        convert = _coerced(t)
        if convert is not None:
            return self.write_coerced(convert)
        if issubclass(t, dict):
            if codec.use_proxies:
                return self.write_object_proxy
            return lambda value: self.write_anonymous(dict(value))
        if issubclass(t, (list, tuple)):
            return self.write_collection if codec.use_collections else self.writeList
        if issubclass(t, (set, frozenset)):
            return self.write_coerced(list)
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

    def _referenced(self, value: Any) -> bool:
        """Write a reference if ``value`` was written before; else enter it in the table."""
        index = self.context.getObjectReference(value)
        if index != -1:
            self._writeInteger(index << 1)
            return True
        self.context.addObject(value)
        return False

    def writeVector(self, value: AsVector) -> None:
        kind = value.type
        self.stream.write(_VECTOR_KIND_MARKERS[kind])
        if self._referenced(value):
            return
        self._writeInteger((len(value) << 1) | 1)
        self.stream.write_uchar(1 if value.fixed else 0)
        if kind == "object":
            self.serialiseString("*" if value.class_name is None else value.class_name)
            for item in value:
                self.writeElement(item)
            return
        code, _ = _VECTOR_FORMATS[kind]
        try:
            items = [item if isinstance(item, (int, float)) else None for item in value] \
                if kind == "double" else [operator.index(item) for item in value]
            self.stream.write(struct.pack(f">{len(items)}{code}", *items))
        except (struct.error, TypeError, OverflowError):
            raise EncodeError(f"a value of {value!r:.100} does not fit a Vector.<{kind}>") \
                from None

    def writeAsDictionary(self, value: AsDictionary) -> None:
        self.stream.write(_AMF3_DICTIONARY)
        if self._referenced(value):
            return
        self._writeInteger((len(value) << 1) | 1)
        self.stream.write_uchar(1 if getattr(value, "weak_keys", False) else 0)
        for key, item in value.items():
            self.writeElement(key)
            self.writeElement(item)

    def write_aliased(self, value: Any, alias: Any) -> None:
        if isinstance(alias, ClassDefAlias) and alias.external:
            value = self._holding(value, alias)
        self.write_object(value, alias)

    def _holding(self, value: Any, alias: ClassDefAlias) -> _Held:
        """One stand-in per object, so that py3amf references it when it comes again."""
        held = self._held.get(id(value))
        if held is None:
            held = self._held[id(value)] = _Held(alias, value)
        return held

    def write_proxy(self, value: Any, collection: bool) -> None:
        self.write_aliased(value, _PROXY_ALIASES[ARRAY_COLLECTION_ALIAS if collection
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
    """py3amf's AMF0 encoder writing amfast's values as amfast's codec does.

    With ``use_amf3`` every value is written as an AMF3 switch (marker 0x11).
    """

    NUMBER = pyamf.amf0.TYPE_NUMBER

    def __init__(self, stream: Any, codec: "PyAmfCodec", use_amf3: bool = False):
        pyamf.amf0.Encoder.__init__(self, stream, context=_Amf0Context(codec))
        self.codec = codec
        self.use_amf3 = use_amf3

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
        if alias is not None:
            if alias.amf3:
                return self.writeAMF3
            return lambda value: self.write_object(value, alias)
        if issubclass(t, (TypedObject, pyamf.TypedObject)):
            return self.write_typed
        if issubclass(t, (AsVector, AsDictionary, bytes, bytearray, memoryview,
                          pyamf.amf3.ByteArray)):
            return self.writeAMF3
        convert = _coerced(t)
        if convert is not None:
            return self.write_coerced(convert)
        if issubclass(t, dict):
            return self.write_anonymous
        if issubclass(t, (list, tuple, set, frozenset)):
            return self.writeList
        if issubclass(t, datetime.date):
            return self.writeDate
        if issubclass(t, (AsProxy, AsNoProxy)):
            return lambda value: self.writeElement(value.source)
        if t is pyamf.UndefinedType:
            return self.writeUndefined
        if is_xml(data):
            return self.writeXML
        return self.write_anonymous

    def serialiseString(self, s: str) -> None:
        raw = self.context.getBytesForString(s)
        if len(raw) > 0xFFFF:
            raise EncodeError(f"name of {len(raw)} bytes is too long for AMF0 (65535 at most)")
        self.stream.write_ushort(len(raw))
        self.stream.write(raw)

    def writeDate(self, value: datetime.date) -> None:
        self.stream.write(pyamf.amf0.TYPE_DATE + _DOUBLE.pack(epoch_from_date(value))
                          + b"\x00\x00")

    def writeXML(self, value: Any) -> None:
        data = xml_to_string(value).encode("utf-8")
        self.stream.write(pyamf.amf0.TYPE_XML + struct.pack(">I", len(data)) + data)


# ============================================================================ contexts


def _bad_reference(kind: str, index: int, size: int) -> pyamf.ReferenceError:
    return pyamf.ReferenceError(f"{kind} reference {index} points past the {size} entries "
                                "read so far")


class _Amf3Context(pyamf.amf3.Context):
    """py3amf's AMF3 tables, with amfast's rules.

    Reading: a reference past a table is an error (py3amf gives None), and the
    slot of an ArrayCollection/ObjectProxy holds the value it wraps.  Writing:
    py3amf looks traits up by the class written; here by the alias being
    written (``writing``), as amfast keeps one trait per ClassDef or typed alias.
    """

    #: The alias of the object being written.
    writing: Any = None
    #: The slot of a proxy whose value is being read: the value's own slot is its too.
    proxy_slot: int | None = None

    def clear(self) -> None:
        pyamf.amf3.Context.clear(self)
        self.typed: dict = {}

    def getObject(self, ref: int) -> Any:
        if ref >= len(self._objects):
            raise _bad_reference("object", ref, len(self._objects))
        return self._objects.list[ref]

    def getString(self, ref: int) -> bytes:
        if ref >= len(self.strings):
            raise _bad_reference("string", ref, len(self.strings))
        return self.strings.list[ref]

    def getClassByReference(self, ref: int) -> Any:
        class_def = self.class_ref.get(ref)
        if class_def is None:
            raise _bad_reference("trait", ref, len(self.class_ref))
        return class_def

    def addObject(self, obj: Any) -> int:
        if self.proxy_slot is not None:
            self._objects.list[self.proxy_slot] = obj
            self.proxy_slot = None
        return pyamf.amf3.Context.addObject(self, obj)

    def lastSlot(self) -> int:
        return len(self._objects) - 1

    def setObject(self, slot: int, obj: Any) -> None:
        self._objects.list[slot] = obj

    def getClassAlias(self, klass: type) -> Any:
        return self.writing

    def getClass(self, klass: type) -> Any:
        return self.classes.get(self.writing)

    def addClass(self, definition: Any, klass: Any) -> int:
        return pyamf.amf3.Context.addClass(self, definition, self.writing)


class _Amf0Context(pyamf.amf0.Context):
    """py3amf's AMF0 tables, with amfast's class mapping and AMF3 coders.

    ``getClassAlias`` gives the alias of a typed object read (by its name) or
    of the object being written (``writing``).
    """

    writing: Any = None

    def __init__(self, codec: "PyAmfCodec"):
        self.codec = codec
        pyamf.amf0.Context.__init__(self)

    def clear(self) -> None:
        pyamf.amf0.Context.clear(self)
        self.typed: dict = {}

    def getObject(self, ref: int) -> Any:
        if ref >= len(self._objects):
            raise _bad_reference("AMF0 object", ref, len(self._objects))
        return self._objects.list[ref]

    def setObject(self, slot: int, obj: Any) -> None:
        self._objects.list[slot] = obj

    def getClassAlias(self, klass: Any) -> Any:
        if isinstance(klass, str):
            alias = self.codec.mapping.by_alias(klass)
            if alias is None or isinstance(alias, _ProxyAlias):
                return _ObjectAlias(klass)
            return alias
        return self.writing

    def getAMF3Decoder(self, amf0_decoder: Amf0Decoder) -> Amf3Decoder:
        decoder = self.extra.get("amf3_decoder")
        if decoder is None:
            decoder = self.extra["amf3_decoder"] = Amf3Decoder(
                amf0_decoder.stream, self.codec, amf0_decoder.budget)
        return decoder

    def getAMF3Encoder(self, amf0_encoder: Amf0Encoder) -> Amf3Encoder:
        encoder = self.extra.get("amf3_encoder")
        if encoder is None:
            encoder = self.extra["amf3_encoder"] = Amf3Encoder(amf0_encoder.stream, self.codec)
        return encoder


# =============================================================================== codec


class PyAmfCodec:
    """py3amf reading and writing values and packets as amfast's codec does.

    ``class_def_mapper`` maps classes for this codec only (a new ClassDefMapper,
    which knows the Flex messages, when None).  ``use_collections``,
    ``use_proxies``, ``use_legacy_xml`` and ``include_private`` are the
    ``amfast.encoder.Encoder`` options; ``aware_datetimes``, ``xml_type`` and the
    budgets (``max_depth=...``, names and defaults in
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
        self.use_collections = use_collections
        self.use_proxies = use_proxies
        self.use_legacy_xml = use_legacy_xml
        self.include_private = include_private
        self.aware_datetimes = aware_datetimes
        self.xml_type = xml_type
        self.limits = dict(DEFAULT_LIMITS, **limits)

    def trait_alias(self, name: str, names: list, dynamic: bool, external: bool,
                    at: int) -> Any:
        """The alias of an AMF3 object read, by its trait."""
        alias = self.mapping.by_alias(name) if name else None
        if external and alias is None:
            raise DecodeError(f"externalizable class {name!r} is not mapped, so its bytes "
                              "cannot be read", at)
        if alias is None:
            return _ObjectAlias(name, names, dynamic) if name else _ANONYMOUS
        if isinstance(alias, ClassDefAlias) and external != alias.external:
            raise DecodeError(f"class {name!r} arrives with "
                              f"{'externalizable' if external else 'sealed/dynamic'} traits "
                              "that do not match its ClassDef", at)
        return alias

    # -- values ----------------------------------------------------------------------

    def encode(self, value: Any, amf3: bool = False) -> bytes:
        stream = BufferedByteStream()
        encoder = Amf3Encoder(stream, self) if amf3 else Amf0Encoder(stream, self)
        _encoding(encoder.writeElement, value)
        return stream.getvalue()

    def decode(self, raw: Any, amf3: bool = False) -> Any:
        stream = _stream_of(raw)
        budget = _Budget(self, stream)
        decoder = Amf3Decoder(stream, self, budget) if amf3 else Amf0Decoder(stream, self, budget)
        return _decoding(decoder.readElement, stream)

    # -- packets ---------------------------------------------------------------------

    def decode_packet(self, raw: Any) -> Packet:
        """An ``amfast.remoting.Packet``; bodies keep their order and duplicates."""
        stream = _stream_of(raw)
        return _decoding(lambda: self._read_packet(stream), stream)

    def _read_packet(self, stream: Any) -> Packet:
        version = stream.read_ushort()
        if version not in _VERSIONS:
            raise DecodeError(f"unknown AMF packet version {version}", 0)
        budget = _Budget(self, stream)
        decoder = Amf0Decoder(stream, self, budget)
        headers = []
        for _ in range(stream.read_ushort()):
            name = decoder.readString()
            required = stream.read_uchar() != 0
            stream.read_ulong()  # length: clients send wrong values, never trusted
            decoder.context.clear()
            headers.append(Header(name, required, decoder.readElement()))
        messages = []
        for _ in range(stream.read_ushort()):
            target, response = decoder.readString(), decoder.readString()
            stream.read_ulong()
            decoder.context.clear()
            if Message.isRequestTarget(target) and stream.peek() == pyamf.amf0.TYPE_ARRAY:
                stream.read(1)
                body = [decoder.readElement() for _ in range(budget.count(stream.read_ulong()))]
            else:
                body = decoder.readElement()
            messages.append(Message(target, response, body))
        return Packet(version, headers, messages)

    def encode_packet(self, packet: Packet) -> bytes:
        """The bytes amfast's codec writes for ``packet`` (AMF3 bodies for AMF3 clients)."""
        stream = BufferedByteStream()
        _encoding(self._write_packet, packet, stream)
        return stream.getvalue()

    def _write_packet(self, packet: Packet, stream: Any) -> None:
        encoder = Amf0Encoder(stream, self, use_amf3=packet.is_amf3)
        stream.write_ushort(packet.client_type or 0)
        stream.write_ushort(len(packet.headers))
        for header in packet.headers:
            encoder.serialiseString(header.name)
            stream.write_uchar(1 if header.required else 0)
            encoder.context.clear()
            _with_length(stream, encoder.writeElement, header.value)
        stream.write_ushort(len(packet.messages))
        for message in packet.messages:
            encoder.serialiseString("null" if message.target is None else message.target)
            encoder.serialiseString("null" if message.response is None else message.response)
            encoder.context.clear()
            if message.is_request and isinstance(message.body, (list, tuple)):
                _with_length(stream, _write_arguments, encoder, message.body)
            else:
                _with_length(stream, encoder.writeElement, message.body)


def _write_arguments(encoder: Amf0Encoder, args: Any) -> None:
    """A call's arguments: a strict array that takes no reference slot (as amfast's codec)."""
    encoder.stream.write(pyamf.amf0.TYPE_ARRAY + struct.pack(">I", len(args)))
    for arg in args:
        encoder.writeElement(arg)


def _with_length(stream: Any, write: Any, *args: Any) -> None:
    """A u32 length, then what ``write(*args)`` writes, the length patched in."""
    at = stream.tell()
    stream.write_ulong(0)
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
    except (IOError, pyamf.EOStream):
        raise DecodeError("data ends early", stream.tell()) from None
    except Exception as exc:
        raise DecodeError(f"{type(exc).__name__}: {exc}", stream.tell()) from exc


def _encoding(write: Any, *args: Any) -> None:
    """Run a write; py3amf's own failures become amfast's EncodeError (user errors pass)."""
    try:
        write(*args)
    except RecursionError:
        raise EncodeError("value nested too deeply") from None
    except (pyamf.BaseError, OverflowError, UnicodeEncodeError) as exc:
        raise EncodeError(f"{type(exc).__name__}: {exc}") from exc


# ========================================================================== conversion


def packet_to_amfast(envelope: pyamf.remoting.Envelope) -> Packet:
    """A ``pyamf.remoting.Envelope`` as an ``amfast.remoting.Packet``."""
    headers = [Header(name, envelope.headers.is_required(name), value)
               for name, value in envelope.headers.items()]
    messages = [message_to_amfast(name, message) for name, message in envelope.bodies]
    version = envelope.amfVersion
    if version not in _VERSIONS:
        version = Packet.FLASH_8
    return Packet(version, headers, messages)


def message_to_amfast(name: str, message: Any) -> Message:
    """A ``pyamf.remoting.Request``/``Response`` (under its envelope name) as a Message."""
    if isinstance(message, pyamf.remoting.Response):
        return Message(f"{name}{pyamf.remoting.STATUS_CODES[message.status]}",
                       getattr(message, "amfast_response", "null"), message.body)
    return Message(message.target, name, message.body)


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
