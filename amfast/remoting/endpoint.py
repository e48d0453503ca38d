"""Endpoints turn packet bytes into Packets and back."""
from __future__ import annotations

from typing import Any

import amfast
from amfast.class_def import ClassDefMapper
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting.packet import Packet
from amfast.remoting.push_encoding import PushEncoder


class Endpoint:
    """The codec a channel uses: ``decodePacket``/``encodePacket`` and single values."""

    def decodePacket(self, raw: bytes) -> Packet:
        raise NotImplementedError

    def encodePacket(self, packet: Packet) -> bytes:
        raise NotImplementedError

    def decode(self, raw: bytes, amf3: bool = False) -> Any:
        raise NotImplementedError

    def encode(self, val: Any, amf3: bool = False) -> bytes:
        raise NotImplementedError

    def pushEncoder(self) -> PushEncoder:
        """This endpoint's ``PushEncoder``: the stream frames of published messages, each
        encoded once for all its subscribers (``frameFor``)."""
        pusher = self.__dict__.get("_pusher")
        if pusher is None:
            pusher = self._pusher = PushEncoder(lambda msg: self.encode(msg, amf3=True))
        return pusher


class AmfEndpoint(Endpoint):
    """The Cython codec, configured by an ``Encoder`` and a ``Decoder``.

    When neither is given, both share one new ``ClassDefMapper``.  Replies to
    AMF3 clients (packet version 3) carry AMF3 bodies.
    """

    def __init__(self, encoder: Encoder | None = None, decoder: Decoder | None = None):
        if encoder is None and decoder is None:
            mapper = ClassDefMapper()
        else:
            mapper = (encoder if encoder is not None else decoder).class_def_mapper
        self.encoder = encoder if encoder is not None else Encoder(class_def_mapper=mapper)
        self.decoder = decoder if decoder is not None else Decoder(class_def_mapper=mapper)

    def decodePacket(self, raw: bytes) -> Packet:
        if amfast.log_raw:
            amfast.logger.debug("request bytes: %s", amfast.format_byte_string(raw))
        packet = self.decoder.decode_packet(raw)
        if amfast.log_debug:
            amfast.logger.debug("request packet: %r", packet)
        return packet

    def encodePacket(self, packet: Packet) -> bytes:
        if amfast.log_debug:
            amfast.logger.debug("response packet: %r", packet)
        raw = self.encoder.encode_packet(packet, amf3=packet.is_amf3)
        if amfast.log_raw:
            amfast.logger.debug("response bytes: %s", amfast.format_byte_string(raw))
        return raw

    def decode(self, raw: bytes, amf3: bool = False) -> Any:
        return self.decoder.decode(raw, amf3)

    def encode(self, val: Any, amf3: bool = False) -> bytes:
        return self.encoder.encode(val, amf3)
