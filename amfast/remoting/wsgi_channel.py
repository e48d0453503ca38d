"""Channels served by any WSGI server: mount a ``WsgiChannelSet`` as the application."""
from __future__ import annotations

import threading
import time
import urllib.parse
from typing import Callable, Iterable, Iterator

import amfast
from amfast import AmFastError
from amfast.remoting.channel import ChannelError, ChannelSet, HttpChannel
from amfast.remoting.connection import Connection
from amfast.remoting.errors import NotConnectedError, StoreUnavailableError
from amfast.remoting.flex_messages import AbstractMessage, AcknowledgeMessage, CommandMessage
from amfast.remoting.endpoint import Endpoint
from webob import Request, Response

__all__ = ["WsgiChannelSet", "WsgiChannel", "StreamingWsgiChannel"]


def _plain(status: int, text: str, **headers: str) -> Response:
    response = Response(text, status=status, content_type="text/plain", charset="utf-8")
    response.headers.update(headers)
    return response


class WsgiChannelSet(ChannelSet):
    """A WSGI application: the request path (``/<channel name>``) selects the channel."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        name = environ.get("PATH_INFO", "").strip("/")
        try:
            channel = self.getChannel(name)
        except ChannelError:
            return _plain(404, f"No AMF channel at '/{name}'.\n")(environ, start_response)
        return channel(environ, start_response)


class WsgiChannel(HttpChannel):
    """Answers AMF requests POSTed to it; see HttpChannel for polling and long-polling."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        """The HTTP response to one request; errors become 4xx/5xx, never tracebacks."""
        if request.method != "POST":
            return _plain(405, "AMF requests are POSTed.\n", Allow="POST")
        raw = self.read_body(request)
        if isinstance(raw, Response):
            return raw
        try:
            packet = self.decode(raw)
        except AmFastError as exc:
            amfast.logger.info("undecodable request on channel '%s': %s", self.name, exc)
            return _plain(400, "AMF packet could not be decoded.\n")
        try:
            body = self.encode(self.invoke(packet), packet)
        except StoreUnavailableError as exc:
            amfast.logger.error("channel '%s': %s", self.name, exc)
            return _plain(503, "Service temporarily unavailable.\n")
        except Exception as exc:
            amfast.log_exc(exc)
            return _plain(500, "Server error.\n")
        return Response(body=body, content_type=self.CONTENT_TYPE, charset=None)

    def read_body(self, request: Request) -> bytes | Response:
        """The request body, or the 4xx response that refuses it (checked before reading)."""
        length = request.content_length
        if length is None:
            return _plain(411, "Content-Length is required.\n")
        if length < 0:
            return _plain(400, "Content-Length is not valid.\n")
        if length > self.max_body_size:
            return _plain(413, f"Request body over {self.max_body_size} bytes.\n")
        try:
            raw = request.body_file_raw.read(length)
        except OSError:
            raw = b""
        if len(raw) != length:
            return _plain(400, "Request body is shorter than its Content-Length.\n")
        return raw

    def __repr__(self) -> str:
        return f"WsgiChannel({self.name!r})"



class StreamingWsgiChannel(WsgiChannel):
    """A Flex ``StreamingAMFChannel`` endpoint; AMF requests are answered as by WsgiChannel.

    ``POST ?command=open`` (form body ``DSId=<connection id>``) opens a stream:
    an acknowledgement with ``correlationId`` "open" whose body is the stream
    id, NUL padding so browsers start delivering, then every message for the
    connection as a frame ``<hex length>CRLF<AMF3 message>CRLF``.  A NUL byte
    is written after ``heart_interval`` ms without messages; a DISCONNECT
    command ends the stream when the connection goes away, ``?command=close``
    arrives, or nothing was sent for ``idle_timeout`` ms (0: never).

    Each stream holds a thread: at most ``max_streams`` are open at once (503
    past that) and one per connection (400 for a second).
    """

    KICKSTART_BYTES = 2048
    OPEN_COMMAND = "open"
    CLOSE_COMMAND = "close"

    def __init__(self, name: str, max_connections: int = -1, endpoint: Endpoint | None = None,
                 wait_interval: int = 0, heart_interval: int = 30000, poll_interval: int = 500,
                 max_body_size: int = HttpChannel.DEFAULT_MAX_BODY_SIZE, max_streams: int = 100,
                 idle_timeout: int = 0):
        WsgiChannel.__init__(self, name, max_connections, endpoint, wait_interval,
                             poll_interval, max_body_size)
        self.heart_interval = heart_interval
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self._streams: set[str] = set()
        self._closing: set[str] = set()
        self._lock = threading.Lock()

    def respond(self, request: Request) -> Response:
        command = request.GET.get("command")
        if request.method != "POST" or command is None:
            return WsgiChannel.respond(self, request)
        if command not in (self.OPEN_COMMAND, self.CLOSE_COMMAND):
            return _plain(400, f"Unknown stream command '{command}'.\n")
        raw = self.read_body(request)
        if isinstance(raw, Response):
            return raw
        try:
            form = urllib.parse.parse_qs(raw.decode("latin-1"), max_num_fields=16)
        except ValueError:
            return _plain(400, "Stream commands carry a form body with DSId.\n")
        try:
            connection = self.channel_set.getConnection((form.get("DSId") or [None])[0])
        except NotConnectedError:
            return _plain(400, "Streams need a connected DSId: ping first.\n")
        except StoreUnavailableError as exc:
            amfast.logger.error("channel '%s': %s", self.name, exc)
            return _plain(503, "Service temporarily unavailable.\n")
        if command == self.CLOSE_COMMAND:
            self.closeStream(connection)
            return Response(b"", content_type="text/plain", charset=None)
        if self.channel_set.subscription_manager.secure and not connection.authenticated:
            return _plain(403, "Streaming requires authentication.\n")
        with self._lock:
            if connection.id in self._streams:
                return _plain(400, "This connection already has an open stream.\n")
            if len(self._streams) >= self.max_streams:
                return _plain(503, "Too many open streams.\n")
            self._streams.add(connection.id)
            self._closing.discard(connection.id)
        response = Response(app_iter=_OpenStream(self, connection),
                            content_type=self.CONTENT_TYPE, charset=None)
        response.cache_control = "no-cache"
        return response

    def closeStream(self, connection: Connection) -> None:
        """End the connection's open stream (if any) with a DISCONNECT frame."""
        with self._lock:
            if connection.id not in self._streams:
                return
            self._closing.add(connection.id)
        func = connection.notify_func
        if func is not None:
            func()

    def _release(self, connection: Connection) -> None:
        with self._lock:
            self._streams.discard(connection.id)
            self._closing.discard(connection.id)

    def frame(self, msg: AbstractMessage) -> bytes:
        raw = self.endpoint.encode(msg, amf3=True)
        return b"%x\r\n%s\r\n" % (len(raw), raw)

    def stream(self, connection: Connection) -> Iterator[bytes]:
        """The body of an open stream; it ends when the connection does."""
        subscriptions = self.channel_set.subscription_manager
        heart = self.heart_interval / 1000
        # Touch often enough that the connection never expires while its stream is open.
        touch_every = min(heart, connection.timeout / 4000)
        wake = threading.Event()
        connection.setNotifyFunc(wake.set)
        try:
            opened = AcknowledgeMessage(body=connection.id, correlationId=self.OPEN_COMMAND)
            yield self.frame(opened) + b"\0" * self.KICKSTART_BYTES
            last_write = last_message = last_touch = time.monotonic()
            while self._streaming(connection):
                messages = subscriptions.pollConnection(connection)
                now = time.monotonic()
                if now - last_touch >= touch_every:
                    # An open stream keeps its connection alive, busy or idle.
                    connection.touch()
                    last_touch = now
                if messages:
                    yield b"".join(self.frame(msg) for msg in messages)
                    last_write = last_message = now
                    continue
                if self.idle_timeout and now - last_message >= self.idle_timeout / 1000:
                    break
                wake.wait(max(0.0, min(heart - (now - last_write), self.poll_interval / 1000)))
                wake.clear()
                if time.monotonic() - last_write >= heart:
                    yield b"\0"
                    last_write = time.monotonic()
        except StoreUnavailableError as exc:
            amfast.logger.error("stream of %r ends: %s", connection, exc)
        finally:
            connection.unSetNotifyFunc()
        yield self.frame(CommandMessage(operation=CommandMessage.DISCONNECT_OPERATION))

    def _streaming(self, connection: Connection) -> bool:
        """The stream goes on: connected, not closed, and logged in where messaging is secure."""
        return connection.connected and connection.id not in self._closing and not (
            self.channel_set.subscription_manager.secure and not connection.authenticated)

    def __repr__(self) -> str:
        return f"StreamingWsgiChannel({self.name!r})"


class _OpenStream:
    """A stream's WSGI body: the server's ``close()`` frees its slot even if never iterated."""

    def __init__(self, channel: StreamingWsgiChannel, connection: Connection):
        self._channel = channel
        self._connection = connection
        self._frames = channel.stream(connection)

    def __iter__(self) -> Iterator[bytes]:
        return self._frames

    def close(self) -> None:
        self._frames.close()
        self._channel._release(self._connection)
