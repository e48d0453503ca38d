"""A Python AMF client: NetConnection-style calls and Flex RemoteObject calls over HTTP.

>>> service = RemotingService("http://127.0.0.1:8000/amf")
>>> service.call("ExampleService.echo", "hello")
'hello'
>>> service.remote_call("ExampleService", "echo", "hello")   # a Flex RemotingMessage
'hello'
"""
from __future__ import annotations

import http.client
import threading
import urllib.parse
from typing import Any, Iterable

from amfast.class_def import ClassDefMapper
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Header, Message, Packet
from amfast.remoting.errors import RemotingError
from amfast.remoting.flex_messages import (AbstractMessage, CommandMessage, ErrorMessage,
                                           RemotingMessage)
from amfast.remoting.targets import CREDENTIALS_HEADER, NIL_DSID

__all__ = ["RemotingService", "RemotingFault", "HttpError"]


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

    def post(self, raw: bytes) -> bytes:
        """POST raw AMF bytes; the reply's bytes (HttpError for a non-200 status)."""
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(self._host, self._port,
                                                            timeout=self.timeout)
                try:
                    self._conn.request("POST", self._path, raw,
                                       {"Content-Type": "application/x-amf"})
                    response = self._conn.getresponse()
                    body = response.read()
                except (http.client.HTTPException, ConnectionError):
                    # A kept-alive connection the server closed: retry once on a new one.
                    self.close()
                    if attempt == 2:
                        raise
                    continue
                if response.status != 200:
                    raise HttpError(response.status, body)
                return body
        raise AssertionError("unreachable")

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

    def send_flex(self, message: AbstractMessage) -> AbstractMessage:
        """Send one Flex message (carrying our ``DSId``); the acknowledgement."""
        message.headers.setdefault(AbstractMessage.FLEX_CLIENT_ID_HEADER,
                                   self.client_id or NIL_DSID)
        reply = self.send([("null", [message])], Packet.FLASH_9)[0]
        ack = _result(reply)
        client_id = ack.headers.get(AbstractMessage.FLEX_CLIENT_ID_HEADER) if isinstance(
            ack.headers, dict) else None
        if client_id:
            self.client_id = client_id
        return ack

    def ping(self) -> str:
        """The CLIENT_PING handshake; returns the connection id the server assigned."""
        self.send_flex(CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION,
                                      headers={CommandMessage.MESSAGING_VERSION: 1}))
        return self.client_id

    def remote_call(self, destination: str, operation: str, *args: Any) -> Any:
        """A RemoteObject call of ``destination.operation``; its result, or RemotingFault."""
        if self.client_id is None:
            self.ping()
        message = RemotingMessage(body=list(args), destination=destination,
                                  operation=operation)
        return self.send_flex(message).body


def _result(reply: Message) -> Any:
    if reply.target.endswith(Message.FAILED_TARGET) or isinstance(reply.body, ErrorMessage):
        raise RemotingFault(reply.body)
    return reply.body
