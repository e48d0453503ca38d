"""PyAmfEndpoint: a channel's codec done by py3amf (the maintained Python 3 PyAMF).

``channel.endpoint = PyAmfEndpoint()`` serves the channel with py3amf's encoders
and decoders instead of the Cython codec: same packets, same Flex messages
(small forms included), same type mapping and the same decoding budgets (see
``amfast.remoting.pyamf_converter``, which also says exactly what is registered
in py3amf globally: importing either module registers nothing).

py3amf is an optional dependency: ``pip install 'amfast[pyamf]'``.
"""
from __future__ import annotations

try:
    import pyamf  # noqa: F401
    import pyamf.remoting  # noqa: F401
except ImportError as _exc:
    raise ImportError("PyAmfEndpoint needs py3amf: pip install 'amfast[pyamf]'") from _exc

from typing import Any

import amfast
from amfast.class_def import ClassDefMapper
from amfast.remoting.packet import Packet
from amfast.remoting.endpoint import Endpoint
from amfast.remoting.pyamf_converter import PyAmfCodec

__all__ = ["PyAmfEndpoint"]


class PyAmfEndpoint(Endpoint):
    """Decodes and encodes packets and streaming frames with py3amf.

    ``class_def_mapper`` maps classes for this endpoint only (nothing is
    registered in py3amf); classes registered with
    ``pyamf_converter.register_class_mapper`` or ``pyamf.register_class`` are
    mapped too.  ``use_collections``, ``use_proxies``, ``use_legacy_xml`` and
    ``include_private`` are the options of ``amfast.encoder.Encoder``;
    ``aware_datetimes``, ``xml_type`` and the budgets (``max_depth=...``, see
    ``amfast.decoder.DEFAULT_LIMITS``) those of ``amfast.decoder.Decoder``.
    Replies to AMF3 clients carry AMF3 bodies.
    """

    def __init__(self, class_def_mapper: ClassDefMapper | None = None,
                 use_collections: bool = False, use_proxies: bool = False,
                 use_legacy_xml: bool = False, include_private: bool = False,
                 aware_datetimes: bool = False, xml_type: str = "minidom", **limits: int):
        self.codec = PyAmfCodec(class_def_mapper, use_collections, use_proxies, use_legacy_xml,
                                include_private, aware_datetimes, xml_type, **limits)

    @property
    def class_def_mapper(self) -> ClassDefMapper:
        return self.codec.class_def_mapper

    def decodePacket(self, raw: bytes) -> Packet:
        if amfast.log_raw:
            amfast.logger.debug("request bytes: %s", amfast.format_byte_string(raw))
        packet = self.codec.decode_packet(raw)
        if amfast.log_debug:
            amfast.logger.debug("request packet: %r", packet)
        return packet

    def encodePacket(self, packet: Packet) -> bytes:
        if amfast.log_debug:
            amfast.logger.debug("response packet: %r", packet)
        raw = self.codec.encode_packet(packet)
        if amfast.log_raw:
            amfast.logger.debug("response bytes: %s", amfast.format_byte_string(raw))
        return raw

    def decode(self, raw: bytes, amf3: bool = False) -> Any:
        return self.codec.decode(raw, bool(amf3))

    def encode(self, val: Any, amf3: bool = False) -> bytes:
        return self.codec.encode(val, bool(amf3))

    def __repr__(self) -> str:
        return "PyAmfEndpoint()"
