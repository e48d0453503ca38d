"""AMF remoting: packets, services and the targets they dispatch to.

A request ``Packet`` holds ``Header``s and ``Message``s.  Each header invokes
the target of the same name in ``ServiceMapper.packet_header_service``; each
message invokes ``Service.method`` (NetConnection) or carries a Flex message
(target ``null``).  ``Packet.invoke`` returns the reply packet.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable, Iterator

import amfast
from amfast.class_def.as_types import AsError
from amfast.remoting.errors import RemotingError, SecurityError
from amfast.remoting.flex_messages import AbstractMessage, ErrorMessage
from amfast.remoting import targets


def _debug(packet: "Packet") -> bool:
    """Whether faults may carry tracebacks: the channel set's ``debug`` flag."""
    channel = getattr(packet, "channel", None)
    return bool(getattr(getattr(channel, "channel_set", None), "debug", False))


def _log_failure(what: str, exc: BaseException) -> None:
    amfast.logger.warning("%s failed: %s: %s", what, type(exc).__name__, exc,
                          exc_info=exc if amfast.log_debug else None)


class Header:
    """A packet header: a named AMF value, which the receiver must understand if ``required``."""

    def __init__(self, name: str, required: bool = False, value: Any = None):
        self.name = name
        self.required = required
        self.value = value

    def invoke(self, packet: "Packet") -> None:
        """Run the header target named like this header (unknown required headers fail)."""
        target = packet.service_mapper.packet_header_service.getTarget(self.name)
        if target is None:
            if self.required:
                raise RemotingError(f"Required header '{self.name}' is not understood.")
            return
        target.invoke(packet, self, (self.value,))

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

    @staticmethod
    def isRequestTarget(target: str | None) -> bool:
        """A call's target (``Service.method``, ``null``), not a reply's (``/n/onResult``)."""
        return not (target or "").endswith(
            (Message.SUCCESS_TARGET, Message.FAILED_TARGET, Message.DEBUG_TARGET))

    @property
    def is_request(self) -> bool:
        return self.isRequestTarget(self.target)

    @property
    def is_flex_msg(self) -> bool:
        """A Flex message call: target ``null`` and a Flex message as the only argument."""
        body = self.body
        return (self.target == "null" and isinstance(body, (list, tuple)) and len(body) == 1
                and isinstance(body[0], AbstractMessage))

    def invoke(self, packet: "Packet") -> "Message":
        """The reply to this call; a failure becomes a fault reply, never an exception."""
        try:
            if self.is_flex_msg:
                flex_msg = self.body[0]
                if not isinstance(flex_msg.headers, dict):
                    flex_msg.headers = {}
                flex_msg.connection = packet.channel.getFlexConnection(flex_msg)
                reply_body = flex_msg.invoke(packet, self)
                suffix = self.FAILED_TARGET if isinstance(reply_body, ErrorMessage) \
                    else self.SUCCESS_TARGET
                return Message(f"{self.response}{suffix}", "", reply_body)
            return Message(f"{self.response}{self.SUCCESS_TARGET}", "", self._call(packet))
        except Exception as exc:
            return self.fail(packet, exc)

    def _call(self, packet: "Packet") -> Any:
        """A NetConnection call: ``Service.method``, or ``method`` of the default service."""
        service_name, _, method = (self.target or "").rpartition(Service.SEPARATOR)
        mapper = packet.service_mapper
        if service_name:
            target = mapper.getTarget(service_name, method)
        else:
            target = mapper.default_service.getTarget(method)
        if target is None:
            raise RemotingError(f"Target '{self.target}' not found.")
        if target.secure and not packet.authenticated:
            raise SecurityError("Target requires authentication.")
        args = self.body if isinstance(self.body, (list, tuple)) else [self.body]
        return target.invoke(packet, self, args)

    def fail(self, packet: "Packet", exc: BaseException) -> "Message":
        """The fault reply: an ErrorMessage for Flex calls, an AS Error object otherwise."""
        _log_failure(f"Call of '{self.target}'", exc)
        if self.is_flex_msg:
            body: Any = self.body[0].fail(packet, self, exc, _debug(packet))
        else:
            body = AsError(exc=exc)
            if _debug(packet):
                body.message = "".join(traceback.format_exception(exc))
        return Message(f"{self.response}{self.FAILED_TARGET}", "", body)

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

    #: Set by the channel that received the packet.
    channel: Any = None
    #: Set when the packet's Credentials header was accepted.
    authenticated = False

    @property
    def is_amf3(self) -> bool:
        return self.client_type == self.FLASH_9

    @property
    def service_mapper(self) -> "ServiceMapper":
        return self.channel.channel_set.service_mapper

    def invoke(self) -> "Packet":
        """Run the headers, then every message; return the reply packet.

        A failing header fails every message; a failing message fails only itself.
        """
        response = Packet(self.client_type)
        try:
            for header in self.headers:
                header.invoke(self)
        except Exception as exc:
            response.messages = [message.fail(self, exc) for message in self.messages]
            return response
        response.messages = [message.invoke(self) for message in self.messages]
        return response

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packet) and (self.client_type, self.headers, self.messages) == (
            other.client_type, other.headers, other.messages)

    def __repr__(self) -> str:
        return (f"Packet(client_type={self.client_type!r}, headers={self.headers!r}, "
                f"messages={self.messages!r})")


