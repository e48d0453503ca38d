"""Flex messages (``flex.messaging.messages.*``) and the small forms DSA, DSC and DSK.

Data only: the dispatch core (``amfast.remoting.dispatch``) decides what a message
does.  Importing this module maps the messages' classes in every ClassDefMapper.
"""
from __future__ import annotations

import copy
import os
import random
import time
import traceback
import uuid
from typing import Any

from amfast import decode as amf_decode
from amfast import encode as amf_encode
from amfast.class_def import ClassDef, ExternClassDef, register_shared_class_defs
from amfast.class_def.as_types import AsError
from amfast.remoting.errors import FlexMessageError, SecurityError


# Message ids need to be unique, not secret (connection ids are the secret ones): a fast
# generator seeded from the OS, reseeded in every forked worker so that no two share ids.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def _new_id() -> str:
    """A random (version 4) UUID in upper case, as Flex writes message ids."""
    bits = _ids.getrandbits(128) & _UUID4_MASK | _UUID4_BITS
    text = "%032X" % bits
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)


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

    # Defaults for messages decoded from traits that leave fields out.
    body: Any = None
    clientId: Any = None
    destination: Any = None
    headers: Any = None
    messageId: Any = None
    timestamp: Any = 0
    timeToLive: Any = 0
    correlationId: Any = None

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
        """Address a reply: correlation, client id, the connection id, the small form."""
        ack.correlationId = self.messageId
        ack.clientId = self.clientId
        connection = self.__dict__.get("connection")
        if connection is not None:
            ack.headers[self.FLEX_CLIENT_ID_HEADER] = connection.id
        if isinstance(self, SMALL_MESSAGE_TYPES):
            to_small(ack)


class RemotingMessage(AbstractMessage):
    """A RemoteObject call: ``destination`` names the service, ``operation`` the method."""

    operation: Any = None
    source: Any = None

    def __init__(self, body: Any = None, clientId: str | None = None,
                 destination: str | None = None, headers: dict | None = None,
                 timeToLive: int | None = None, timestamp: int | None = None,
                 messageId: str | None = None, operation: str | None = None,
                 source: str | None = None):
        AbstractMessage.__init__(self, body, clientId, destination, headers, timeToLive,
                                 timestamp, messageId)
        self.operation = operation
        self.source = source


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

    #: Headers that concern the publisher's own connection: never forwarded.
    PRIVATE_HEADERS = (AbstractMessage.FLEX_CLIENT_ID_HEADER, AbstractMessage.ENDPOINT_HEADER,
                       AbstractMessage.REMOTE_CREDENTIALS_HEADER,
                       AbstractMessage.REMOTE_CREDENTIALS_CHARSET_HEADER)

    def forPublication(self) -> "AsyncMessage":
        """The copy that subscribers receive: in the full form, without the publisher's
        connection or its private headers."""
        published = copy.copy(self)
        published.__dict__.pop("connection", None)
        if isinstance(published, AsyncMessageExt):
            published.__class__ = AsyncMessage
        headers = self.headers if isinstance(self.headers, dict) else {}
        published.headers = {name: value for name, value in headers.items()
                             if name not in self.PRIVATE_HEADERS}
        return published

    def personalize(self, client_id: str, small: bool = False) -> "AsyncMessage":
        """A copy addressed to the subscriber ``client_id`` (the small form if asked)."""
        msg = copy.copy(self)
        msg.clientId = client_id
        if small:
            msg.__class__ = AsyncMessageExt
        return msg


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
    SUPPRESS_POLL_WAIT_HEADER = "DSSuppressPollWait"
    SUBTOPIC_SEPARATOR = "_;_"

    operation = UNKNOWN_OPERATION

    def __init__(self, body: Any = None, clientId: str | None = None,
                 destination: str | None = None, headers: dict | None = None,
                 timeToLive: int | None = None, timestamp: int | None = None,
                 messageId: str | None = None, correlationId: str | None = None,
                 operation: int = UNKNOWN_OPERATION):
        AsyncMessage.__init__(self, body, clientId, destination, headers, timeToLive,
                              timestamp, messageId, correlationId)
        self.operation = operation

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


class AsyncMessageExt(AsyncMessage):
    """An AsyncMessage travelling in the small form ``DSA``."""


class AcknowledgeMessageExt(AcknowledgeMessage):
    """An AcknowledgeMessage travelling in the small form ``DSK``."""


class CommandMessageExt(CommandMessage):
    """A CommandMessage travelling in the small form ``DSC``."""


_SMALL_FORMS = {AsyncMessage: AsyncMessageExt, AcknowledgeMessage: AcknowledgeMessageExt,
                CommandMessage: CommandMessageExt}
