"""The service browser: a target called through a channel's own AMF path.

The console is a client here: it encodes a NetConnection call (AMF3, as Flash Player 9
and Royale send them) with the arguments typed as JSON, the channel answers the bytes
as it answers any client (decoding, headers, dispatch, the target, encoding, faults),
and the console decodes the reply.  A secure target needs credentials: they go in the
``Credentials`` header, which the channel set checks as for any client.
"""
from __future__ import annotations

import time
from typing import Any

from amfast.class_def import ClassDefMapper
from amfast.console.errors import BadRequest
from amfast.console.values import to_json
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Header, Message, Packet
from amfast.remoting.channel import HttpAnswer, HttpChannel
from amfast.remoting.client import RemotingFault
from amfast.remoting.errors import ChannelError
from amfast.remoting.flex_messages import ErrorMessage
from amfast.remoting.targets import CREDENTIALS_HEADER

__all__ = ["Call", "prepare", "outcome"]

MAX_TARGET = 256


class Call:
    """A call for a transport to pass to ``channel``: ``raw`` is the request packet."""

    __slots__ = ("channel", "raw", "target", "started")

    def __init__(self, channel: HttpChannel, raw: bytes, target: str):
        self.channel = channel
        self.raw = raw
        self.target = target
        self.started = time.monotonic()


def prepare(channel_set: Any, data: Any) -> Call:
    """The call described by ``data``: ``{"channel", "target", "args": [...]}``, with
    ``"user"`` and ``"password"`` for a secure target."""
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object: {channel, target, args}.")
    try:
        channel = channel_set.getChannel(str(data.get("channel")))
    except ChannelError:
        raise BadRequest(f"No channel named {data.get('channel')!r}.") from None
    if not isinstance(channel, HttpChannel):
        raise BadRequest(f"Channel {channel.name!r} is not an HTTP channel.")
    target = data.get("target")
    if not isinstance(target, str) or not target or len(target) > MAX_TARGET:
        raise BadRequest("The target is 'Service.method' (or a method of the default service).")
    args = data.get("args", [])
    if not isinstance(args, list):
        args = [args]
    headers = []
    if data.get("user") or data.get("password"):
        headers.append(Header(CREDENTIALS_HEADER, False, {
            "userid": str(data.get("user") or ""), "password": str(data.get("password") or "")}))
    request = Packet(Packet.FLASH_9, headers, [Message(target, "/1", args)])
    return Call(channel, Encoder(amf3=True).encode_packet(request, amf3=True), target)


def outcome(call: Call, answer: HttpAnswer | None) -> dict:
    """What the service browser shows of the channel's answer: the decoded result, the
    fault, or the HTTP error."""
    shown: dict = {"target": call.target, "channel": call.channel.name,
                   "ms": round((time.monotonic() - call.started) * 1000, 3),
                   "request_bytes": len(call.raw)}
    if answer is None:
        return {**shown, "ok": False, "error": "The channel gave no answer."}
    if answer.status != 200:
        text = answer.body.decode("utf-8", "replace").strip()
        return {**shown, "ok": False, "error": f"HTTP {answer.status}: {text}"}
    shown["reply_bytes"] = len(answer.body)
    mapper = ClassDefMapper()  # the classes every client knows: Flex messages, Error
    reply = Decoder(amf3=True, class_def_mapper=mapper).decode_packet(answer.body).messages[0]
    if reply.target.endswith(Message.FAILED_TARGET) or isinstance(reply.body, ErrorMessage):
        fault = RemotingFault(reply.body)
        return {**shown, "ok": False, "fault": {"code": fault.code, "text": str(fault),
                                                "body": to_json(reply.body, mapper=mapper)}}
    return {**shown, "ok": True, "result": to_json(reply.body, mapper=mapper)}
