"""Decode AMF0/AMF3 values and remoting packets (AmFast's ``Decoder``)."""
from __future__ import annotations

from typing import Any

from amfast.class_def import ClassDefMapper
from amfast.ext.decoder import (DEFAULT_LIMITS, BadReferenceError, ClassMappingError, DecodeError,
                                DecoderContext, InvalidUTF8Error, LimitExceededError,
                                MalformedDataError, RefusedValueError, TruncatedDataError,
                                UnknownMarkerError, check_options, decode, is_request_target,
                                read_packet)

__all__ = ["Decoder", "DEFAULT_LIMITS", "BadReferenceError", "ClassMappingError", "DecodeError",
           "InvalidUTF8Error", "LimitExceededError", "MalformedDataError", "RefusedValueError",
           "TruncatedDataError", "UnknownMarkerError", "decode", "decode_packet",
           "is_request_target", "read_packet"]


def decode_packet(source: Any) -> Any:
    """Decode an AMF remoting packet (bytes or a ``DecoderContext``) into an
    ``amfast.remoting.Packet``.

    The codec reads the packet's fields; ``Packet`` is the messages layer's type, loaded
    here on first use so that importing the codec loads no remoting module.
    """
    from amfast.remoting.packet import Packet

    return Packet.fromParts(*read_packet(source))


class Decoder:
    """Decoding options; each call decodes with fresh reference tables.

    ``raw`` may be bytes, bytearray, memoryview or a file-like object (read to
    its end).  ``limits`` are decoding budgets (names and defaults in
    ``amfast.decoder.DEFAULT_LIMITS``).  See docs/codec.md and docs/security.md.
    """

    def __init__(self, amf3: bool = False, class_def_mapper: ClassDefMapper | None = None,
                 aware_datetimes: bool = False, xml_type: str = "minidom", **limits: int):
        check_options(xml_type, limits)
        self.amf3 = amf3
        self.class_def_mapper = ClassDefMapper() if class_def_mapper is None else class_def_mapper
        self.aware_datetimes = aware_datetimes
        self.xml_type = xml_type
        #: Budgets given here (``max_depth``, ``max_string_bytes``, ...); the rest default.
        self.limits = limits

    def _context(self, raw: Any, amf3: bool | None) -> DecoderContext:
        return DecoderContext(raw, self.class_def_mapper, self.amf3 if amf3 is None else amf3,
                              self.aware_datetimes, self.xml_type, **self.limits)

    def decode(self, raw: Any, amf3: bool | None = None) -> Any:
        """Decode one value (AMF3 when ``amf3``, else AMF0; None means the default)."""
        return decode(self._context(raw, amf3))

    def decode_packet(self, raw: Any, amf3: bool | None = None) -> Any:
        """Decode an AMF remoting packet into an ``amfast.remoting.Packet``."""
        return decode_packet(self._context(raw, amf3))
