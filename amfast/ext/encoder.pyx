# cython: language_level=3
"""AMF0/AMF3 encoder: Python values -> bytes, written into one growable C buffer."""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.datetime cimport (
    import_datetime, PyDateTime_GET_YEAR, PyDateTime_GET_MONTH, PyDateTime_GET_DAY,
    PyDateTime_DATE_GET_HOUR, PyDateTime_DATE_GET_MINUTE, PyDateTime_DATE_GET_SECOND,
    PyDateTime_DATE_GET_MICROSECOND, PyDateTime_DELTA_GET_DAYS, PyDateTime_DELTA_GET_SECONDS,
    PyDateTime_DELTA_GET_MICROSECONDS, PyDateTime_CheckExact, PyDate_Check, PyDateTime_Check)
from cpython.dict cimport PyDict_Next
from cpython.object cimport PyObject
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy

from amfast.ext.amf cimport *

import datetime as _datetime
import decimal as _decimal
import enum as _enum
import operator as _operator
import types as _types

from amfast import AmFastError
from amfast.class_def import (
    ClassDef, ClassDefMapper, DynamicClassDef, ExternClassDef, SequenceClassDef, _ProxyClassDef,
    get_dynamic_attr_vals, ARRAY_COLLECTION_ALIAS, OBJECT_PROXY_ALIAS)
from amfast.class_def.as_types import (
    AsDictionary, AsNoProxy, AsProxy, AsVector, IdentityKey, TypedObject)
from amfast.xml_values import is_xml, xml_to_string

import_datetime()

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    long long PyLong_AsLongLongAndOverflow(object v, int *overflow) except? -1


class EncodeError(AmFastError):
    """A value cannot be encoded as AMF."""


# Values the encoder must never turn into an anonymous object.
_REFUSED_TYPES = (type, _types.ModuleType, _types.FunctionType, _types.BuiltinFunctionType,
                  _types.MethodType, _types.CodeType, _types.FrameType, _types.GeneratorType)
_DEFAULT_GET_STATIC = ClassDef.getStaticAttrVals
_UTC = _datetime.timezone.utc
_DEFAULT_GET_DYNAMIC = DynamicClassDef.getDynamicAttrVals


cdef class _Trait:
    """How one class is written in AMF3, cached per context."""
    cdef object class_def        # None for TypedObject and anonymous objects
    cdef str alias
    cdef tuple static_attrs
    cdef bint dynamic
    cdef bint external
    cdef bint fast_static        # getStaticAttrVals is ClassDef's: read attributes directly
    cdef object encode_types     # dict or None
    cdef object reference_key    # the ClassDef's referenceKey, or None
    cdef Py_ssize_t ref          # trait table index in this context, -1 until written


cdef _Trait _make_trait(object class_def, str alias, tuple static_attrs, bint dynamic,
                        bint external):
    cdef _Trait t = _Trait.__new__(_Trait)
    t.class_def = class_def
    t.alias = alias
    t.static_attrs = static_attrs
    t.dynamic = dynamic
    t.external = external
    t.ref = -1
    t.fast_static = False
    t.encode_types = None
    t.reference_key = None
    if class_def is not None:
        t.fast_static = type(class_def).getStaticAttrVals is _DEFAULT_GET_STATIC
        t.encode_types = class_def.encode_types
        t.reference_key = class_def.referenceKey
    return t