class Target:
    """Something a client can invoke; ``secure`` targets need an authenticated caller."""

    def __init__(self, name: Any, secure: bool = False):
        self.name = name
        self.secure = secure

    def invoke(self, packet: Packet, msg: Any, args: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def mapObject(cls, service: "Service", obj: Any, secure: bool = False,
                  map_private: bool = False, map_special: bool = False) -> None:
        """Map every callable attribute of ``obj`` as a target of this class in ``service``."""
        for name in dir(obj):
            if name.startswith("__") and name.endswith("__"):
                if not map_special:
                    continue
            elif name.startswith("_") and not map_private:
                continue
            attr = getattr(obj, name)
            if callable(attr):
                service.mapTarget(cls(attr, name, secure))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, secure={self.secure!r})"


class CallableTarget(Target):
    """Calls ``callable(*args)`` with the client's arguments."""

    def __init__(self, callable_: Callable, name: Any, secure: bool = False):
        Target.__init__(self, name, secure)
        self.callable = callable_

    def invoke(self, packet: Packet, msg: Any, args: Any) -> Any:
        return self.callable(*args)


class ExtCallableTarget(CallableTarget):
    """Calls ``callable(packet, message, *args)``: the target sees the request itself."""

    def invoke(self, packet: Packet, msg: Any, args: Any) -> Any:
        return self.callable(packet, msg, *args)


class Service:
    """A named collection of targets."""

    SEPARATOR = "."
    PACKET_HEADER_SERVICE = "PACKET_HEADER_SERVICE"
    COMMAND_SERVICE = "COMMAND_SERVICE"
    DEFAULT_SERVICE = "DEFAULT_SERVICE"

    def __init__(self, name: str):
        self.name = name
        self._targets: dict = {}

    def mapTarget(self, target: Target) -> None:
        self._targets[target.name] = target

    def unMapTarget(self, target: Target) -> None:
        self._targets.pop(target.name, None)

    def getTarget(self, target_name: Any) -> Target | None:
        return self._targets.get(target_name)

    def __iter__(self) -> Iterator[Target]:
        return iter(list(self._targets.values()))


class ServiceMapper:
    """Every exposed service, plus the header, command and default services."""

    def __init__(self):
        self._services: dict = {}
        self.packet_header_service = Service(Service.PACKET_HEADER_SERVICE)
        self.command_service = Service(Service.COMMAND_SERVICE)
        self.default_service = Service(Service.DEFAULT_SERVICE)
        targets.map_built_ins(self, ExtCallableTarget)

    def mapService(self, service: Service) -> None:
        self._services[service.name] = service

    def unMapService(self, service: Service) -> None:
        self._services.pop(service.name, None)

    def getService(self, service_name: str) -> Service | None:
        return self._services.get(service_name)

    def getTarget(self, service_name: str, target_name: Any) -> Target | None:
        service = self._services.get(service_name)
        return None if service is None else service.getTarget(target_name)

    def __iter__(self) -> Iterator[Service]:
        return iter(list(self._services.values()))
