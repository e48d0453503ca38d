"""Flex messages (``flex.messaging.messages.*``) and the small forms DSA, DSC and DSK."""
from __future__ import annotations

import time
import traceback
import uuid
from typing import Any

from amfast import decode as amf_decode
from amfast.class_def import ClassDef, ExternClassDef
from amfast.class_def.as_types import AsError
from amfast.remoting.errors import FlexMessageError, SecurityError


def _new_id() -> str:
    return str(uuid.uuid4()).upper()


def _now_ms() -> int:
    return int(time.time() * 1000)


class FaultError(AsError):
    """An error to send to a Flex client as an ``ErrorMessage``.

    Raise it from a target to choose the ``faultCode``, ``faultDetail`` and the
    ``extendedData`` (``content``) the client sees.
    """

    def __init__(self, message: str = "", exc: BaseException | None = None, detail: str = "",
                 content: Any = None, faultCode: str | None = None):
        AsError.__init__(self, message, exc)
        self.faultCode = faultCode or self.name
        self.faultString = self.message
        self.faultDetail = detail
        self.rootCause = None
        self.content = content


class AbstractMessage:
    """Fields every Flex message has."""

    DESTINATION_CLIENT_ID_HEADER = "DSDstClientId"
    ENDPOINT_HEADER = "DSEndpoint"
    FLEX_CLIENT_ID_HEADER = "DSId"
    PRIORITY_HEADER = "DSPriority"
    REMOTE_CREDENTIALS_CHARSET_HEADER = "DSRemoteCredentialsCharset"
    REMOTE_CREDENTIALS_HEADER = "DSRemoteCredentials"
    REQUEST_TIMEOUT_HEADER = "DSRequestTimeout"
    STATUS_CODE_HEADER = "DSStatusCode"

    def __init__(self, body: Any = None, clientId: str | None = None,
                 destination: str | None = None, headers: dict | None = None,
                 timeToLive: int | None = None, timestamp: int | None = None,
                 messageId: str | None = None):
        self.body = body
        self.clientId = clientId
        self.destination = destination
        self.headers = {} if headers is None else headers
        self.timeToLive = 0 if timeToLive is None else timeToLive
        self.timestamp = _now_ms() if timestamp is None else timestamp
        self.messageId = _new_id() if messageId is None else messageId

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items())
                           if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def invoke(self, packet: Any, msg: Any) -> "AbstractMessage":
        """Process this message; return the reply message."""
        raise FlexMessageError(f"{type(self).__name__} cannot be invoked on this server.")

    def getAcknowledgeClass(self) -> type:
        return AcknowledgeMessage

    def acknowledge(self, packet: Any = None, msg: Any = None) -> "AcknowledgeMessage":
        """The reply to this message (its ``correlationId`` is this ``messageId``)."""
        ack = self.getAcknowledgeClass()()
        self._matchAcknowledge(ack)
        return ack

    def fail(self, packet: Any, msg: Any, exc: BaseException,
             debug: bool = False) -> "ErrorMessage":
        """The ErrorMessage reporting ``exc`` to the client."""
        error = ErrorMessage(exc=exc, debug=debug)
        self._matchAcknowledge(error)
        return error

    def _matchAcknowledge(self, ack: "AbstractMessage") -> None:
        ack.correlationId = self.messageId
        ack.clientId = self.clientId


class RemotingMessage(AbstractMessage):
    """A RemoteObject call: ``destination`` names the service, ``operation`` the method."""

    def __init__(self, body: Any = None, clientId: str | None = None,
                 destination: str | None = None, headers: dict | None = None,
                 timeToLive: int | None = None, timestamp: int | None = None,
                 messageId: str | None = None, operation: str | None = None,
                 source: str | None = None):
        AbstractMessage.__init__(self, body, clientId, destination, headers, timeToLive,
                                 timestamp, messageId)
        self.operation = operation
        self.source = source

    def invoke(self, packet: Any, msg: Any) -> "AcknowledgeMessage":
        """Call the target ``destination.operation``; the ack carries its result."""
        target = packet.service_mapper.getTarget(self.destination, self.operation)
        if target is None:
            raise FlexMessageError(f"Operation '{self.destination}.{self.operation}' not found.")
        if target.secure and not packet.authenticated:
            raise SecurityError("Operation requires authentication.")
        ack = self.acknowledge(packet, msg)
        args = self.body if isinstance(self.body, (list, tuple)) else [self.body]
        ack.body = target.invoke(packet, msg, args)
        return ack


