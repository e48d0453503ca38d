"""Class mapping: how Python classes travel as ActionScript typed objects."""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Iterator, Mapping

from amfast import AmFastError
from amfast.class_def.as_types import AsError


class ClassDefError(AmFastError):
    """A class definition is missing or misused."""


ARRAY_COLLECTION_ALIAS = "flex.messaging.io.ArrayCollection"
OBJECT_PROXY_ALIAS = "flex.messaging.io.ObjectProxy"


def _data_descriptor_names(class_: type) -> frozenset:
    """Names that a plain ``__dict__`` update would shadow (properties, slots)."""
    names = set()
    for klass in class_.__mro__:
        for name, attr in vars(klass).items():
            if hasattr(type(attr), "__set__"):
                names.add(name)
    return frozenset(names)


class ClassDef:
    """Maps a Python class to a sealed ActionScript class.

    ``alias`` defaults to the class attribute ``_AMFAST_ALIAS``, else
    ``module.ClassName``; ``static_attrs`` to ``_AMFAST_STATIC_ATTRS``, else
    ``()``; ``amf3`` (encode as AMF3 even inside AMF0) to ``_AMFAST_AMF3``,
    else True.  ``encode_types``/``decode_types`` map attribute names to
    one-argument callables applied to the value on the way out / in.
    """

    CLASS_DEF = True
    #: None, or a function of an instance giving a hashable key (or None): instances with
    #: the same key stand for one thing (an ORM row), written once in a message and then
    #: as references to it, so the other side gets one object.
    referenceKey: Callable[[Any], Any] | None = None

    def __init__(self, class_: type, alias: str | None = None, static_attrs=None,
                 amf3: bool | None = None, encode_types: Mapping[str, Callable] | None = None,
                 decode_types: Mapping[str, Callable] | None = None, _built_in: bool = False):
        self.class_ = class_
        self._built_in = _built_in
        if alias is None:
            alias = getattr(class_, "_AMFAST_ALIAS", None)
            if alias is None:
                alias = f"{class_.__module__}.{class_.__name__}"
        self.alias = alias
        if static_attrs is None:
            static_attrs = getattr(class_, "_AMFAST_STATIC_ATTRS", ())
        self.static_attrs = tuple(static_attrs)
        if amf3 is None:
            amf3 = getattr(class_, "_AMFAST_AMF3", True)
        self.amf3 = bool(amf3)
        self.encode_types = dict(encode_types) if encode_types else None
        self.decode_types = dict(decode_types) if decode_types else None
        self._descriptors = _data_descriptor_names(class_)

    def getStaticAttrVals(self, obj: Any) -> list:
        """Values of the sealed attributes, in ``static_attrs`` order (None when missing)."""
        return [getattr(obj, attr, None) for attr in self.static_attrs]

    def getInstance(self) -> Any:
        """A new, uninitialised instance: ``__init__`` is not called."""
        return self.class_.__new__(self.class_)

    def applyAttrVals(self, obj: Any, vals: dict) -> None:
        """Set decoded attributes without running a custom ``__setattr__``."""
        if not self._descriptors.isdisjoint(vals) or not hasattr(obj, "__dict__"):
            for name, val in vals.items():
                object.__setattr__(obj, name, val)
        else:
            obj.__dict__.update(vals)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.class_.__name__}, alias={self.alias!r})"


class DynamicClassDef(ClassDef):
    """A class whose instances also carry dynamic (unlisted) attributes."""

    DYNAMIC_CLASS_DEF = True

    def __init__(self, class_: type, alias: str | None = None, static_attrs=None,
                 amf3: bool | None = True, encode_types=None, decode_types=None,
                 include_private: bool | None = None, _built_in: bool = False):
        ClassDef.__init__(self, class_, alias, static_attrs, amf3, encode_types,
                          decode_types, _built_in)
        self.include_private = include_private

    def getDynamicAttrVals(self, obj: Any, include_private: bool = False) -> dict:
        """Instance attributes that are not sealed; ``_private`` ones only when asked."""
        if self.include_private is not None:
            include_private = self.include_private
        return get_dynamic_attr_vals(obj, self.static_attrs, include_private)


