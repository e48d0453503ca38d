"""Python stand-ins for ActionScript types that have no natural Python twin."""
from __future__ import annotations

from typing import Any, Iterable

from amfast import AmFastError


class AsByteArray(bytes):
    """A flash.utils.ByteArray.

    Decoded ByteArrays come back as this ``bytes`` subclass.  AmFast's
    ``AsByteArray(data).bytes`` attribute keeps working.
    """

    __slots__ = ()

    @property
    def bytes(self) -> bytes:
        return bytes(self)


class AsProxy:
    """Encode ``source`` as an ArrayCollection (sequences) or ObjectProxy (others) in AMF3."""

    __slots__ = ("source",)

    def __init__(self, source: Any = None):
        self.source = source


class AsNoProxy:
    """Encode ``source`` as a plain Array/Object even when collections or proxies are on."""

    __slots__ = ("source",)

    def __init__(self, source: Any = None):
        self.source = source


class AsError(AmFastError):
    """An ActionScript ``Error`` object (alias ``Error``), as sent in NetConnection faults."""

    APPLICATION_ERROR = 5000

    def __init__(self, message: str = "", exc: BaseException | None = None):
        if exc is not None:
            self.name = type(exc).__name__
            self.message = str(exc)
        else:
            self.name = type(self).__name__
            self.message = message
        self.errorId = self.APPLICATION_ERROR
        AmFastError.__init__(self, self.message)


class TypedObject(dict):
    """A typed object whose alias no ClassDef maps.

    The members are the dict's items; the alias, the sealed member names and the
    dynamic flag are kept so the value encodes again as it was received.
    """

    __slots__ = ("alias", "static_attrs", "dynamic")

    def __init__(self, alias: str, static_attrs: Iterable[str] = (), dynamic: bool = True,
                 *args: Any, **kwargs: Any):
        dict.__init__(self, *args, **kwargs)
        self.alias = alias
        self.static_attrs = tuple(static_attrs)
        self.dynamic = dynamic

    def __repr__(self) -> str:
        return f"TypedObject({self.alias!r}, {dict.__repr__(self)})"


class AsVector(list):
    """An AS3 ``Vector``: ``type`` is 'int', 'uint', 'double' or 'object'.

    ``class_name`` is the element type of an object vector ('*' for any; kept as
    received, Royale sends '' for some).
    """

    __slots__ = ("type", "fixed", "class_name")

    TYPES = ("int", "uint", "double", "object")

    def __init__(self, items: Iterable[Any] = (), type: str = "object", fixed: bool = False,
                 class_name: str = "*"):
        if type not in self.TYPES:
            raise ValueError(f"unknown Vector type {type!r}")
        list.__init__(self, items)
        self.type = type
        self.fixed = fixed
        self.class_name = class_name

    def __repr__(self) -> str:
        return f"AsVector({list.__repr__(self)}, type={self.type!r})"


class AsDictionary(dict):
    """An AS3 ``flash.utils.Dictionary``: keys may be any value, not only strings.

    Decoded, a key that is an object (anything but null, a boolean, a number or a
    string) is an ``IdentityKey`` holding it.
    """

    __slots__ = ("weak_keys",)

    def __init__(self, *args: Any, weak_keys: bool = False, **kwargs: Any):
        dict.__init__(self, *args, **kwargs)
        self.weak_keys = weak_keys


class IdentityKey:
    """An object used as a key of an ``AsDictionary``: hashed and compared by identity.

    ActionScript's Dictionary tells object keys apart by identity, whatever they
    hold.  A decoded Dictionary wraps every key that is an object (typed, anonymous,
    array, date, ByteArray, XML, Vector, Dictionary) in one, so two objects with equal
    contents stay two keys, and dicts, lists and unhashable classes can be keys at all.
    ``value`` is the object itself (referenced from elsewhere in the value, it is the
    same object); an IdentityKey encodes as ``value``.  Look a key up with
    ``IdentityKey(obj)``, or with ``obj`` itself when its class keeps ``object``'s
    hash and equality.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __hash__(self) -> int:
        # object's identity hash, even for classes that hash by value or not at all.
        return object.__hash__(self.value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdentityKey):
            return other.value is self.value
        return other is self.value

    def __repr__(self) -> str:
        return f"IdentityKey({self.value!r})"


def dictionary_key(key: Any) -> Any:
    """A decoded Dictionary key as a Python dict key: a primitive as it is, an object
    wrapped in an ``IdentityKey``."""
    if key is None or type(key) in _PRIMITIVE_KEYS:
        return key
    return IdentityKey(key)


_PRIMITIVE_KEYS = (str, int, float, bool)