class AsyncMessage(AbstractMessage):
    """A message published to, or pushed from, a messaging destination."""

    SUBTOPIC_HEADER = "DSSubtopic"

    def __init__(self, body: Any = None, clientId: str | None = None,
                 destination: str | None = None, headers: dict | None = None,
                 timeToLive: int | None = None, timestamp: int | None = None,
                 messageId: str | None = None, correlationId: str | None = None):
        AbstractMessage.__init__(self, body, clientId, destination, headers, timeToLive,
                                 timestamp, messageId)
        self.correlationId = correlationId


class AcknowledgeMessage(AsyncMessage):
    """The successful reply to any Flex message."""

    ERROR_HINT_HEADER = "DSErrorHint"


class CommandMessage(AsyncMessage):
    """A protocol command (ping, login, subscribe, poll, ...)."""

    SUBSCRIBE_OPERATION = 0
    UNSUBSCRIBE_OPERATION = 1
    POLL_OPERATION = 2
    CLIENT_SYNC_OPERATION = 4
    CLIENT_PING_OPERATION = 5
    CLUSTER_REQUEST_OPERATION = 7
    LOGIN_OPERATION = 8
    LOGOUT_OPERATION = 9
    SUBSCRIPTION_INVALIDATE_OPERATION = 10
    MULTI_SUBSCRIBE_OPERATION = 11
    DISCONNECT_OPERATION = 12
    TRIGGER_CONNECT_OPERATION = 13
    UNKNOWN_OPERATION = 10000

    ADD_SUBSCRIPTIONS = "DSAddSub"
    CREDENTIALS_CHARSET_HEADER = "DSCredentialsCharset"
    MAX_FREQUENCY_HEADER = "DSMaxFrequency"
    MESSAGING_VERSION = "DSMessagingVersion"
    NEEDS_CONFIG_HEADER = "DSNeedsConfig"
    NO_OP_POLL_HEADER = "DSNoOpPoll"
    POLL_WAIT_HEADER = "DSPollWait"
    PRESERVE_DURABLE_HEADER = "DSPreserveDurable"
    REMOVE_SUBSCRIPTIONS = "DSRemSub"
    SELECTOR_HEADER = "DSSelector"
    SUBTOPIC_SEPARATOR = "_;_"

    def __init__(self, body: Any = None, clientId: str | None = None,
                 destination: str | None = None, headers: dict | None = None,
                 timeToLive: int | None = None, timestamp: int | None = None,
                 messageId: str | None = None, correlationId: str | None = None,
                 operation: int = UNKNOWN_OPERATION):
        AsyncMessage.__init__(self, body, clientId, destination, headers, timeToLive,
                              timestamp, messageId, correlationId)
        self.operation = operation

    def invoke(self, packet: Any, msg: Any) -> AbstractMessage:
        """Run the ``command_service`` target mapped to this operation.

        The target gets the command's body; its result becomes the ack's body,
        unless it returns a whole reply message.
        """
        target = packet.service_mapper.command_service.getTarget(self.operation)
        if target is None:
            raise FlexMessageError(f"Command '{self.operation}' not found.")
        result = target.invoke(packet, msg, (self.body,))
        if isinstance(result, AbstractMessage):
            return result
        ack = self.acknowledge(packet, msg)
        ack.body = result
        return ack

    def getAcknowledgeClass(self) -> type:
        # Flex reads a poll's messages from a CommandMessage reply (CLIENT_SYNC).
        if self.operation == self.POLL_OPERATION:
            return CommandMessage
        return AcknowledgeMessage


class ErrorMessage(AcknowledgeMessage):
    """The failed reply to a Flex message."""

    AUTHENTICATION_FAULT_CODE = "Client.Authentication"

    def __init__(self, body: Any = None, clientId: str | None = None,
                 destination: str | None = None, headers: dict | None = None,
                 timeToLive: int | None = None, timestamp: int | None = None,
                 messageId: str | None = None, correlationId: str | None = None,
                 exc: BaseException | None = None, faultCode: str = "", faultString: str = "",
                 faultDetail: str = "", rootCause: Any = None, extendedData: Any = None,
                 debug: bool = False):
        AcknowledgeMessage.__init__(self, body, clientId, destination, headers, timeToLive,
                                    timestamp, messageId, correlationId)
        self.faultCode = faultCode
        self.faultString = faultString
        self.faultDetail = faultDetail
        self.rootCause = rootCause
        self.extendedData = extendedData
        if exc is not None:
            self._describe(exc, debug)

    def _describe(self, exc: BaseException, debug: bool) -> None:
        """Fault fields from an exception; a traceback only in debug mode."""
        self.faultString = str(exc)
        if isinstance(exc, FaultError):
            self.faultCode = exc.faultCode
            self.faultDetail = exc.faultDetail
            self.extendedData = exc.content
        elif isinstance(exc, SecurityError):
            self.faultCode = self.AUTHENTICATION_FAULT_CODE
        else:
            self.faultCode = type(exc).__name__
        if debug:
            self.faultDetail = "".join(traceback.format_exception(exc))