class ExternClassDef(ClassDef):
    """A class that writes and reads its own bytes (``IExternalizable``).

    Override ``writeExternal(obj, context)`` and ``readExternal(obj, context)``.
    Inside them ``context.write(raw)``/``context.read(n)`` move raw bytes and
    ``amfast.encode.encode(val, context)``/``amfast.decode.decode(context)``
    move AMF3 values sharing the reference tables.
    """

    EXTERNALIZABLE_CLASS_DEF = True

    def __init__(self, class_: type, alias: str | None = None, static_attrs=None,
                 _built_in: bool = False):
        ClassDef.__init__(self, class_, alias, static_attrs, True, None, None, _built_in)

    def writeExternal(self, obj: Any, context: Any) -> None:
        raise ClassDefError(f"{self!r} must implement writeExternal")

    def readExternal(self, obj: Any, context: Any) -> None:
        raise ClassDefError(f"{self!r} must implement readExternal")


class SequenceClassDef(ClassDef):
    """A class whose instances travel as a list: an Array (an ArrayCollection when the
    encoder uses collections) of ``toList(obj)``.  Only for encoding: its alias is never
    sent, so ``mapClass`` does not map it for decoding."""

    SEQUENCE_CLASS_DEF = True

    def __init__(self, class_: type, to_list: Callable[[Any], list] | None = None):
        ClassDef.__init__(self, class_)
        self._to_list = list if to_list is None else to_list

    def toList(self, obj: Any) -> list:
        """The items to send for ``obj`` (default: ``list(obj)``)."""
        return self._to_list(obj)


class _ProxyClassDef(ExternClassDef):
    """Flex ArrayCollection/ObjectProxy: unwrapped to the inner value by the codec."""

    PROXY_CLASS_DEF = True

    def __init__(self, alias: str):
        ExternClassDef.__init__(self, _ProxyClassDef, alias, _built_in=True)


def get_dynamic_attr_vals(obj: Any, ignore_attrs=None, include_private: bool = False) -> dict:
    """An object's instance attributes as a dict (``{}`` when it has none)."""
    attrs = getattr(obj, "__dict__", None)
    if attrs is None:
        attrs = {}
        for klass in type(obj).__mro__:
            for name in getattr(klass, "__slots__", ()):
                if name not in attrs and hasattr(obj, name):
                    attrs[name] = getattr(obj, name)
    ignore = set(ignore_attrs or ())
    return {name: val for name, val in attrs.items()
            if name not in ignore and (include_private or not name.startswith("_"))}


def alias_function(aliases: Mapping[type, str] | Callable[[type], str | None] | None
                   ) -> Callable[[type], str | None]:
    """A class's alias as the helpers that map many classes take it: a mapping (classes it
    lacks keep the default alias), a function of the class, or None (every default)."""
    if aliases is None:
        return lambda class_: None
    if callable(aliases) and not isinstance(aliases, Mapping):
        return aliases
    return dict(aliases).get


def assign_attrs(class_: type, alias: str | None = None, static_attrs=None,
                 amf3: bool | None = None) -> None:
    """Store mapping defaults on a class, for ``ClassDef(class_)`` to pick up."""
    if alias is not None:
        class_._AMFAST_ALIAS = alias
    if static_attrs is not None:
        class_._AMFAST_STATIC_ATTRS = tuple(static_attrs)
    if amf3 is not None:
        class_._AMFAST_AMF3 = amf3


