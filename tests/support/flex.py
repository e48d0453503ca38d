"""``FlexClient``: a Flex client for tests, on ``amfast.remoting.client``.

Where ``RemotingService`` raises on a fault, a ``FlexClient`` returns whatever the
server answered (an ack, a CLIENT_SYNC command or an ErrorMessage), so that tests
can look at faults; and it can post raw bytes to any path.  ``dsid`` is the
server-issued ``DSId``, sent with every message ("nil" before the first reply).
"""
from __future__ import annotations

from typing import Any

from amfast.remoting import Message, Packet
from amfast.remoting.client import (RemotingService, login_message, polled_messages,
                                    publish_message, subscribe_message)
from amfast.remoting.flex_messages import (AbstractMessage, CommandMessage, ErrorMessage,
                                           RemotingMessage)

DSID = AbstractMessage.FLEX_CLIENT_ID_HEADER
#: The longest any single HTTP exchange of the tests may take (s).
TIMEOUT = 10.0


def polled(reply: AbstractMessage) -> list:
    """The messages a poll reply carries ([] for a plain acknowledgement), checking that
    the reply is one of the two."""
    if isinstance(reply, CommandMessage):
        assert reply.operation == CommandMessage.CLIENT_SYNC_OPERATION, reply
        assert isinstance(reply.body, list), reply
    return polled_messages(reply)


class FlexClient:
    """One Flex client over HTTP posting to ``<base_url>/<channel>``."""

    def __init__(self, base_url: str, channel: str = "amf", timeout: float = TIMEOUT):
        self.service = RemotingService(f"{base_url}/{channel}", timeout=timeout)
        self.path = "/" + channel
        self._counter = 0

    @property
    def dsid(self) -> str | None:
        return self.service.client_id

    @dsid.setter
    def dsid(self, value: str | None) -> None:
        self.service.client_id = value

    # -- raw requests -----------------------------------------------------------------

    def post(self, raw: bytes, path: str | None = None,
             content_type: str = "application/x-amf") -> tuple[int, dict, bytes]:
        """``(status, headers, body)`` of a POST of ``raw``."""
        return self.service.request(raw, path or self.path, content_type)

    def encode(self, *messages: AbstractMessage) -> bytes:
        """The Flex messages as one AMF3 packet, as Flex batches them."""
        bodies = []
        for message in messages:
            self._counter += 1
            bodies.append(Message("null", f"/{self._counter}", [message]))
        return self.service.encoder.encode_packet(Packet(Packet.FLASH_9, [], bodies), amf3=True)

    def send_raw(self, raw: bytes) -> Packet:
        """The reply packet to raw request bytes (which must be answered 200, AMF)."""
        status, headers, body = self.post(raw)
        assert status == 200, (status, body[:300])
        assert headers.get("content-type") == "application/x-amf", headers
        return self.service.decoder.decode_packet(body)

    # -- Flex messages -------------------------------------------------------------------

    def send(self, message: AbstractMessage, keep_dsid: bool = False) -> AbstractMessage:
        """The reply (ack, CLIENT_SYNC command or ErrorMessage) to one Flex message; with
        ``keep_dsid`` the message keeps the ``DSId`` header it has."""
        if not keep_dsid:
            message.headers[DSID] = self.dsid or "nil"
        return self.service.exchange(message)

    def command(self, operation: int, **fields: Any) -> AbstractMessage:
        return self.send(CommandMessage(operation=operation, **fields))

    def ping(self, version: int | None = None) -> AbstractMessage:
        headers = {} if version is None else {CommandMessage.MESSAGING_VERSION: version}
        return self.command(CommandMessage.CLIENT_PING_OPERATION, headers=headers)

    def login(self, user: str, password: str, charset: str | None = None) -> AbstractMessage:
        return self.send(login_message(user, password, charset))

    def subscribe(self, destination: str, client_id: str | None = None,
                  sub_topic: str | None = None, selector: str | None = None
                  ) -> AbstractMessage:
        return self.send(subscribe_message(destination, sub_topic, selector, client_id))

    def publish(self, destination: str, body: Any, sub_topic: str | None = None,
                headers: dict | None = None, **fields: Any) -> AbstractMessage:
        return self.send(publish_message(destination, body, sub_topic, headers, **fields))

    def call(self, destination: str, operation: str, *args: Any) -> AbstractMessage:
        """A RemoteObject call; the ack (its ``body`` is the result) or ErrorMessage."""
        return self.send(RemotingMessage(destination=destination, operation=operation,
                                         body=list(args)))

    def poll(self, **headers: Any) -> AbstractMessage:
        return self.command(CommandMessage.POLL_OPERATION, headers=dict(headers))

    def poll_messages(self) -> list:
        reply = self.poll()
        assert not isinstance(reply, ErrorMessage), reply
        return polled(reply)

    def close(self) -> None:
        self.service.close()
