# cython: language_level=3
"""AMF0/AMF3 decoder: bytes -> Python values.

Every read is checked against the bytes left, and every declared length or
count is checked against them before anything is allocated.  Nesting is
bounded by an explicit counter, never by the C stack.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.datetime cimport import_datetime, datetime_new
from libc.math cimport isfinite, llround, floor

from amfast.ext.amf cimport *

import datetime as _datetime

from amfast import AmFastError
from amfast.class_def import ClassDef, ClassDefMapper, ExternClassDef, _ProxyClassDef
from amfast.class_def.as_types import (AsByteArray, AsDictionary, AsVector, TypedObject,
                                       dictionary_key)
from amfast.xml_values import XML_TYPES, XmlMalformed, XmlRefused, parse_xml

import_datetime()

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    Py_ssize_t Py_REFCNT(object o)

cdef object UTC = _datetime.timezone.utc
cdef object _DEFAULT_GET_INSTANCE = ClassDef.getInstance
cdef object _DEFAULT_APPLY = ClassDef.applyAttrVals
# Bytes that a value of each container kind takes at the least, to bound declared counts.
cdef Py_ssize_t MIN_ITEM_BYTES = 1
# Deeper nesting than this could exhaust a thread's C stack, whatever max_depth says.
HARD_MAX_DEPTH = 4096

#: The decoding budgets and their defaults (see docs/security.md).
DEFAULT_LIMITS = {
    "max_depth": DEFAULT_MAX_DEPTH,
    "max_string_bytes": 16 * 1024 * 1024,
    "max_bytearray_bytes": 16 * 1024 * 1024,
    "max_xml_bytes": 1024 * 1024,
    "max_elements": 1000000,
    "max_nodes": 2000000,
}


class DecodeError(AmFastError, ValueError):
    """The input is not AMF this decoder accepts: the root of every decoding error.

    ``offset`` is the byte offset where decoding failed, also at the end of the
    message as "(at byte N)"; it is None only when the input is not bytes-like
    at all (the one case where this decoder raises the root class itself).
    Catch a subclass to tell failures apart.  Like ``json.JSONDecodeError`` and
    ``UnicodeDecodeError`` it is a ``ValueError`` (the value given is bad), so
    code that treats bad input as ``ValueError`` handles it too.
    """

    def __init__(self, message, offset=None):
        self.offset = offset
        if offset is not None:
            message = f"{message} (at byte {offset})"
        AmFastError.__init__(self, message)


class TruncatedDataError(DecodeError):
    """The input ends before a value, length or count it announced."""


class LimitExceededError(DecodeError):
    """A decoding budget is exceeded.

    ``limit`` names it: one of ``DEFAULT_LIMITS`` ("max_depth",
    "max_string_bytes", ...), or "bytes_left" when a declared count is larger
    than the bytes left could hold (refused before anything is allocated).
    """

    def __init__(self, message, offset=None, limit=None):
        self.limit = limit
        DecodeError.__init__(self, message, offset)


class BadReferenceError(DecodeError):
    """A string, object, trait or AMF0 reference points past its table."""


class UnknownMarkerError(DecodeError):
    """An unknown AMF0 or AMF3 type marker, or an unknown packet version."""


class InvalidUTF8Error(DecodeError):
    """A string (or XML text) that is not valid UTF-8."""


class MalformedDataError(DecodeError):
    """A value whose content is impossible: a date that is not finite or out of
    ``datetime``'s range, XML that is not well-formed."""


class RefusedValueError(DecodeError):
    """A well-formed value this decoder refuses: XML declaring a DOCTYPE or
    entities, or any XML with ``xml_type="refuse"``."""


class ClassMappingError(DecodeError):
    """A typed object the ClassDefMapper cannot read: traits that do not match
    its ClassDef (externalizable or not), an externalizable alias that is not
    mapped (its bytes have no length, so they cannot be skipped), or a
    ``readExternal`` that raised."""


def check_options(str xml_type, dict limits) -> None:
    """ValueError for an unknown ``xml_type`` or a limit that is unknown or out of range."""
    if xml_type not in XML_TYPES:
        raise ValueError(f"xml_type must be one of {XML_TYPES}")
    unknown = set(limits) - set(DEFAULT_LIMITS)
    if unknown:
        raise ValueError(f"unknown decoding limits: {sorted(unknown)}")
    for name, value in limits.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int")
    if limits.get("max_depth", DEFAULT_MAX_DEPTH) > HARD_MAX_DEPTH:
        raise ValueError(f"max_depth must be between 1 and {HARD_MAX_DEPTH}")


