"""The Flex streaming protocol (``StreamingAMFChannel``), for every transport.

``POST ?command=open`` (form body ``DSId=<connection id>``) opens a stream: an
acknowledgement with ``correlationId`` "open" whose body is the stream id, NUL
padding so browsers start delivering, then every message for the connection as
a frame (``amfast.remoting.framing``).  A NUL byte is written after
``heart_interval`` ms without messages; a DISCONNECT command ends the stream
when the connection goes away, ``?command=close`` arrives, the channel set
closes, or nothing was sent for ``idle_timeout`` ms (0: never).

``StreamingHttpChannel`` holds the protocol: the commands' answers and the
stream's steps (see ``waiting``), which a transport drives its own way (a thread
per stream under WSGI, a coroutine under ASGI).
"""
from __future__ import annotations

import functools
import threading
import time
import urllib.parse

import amfast
from amfast.remoting.channel import HttpAnswer, HttpChannel, SERVICE_UNAVAILABLE, plain
from amfast.remoting.connection import Connection
from amfast.remoting.endpoint import Endpoint
from amfast.remoting.errors import NotConnectedError, StoreUnavailableError
from amfast.remoting.flex_messages import AbstractMessage, AcknowledgeMessage, CommandMessage
from amfast.remoting.framing import HEARTBEAT, KICKSTART, frame
from amfast.remoting.waiting import Steps, Stopping, wait_for_messages

__all__ = ["StreamingHttpChannel"]

#: The answer to a close command.
CLOSED = HttpAnswer(200, b"", "text/plain")


class StreamingHttpChannel(HttpChannel):
    """A Flex ``StreamingAMFChannel`` endpoint; AMF requests are answered as by HttpChannel.

    At most ``max_streams`` streams are open at once (503 past that) and one
    per connection (400 for a second).
    """

    KICKSTART_BYTES = len(KICKSTART)
    OPEN_COMMAND = "open"
    CLOSE_COMMAND = "close"

    def __init__(self, name: str, max_connections: int = -1, endpoint: Endpoint | None = None,
                 wait_interval: int = 0, heart_interval: int = 30000, poll_interval: int = 500,
                 max_body_size: int = HttpChannel.DEFAULT_MAX_BODY_SIZE, max_streams: int = 100,
                 idle_timeout: int = 0):
        HttpChannel.__init__(self, name, max_connections, endpoint, wait_interval,
                             poll_interval, max_body_size)
        self.heart_interval = heart_interval
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self._streams: set[str] = set()
        self._closing: set[str] = set()
        self._lock = threading.Lock()

    def streamCommand(self, command: str, form: bytes) -> HttpAnswer | Connection:
        """The answer to a stream command, or the connection whose stream opens now.

        An opened stream holds a slot until ``releaseStream``.
        """
        if command not in (self.OPEN_COMMAND, self.CLOSE_COMMAND):
            return plain(400, f"Unknown stream command '{command}'.\n")
        try:
            fields = urllib.parse.parse_qs(form.decode("latin-1"), max_num_fields=16)
        except ValueError:
            return plain(400, "Stream commands carry a form body with DSId.\n")
        try:
            connection = self.channel_set.getConnection((fields.get("DSId") or [None])[0])
        except NotConnectedError:
            return plain(400, "Streams need a connected DSId: ping first.\n")
        except StoreUnavailableError as exc:
            amfast.logger.error("channel '%s': %s", self.name, exc)
            return SERVICE_UNAVAILABLE
        if command == self.CLOSE_COMMAND:
            self.closeStream(connection)
            return CLOSED
        if self.channel_set.subscription_manager.secure and not connection.authenticated:
            return plain(403, "Streaming requires authentication.\n")
        with self._lock:
            if connection.id in self._streams:
                return plain(400, "This connection already has an open stream.\n")
            if len(self._streams) >= self.max_streams or not self.channel_set.reserveHold():
                return plain(503, "Too many open streams.\n")
            self._streams.add(connection.id)
            self._closing.discard(connection.id)
            self.stats.open_streams.add(1)
        return connection

    def closeStream(self, connection: Connection) -> None:
        """End the connection's open stream (if any) with a DISCONNECT frame."""
        with self._lock:
            if connection.id not in self._streams:
                return
            self._closing.add(connection.id)
        self.channel_set.notifier.notify(connection.id)

    def releaseStream(self, connection: Connection) -> None:
        """Free the stream's slot (the transport calls it when the stream is over)."""
        with self._lock:
            if connection.id not in self._streams:
                return
            self._streams.discard(connection.id)
            self._closing.discard(connection.id)
            self.stats.open_streams.add(-1)
        self.channel_set.releaseHold()

    def frame(self, msg: AbstractMessage) -> bytes:
        return frame(self.endpoint.encode(msg, amf3=True))

    def stream(self, connection: Connection) -> Steps:
        """The steps of an open stream: bytes to write and waits, until it ends.

        Each published message is encoded once for all the streams that receive
        it (``Endpoint.pushEncoder``).
        """
        subscriptions = self.channel_set.subscription_manager
        stats = self.channel_set.stats
        framed = self.endpoint.pushEncoder().frameFor
        small = connection.small_messages
        heart = self.heart_interval / 1000
        idle = self.idle_timeout / 1000
        # Touch often enough that the connection never expires while its stream is open.
        touch_every = min(heart, connection.timeout / 4000)
        # Only a store whose publishes elsewhere wake nobody here needs looking at again.
        recheck = self.poll_interval / 1000 if subscriptions.recheck else heart
        blocks = subscriptions.blocking

        streaming = functools.partial(self._streaming, connection)
        collect = functools.partial(subscriptions.collectMessages, connection.id)
        collector = subscriptions.asyncCollector()
        collect_async = None if collector is None else functools.partial(collector, connection.id)

        yield self.frame(AcknowledgeMessage(body=connection.id,
                                            correlationId=self.OPEN_COMMAND)) + KICKSTART
        last_write = last_message = last_touch = time.monotonic()
        wait_first = False
        try:
            while True:
                deadline = min(last_write + heart, last_touch + touch_every)
                if idle:
                    deadline = min(deadline, last_message + idle)
                pushed = yield from wait_for_messages(collect, deadline, recheck, streaming,
                                                      wait_first, collect_async, blocks)
                wait_first = True
                now = time.monotonic()
                if now - last_touch >= touch_every:
                    # An open stream keeps its connection alive, busy or idle.
                    connection.touch()
                    last_touch = now
                if pushed:
                    yield b"".join([framed(msg, client_id, small) for client_id, msg in pushed])
                    stats.deliver([msg for _, msg in pushed])
                    last_write = last_message = now
                elif not streaming() or idle and now - last_message >= idle:
                    break
                elif now - last_write >= heart:
                    yield HEARTBEAT
                    last_write = time.monotonic()
        except (NotConnectedError, Stopping):
            pass  # disconnected meanwhile, or the server stops: the stream ends properly
        except StoreUnavailableError as exc:
            amfast.logger.error("stream of %r ends: %s", connection, exc)
        yield self.frame(CommandMessage(operation=CommandMessage.DISCONNECT_OPERATION))

    def _streaming(self, connection: Connection) -> bool:
        """The stream goes on: connected, not closed, and logged in where messaging is secure."""
        return not self.channel_set.closing and connection.id not in self._closing and \
            connection.connected and not (
                self.channel_set.subscription_manager.secure and not connection.authenticated)
