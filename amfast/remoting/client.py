"""A Python AMF client: NetConnection-style calls and Flex RemoteObject calls over HTTP.

>>> service = RemotingService("http://127.0.0.1:8000/amf")
>>> service.call("ExampleService.echo", "hello")
'hello'
>>> service.remote_call("ExampleService", "echo", "hello")   # a Flex RemotingMessage
'hello'
"""
from __future__ import annotations

import base64
import http.client
import threading
import urllib.parse
from typing import Any, Iterable, Iterator

from amfast.class_def import ClassDefMapper
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Header, Message, Packet
from amfast.remoting.errors import RemotingError
from amfast.remoting.flex_messages import (AbstractMessage, AsyncMessage, CommandMessage,
                                           ErrorMessage, RemotingMessage)
from amfast.remoting.framing import FrameReader
from amfast.remoting.targets import CREDENTIALS_HEADER, NIL_DSID

__all__ = ["RemotingService", "MessageStream", "RemotingFault", "HttpError", "ping_message",
           "login_message", "subscribe_message", "unsubscribe_message", "publish_message",
           "polled_messages"]


class RemotingFault(RemotingError):
    """The server answered a call with a fault; ``fault`` is the body it sent.

    ``code`` is the Flex ``faultCode`` or the AS Error's ``name``.
    """

    def __init__(self, fault: Any):
        self.fault = fault
        if isinstance(fault, ErrorMessage):
            self.code, message = fault.faultCode, fault.faultString
        else:
            self.code = getattr(fault, "name", None) or (
                fault.get("name") if isinstance(fault, dict) else None)
            message = getattr(fault, "message", None) or (
                fault.get("message") if isinstance(fault, dict) else fault)
        RemotingError.__init__(self, f"{self.code}: {message}")


class HttpError(RemotingError):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body
        RemotingError.__init__(self, f"HTTP {status}: {body[:200]!r}")


# -- the Flex messages a client sends ---------------------------------------------------


def ping_message(version: int | None = 1) -> CommandMessage:
    """CLIENT_PING, offering small messages (``DSMessagingVersion``) unless ``version`` is None."""
    headers = {} if version is None else {CommandMessage.MESSAGING_VERSION: version}
    return CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION, headers=headers)


def login_message(user: str, password: str, charset: str | None = None) -> CommandMessage:
    """LOGIN: base64 of ``user:password`` in ``charset`` (announced when given)."""
    credentials = base64.b64encode(f"{user}:{password}".encode(charset or "utf-8"))
    headers = {} if charset is None else {CommandMessage.CREDENTIALS_CHARSET_HEADER: charset}
    return CommandMessage(operation=CommandMessage.LOGIN_OPERATION,
                          body=credentials.decode("ascii"), headers=headers)


def subscribe_message(destination: str, sub_topic: str | None = None,
                      selector: str | None = None, client_id: str | None = None
                      ) -> CommandMessage:
    """SUBSCRIBE a Consumer (``client_id`` None: the server assigns one)."""
    headers: dict = {}
    if sub_topic is not None:
        headers[AsyncMessage.SUBTOPIC_HEADER] = sub_topic
    if selector is not None:
        headers[CommandMessage.SELECTOR_HEADER] = selector
    return CommandMessage(operation=CommandMessage.SUBSCRIBE_OPERATION, destination=destination,
                          clientId=client_id, headers=headers)


def unsubscribe_message(client_id: str, destination: str, sub_topic: str | None = None
                        ) -> CommandMessage:
    headers = {} if sub_topic is None else {AsyncMessage.SUBTOPIC_HEADER: sub_topic}
    return CommandMessage(operation=CommandMessage.UNSUBSCRIBE_OPERATION,
                          destination=destination, clientId=client_id, headers=headers)


def publish_message(destination: str, body: Any, sub_topic: str | None = None,
                    headers: dict | None = None, **fields: Any) -> AsyncMessage:
    """What a Producer sends."""
    headers = dict(headers or {})
    if sub_topic is not None:
        headers[AsyncMessage.SUBTOPIC_HEADER] = sub_topic
    return AsyncMessage(body=body, destination=destination, headers=headers, **fields)


def polled_messages(reply: AbstractMessage) -> list:
    """The messages a poll reply carries (a CLIENT_SYNC command; none in a plain ack)."""
    if isinstance(reply, CommandMessage) and \
            reply.operation == CommandMessage.CLIENT_SYNC_OPERATION:
        return list(reply.body or ())
    return []