SMALL_MESSAGE_TYPES = tuple(_SMALL_FORMS.values())


def to_small(msg: AbstractMessage) -> AbstractMessage:
    """The message in its small form, when it has one (ErrorMessage has none)."""
    small = _SMALL_FORMS.get(type(msg))
    if small is not None:
        msg.__class__ = small
    return msg


_HAS_NEXT = 0x80
# Each block is a run of flag bytes; each flag byte names the fields of its bits, in order.
# A field ending in "Bytes" is a UUID sent as a 16-byte ByteArray.
_ABSTRACT_BLOCK = (("body", "clientId", "destination", "headers", "messageId", "timestamp",
                    "timeToLive"), ("clientIdBytes", "messageIdBytes"))
_ASYNC_BLOCK = (("correlationId", "correlationIdBytes"),)
_ACKNOWLEDGE_BLOCK = ((),)
_COMMAND_BLOCK = (("operation",),)


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


def uuid_bytes(value: Any) -> bytes | None:
    """The 16 bytes of a canonical upper-case UUID string (None for any other id)."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed.bytes if str(parsed).upper() == value else None


def _read_block(context: Any, block: tuple) -> dict:
    """Read one block: known bits give fields, unknown bits values to skip."""
    values = {}
    for index, flags in enumerate(_read_flags(context)):
        known = block[index] if index < len(block) else ()
        for bit in range(7):
            if flags & (1 << bit):
                value = amf_decode.decode(context)
                if bit < len(known):
                    values[known[bit]] = value
    return values


_ID_FIELDS = ("clientId", "messageId", "correlationId")
_ZERO_DEFAULT_FIELDS = ("timestamp", "timeToLive", "operation")


def _present(obj: Any, name: str) -> Any:
    """The value to send for a field, or None when it is left out."""
    if name.endswith("Bytes"):
        return uuid_bytes(getattr(obj, name[:-len("Bytes")], None))
    value = getattr(obj, name, None)
    if value is None:
        return None
    if name in _ID_FIELDS and uuid_bytes(value) is not None:
        return None
    if name in _ZERO_DEFAULT_FIELDS and value == 0:
        return None
    if name == "headers" and not value:
        return None
    return value


def block_flags(obj: Any, block: tuple) -> tuple:
    """The flag bytes of one block of ``obj`` and the values they announce, in order."""
    values = []
    flag_bytes = []
    for names in block:
        flags = 0
        for bit, name in enumerate(names):
            value = _present(obj, name)
            if value is not None:
                flags |= 1 << bit
                values.append(value)
        flag_bytes.append(flags)
    while len(flag_bytes) > 1 and not flag_bytes[-1]:
        flag_bytes.pop()
    last = len(flag_bytes) - 1
    return bytes(f | (_HAS_NEXT if i < last else 0) for i, f in enumerate(flag_bytes)), values


def _write_block(context: Any, obj: Any, block: tuple) -> None:
    flags, values = block_flags(obj, block)
    context.write(flags)
    for value in values:
        amf_encode.encode(value, context)


class _SmallMessageDef(ExternClassDef):
    """Reads and writes a message in its small form."""

    def __init__(self, class_: type, alias: str, blocks: tuple):
        ExternClassDef.__init__(self, class_, alias, _built_in=True)
        self.blocks = blocks

    def readExternal(self, obj: Any, context: Any) -> None:
        AbstractMessage.__init__(obj, timestamp=0, messageId="")
        obj.correlationId = None
        if isinstance(obj, CommandMessage):
            obj.operation = 0
        for block in self.blocks:
            for name, value in _read_block(context, block).items():
                if name.endswith("Bytes"):
                    name, value = name[:-len("Bytes")], _uuid_from_bytes(value)
                setattr(obj, name, value)
        if obj.headers is None:
            obj.headers = {}

    def writeExternal(self, obj: Any, context: Any) -> None:
        for block in self.blocks:
            _write_block(context, obj, block)


def class_defs() -> list:
    """The ClassDefs of the Flex messages and of their small forms."""
    abstract = ("body", "clientId", "destination", "headers", "messageId", "timestamp",
                "timeToLive")
    async_attrs = abstract + ("correlationId",)
    return [
        _SmallMessageDef(AsyncMessageExt, "DSA", (_ABSTRACT_BLOCK, _ASYNC_BLOCK)),
        _SmallMessageDef(CommandMessageExt, "DSC",
                         (_ABSTRACT_BLOCK, _ASYNC_BLOCK, _COMMAND_BLOCK)),
        _SmallMessageDef(AcknowledgeMessageExt, "DSK",
                         (_ABSTRACT_BLOCK, _ASYNC_BLOCK, _ACKNOWLEDGE_BLOCK)),
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


register_shared_class_defs(class_defs())
