"""Channels receive packets for a ChannelSet, which holds the services and authentication."""
from __future__ import annotations

import uuid
from typing import Iterator

from amfast.encoder import EncodeError
from amfast.remoting import Packet, ServiceMapper
from amfast.remoting.endpoint import AmfEndpoint, Endpoint
from amfast.remoting.errors import (ChannelError, ChannelFullError, NotConnectedError,
                                    SecurityError)

__all__ = ["ChannelSet", "Channel", "HttpChannel", "ChannelError", "ChannelFullError",
           "NotConnectedError", "SecurityError"]


class ChannelSet:
    """The services and the channels that expose them.

    Subclass it and override ``login(user, password)`` (or AmFast's
    ``checkCredentials``) to enable authentication; either must raise
    ``SecurityError`` for bad credentials.  With ``debug``, faults sent to
    clients carry tracebacks.
    """

    def __init__(self, service_mapper: ServiceMapper | None = None, debug: bool = False):
        self.service_mapper = ServiceMapper() if service_mapper is None else service_mapper
        self.debug = debug
        self._channels: dict[str, Channel] = {}

    def mapChannel(self, channel: "Channel") -> None:
        channel._channel_set = self
        self._channels[channel.name] = channel

    def unMapChannel(self, channel: "Channel") -> None:
        self._channels.pop(channel.name, None)
        channel._channel_set = None

    def getChannel(self, name: str) -> "Channel":
        try:
            return self._channels[name]
        except KeyError:
            raise ChannelError(f"Channel '{name}' is not mapped.") from None

    def __iter__(self) -> Iterator["Channel"]:
        return iter(list(self._channels.values()))

    def generateId(self) -> str:
        """A new connection id."""
        return str(uuid.uuid4())

    def login(self, user: str, password: str) -> bool:
        """Check credentials: return True, or raise ``SecurityError``."""
        raise SecurityError("Authentication not implemented.")

    def checkCredentials(self, user: str, password: str) -> None:
        """AmFast's authentication hook; by default it asks ``login``."""
        if not self.login(user, password):
            raise SecurityError("Invalid credentials.")


class Channel:
    """Receives packets through an endpoint and dispatches them in its channel set."""

    def __init__(self, name: str, max_connections: int = -1, endpoint: Endpoint | None = None):
        self.name = name
        self.max_connections = max_connections
        self.endpoint = AmfEndpoint() if endpoint is None else endpoint
        self._channel_set: ChannelSet | None = None

    @property
    def channel_set(self) -> ChannelSet | None:
        return self._channel_set

    def decode(self, raw: bytes) -> Packet:
        return self.endpoint.decodePacket(raw)

    def invoke(self, packet: Packet) -> Packet:
        """The reply packet to ``packet``."""
        packet.channel = self
        return packet.invoke()

    def encode(self, response: Packet, request: Packet | None = None) -> bytes:
        """Encode a reply; a message whose result cannot be encoded becomes a fault."""
        try:
            return self.endpoint.encodePacket(response)
        except EncodeError:
            if request is None:
                raise
        for index, message in enumerate(response.messages):
            try:
                self.endpoint.encodePacket(Packet(response.client_type, [], [message]))
            except EncodeError as exc:
                response.messages[index] = request.messages[index].fail(request, exc)
        return self.endpoint.encodePacket(response)


class HttpChannel(Channel):
    """A channel reached over HTTP POST; requests above ``max_body_size`` bytes are refused."""

    CONTENT_TYPE = "application/x-amf"
    DEFAULT_MAX_BODY_SIZE = 16 * 1024 * 1024

    def __init__(self, name: str, max_connections: int = -1, endpoint: Endpoint | None = None,
                 max_body_size: int = DEFAULT_MAX_BODY_SIZE):
        Channel.__init__(self, name, max_connections, endpoint)
        self.max_body_size = max_body_size