class RemotingService:
    """Calls services on an AMF gateway at ``url`` over one keep-alive HTTP connection.

    ``amf3`` chooses AMF3 arguments (packet version 3) for NetConnection calls;
    Flex calls always use AMF3.  Thread-safe: calls are serialised.
    """

    def __init__(self, url: str, amf3: bool = False,
                 class_def_mapper: ClassDefMapper | None = None, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http:// URL, not {url!r}")
        self.url = url
        self.amf3 = amf3
        mapper = ClassDefMapper() if class_def_mapper is None else class_def_mapper
        self.encoder = Encoder(class_def_mapper=mapper)
        self.decoder = Decoder(class_def_mapper=mapper)
        self.timeout = timeout
        self.headers: list[Header] = []
        #: The server-issued connection id (``DSId``), once a Flex message was answered.
        self.client_id: str | None = None
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._lock = threading.Lock()
        self._counter = 0
        self._conn: http.client.HTTPConnection | None = None

    # -- packets ---------------------------------------------------------------

    def addHeader(self, name: str, value: Any, required: bool = False) -> None:
        """Send a header with every later request (replacing one of the same name)."""
        self.headers = [h for h in self.headers if h.name != name]
        self.headers.append(Header(name, required, value))

    def setCredentials(self, userid: str, password: str) -> None:
        """Authenticate NetConnection calls with the ``Credentials`` header."""
        self.addHeader(CREDENTIALS_HEADER, {"userid": userid, "password": password})

    def request(self, raw: bytes, path: str | None = None,
                content_type: str = "application/x-amf") -> tuple[int, dict, bytes]:
        """POST ``raw`` (to ``path``, default the service's); ``(status, headers, body)``,
        header names in lower case."""
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(self._host, self._port,
                                                            timeout=self.timeout)
                try:
                    self._conn.request("POST", path or self._path, raw,
                                       {"Content-Type": content_type})
                    response = self._conn.getresponse()
                    body = response.read()
                except (http.client.HTTPException, ConnectionError):
                    # A kept-alive connection the server closed: retry once on a new one.
                    self.close()
                    if attempt == 2:
                        raise
                    continue
                return (response.status, {k.lower(): v for k, v in response.getheaders()},
                        body)
        raise AssertionError("unreachable")

    def post(self, raw: bytes) -> bytes:
        """POST raw AMF bytes; the reply's bytes (HttpError for a non-200 status)."""
        status, _, body = self.request(raw)
        if status != 200:
            raise HttpError(status, body)
        return body

    def send(self, messages: Iterable[tuple[str, Any]], client_type: int | None = None
             ) -> list[Message]:
        """Send ``(target, body)`` pairs in one packet; the reply messages, in order."""
        request = Packet(self._client_type() if client_type is None else client_type,
                         list(self.headers))
        for target, body in messages:
            self._counter += 1
            request.messages.append(Message(target, f"/{self._counter}", body))
        raw = self.encoder.encode_packet(request, amf3=request.is_amf3)
        reply = self.decoder.decode_packet(self.post(raw))
        by_response = {m.target.rsplit("/", 1)[0]: m for m in reply.messages}
        return [by_response[m.response] for m in request.messages]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _client_type(self) -> int:
        return Packet.FLASH_9 if self.amf3 else Packet.FLASH_8

    # -- NetConnection calls ----------------------------------------------------

    def call(self, target: str, *args: Any) -> Any:
        """Call ``Service.method`` with ``args``; its result, or RemotingFault."""
        return self.call_many([(target, args)])[0]

    def call_many(self, calls: Iterable[tuple[str, Iterable[Any]]]) -> list[Any]:
        """Several calls in one packet; their results (a fault raises RemotingFault)."""
        replies = self.send((target, list(args)) for target, args in calls)
        return [_result(reply) for reply in replies]

    # -- Flex messages ------------------------------------------------------------

    def exchange(self, message: AbstractMessage) -> AbstractMessage:
        """Send one Flex message (carrying our ``DSId`` unless it has one); the reply
        message, ack or ErrorMessage.  The server-issued ``DSId`` is remembered."""
        if isinstance(message.headers, dict):
            message.headers.setdefault(AbstractMessage.FLEX_CLIENT_ID_HEADER,
                                       self.client_id or NIL_DSID)
        reply = self.send([("null", [message])], Packet.FLASH_9)[0].body
        client_id = reply.headers.get(AbstractMessage.FLEX_CLIENT_ID_HEADER) if isinstance(
            getattr(reply, "headers", None), dict) else None
        if client_id:
            self.client_id = client_id
        return reply

    def send_flex(self, message: AbstractMessage) -> AbstractMessage:
        """Send one Flex message; the acknowledgement (RemotingFault for an ErrorMessage)."""
        reply = self.exchange(message)
        if isinstance(reply, ErrorMessage):
            raise RemotingFault(reply)
        return reply

    def ping(self) -> str:
        """The CLIENT_PING handshake; returns the connection id the server assigned."""
        self.send_flex(ping_message())
        return self.client_id

    def remote_call(self, destination: str, operation: str, *args: Any) -> Any:
        """A RemoteObject call of ``destination.operation``; its result, or RemotingFault."""
        if self.client_id is None:
            self.ping()
        message = RemotingMessage(body=list(args), destination=destination,
                                  operation=operation)
        return self.send_flex(message).body

    # -- messaging (Producer/Consumer) ------------------------------------------------

    def login(self, user: str, password: str, charset: str = "utf-8") -> None:
        """``ChannelSet.login``: authenticate the connection (RemotingFault on failure)."""
        if self.client_id is None:
            self.ping()
        self.send_flex(login_message(user, password, charset))

    def logout(self) -> None:
        self.send_flex(CommandMessage(operation=CommandMessage.LOGOUT_OPERATION))

    def subscribe(self, destination: str, sub_topic: str | None = None,
                  selector: str | None = None, client_id: str | None = None) -> str:
        """Subscribe a Consumer; returns its client id (assigned by the server when None)."""
        if self.client_id is None:
            self.ping()
        return self.send_flex(subscribe_message(destination, sub_topic, selector,
                                                client_id)).clientId

    def unsubscribe(self, client_id: str, destination: str, sub_topic: str | None = None) -> None:
        self.send_flex(unsubscribe_message(client_id, destination, sub_topic))

    def poll(self) -> list:
        """The messages waiting for this connection's Consumers (a long-poll may wait)."""
        return polled_messages(self.send_flex(
            CommandMessage(operation=CommandMessage.POLL_OPERATION)))

    def publish(self, destination: str, body: Any, sub_topic: str | None = None,
                headers: dict | None = None) -> AbstractMessage:
        """Publish like a Producer; returns the acknowledgement."""
        if self.client_id is None:
            self.ping()
        return self.send_flex(publish_message(destination, body, sub_topic, headers))

    def disconnect(self) -> None:
        """Tell the server this connection is gone."""
        self.send_flex(CommandMessage(operation=CommandMessage.DISCONNECT_OPERATION))
        self.client_id = None

    def stream(self, url: str | None = None) -> "MessageStream":
        """Open a streaming connection (``StreamingAMFChannel``) for this connection's id."""
        if self.client_id is None:
            self.ping()
        return MessageStream(url or self.url, self.client_id, self.decoder, self.timeout)


class MessageStream:
    """An open stream: iterate to receive pushed messages; ``close()`` asks the server to end it.

    Frames are read by ``amfast.remoting.framing.FrameReader`` (NUL padding and
    heartbeats are skipped).  Iteration stops after the server's DISCONNECT command.
    """

    def __init__(self, url: str, client_id: str, decoder: Decoder, timeout: float):
        parts = urllib.parse.urlsplit(url)
        self._url = parts
        self.client_id = client_id
        self._decoder = decoder
        self._timeout = timeout
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                                timeout=timeout)
        self._conn.request("POST", self._target("open"), f"DSId={client_id}",
                           {"Content-Type": "application/x-www-form-urlencoded"})
        self._response = self._conn.getresponse()
        if self._response.status != 200:
            raise HttpError(self._response.status, self._response.read())
        self._reader = FrameReader()
        self._frames: list = []
        self._iterating = False
        opened = self._next_message()
        if not (isinstance(opened, AbstractMessage) and opened.correlationId == "open"):
            raise RemotingError(f"stream did not open: {opened!r}")
        #: The stream id the server assigned.
        self.stream_id = opened.body

    def _target(self, command: str, **params: str) -> str:
        query = urllib.parse.urlencode(dict(command=command, version="1", **params))
        return f"{self._url.path or '/'}?{query}"

    def _next_message(self) -> Any:
        """The next framed message, or None at the end of the stream."""
        while not self._frames:
            chunk = self._response.read1(65536)
            if not chunk:
                return None
            self._frames = [item for item in self._reader.feed(chunk)
                            if isinstance(item, bytes)]
        return self._decoder.decode(self._frames.pop(0), amf3=True)

    def __iter__(self) -> Iterator[AbstractMessage]:
        self._iterating = True
        try:
            while True:
                msg = self._next_message()
                if msg is None or (isinstance(msg, CommandMessage) and
                                   msg.operation == CommandMessage.DISCONNECT_OPERATION):
                    return
                yield msg
        finally:
            self._iterating = False
            self._conn.close()

    def close(self) -> None:
        """Ask the server to end the stream.  An iteration in progress ends with the
        server's DISCONNECT (and drops the connection); otherwise it is dropped now."""
        conn = http.client.HTTPConnection(self._url.hostname, self._url.port or 80,
                                          timeout=self._timeout)
        try:
            conn.request("POST", self._target("close", streamId=str(self.stream_id)),
                         f"DSId={self.client_id}",
                         {"Content-Type": "application/x-www-form-urlencoded"})
            conn.getresponse().read()
        finally:
            conn.close()
            if not self._iterating:
                self._conn.close()


def _result(reply: Message) -> Any:
    if reply.target.endswith(Message.FAILED_TARGET) or isinstance(reply.body, ErrorMessage):
        raise RemotingFault(reply.body)
    return reply.body