# -- small messages (ISmallMessage): DSA, DSC, DSK ------------------------------------

_HAS_NEXT = 0x80
# First flag byte of AbstractMessage, then the second.
_ABSTRACT_FIELDS = (("body", "clientId", "destination", "headers", "messageId", "timestamp",
                     "timeToLive"), ("clientIdBytes", "messageIdBytes"))


def _read_flags(context: Any) -> list:
    flags = []
    while True:
        byte = context.read(1)[0]
        flags.append(byte)
        if not byte & _HAS_NEXT:
            return flags


def _uuid_from_bytes(raw: Any) -> str:
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 16:
        raise FlexMessageError("small message id is not a 16-byte UUID")
    return str(uuid.UUID(bytes=bytes(raw))).upper()


def _read_flagged(context: Any, fields_by_byte: tuple) -> dict:
    """Read one flag block: known bits give fields, unknown bits values to skip."""
    values = {}
    for index, flags in enumerate(_read_flags(context)):
        known = fields_by_byte[index] if index < len(fields_by_byte) else ()
        for bit in range(7):
            if not flags & (1 << bit):
                continue
            value = amf_decode.decode(context)
            if bit < len(known):
                values[known[bit]] = value
    return values


class _SmallMessageDef(ExternClassDef):
    """Reads a small message into the full message class (decode only)."""

    def __init__(self, class_: type, alias: str, blocks: tuple):
        ExternClassDef.__init__(self, class_, alias, _built_in=True)
        self.blocks = blocks

    def readExternal(self, obj: Any, context: Any) -> None:
        AbstractMessage.__init__(obj, timestamp=0, messageId="")
        if isinstance(obj, AsyncMessage):
            obj.correlationId = None
        if isinstance(obj, CommandMessage):
            obj.operation = CommandMessage.UNKNOWN_OPERATION
        for block in self.blocks:
            for name, value in _read_flagged(context, block).items():
                if name.endswith("Bytes"):
                    name, value = name[:-len("Bytes")], _uuid_from_bytes(value)
                setattr(obj, name, value)
        if obj.headers is None:
            obj.headers = {}


_ASYNC_FIELDS = (("correlationId", "correlationIdBytes"),)
_COMMAND_FIELDS = (("operation",),)


def class_defs() -> list:
    """The ClassDefs of the Flex messages, small forms first (the full aliases win on encode)."""
    abstract = ("body", "clientId", "destination", "headers", "messageId", "timestamp",
                "timeToLive")
    async_attrs = abstract + ("correlationId",)
    return [
        _SmallMessageDef(AsyncMessage, "DSA", (_ABSTRACT_FIELDS, _ASYNC_FIELDS)),
        _SmallMessageDef(CommandMessage, "DSC",
                         (_ABSTRACT_FIELDS, _ASYNC_FIELDS, _COMMAND_FIELDS)),
        _SmallMessageDef(AcknowledgeMessage, "DSK", (_ABSTRACT_FIELDS, _ASYNC_FIELDS)),
        ClassDef(RemotingMessage, "flex.messaging.messages.RemotingMessage",
                 abstract + ("operation", "source"), _built_in=True),
        ClassDef(AsyncMessage, "flex.messaging.messages.AsyncMessage", async_attrs,
                 _built_in=True),
        ClassDef(CommandMessage, "flex.messaging.messages.CommandMessage",
                 async_attrs + ("operation",), _built_in=True),
        ClassDef(AcknowledgeMessage, "flex.messaging.messages.AcknowledgeMessage", async_attrs,
                 _built_in=True),
        ClassDef(ErrorMessage, "flex.messaging.messages.ErrorMessage",
                 async_attrs + ("faultCode", "faultString", "faultDetail", "rootCause",
                                "extendedData"), _built_in=True),
    ]