cdef class _Trait:
    """An AMF3 trait as read from the input, with its resolved ClassDef."""
    cdef str alias
    cdef list names
    cdef bint dynamic
    cdef bint external
    cdef object class_def
    cdef object class_          # set when instances can be made and filled directly
    cdef object decode_types


cdef class DecoderContext:
    """Input, position, options and reference tables of one decoding.

    ``read(n)`` takes raw bytes (for ``ExternClassDef.readExternal``);
    ``amfast.decode.decode(context)`` reads the next value.
    """
    cdef bytes source
    cdef const unsigned char* data
    cdef Py_ssize_t length
    cdef Py_ssize_t pos
    cdef public bint amf3
    cdef public object class_def_mapper
    cdef public bint aware_datetimes
    cdef public str xml_type
    cdef public int max_depth
    cdef public Py_ssize_t max_string_bytes
    cdef public Py_ssize_t max_bytearray_bytes
    cdef public Py_ssize_t max_xml_bytes
    cdef public Py_ssize_t max_elements
    cdef public Py_ssize_t max_nodes
    cdef Py_ssize_t nodes
    cdef int depth
    cdef list refs0
    cdef list obj_refs
    cdef list str_refs
    cdef list trait_refs
    cdef int ecma_open          # ECMA arrays being read (see amf0_ecma_array)
    # Offsets of the dense ECMA arrays that a second read fills straight into their lists.
    cdef set ecma_lists
    cdef int ecma_reread        # 0: none due, 1: due when the outermost closes, 2: under way
    # Where the outermost open ECMA array starts: what a second read rewinds to.
    cdef Py_ssize_t ecma_start, ecma_slot, ecma_objs, ecma_strs, ecma_traits, ecma_nodes

    def __init__(self, buffer, class_def_mapper=None, bint amf3=False,
                 bint aware_datetimes=False, str xml_type="minidom", **limits):
        if isinstance(buffer, bytes):
            self.source = buffer
        elif isinstance(buffer, (bytearray, memoryview)):
            self.source = bytes(buffer)
        elif hasattr(buffer, "read"):
            self.source = bytes(buffer.read())
        else:
            raise DecodeError(
                f"cannot decode from {type(buffer).__name__}: give bytes, bytearray, "
                "memoryview or a file-like object")
        check_options(xml_type, limits)
        limits = dict(DEFAULT_LIMITS, **limits)
        self.data = <const unsigned char*>self.source
        self.length = len(self.source)
        self.pos = 0
        self.amf3 = amf3
        self.class_def_mapper = ClassDefMapper() if class_def_mapper is None else class_def_mapper
        self.aware_datetimes = aware_datetimes
        self.xml_type = xml_type
        self.max_depth = limits["max_depth"]
        self.max_string_bytes = limits["max_string_bytes"]
        self.max_bytearray_bytes = limits["max_bytearray_bytes"]
        self.max_xml_bytes = limits["max_xml_bytes"]
        self.max_elements = limits["max_elements"]
        self.max_nodes = limits["max_nodes"]
        self.nodes = 0
        self.depth = 0
        self.ecma_open = 0
        self.ecma_lists = set()
        self.ecma_reread = 0
        self.reset_refs()

    cdef void reset_refs(self):
        self.refs0 = []
        self.obj_refs = []
        self.str_refs = []
        self.trait_refs = []

    # -- Python API -------------------------------------------------------

    def read(self, Py_ssize_t n) -> bytes:
        """Take ``n`` raw bytes."""
        if n < 0:
            raise ValueError("cannot read a negative number of bytes")
        self.need(n)
        self.pos += n
        return PyBytes_FromStringAndSize(<const char*>self.data + self.pos - n, n)

    def tell(self) -> int:
        return self.pos

    @property
    def buffer(self):
        """AmFast code reads through ``context.buffer``: the context is its own buffer."""
        return self

    # -- raw input -----------------------------------------------------------

    cdef inline int need(self, Py_ssize_t n) except -1:
        if n > self.length - self.pos:
            raise TruncatedDataError(f"data ends early: {n} bytes needed, "
                                     f"{self.length - self.pos} left", self.pos)
        return 0

    cdef inline unsigned char u8(self) except? 0xFF:
        self.need(1)
        self.pos += 1
        return self.data[self.pos - 1]

    cdef inline unsigned int u16(self) except? 0xFFFF:
        self.need(2)
        self.pos += 2
        return (self.data[self.pos - 2] << 8) | self.data[self.pos - 1]

    cdef inline unsigned long u32(self) except? 0xFFFFFFFF:
        self.need(4)
        cdef const unsigned char* p = self.data + self.pos
        self.pos += 4
        return ((<unsigned long>p[0] << 24) | (<unsigned long>p[1] << 16)
                | (<unsigned long>p[2] << 8) | p[3])

    cdef inline double f64(self) except? -1.0:
        self.need(8)
        self.pos += 8
        return amf_unpack_double(self.data + self.pos - 8)

    cdef inline unsigned long u29(self) except? 0xFFFFFFFF:
        cdef unsigned long n = 0
        cdef unsigned char b
        cdef int i
        for i in range(3):
            b = self.u8()
            if not b & 0x80:
                return (n << 7) | b
            n = (n << 7) | (b & 0x7F)
        return (n << 8) | self.u8()

    cdef inline int check_count(self, unsigned long count, Py_ssize_t item_bytes) except -1:
        """A declared count must fit the element limit and the bytes left."""
        if count > <unsigned long>self.max_elements:
            raise LimitExceededError(f"{count} elements are over the {self.max_elements}-"
                                     "element limit", self.pos, "max_elements")
        if count > <unsigned long>((self.length - self.pos) // item_bytes):
            raise LimitExceededError(f"declared count {count} exceeds the "
                                     f"{self.length - self.pos} bytes left", self.pos,
                                     "bytes_left")
        return 0

    cdef str utf8(self, Py_ssize_t n):
        if n > self.max_string_bytes:
            raise LimitExceededError(f"string of {n} bytes is over the "
                                     f"{self.max_string_bytes}-byte limit", self.pos,
                                     "max_string_bytes")
        self.need(n)
        if n == 0:
            return ""
        try:
            s = PyUnicode_DecodeUTF8(<const char*>self.data + self.pos, n, NULL)
        except UnicodeDecodeError as exc:
            raise InvalidUTF8Error(f"invalid UTF-8 in string: {exc.reason}",
                                   self.pos + exc.start) from None
        self.pos += n
        return s

    cdef inline int visit(self) except -1:
        """Count one decoded value (references included) against ``max_nodes``."""
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise LimitExceededError(f"more than {self.max_nodes} values", self.pos,
                                     "max_nodes")
        return 0

    cdef int check_members(self, Py_ssize_t count) except -1:
        """Members of objects, whose count is not declared, against ``max_elements``."""
        if count > self.max_elements:
            raise LimitExceededError(f"object with more than {self.max_elements} members",
                                     self.pos, "max_elements")
        return 0

    cdef inline int enter(self) except -1:
        self.depth += 1
        if self.depth > self.max_depth:
            raise LimitExceededError(f"values nested deeper than {self.max_depth} levels",
                                     self.pos, "max_depth")
        return 0

    cdef object make_date(self, double ms, Py_ssize_t at):
        cdef long long us, days, rem
        cdef double whole
        cdef int y, m, d
        if not isfinite(ms) or not -62135596800000.0 <= ms <= 253402300799999.0:
            raise MalformedDataError(f"date {ms} ms is out of range", at)
        # Whole milliseconds and the fraction apart: ms * 1000 would lose microseconds.
        whole = floor(ms)
        us = <long long>whole * 1000 + llround((ms - whole) * 1000.0)
        days = <long long>floor(<double>us / 86400000000.0)
        rem = us - days * 86400000000LL
        amf_civil_from_days(days, &y, &m, &d)
        return datetime_new(y, m, d, <int>(rem // 3600000000LL), <int>(rem // 60000000LL % 60),
                            <int>(rem // 1000000 % 60), <int>(rem % 1000000),
                            UTC if self.aware_datetimes else None)

    cdef object make_xml(self, Py_ssize_t n, Py_ssize_t at):
        """Read ``n`` bytes of XML text and parse them safely."""
        if self.xml_type == "refuse":
            raise RefusedValueError("XML values are refused by this decoder", at)
        if n > self.max_xml_bytes:
            raise LimitExceededError(f"XML of {n} bytes is over the {self.max_xml_bytes}-byte "
                                     "limit", at, "max_xml_bytes")
        try:
            return parse_xml(self.utf8(n), self.xml_type)
        except XmlMalformed as exc:
            raise MalformedDataError(str(exc), at) from None
        except XmlRefused as exc:
            raise RefusedValueError(str(exc), at) from None

    cdef object resolve_ref(self, list table, unsigned long idx, str kind, Py_ssize_t at):
        if idx >= <unsigned long>len(table):
            raise BadReferenceError(f"{kind} reference {idx} points past the {len(table)} "
                                    "entries read so far", at)
        return table[idx]

    # -- AMF0 ---------------------------------------------------------------

    cdef str amf0_utf8(self):
        return self.utf8(self.u16())

    cdef object decode0(self):
        cdef Py_ssize_t at = self.pos
        cdef unsigned char marker = self.u8()
        self.visit()
        cdef unsigned long n
        if marker == AMF0_NUMBER:
            return self.f64()
        if marker == AMF0_STRING:
            return self.utf8(self.u16())
        if marker == AMF0_BOOLEAN:
            return self.u8() != 0
        if marker == AMF0_OBJECT:
            return self.amf0_object()
        if marker == AMF0_NULL or marker == AMF0_UNDEFINED or marker == AMF0_UNSUPPORTED:
            # Ruffle writes "unsupported" for values AMF0 cannot carry (ByteArray, Vector).
            return None
        if marker == AMF0_STRICT_ARRAY:
            return self.amf0_strict_array()
        if marker == AMF0_ECMA_ARRAY:
            return self.amf0_ecma_array()
        if marker == AMF0_REFERENCE:
            return self.resolve_ref(self.refs0, self.u16(), "AMF0 object", at)
        if marker == AMF0_DATE:
            ms = self.f64()
            self.u16()  # time zone: reserved, ignored by every reader
            return self.make_date(ms, at)
        if marker == AMF0_LONG_STRING:
            n = self.u32()
            return self.utf8(n)
        if marker == AMF0_XML:
            n = self.u32()
            return self.make_xml(n, at)
        if marker == AMF0_TYPED_OBJECT:
            return self.amf0_typed_object()
        if marker == AMF0_AMF3:
            return self.decode3()
        raise UnknownMarkerError(f"unknown or unsupported AMF0 marker 0x{marker:02X}", at)

    cdef bint amf0_end(self, str key) except -1:
        """An empty name followed by the object-end marker closes an object."""
        if key or self.pos >= self.length or self.data[self.pos] != AMF0_OBJECT_END:
            return False
        self.pos += 1
        return True

    cdef int amf0_pairs_into(self, object target) except -1:
        cdef str key
        cdef Py_ssize_t count = 0
        while True:
            key = self.amf0_utf8()
            if self.amf0_end(key):
                return 0
            count += 1
            self.check_members(count)
            target[key] = self.decode0()

    cdef object amf0_object(self):
        cdef dict obj = {}
        self.enter()
        self.refs0.append(obj)
        self.amf0_pairs_into(obj)
        self.depth -= 1
        return obj

    cdef object amf0_arguments(self):
        """A call's argument array: it takes no reference slot."""
        cdef unsigned long n = self.u32()
        cdef Py_ssize_t i
        self.check_count(n, MIN_ITEM_BYTES)
        return [self.decode0() for i in range(n)]

    cdef object amf0_strict_array(self):
        cdef unsigned long n = self.u32()
        cdef Py_ssize_t i
        self.check_count(n, MIN_ITEM_BYTES)
        cdef list items = []
        self.enter()
        self.refs0.append(items)
        for i in range(n):
            items.append(self.decode0())
        self.depth -= 1
        return items

    cdef object amf0_ecma_array(self):
        """An ECMA array: a list when its keys are exactly "0".."n-1", else a dict.

        Which one is known only at its end, so it is read into a dict.  When it
        turns out a list and it was referenced from inside (items then hold the
        dict), the outermost ECMA array around it is read once more, with such
        arrays filled straight into their lists (``ecma_lists``).  No value is
        read more than twice.
        """
        cdef Py_ssize_t start = self.pos
        cdef Py_ssize_t slot = len(self.refs0)
        cdef dict obj = {}
        cdef list items
        self.u32()  # the count is only a hint
        if self.ecma_lists and start in self.ecma_lists:
            return self.amf0_ecma_into(slot, start)
        if not self.ecma_open and self.ecma_reread != 2:
            # The outermost ECMA array: a second read would start here.  One left due
            # by an error is dropped with the value that raised.
            self.ecma_reread = 0
            self.ecma_start = start
            self.ecma_slot = slot
            self.ecma_objs = len(self.obj_refs)
            self.ecma_strs = len(self.str_refs)
            self.ecma_traits = len(self.trait_refs)
            self.ecma_nodes = self.nodes
        self.enter()
        self.refs0.append(obj)
        self.ecma_open += 1
        try:
            self.amf0_pairs_into(obj)
        finally:
            self.ecma_open -= 1
        self.depth -= 1
        # Ruffle sends every dense Array this way, keys "0".."n-1".
        items = dense_items(obj)
        if items is None:
            value = obj
        else:
            # Only this frame and refs0 hold the dict, unless a reference read inside the
            # array gave it to a value there: no bookkeeping on the way for this rare case.
            if Py_REFCNT(obj) > 2:
                self.ecma_lists.add(start)
                if self.ecma_reread == 0:
                    self.ecma_reread = 1
            self.refs0[slot] = items
            value = items
        if self.ecma_reread == 1 and not self.ecma_open:
            return self.amf0_ecma_reread()
        return value

    cdef list amf0_ecma_into(self, Py_ssize_t slot, Py_ssize_t start):
        """A dense ECMA array read again, into the list its slot holds from the start."""
        cdef dict obj = {}
        cdef list items = []
        self.enter()
        self.refs0.append(items)
        self.amf0_pairs_into(obj)
        self.depth -= 1
        dense = dense_items(obj)
        if dense is None:
            # Only a readExternal that reads differently the second time gets here.
            raise MalformedDataError("ECMA array read differently the second time", start)
        items.extend(dense)
        return items

    cdef object amf0_ecma_reread(self):
        """Read the outermost ECMA array again, from the state it started in."""
        self.pos = self.ecma_start
        del self.refs0[self.ecma_slot:]
        del self.obj_refs[self.ecma_objs:]
        del self.str_refs[self.ecma_strs:]
        del self.trait_refs[self.ecma_traits:]
        self.nodes = self.ecma_nodes
        self.ecma_reread = 2
        try:
            return self.amf0_ecma_array()
        finally:
            self.ecma_reread = 0
            self.ecma_lists.clear()

    cdef object amf0_typed_object(self):
        cdef str alias = self.amf0_utf8()
        cdef dict vals
        class_def = self.class_def_mapper.getClassDefByAlias(alias)
        self.enter()
        if class_def is None or isinstance(class_def, _ProxyClassDef):
            obj = TypedObject(alias)
            self.refs0.append(obj)
            self.amf0_pairs_into(obj)
        else:
            obj = class_def.getInstance()
            self.refs0.append(obj)
            vals = {}
            self.amf0_pairs_into(vals)
            apply_vals(class_def, obj, vals)
        self.depth -= 1
        return obj

    # -- AMF3 ---------------------------------------------------------------

    cdef str amf3_str(self):
        cdef Py_ssize_t at = self.pos
        cdef unsigned long ref = self.u29()
        cdef str s
        if not ref & 1:
            return self.resolve_ref(self.str_refs, ref >> 1, "string", at)
        s = self.utf8(ref >> 1)
        if len(s):
            self.str_refs.append(s)
        return s

    cdef object decode3(self):
        cdef Py_ssize_t at = self.pos
        cdef unsigned char marker = self.u8()
        self.visit()
        cdef unsigned long n
        if marker == AMF3_STRING:
            return self.amf3_str()
        if marker == AMF3_INTEGER:
            n = self.u29()
            return <long>n - 0x20000000 if n & 0x10000000 else <long>n
        if marker == AMF3_DOUBLE:
            return self.f64()
        if marker == AMF3_OBJECT:
            return self.amf3_object()
        if marker == AMF3_ARRAY:
            return self.amf3_array()
        if marker == AMF3_NULL or marker == AMF3_UNDEFINED:
            return None
        if marker == AMF3_FALSE:
            return False
        if marker == AMF3_TRUE:
            return True
        if marker == AMF3_DATE:
            n = self.u29()
            if not n & 1:
                return self.resolve_ref(self.obj_refs, n >> 1, "object", at)
            value = self.make_date(self.f64(), at)
            self.obj_refs.append(value)
            return value
        if marker == AMF3_BYTE_ARRAY:
            n = self.u29()
            if not n & 1:
                return self.resolve_ref(self.obj_refs, n >> 1, "object", at)
            if (n >> 1) > <unsigned long>self.max_bytearray_bytes:
                raise LimitExceededError(f"ByteArray of {n >> 1} bytes is over the "
                                         f"{self.max_bytearray_bytes}-byte limit", at,
                                         "max_bytearray_bytes")
            value = AsByteArray(self.read(n >> 1))
            self.obj_refs.append(value)
            return value
        if marker == AMF3_XML or marker == AMF3_XML_DOC:
            n = self.u29()
            if not n & 1:
                return self.resolve_ref(self.obj_refs, n >> 1, "object", at)
            value = self.make_xml(n >> 1, at)
            self.obj_refs.append(value)
            return value
        if AMF3_VECTOR_INT <= marker <= AMF3_VECTOR_OBJECT:
            return self.amf3_vector(marker, at)
        if marker == AMF3_DICTIONARY:
            return self.amf3_dictionary(at)
        raise UnknownMarkerError(f"unknown AMF3 marker 0x{marker:02X}", at)

    cdef object amf3_array(self, list into=None):
        """An array; a dense one is filled into ``into`` when given (see amf3_proxied)."""
        cdef Py_ssize_t at = self.pos
        cdef unsigned long ref = self.u29()
        cdef unsigned long n, i
        cdef str key
        cdef list items
        cdef dict mixed
        cdef Py_ssize_t count
        if not ref & 1:
            return self.resolve_ref(self.obj_refs, ref >> 1, "object", at)
        n = ref >> 1
        self.check_count(n, MIN_ITEM_BYTES)
        key = self.amf3_str()
        self.enter()
        if not key:
            # Grown item by item: a declared count is never trusted for allocation.
            items = [] if into is None else into
            self.obj_refs.append(items)
            for i in range(n):
                items.append(self.decode3())
            self.depth -= 1
            return items
        mixed = {}
        self.obj_refs.append(mixed)
        count = 0
        while key:
            count += 1
            self.check_members(count)
            mixed[key] = self.decode3()
            key = self.amf3_str()
        for i in range(n):
            mixed[i] = self.decode3()
        self.depth -= 1
        return mixed

    cdef _Trait amf3_trait(self, unsigned long ref, Py_ssize_t at):
        cdef _Trait t
        cdef unsigned long count, i
        if not ref & TRAIT_INLINE:
            return self.resolve_ref(self.trait_refs, ref >> 2, "trait", at)
        t = _Trait.__new__(_Trait)
        t.external = (ref & TRAIT_EXTERNAL) != 0
        t.dynamic = (ref & TRAIT_DYNAMIC) != 0
        count = ref >> 4
        t.alias = self.amf3_str()
        t.names = []
        if not t.external:
            self.check_count(count, MIN_ITEM_BYTES)
            for i in range(count):
                t.names.append(self.amf3_str())
        t.class_def = (self.class_def_mapper.getClassDefByAlias(t.alias) if t.alias else None)
        if t.class_def is not None and t.external != isinstance(t.class_def, ExternClassDef):
            raise ClassMappingError(f"class {t.alias!r} arrives with "
                                    f"{'externalizable' if t.external else 'sealed/dynamic'} "
                                    "traits that do not match its ClassDef", at)
        if t.class_def is not None and not t.external:
            t.decode_types = t.class_def.decode_types
            if (type(t.class_def).getInstance is _DEFAULT_GET_INSTANCE
                    and type(t.class_def).applyAttrVals is _DEFAULT_APPLY
                    and not t.class_def._descriptors):
                t.class_ = t.class_def.class_
        self.trait_refs.append(t)
        return t

    cdef object amf3_object(self, dict into=None):
        """An object; an anonymous one is filled into ``into`` when given (see amf3_proxied)."""
        cdef Py_ssize_t at = self.pos
        cdef unsigned long ref = self.u29()
        cdef _Trait t
        cdef dict vals
        if not ref & 1:
            return self.resolve_ref(self.obj_refs, ref >> 1, "object", at)
        t = self.amf3_trait(ref, at)
        if t.external:
            return self.amf3_external(t, at)
        self.enter()
        if t.class_def is None:
            if t.alias:
                obj = TypedObject(t.alias, t.names, t.dynamic)
            else:
                obj = {} if into is None else into
            self.obj_refs.append(obj)
            self.amf3_members_into(t, obj)
            self.depth -= 1
            return obj
        if t.class_ is not None:
            obj = t.class_.__new__(t.class_)
        else:
            obj = t.class_def.getInstance()
        self.obj_refs.append(obj)
        vals = {}
        self.amf3_members_into(t, vals)
        if t.class_ is not None and t.decode_types is None and hasattr(obj, "__dict__"):
            obj.__dict__.update(vals)
        else:
            apply_vals(t.class_def, obj, vals)
        self.depth -= 1
        return obj

    cdef int amf3_members_into(self, _Trait t, object target) except -1:
        cdef str key
        cdef Py_ssize_t count
        for key in t.names:
            target[key] = self.decode3()
        if t.dynamic:
            count = len(t.names)
            key = self.amf3_str()
            while key:
                count += 1
                self.check_members(count)
                target[key] = self.decode3()
                key = self.amf3_str()
        return 0

    cdef object amf3_external(self, _Trait t, Py_ssize_t at):
        cdef Py_ssize_t slot
        cdef bint was_amf3
        if t.class_def is None:
            raise ClassMappingError(f"externalizable class {t.alias!r} is not mapped, so its "
                                    "bytes cannot be read", at)
        self.enter()
        if isinstance(t.class_def, _ProxyClassDef):
            value = self.amf3_proxied()
        else:
            value = t.class_def.getInstance()
            self.obj_refs.append(value)
            was_amf3 = self.amf3
            self.amf3 = True
            try:
                t.class_def.readExternal(value, self)
            except DecodeError:
                raise
            except Exception as exc:
                raise ClassMappingError(f"{t.alias!r} could not read its external form: "
                                        f"{type(exc).__name__}: {exc}", at) from exc
            finally:
                self.amf3 = was_amf3
        self.depth -= 1
        return value

    cdef object amf3_proxied(self):
        """The value inside an ArrayCollection/ObjectProxy: the wrapper and it are one object.

        An inline array or anonymous object is filled into the object the
        wrapper's table slot already holds, so references to the wrapper made
        from inside (cycles) resolve to the value too.
        """
        cdef Py_ssize_t slot = len(self.obj_refs)
        cdef Py_ssize_t start = self.pos
        cdef unsigned char marker = self.u8()
        cdef bint inline = (self.u29() & 1) != 0
        self.pos = start
        if marker == AMF3_ARRAY and inline:
            self.obj_refs.append([])
            self.pos += 1
            value = self.amf3_array(self.obj_refs[slot])
        elif marker == AMF3_OBJECT and inline:
            self.obj_refs.append({})
            self.pos += 1
            value = self.amf3_object(self.obj_refs[slot])
        else:
            self.obj_refs.append(None)
            value = self.decode3()
        self.obj_refs[slot] = value
        return value

    cdef object amf3_vector(self, unsigned char marker, Py_ssize_t at):
        cdef unsigned long ref = self.u29()
        cdef unsigned long n, i, raw
        cdef bint fixed
        cdef list items
        if not ref & 1:
            return self.resolve_ref(self.obj_refs, ref >> 1, "object", at)
        n = ref >> 1
        fixed = self.u8() != 0
        if marker == AMF3_VECTOR_OBJECT:
            class_name = self.amf3_str()
            self.check_count(n, MIN_ITEM_BYTES)
            vector = AsVector((), "object", fixed, class_name)
            self.obj_refs.append(vector)
            self.enter()
            for i in range(n):
                vector.append(self.decode3())
            self.depth -= 1
            return vector
        if marker == AMF3_VECTOR_DOUBLE:
            self.check_count(n, 8)
            items = [self.f64() for i in range(n)]
            kind = "double"
        else:
            self.check_count(n, 4)
            items = []
            for i in range(n):
                raw = self.u32()
                if marker == AMF3_VECTOR_INT and raw & 0x80000000:
                    items.append(<long long>raw - 0x100000000)
                else:
                    items.append(raw)
            kind = "int" if marker == AMF3_VECTOR_INT else "uint"
        vector = AsVector(items, kind, fixed)
        self.obj_refs.append(vector)
        return vector

    cdef object amf3_dictionary(self, Py_ssize_t at):
        cdef unsigned long ref = self.u29()
        cdef unsigned long n, i
        if not ref & 1:
            return self.resolve_ref(self.obj_refs, ref >> 1, "object", at)
        n = ref >> 1
        weak_keys = self.u8() != 0
        self.check_count(n, 2)
        value = AsDictionary(weak_keys=weak_keys)
        self.obj_refs.append(value)
        self.enter()
        for i in range(n):
            key = self.decode3()
            # Object keys are told apart by identity, as in ActionScript (see IdentityKey).
            value[dictionary_key(key)] = self.decode3()
        self.depth -= 1
        return value

    # -- entry points ---------------------------------------------------------

    cdef object decode_value(self):
        if self.amf3:
            return self.decode3()
        return self.decode0()

    cdef tuple read_packet_parts(self):
        """A remoting packet's fields: ``(version, headers, messages)`` of plain tuples."""
        cdef Py_ssize_t at = self.pos
        cdef unsigned int version = self.u16()
        cdef unsigned int count, i
        if version not in PACKET_VERSIONS:
            raise UnknownMarkerError(f"unknown AMF packet version {version}", at)
        headers = []
        count = self.u16()
        for i in range(count):
            name = self.amf0_utf8()
            required = self.u8() != 0
            self.u32()  # length: clients send wrong values (Royale: 1), never trusted
            self.reset_refs()
            headers.append((name, required, self.decode0()))
        messages = []
        count = self.u16()
        for i in range(count):
            target = self.amf0_utf8()
            response = self.amf0_utf8()
            self.u32()
            self.reset_refs()
            if is_request_target(target) and self.pos < self.length and \
                    self.data[self.pos] == AMF0_STRICT_ARRAY:
                self.pos += 1
                body = self.amf0_arguments()
            else:
                body = self.decode0()
            messages.append((target, response, body))
        return version, headers, messages


cpdef list dense_items(dict obj):
    """``obj``'s values in key order if its keys are exactly "0".."n-1", else None: an
    ECMA array's list (also for the py3amf endpoint's decoder)."""
    cdef list items = []
    cdef Py_ssize_t i
    cdef PyObject* value
    for i in range(len(obj)):
        value = PyDict_GetItem(obj, str(i))
        if value is NULL:
            return None
        items.append(<object>value)
    return items


cdef int apply_vals(object class_def, object obj, dict vals) except -1:
    decode_types = class_def.decode_types
    if decode_types:
        for name, conv in decode_types.items():
            if name in vals:
                vals[name] = conv(vals[name])
    class_def.applyAttrVals(obj, vals)
    return 0


cdef DecoderContext _context_of(object source):
    if isinstance(source, DecoderContext):
        return source
    return DecoderContext(source)


def decode(source):
    """Decode the next value of a ``DecoderContext`` (or the first AMF0 value of bytes)."""
    return _context_of(source).decode_value()


def read_packet(source):
    """Read an AMF remoting packet: ``(version, [(name, required, value)], [(target,
    response, body)])``.  ``amfast.decoder.decode_packet`` makes a ``Packet`` of it."""
    return _context_of(source).read_packet_parts()


#: The packet versions (``Packet.FLASH_8``, ``FLASH_COM``, ``FLASH_9``).
PACKET_VERSIONS = (0, 1, 3)
#: How a reply's target ends; any other target is a call, whose body is an argument array.
REPLY_TARGET_SUFFIXES = ("/onResult", "/onStatus", "/onDebugEvents")


def is_request_target(target):
    """A call's target (``Service.method``, ``null``), not a reply's (``/1/onResult``)."""
    return not (target or "").endswith(REPLY_TARGET_SUFFIXES)