#: ClassDefs every mapper knows, registered by the layers that own the classes (the Flex
#: messages register theirs when amfast.remoting is imported): alias -> ClassDef, class ->
#: ClassDef.  A mapper's own mappings take precedence.
_shared_by_alias: dict[str, ClassDef] = {}
_shared_by_class: dict[type, ClassDef] = {}
#: Bumped by every registration, so mappers drop lookups they cached before it.
_shared_generation = 0
_shared_lock = threading.Lock()


def register_shared_class_defs(class_defs: Iterable[ClassDef]) -> None:
    """Make ``class_defs`` known to every ClassDefMapper, existing and future.

    For classes that travel in every conversation of some protocol (the Flex
    messages); user classes are mapped per mapper with ``mapClass``.
    """
    global _shared_generation
    with _shared_lock:
        for class_def in class_defs:
            if not isinstance(class_def, ClassDef):
                raise ClassDefError(f"not a ClassDef: {class_def!r}")
            _shared_by_alias[class_def.alias] = class_def
            _shared_by_class[class_def.class_] = class_def
        _shared_generation += 1


class ClassDefMapper:
    """The registry of ClassDefs, looked up by class (for encoding) and by alias (decoding).

    Only aliases mapped here, or registered for every mapper with
    ``register_shared_class_defs``, become Python classes when decoding; nothing is
    ever imported or looked up because of a name in the input.
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._by_class: dict[type, ClassDef] = {}
        self._by_alias: dict[str, ClassDef] = {}
        self._class_cache: dict[type, ClassDef | None] = {}
        self._cache_generation = _shared_generation
        self._map_built_ins()

    def _map_built_ins(self) -> None:
        for alias in (ARRAY_COLLECTION_ALIAS, OBJECT_PROXY_ALIAS):
            self._by_alias[alias] = _ProxyClassDef(alias)
        self.mapClass(ClassDef(AsError, "Error", ("errorId", "name", "message"), amf3=False,
                               _built_in=True))

    def mapClass(self, class_def: ClassDef) -> None:
        """Map ``class_def.class_`` to ``class_def.alias`` (replacing earlier mappings)."""
        if not isinstance(class_def, ClassDef):
            raise ClassDefError(f"not a ClassDef: {class_def!r}")
        with self._lock:
            replaced = self._by_class.get(class_def.class_)
            if replaced is not None and self._by_alias.get(replaced.alias) is replaced:
                del self._by_alias[replaced.alias]
            self._by_class[class_def.class_] = class_def
            if not isinstance(class_def, SequenceClassDef):
                self._by_alias[class_def.alias] = class_def
            self._class_cache = {}

    def unmapClass(self, class_: type) -> None:
        """Remove the mapping of ``class_`` (by class and by alias)."""
        with self._lock:
            class_def = self._by_class.pop(class_, None)
            if class_def is None:
                raise ClassDefError(f"class {class_!r} is not mapped")
            if self._by_alias.get(class_def.alias) is class_def:
                del self._by_alias[class_def.alias]
            self._class_cache = {}

    def getClassDefByClass(self, class_: type) -> ClassDef | None:
        """The ClassDef of ``class_`` or of its nearest mapped base class, else None."""
        if self._cache_generation == _shared_generation:
            try:
                return self._class_cache[class_]
            except KeyError:
                pass
        with self._lock:
            if self._cache_generation != _shared_generation:
                self._class_cache = {}
                self._cache_generation = _shared_generation
            found = None
            for klass in class_.__mro__:
                found = self._by_class.get(klass) or _shared_by_class.get(klass)
                if found is not None:
                    break
            self._class_cache[class_] = found
            return found

    def getClassDefByAlias(self, alias: str) -> ClassDef | None:
        found = self._by_alias.get(alias)
        return found if found is not None else _shared_by_alias.get(alias)

    def __iter__(self) -> Iterator[ClassDef]:
        """This mapper's ClassDefs, then the shared ones it does not replace."""
        own = list(self._by_class.values())
        mapped = set(self._by_class)
        return iter(own + [d for c, d in list(_shared_by_class.items()) if c not in mapped])