cdef class EncoderContext:
    """Output, options and reference tables of an encoding.

    ``amfast.encode.encode(value, context)`` appends an encoded value; called
    again, the next value follows, sharing the reference tables.  ``buffer``,
    when given, is a file-like object (anything with ``write``): the bytes of
    each top-level ``encode``/``encode_packet`` call are written to it when
    the call ends; without one they stay in the context (``getvalue()``).
    ``write(raw)`` appends raw bytes (for ``ExternClassDef.writeExternal``).
    """
    cdef unsigned char* data
    cdef Py_ssize_t length       # bytes held, not yet written to ``output``
    cdef Py_ssize_t capacity
    cdef object output           # the file-like ``buffer`` given, or None
    cdef Py_ssize_t flushed      # bytes already written to ``output``
    cdef int calls               # entry points running (writeExternal nests them)
    cdef public bint amf3
    cdef public bint use_collections
    cdef public bint use_proxies
    cdef public bint use_references
    cdef public bint use_legacy_xml
    cdef public bint include_private
    cdef public object class_def_mapper
    cdef dict refs0              # AMF0 object table: id -> index
    cdef Py_ssize_t n_refs0
    cdef dict obj_refs           # AMF3 object table: id -> index
    cdef Py_ssize_t n_obj_refs
    cdef dict str_refs           # AMF3 string table: str -> index
    cdef Py_ssize_t n_traits
    cdef dict traits             # class (or trait key) -> _Trait
    cdef list keep               # keeps referenced values alive so their ids stay unique
    cdef int depth

    def __cinit__(self):
        self.data = NULL
        self.length = 0
        self.capacity = 0

    def __init__(self, buffer=None, class_def_mapper=None, bint amf3=False,
                 bint use_collections=False, bint use_proxies=False, bint use_references=True,
                 bint use_legacy_xml=False, bint include_private=False):
        if buffer is not None and not callable(getattr(buffer, "write", None)):
            raise TypeError(f"buffer must be a file-like object with a write method, not "
                            f"{type(buffer).__name__}")
        self.output = buffer
        self.flushed = 0
        self.calls = 0
        self.amf3 = amf3
        self.use_collections = use_collections
        self.use_proxies = use_proxies
        self.use_references = use_references
        self.use_legacy_xml = use_legacy_xml
        self.include_private = include_private
        self.class_def_mapper = ClassDefMapper() if class_def_mapper is None else class_def_mapper
        self.traits = {}
        self.depth = 0
        self.reset_refs()

    def __dealloc__(self):
        free(self.data)

    cdef void reset_refs(self):
        self.refs0 = {}
        self.n_refs0 = 0
        self.obj_refs = {}
        self.n_obj_refs = 0
        self.str_refs = {}
        self.n_traits = 0
        for trait in self.traits.values():
            (<_Trait>trait).ref = -1
        self.keep = []

    cdef int forget_refs(self, Py_ssize_t n_refs0, Py_ssize_t n_obj_refs, Py_ssize_t n_strs,
                         Py_ssize_t n_traits, Py_ssize_t n_keep) except -1:
        """Drop the table entries made since the tables held these counts."""
        if self.n_refs0 > n_refs0:
            self.refs0 = {key: idx for key, idx in self.refs0.items() if idx < n_refs0}
            self.n_refs0 = n_refs0
        if self.n_obj_refs > n_obj_refs:
            self.obj_refs = {key: idx for key, idx in self.obj_refs.items() if idx < n_obj_refs}
            self.n_obj_refs = n_obj_refs
        if len(self.str_refs) > n_strs:
            self.str_refs = {key: idx for key, idx in self.str_refs.items() if idx < n_strs}
        if self.n_traits > n_traits:
            for trait in self.traits.values():
                if (<_Trait>trait).ref >= n_traits:
                    (<_Trait>trait).ref = -1
            self.n_traits = n_traits
        del self.keep[n_keep:]
        return 0

    # -- raw output -------------------------------------------------------

    cdef int grow(self, Py_ssize_t needed) except -1:
        cdef Py_ssize_t cap = self.capacity * 2 if self.capacity else 1024
        cdef unsigned char* new_data
        while cap < self.length + needed:
            cap *= 2
        new_data = <unsigned char*>realloc(self.data, cap)
        if new_data == NULL:
            raise MemoryError()
        self.data = new_data
        self.capacity = cap
        return 0

    cdef inline int put_byte(self, unsigned char b) except -1:
        if self.length + 1 > self.capacity:
            self.grow(1)
        self.data[self.length] = b
        self.length += 1
        return 0

    cdef inline int put_raw(self, const char* raw, Py_ssize_t n) except -1:
        if self.length + n > self.capacity:
            self.grow(n)
        memcpy(self.data + self.length, raw, n)
        self.length += n
        return 0

    cdef inline int put_u16(self, unsigned int v) except -1:
        if self.length + 2 > self.capacity:
            self.grow(2)
        self.data[self.length] = (v >> 8) & 0xFF
        self.data[self.length + 1] = v & 0xFF
        self.length += 2
        return 0

    cdef inline int put_u32(self, unsigned long v) except -1:
        if self.length + 4 > self.capacity:
            self.grow(4)
        self.patch_u32(self.length, v)
        self.length += 4
        return 0

    cdef inline void patch_u32(self, Py_ssize_t at, unsigned long v):
        self.data[at] = (v >> 24) & 0xFF
        self.data[at + 1] = (v >> 16) & 0xFF
        self.data[at + 2] = (v >> 8) & 0xFF
        self.data[at + 3] = v & 0xFF

    cdef inline int put_double(self, double d) except -1:
        if self.length + 8 > self.capacity:
            self.grow(8)
        amf_pack_double(self.data + self.length, d)
        self.length += 8
        return 0

    cdef inline int put_u29(self, unsigned long n) except -1:
        if self.length + 4 > self.capacity:
            self.grow(4)
        cdef unsigned char* p = self.data + self.length
        if n < 0x80:
            p[0] = n
            self.length += 1
        elif n < 0x4000:
            p[0] = (n >> 7) | 0x80
            p[1] = n & 0x7F
            self.length += 2
        elif n < 0x200000:
            p[0] = (n >> 14) | 0x80
            p[1] = ((n >> 7) & 0x7F) | 0x80
            p[2] = n & 0x7F
            self.length += 3
        elif n <= U29_MAX:
            p[0] = ((n >> 22) & 0x7F) | 0x80
            p[1] = ((n >> 15) & 0x7F) | 0x80
            p[2] = ((n >> 8) & 0x7F) | 0x80
            p[3] = n & 0xFF
            self.length += 4
        else:
            raise EncodeError(f"length or count {n} does not fit AMF3's 29 bits")
        return 0

    # -- Python API -------------------------------------------------------

    def write(self, raw) -> None:
        """Append raw bytes."""
        cdef const unsigned char[:] view = raw
        if view.shape[0]:
            self.put_raw(<const char*>&view[0], view.shape[0])

    def tell(self) -> int:
        """Bytes written so far (into ``buffer`` too)."""
        return self.flushed + self.length

    def getvalue(self) -> bytes:
        """The bytes the context holds: everything written so far, or, with a ``buffer``,
        what is not written to it yet."""
        return PyBytes_FromStringAndSize(<char*>self.data, self.length)

    cdef int flush(self) except -1:
        """Write the bytes held to ``output`` (kept when its ``write`` raises)."""
        if self.length:
            self.output.write(PyBytes_FromStringAndSize(<char*>self.data, self.length))
            self.flushed += self.length
            self.length = 0
        return 0

    @property
    def buffer(self):
        """AmFast code writes through ``context.buffer``: the context is its own buffer."""
        return self

    # -- helpers shared by both formats ------------------------------------

    cdef inline int enter(self) except -1:
        self.depth += 1
        if self.depth > DEFAULT_MAX_DEPTH:
            raise EncodeError(
                f"value nested deeper than {DEFAULT_MAX_DEPTH} levels (a cycle with "
                "use_references off?)")
        return 0

    cdef object class_def_of(self, object value):
        return self.class_def_mapper.getClassDefByClass(type(value))

    cdef _Trait trait_of(self, object class_def):
        cdef _Trait t = self.traits.get(class_def)
        if t is None:
            t = _make_trait(class_def, class_def.alias, tuple(class_def.static_attrs),
                            isinstance(class_def, DynamicClassDef),
                            isinstance(class_def, ExternClassDef))
            self.traits[class_def] = t
        return t

    cdef object reference_key(self, _Trait t, object obj):
        """The reference table's key for a mapped object: its identity, or the key its
        ClassDef's ``referenceKey`` gives (objects with one key are written once)."""
        if t.reference_key is not None:
            key = t.reference_key(obj)
            if key is not None:
                return (t.class_def, key)
        return id(obj)

    cdef list static_vals(self, _Trait t, object obj):
        cdef list vals
        if t.fast_static:
            vals = [getattr(obj, name, None) for name in t.static_attrs]
        else:
            vals = t.class_def.getStaticAttrVals(obj)
            # A list of its own is used as it is (ORM ClassDefs build one per object);
            # copied when converted below, in case the ClassDef keeps it.
            if type(vals) is not list or t.encode_types:
                vals = list(vals)
        if t.encode_types:
            for i, name in enumerate(t.static_attrs):
                conv = t.encode_types.get(name)
                if conv is not None:
                    vals[i] = conv(vals[i])
        return vals

    cdef dict dynamic_vals(self, _Trait t, object obj):
        cdef dict vals = t.class_def.getDynamicAttrVals(obj, self.include_private)
        if t.encode_types:
            vals = {name: (t.encode_types[name](val) if name in t.encode_types else val)
                    for name, val in vals.items()}
        return vals

    cdef dict plain_attrs(self, object obj):
        """Attributes of an unmapped instance, sent as an anonymous object."""
        if isinstance(obj, _REFUSED_TYPES) or (
                not hasattr(obj, "__dict__") and not hasattr(type(obj), "__slots__")):
            raise EncodeError(f"cannot encode {type(obj).__name__!s} values as AMF")
        return get_dynamic_attr_vals(obj, None, self.include_private)

    # -- AMF0 ---------------------------------------------------------------

    cdef int amf0_utf8(self, str s) except -1:
        """A UTF-8 string with a u16 length (names, keys, aliases)."""
        cdef Py_ssize_t n
        cdef const char* raw = utf8_of(s, &n)
        if n > 0xFFFF:
            raise EncodeError(f"name of {n} bytes is too long for AMF0 (65535 at most)")
        self.put_u16(n)
        self.put_raw(raw, n)
        return 0

    cdef int amf0_string(self, str s) except -1:
        cdef Py_ssize_t n
        cdef const char* raw = utf8_of(s, &n)
        if n > 0xFFFF:
            if n > 0xFFFFFFFF:
                raise EncodeError("string too long for AMF0")
            self.put_byte(AMF0_LONG_STRING)
            self.put_u32(n)
        else:
            self.put_byte(AMF0_STRING)
            self.put_u16(n)
        self.put_raw(raw, n)
        return 0

    cdef bint amf0_ref(self, object value) except -1:
        """Write a reference if ``value`` was written before; else enter it in the table."""
        return self.amf0_ref_as(value, id(value))

    cdef bint amf0_ref_as(self, object value, object key) except -1:
        """``amf0_ref`` with the table's key for ``value`` (``reference_key``)."""
        if not self.use_references:
            return False
        idx = self.refs0.get(key)
        if idx is not None:
            self.put_byte(AMF0_REFERENCE)
            self.put_u16(idx)
            return True
        if self.n_refs0 < AMF0_MAX_REFERENCE:
            self.refs0[key] = self.n_refs0
            self.keep.append(value)
        self.n_refs0 += 1
        return False

    cdef int amf0_number(self, object value) except -1:
        self.put_byte(AMF0_NUMBER)
        try:
            self.put_double(float(value))
        except OverflowError:
            raise EncodeError(f"int {value} is too large for an AMF number") from None
        return 0

    cdef int amf0_pairs(self, object items) except -1:
        for key, val in items:
            self.amf0_utf8(key if type(key) is str else str(key))
            self.encode0(val)
        self.put_u16(0)
        self.put_byte(AMF0_OBJECT_END)
        return 0

    cdef int amf0_dict(self, object value) except -1:
        if self.amf0_ref(value):
            return 0
        self.enter()
        self.put_byte(AMF0_OBJECT)
        self.amf0_pairs(value.items())
        self.depth -= 1
        return 0

    cdef int amf0_list(self, object value) except -1:
        if self.amf0_ref(value):
            return 0
        self.enter()
        self.put_byte(AMF0_STRICT_ARRAY)
        self.put_u32(len(value))
        for item in value:
            self.encode0(item)
        self.depth -= 1
        return 0

    cdef int amf0_typed(self, str alias, object pairs, object value) except -1:
        if self.amf0_ref(value):
            return 0
        return self.amf0_typed_inline(alias, pairs)

    cdef int amf0_typed_inline(self, str alias, object pairs) except -1:
        self.enter()
        self.put_byte(AMF0_TYPED_OBJECT)
        self.amf0_utf8(alias)
        self.amf0_pairs(pairs)
        self.depth -= 1
        return 0

    cdef int amf0_switch(self, object value) except -1:
        """AMF0 cannot carry ``value``: switch to AMF3 for it (marker 0x11)."""
        self.put_byte(AMF0_AMF3)
        return self.encode3(value)

    cdef int encode0(self, object value) except -1:
        cdef type t = type(value)
        if value is None:
            return self.put_byte(AMF0_NULL)
        if t is str:
            return self.amf0_string(value)
        if t is float or t is int:
            return self.amf0_number(value)
        if t is bool:
            self.put_byte(AMF0_BOOLEAN)
            return self.put_byte(1 if value else 0)
        if t is dict:
            return self.amf0_dict(value)
        if t is list or t is tuple:
            return self.amf0_list(value)
        return self.encode0_other(value)

    cdef int encode0_other(self, object value) except -1:
        cdef _Trait trait
        class_def = self.class_def_of(value)
        if class_def is not None:
            if isinstance(class_def, SequenceClassDef):
                return self.encode0(_listed(class_def.toList(value)))
            if class_def.amf3 or isinstance(class_def, ExternClassDef):
                return self.amf0_switch(value)
            trait = self.trait_of(class_def)
            if self.amf0_ref_as(value, self.reference_key(trait, value)):
                return 0
            pairs = list(zip(trait.static_attrs, self.static_vals(trait, value)))
            if trait.dynamic:
                pairs.extend(self.dynamic_vals(trait, value).items())
            return self.amf0_typed_inline(trait.alias, pairs)
        if isinstance(value, TypedObject):
            return self.amf0_typed((<object>value).alias, value.items(), value)
        if isinstance(value, (AsVector, AsDictionary, bytes, bytearray, memoryview)):
            return self.amf0_switch(value)
        if isinstance(value, bool):
            self.put_byte(AMF0_BOOLEAN)
            return self.put_byte(1 if value else 0)
        if isinstance(value, _enum.Enum):
            return self.encode0(value.value)
        if isinstance(value, (int, float, _decimal.Decimal)):
            return self.amf0_number(value)
        if isinstance(value, str):
            return self.amf0_string(str(value))
        if isinstance(value, dict):
            return self.amf0_dict(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            return self.amf0_list(value)
        if PyDate_Check(value):
            self.put_byte(AMF0_DATE)
            self.put_double(epoch_ms(value))
            return self.put_u16(0)
        if isinstance(value, (AsProxy, AsNoProxy)):
            return self.encode0(value.source)
        if isinstance(value, IdentityKey):
            return self.encode0(value.value)
        if is_xml(value):
            self.put_byte(AMF0_XML)
            return self.amf0_long_utf8(xml_to_string(value))
        if self.amf0_ref(value):
            return 0
        self.enter()
        self.put_byte(AMF0_OBJECT)
        self.amf0_pairs(self.plain_attrs(value).items())
        self.depth -= 1
        return 0

    cdef int amf0_long_utf8(self, str s) except -1:
        cdef Py_ssize_t n
        cdef const char* raw = utf8_of(s, &n)
        self.put_u32(n)
        self.put_raw(raw, n)
        return 0

    # -- AMF3 ---------------------------------------------------------------

    cdef int amf3_str(self, str s) except -1:
        """A string without marker, through the string table."""
        cdef Py_ssize_t n
        cdef const char* raw
        if self.use_references:
            idx = self.str_refs.get(s)
            if idx is not None:
                return self.put_u29((<Py_ssize_t>idx) << 1)
        raw = utf8_of(s, &n)
        if n == 0:
            return self.put_byte(0x01)
        if self.use_references:
            self.str_refs[s] = len(self.str_refs)
        self.put_u29((n << 1) | 1)
        self.put_raw(raw, n)
        return 0

    cdef int amf3_int(self, object value) except -1:
        cdef int overflow = 0
        cdef long long n = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 and AMF3_INT_MIN <= n <= AMF3_INT_MAX:
            self.put_byte(AMF3_INTEGER)
            return self.put_u29(n & U29_MAX)
        self.put_byte(AMF3_DOUBLE)
        try:
            return self.put_double(float(value))
        except OverflowError:
            raise EncodeError(f"int {value} is too large for an AMF number") from None

    cdef bint amf3_ref(self, object value) except -1:
        """Write an object reference if ``value`` was written before; else enter it."""
        return self.amf3_ref_as(value, id(value))

    cdef bint amf3_ref_as(self, object value, object key) except -1:
        """``amf3_ref`` with the table's key for ``value`` (``reference_key``)."""
        if not self.use_references:
            self.n_obj_refs += 1
            return False
        idx = self.obj_refs.get(key)
        if idx is not None:
            self.put_u29((<Py_ssize_t>idx) << 1)
            return True
        self.obj_refs[key] = self.n_obj_refs
        self.n_obj_refs += 1
        self.keep.append(value)
        return False

    cdef int amf3_trait(self, _Trait t) except -1:
        """The object header: a trait reference, or the inline trait."""
        cdef unsigned long header
        if t.ref >= 0:
            return self.put_u29((t.ref << 2) | 1)
        if t.external:
            header = 0x07
        else:
            header = 0x03 | (TRAIT_DYNAMIC if t.dynamic else 0) | (len(t.static_attrs) << 4)
        self.put_u29(header)
        self.amf3_str(t.alias)
        for name in t.static_attrs:
            self.amf3_str(name)
        if self.use_references:
            t.ref = self.n_traits
            self.n_traits += 1
        return 0

    cdef int amf3_dynamic_pairs(self, object items) except -1:
        for key, val in items:
            if type(key) is not str:
                key = str(key)
            if not key:
                raise EncodeError("AMF3 objects cannot carry an empty member name")
            self.amf3_str(key)
            self.encode3(val)
        return self.put_byte(0x01)

    cdef int amf3_dict(self, dict value) except -1:
        cdef PyObject* key
        cdef PyObject* val
        cdef Py_ssize_t pos = 0
        self.put_byte(AMF3_OBJECT)
        if self.amf3_ref(value):
            return 0
        self.enter()
        self.amf3_trait(self.anonymous_trait())
        while PyDict_Next(value, &pos, &key, &val):
            if type(<object>key) is str and len(<str>key):
                self.amf3_str(<str>key)
            else:
                k = str(<object>key)
                if not k:
                    raise EncodeError("AMF3 objects cannot carry an empty member name")
                self.amf3_str(k)
            self.encode3(<object>val)
        self.put_byte(0x01)
        self.depth -= 1
        return 0

    cdef _Trait anonymous_trait(self):
        cdef _Trait t = self.traits.get(None)
        if t is None:
            t = _make_trait(None, "", (), True, False)
            self.traits[None] = t
        return t

    cdef int amf3_list(self, object value) except -1:
        self.put_byte(AMF3_ARRAY)
        if self.amf3_ref(value):
            return 0
        return self.amf3_array_body(value)

    cdef int amf3_array_body(self, object value) except -1:
        self.enter()
        self.put_u29((len(value) << 1) | 1)
        self.put_byte(0x01)
        for item in value:
            self.encode3(item)
        self.depth -= 1
        return 0

    cdef int amf3_proxy(self, object value, bint collection) except -1:
        """ArrayCollection/ObjectProxy: an externalizable wrapper around the value."""
        cdef _Trait t
        self.put_byte(AMF3_OBJECT)
        if self.amf3_ref(value):
            return 0
        alias = ARRAY_COLLECTION_ALIAS if collection else OBJECT_PROXY_ALIAS
        t = self.traits.get(alias)
        if t is None:
            t = _make_trait(None, alias, (), False, True)
            self.traits[alias] = t
        self.amf3_trait(t)
        # The wrapped value takes its own slot in the object table.
        self.n_obj_refs += 1
        if collection:
            self.put_byte(AMF3_ARRAY)
            return self.amf3_array_body(value)
        self.put_byte(AMF3_OBJECT)
        self.enter()
        self.amf3_trait(self.anonymous_trait())
        self.amf3_dynamic_pairs(value.items() if isinstance(value, dict)
                                else self.plain_attrs(value).items())
        self.depth -= 1
        return 0

    cdef int amf3_date(self, object value) except -1:
        self.put_byte(AMF3_DATE)
        if self.amf3_ref(value):
            return 0
        self.put_byte(0x01)
        return self.put_double(epoch_ms(value))

    cdef int amf3_bytes(self, object value) except -1:
        cdef const unsigned char[:] view
        self.put_byte(AMF3_BYTE_ARRAY)
        if self.amf3_ref(value):
            return 0
        view = memoryview(value).cast("B") if isinstance(value, memoryview) else value
        self.put_u29((view.shape[0] << 1) | 1)
        if view.shape[0]:
            self.put_raw(<const char*>&view[0], view.shape[0])
        return 0

    cdef int amf3_xml(self, object value) except -1:
        cdef Py_ssize_t n
        cdef const char* raw
        self.put_byte(AMF3_XML_DOC if self.use_legacy_xml else AMF3_XML)
        if self.amf3_ref(value):
            return 0
        text = xml_to_string(value)  # kept alive while its UTF-8 buffer is read
        raw = utf8_of(text, &n)
        self.put_u29((n << 1) | 1)
        return self.put_raw(raw, n)

    cdef int amf3_vector(self, object value) except -1:
        cdef str kind = value.type
        cdef long long n
        cdef int overflow
        marker = {"int": AMF3_VECTOR_INT, "uint": AMF3_VECTOR_UINT,
                  "double": AMF3_VECTOR_DOUBLE, "object": AMF3_VECTOR_OBJECT}[kind]
        self.put_byte(marker)
        if self.amf3_ref(value):
            return 0
        self.enter()
        self.put_u29((len(value) << 1) | 1)
        self.put_byte(1 if value.fixed else 0)
        if kind == "object":
            self.amf3_str("*" if value.class_name is None else value.class_name)
            for item in value:
                self.encode3(item)
        elif kind == "double":
            for item in value:
                if not isinstance(item, (int, float)):
                    raise EncodeError(f"{item!r} does not fit a Vector.<Number>")
                self.put_double(float(item))
        else:
            for item in value:
                overflow = 0
                try:
                    n = PyLong_AsLongLongAndOverflow(_operator.index(item), &overflow)
                except TypeError:
                    overflow = 1
                if overflow or (kind == "int" and not -0x80000000 <= n <= 0x7FFFFFFF) or (
                        kind == "uint" and not 0 <= n <= 0xFFFFFFFF):
                    raise EncodeError(f"{item!r} does not fit a Vector.<{kind}>")
                self.put_u32(<unsigned long>(n & 0xFFFFFFFF))
        self.depth -= 1
        return 0

    cdef int amf3_dictionary(self, object value) except -1:
        self.put_byte(AMF3_DICTIONARY)
        if self.amf3_ref(value):
            return 0
        self.enter()
        self.put_u29((len(value) << 1) | 1)
        self.put_byte(1 if getattr(value, "weak_keys", False) else 0)
        for key, val in value.items():
            self.encode3(key)
            self.encode3(val)
        self.depth -= 1
        return 0

    cdef int amf3_typed(self, object value, object class_def) except -1:
        cdef _Trait t
        if isinstance(class_def, _ProxyClassDef):
            return self.amf3_proxy(value, class_def.alias == ARRAY_COLLECTION_ALIAS)
        self.put_byte(AMF3_OBJECT)
        t = self.trait_of(class_def)
        if self.amf3_ref_as(value, self.reference_key(t, value)):
            return 0
        self.enter()
        self.amf3_trait(t)
        if t.external:
            self.write_external(class_def, value)
        else:
            for val in self.static_vals(t, value):
                self.encode3(val)
            if t.dynamic:
                self.amf3_dynamic_pairs(self.dynamic_vals(t, value).items())
        self.depth -= 1
        return 0

    cdef int write_external(self, object class_def, object value) except -1:
        cdef bint was_amf3 = self.amf3
        self.amf3 = True
        try:
            class_def.writeExternal(value, self)
        finally:
            self.amf3 = was_amf3
        return 0

    cdef int amf3_typed_object(self, object value) except -1:
        """A TypedObject: an unmapped alias kept from decoding."""
        cdef _Trait t
        cdef tuple static_attrs = value.static_attrs
        self.put_byte(AMF3_OBJECT)
        if self.amf3_ref(value):
            return 0
        self.enter()
        extra = [(k, v) for k, v in value.items() if k not in static_attrs]
        dynamic = bool(value.dynamic or extra)
        key = (value.alias, static_attrs, dynamic)
        t = self.traits.get(key)
        if t is None:
            t = _make_trait(None, value.alias, static_attrs, dynamic, False)
            self.traits[key] = t
        self.amf3_trait(t)
        for name in static_attrs:
            self.encode3(value.get(name))
        if dynamic:
            self.amf3_dynamic_pairs(extra)
        self.depth -= 1
        return 0

    cdef int encode3(self, object value) except -1:
        cdef type t = type(value)
        if t is str:
            self.put_byte(AMF3_STRING)
            return self.amf3_str(value)
        if t is int:
            return self.amf3_int(value)
        if t is float:
            self.put_byte(AMF3_DOUBLE)
            return self.put_double(value)
        if value is None:
            return self.put_byte(AMF3_NULL)
        if t is bool:
            return self.put_byte(AMF3_TRUE if value else AMF3_FALSE)
        if t is dict:
            if self.use_proxies:
                return self.amf3_proxy(value, False)
            return self.amf3_dict(value)
        if t is list or t is tuple:
            if self.use_collections:
                return self.amf3_proxy(value, True)
            return self.amf3_list(value)
        if PyDateTime_CheckExact(value):
            return self.amf3_date(value)
        return self.encode3_other(value)

    cdef int encode3_other(self, object value) except -1:
        if type(value) is AsNoProxy:
            # Before the class lookup and the isinstance chain: SaClassDef sends two of
            # these with every object, and the chain tripled what they cost.
            return self.encode3_plain((<object>value).source)
        class_def = self.class_def_of(value)
        if class_def is not None:
            if isinstance(class_def, SequenceClassDef):
                return self.encode3(_listed(class_def.toList(value)))
            return self.amf3_typed(value, class_def)
        if isinstance(value, TypedObject):
            return self.amf3_typed_object(value)
        if isinstance(value, AsDictionary):
            return self.amf3_dictionary(value)
        if isinstance(value, AsVector):
            return self.amf3_vector(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.amf3_bytes(value)
        if isinstance(value, bool):
            return self.put_byte(AMF3_TRUE if value else AMF3_FALSE)
        if isinstance(value, _enum.Enum):
            return self.encode3(value.value)
        if isinstance(value, int):
            return self.amf3_int(int(value))
        if isinstance(value, (float, _decimal.Decimal)):
            self.put_byte(AMF3_DOUBLE)
            return self.put_double(float(value))
        if isinstance(value, str):
            self.put_byte(AMF3_STRING)
            return self.amf3_str(str(value))
        if isinstance(value, dict):
            if self.use_proxies:
                return self.amf3_proxy(value, False)
            return self.amf3_dict(dict(value) if type(value) is not dict else value)
        if isinstance(value, (list, tuple)):
            if self.use_collections:
                return self.amf3_proxy(value, True)
            return self.amf3_list(value)
        if isinstance(value, (set, frozenset)):
            return self.encode3(list(value))
        if PyDate_Check(value):
            return self.amf3_date(value)
        if isinstance(value, AsProxy):
            source = value.source
            if isinstance(source, (list, tuple)):
                return self.amf3_proxy(source, True)
            return self.amf3_proxy(source, False)
        if isinstance(value, AsNoProxy):
            return self.encode3_plain(value.source)
        if isinstance(value, IdentityKey):
            return self.encode3(value.value)
        if is_xml(value):
            return self.amf3_xml(value)
        if self.use_proxies:
            return self.amf3_proxy(value, False)
        return self.amf3_plain_object(value)

    cdef int encode3_plain(self, object value) except -1:
        """Encode without the ArrayCollection/ObjectProxy wrapping (AsNoProxy)."""
        if isinstance(value, dict) and not isinstance(value, (TypedObject, AsDictionary)):
            return self.amf3_dict(value if type(value) is dict else dict(value))
        if isinstance(value, (list, tuple)) and not isinstance(value, AsVector):
            return self.amf3_list(value)
        return self.encode3(value)

    cdef int amf3_plain_object(self, object value) except -1:
        self.put_byte(AMF3_OBJECT)
        if self.amf3_ref(value):
            return 0
        self.enter()
        self.amf3_trait(self.anonymous_trait())
        self.amf3_dynamic_pairs(self.plain_attrs(value).items())
        self.depth -= 1
        return 0

    # -- entry points ---------------------------------------------------------

    cdef object run(self, object value, bint packet):
        """One ``encode`` (or ``encode_packet``) call: its bytes and table entries are kept
        whole or, when it raises, not at all, so the context stays usable."""
        cdef Py_ssize_t length = self.length
        cdef int depth = self.depth
        cdef Py_ssize_t n_refs0 = self.n_refs0
        cdef Py_ssize_t n_obj_refs = self.n_obj_refs
        cdef Py_ssize_t n_strs = len(self.str_refs)
        cdef Py_ssize_t n_traits = self.n_traits
        cdef Py_ssize_t n_keep = len(self.keep)
        self.calls += 1
        try:
            if packet:
                self.encode_packet_into(value)
            else:
                self.encode_value(value)
        except BaseException:
            self.length = length
            self.depth = depth
            if packet:
                self.reset_refs()  # a packet starts new tables for each header and body
            else:
                self.forget_refs(n_refs0, n_obj_refs, n_strs, n_traits, n_keep)
            raise
        finally:
            self.calls -= 1
        if self.calls:
            # Inside writeExternal: the enclosing call returns the bytes (copying them here
            # for every nested value would make encoding quadratic).
            return None
        if self.output is None:
            return self.getvalue()
        self.flush()
        return self.output

    cdef int encode_value(self, object value) except -1:
        if self.amf3:
            return self.encode3(value)
        return self.encode0(value)

    cdef int encode_packet_into(self, object packet) except -1:
        cdef Py_ssize_t at
        self.put_u16(packet.client_type or 0)
        self.put_u16(len(packet.headers))
        for header in packet.headers:
            self.amf0_utf8(header.name)
            self.put_byte(1 if header.required else 0)
            at = self.length
            self.put_u32(0)
            self.reset_refs()
            if self.amf3:
                self.amf0_switch(header.value)
            else:
                self.encode0(header.value)
            self.patch_u32(at, self.length - at - 4)
        self.put_u16(len(packet.messages))
        for message in packet.messages:
            self.amf0_utf8("null" if message.target is None else message.target)
            self.amf0_utf8("null" if message.response is None else message.response)
            at = self.length
            self.put_u32(0)
            self.reset_refs()
            self.encode_body(message)
            self.patch_u32(at, self.length - at - 4)
        return 0

    cdef int encode_body(self, object message) except -1:
        body = message.body
        if message.is_request and isinstance(body, (list, tuple)):
            # A call's arguments: a strict array that takes no reference slot (as Flash
            # Player, AmFast and PyAMF write it); with AMF3 each argument switches.
            self.put_byte(AMF0_STRICT_ARRAY)
            self.put_u32(len(body))
            for arg in body:
                if self.amf3:
                    self.amf0_switch(arg)
                else:
                    self.encode0(arg)
            return 0
        if self.amf3:
            return self.amf0_switch(body)
        return self.encode0(body)


cdef const char* utf8_of(str s, Py_ssize_t* n) except NULL:
    try:
        return PyUnicode_AsUTF8AndSize(s, n)
    except UnicodeEncodeError as exc:
        raise EncodeError(f"string is not valid Unicode: {exc}") from None


cdef inline list _listed(object items):
    """``items`` as a list, copied only when it is not one (a SequenceClassDef's toList)."""
    return items if type(items) is list else list(items)


cdef double epoch_ms(object value) except? -1.0:
    """Milliseconds since the epoch, UTC, truncated to the millisecond."""
    cdef long long days = amf_days_from_civil(
        PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value), PyDateTime_GET_DAY(value))
    cdef long long ms = days * MS_PER_DAY
    if PyDateTime_Check(value):
        ms += (PyDateTime_DATE_GET_HOUR(value) * 3600000LL
               + PyDateTime_DATE_GET_MINUTE(value) * 60000LL
               + PyDateTime_DATE_GET_SECOND(value) * 1000LL
               + PyDateTime_DATE_GET_MICROSECOND(value) // 1000)
        tz = value.tzinfo
        # UTC itself needs no offset call (ORMs give aware datetimes in UTC).
        if tz is not None and tz is not _UTC:
            offset = value.utcoffset()
            if offset is not None:
                ms -= (PyDateTime_DELTA_GET_DAYS(offset) * MS_PER_DAY
                       + PyDateTime_DELTA_GET_SECONDS(offset) * 1000LL
                       + PyDateTime_DELTA_GET_MICROSECONDS(offset) // 1000)
    return <double>ms


def encode(value, EncoderContext context=None):
    """Encode ``value`` into ``context`` (a new AMF0 one when None), after what it holds.

    Returns the context's ``buffer`` when it was given one, else every byte the
    context holds: all the values encoded into it so far (as AmFast's did).  A
    call made inside ``writeExternal`` on the context being written returns None.
    """
    if context is None:
        context = EncoderContext()
    return context.run(value, False)


def encode_packet(packet, EncoderContext context=None):
    """Encode an ``amfast.remoting.Packet``; each header and body gets fresh reference tables.

    Returns what ``encode`` returns.
    """
    if context is None:
        context = EncoderContext()
    return context.run(packet, True)
