"""Encode Python values and remoting packets as AMF0 or AMF3 (AmFast's ``Encoder``)."""
from __future__ import annotations

from typing import Any

from amfast.class_def import ClassDefMapper
from amfast.ext.encoder import EncodeError, EncoderContext, encode, encode_packet

__all__ = ["Encoder", "EncodeError"]


class Encoder:
    """Encoding options; each call encodes with fresh reference tables.

    Without ``buffer`` each call returns the bytes.  With ``buffer``, a
    file-like object (anything with ``write``), each call writes its bytes to it
    and returns it, so the values follow one another there.  See docs/codec.md.
    """

    def __init__(self, amf3: bool = False, use_collections: bool = False,
                 use_proxies: bool = False, use_references: bool = True,
                 use_legacy_xml: bool = False, include_private: bool = False,
                 class_def_mapper: ClassDefMapper | None = None, buffer: Any = None):
        self.amf3 = amf3
        self.use_collections = use_collections
        self.use_proxies = use_proxies
        self.use_references = use_references
        self.use_legacy_xml = use_legacy_xml
        self.include_private = include_private
        self.class_def_mapper = ClassDefMapper() if class_def_mapper is None else class_def_mapper
        self.buffer = buffer

    def _context(self, amf3: bool | None) -> EncoderContext:
        return EncoderContext(
            buffer=self.buffer, class_def_mapper=self.class_def_mapper,
            amf3=self.amf3 if amf3 is None else amf3, use_collections=self.use_collections,
            use_proxies=self.use_proxies, use_references=self.use_references,
            use_legacy_xml=self.use_legacy_xml, include_private=self.include_private)

    def encode(self, val: Any, amf3: bool | None = None) -> Any:
        """Encode one value (AMF3 when ``amf3``, else AMF0; None means the default): its
        bytes, or ``buffer`` after writing them to it."""
        return encode(val, self._context(amf3))

    def encode_packet(self, packet: Any, amf3: bool | None = None) -> Any:
        """Encode an ``amfast.remoting.Packet``; with ``amf3`` the bodies switch to AMF3.
        Returns what ``encode`` returns."""
        return encode_packet(packet, self._context(amf3))
