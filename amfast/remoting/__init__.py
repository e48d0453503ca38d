"""AMF remoting envelopes: a Packet holds Headers and Messages."""
from __future__ import annotations

from typing import Any


class Header:
    """A packet header: a named AMF value, which the receiver must understand if ``required``."""

    def __init__(self, name: str, required: bool = False, value: Any = None):
        self.name = name
        self.required = required
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Header) and (self.name, self.required, self.value) == (
            other.name, other.required, other.value)

    def __repr__(self) -> str:
        return f"Header({self.name!r}, required={self.required!r}, value={self.value!r})"


class Message:
    """A packet body: a call (``target`` 'Service.method', ``response`` '/n') or a reply."""

    SUCCESS_TARGET = "/onResult"
    FAILED_TARGET = "/onStatus"
    DEBUG_TARGET = "/onDebugEvents"

    def __init__(self, target: str | None = None, response: str | None = None, body: Any = None):
        self.target = target
        self.response = response
        self.body = body

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.target, self.response, self.body) == (
            other.target, other.response, other.body)

    def __repr__(self) -> str:
        return f"Message(target={self.target!r}, response={self.response!r}, body={self.body!r})"


class Packet:
    """An AMF remoting packet; ``client_type`` is the version field (0, 1 or 3)."""

    FLASH_8 = 0
    FLASH_COM = 1
    FLASH_9 = 3

    def __init__(self, client_type: int | None = None, headers: list | None = None,
                 messages: list | None = None):
        self.client_type = self.FLASH_8 if client_type is None else client_type
        self.headers = [] if headers is None else headers
        self.messages = [] if messages is None else messages

    @property
    def is_amf3(self) -> bool:
        return self.client_type == self.FLASH_9

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packet) and (self.client_type, self.headers, self.messages) == (
            other.client_type, other.headers, other.messages)

    def __repr__(self) -> str:
        return (f"Packet(client_type={self.client_type!r}, headers={self.headers!r}, "
                f"messages={self.messages!r})")
