"""Channels receive packets for a ChannelSet, which holds the services and authentication.

The transport-independent part of every transport: a channel decodes a request
with its endpoint, hands the packet to the channel set's dispatch core
(``MessageBroker``), completes a pending reply, and encodes the answer.
``HttpChannel`` adds what every HTTP transport answers the same way (405, 411,
413, 400, 503) as ``HttpAnswer`` values that each transport writes its own way.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator, NamedTuple

import amfast
from amfast import AmFastError
from amfast.remoting import Message, Packet, ServiceMapper
from amfast.remoting.connection import Connection
from amfast.remoting.connection_manager import ConnectionManager, MemoryConnectionManager
from amfast.remoting.dispatch import MessageBroker, PendingReply, RequestContext
from amfast.remoting.endpoint import AmfEndpoint, Endpoint
from amfast.remoting.errors import (ChannelError, ChannelFullError, ConnectionError,
                                    NotConnectedError, SecurityError, StoreUnavailableError)
from amfast.remoting.flex_messages import AbstractMessage, AsyncMessage
from amfast.remoting.notifier import Notifier, ThreadWaiter
from amfast.remoting.stats import ChannelStats, Stats
from amfast.remoting.subscription_manager import (MemorySubscriptionManager,
                                                  SubscriptionManager)
from amfast.remoting.targets import NIL_DSID, PollRefused
from amfast.remoting.waiting import run

__all__ = ["ChannelSet", "Channel", "HttpChannel", "HttpAnswer", "PollRefused", "ChannelError",
           "ChannelFullError", "NotConnectedError", "SecurityError"]


class ChannelSet:
    """The services, the channels that expose them, the connections and the messaging.

    Subclass it and override ``login(user, password)`` (or AmFast's
    ``checkCredentials``) to enable authentication; either must raise
    ``SecurityError`` for bad credentials.  Expired connections are removed,
    with their subscriptions, at most every ``clean_freq`` milliseconds while
    requests come in.  With ``debug``, faults sent to clients carry tracebacks.

    ``notify_connections`` is accepted for AmFast's sake and changes nothing:
    held polls and streams always wake at once for messages published in this
    process (and re-check the store every ``poll_interval`` for the others).

    ``max_held`` bounds the requests held at once across all channels (long-polls
    and streams; None: no bound).  Past it a long-poll is answered at once with
    ``DSPollWait`` and a stream open gets 503, as BlazeDS answers.
    """

    def __init__(self, service_mapper: ServiceMapper | None = None,
                 connection_manager: ConnectionManager | None = None,
                 subscription_manager: SubscriptionManager | None = None,
                 notify_connections: bool = True, clean_freq: int = 300000,
                 debug: bool = False, max_held: int | None = None):
        self.service_mapper = ServiceMapper() if service_mapper is None else service_mapper
        self.connection_manager = (MemoryConnectionManager() if connection_manager is None
                                   else connection_manager)
        self.subscription_manager = (MemorySubscriptionManager() if subscription_manager is None
                                     else subscription_manager)
        self.notify_connections = notify_connections
        self.clean_freq = clean_freq
        self.debug = debug
        #: The dispatch core that answers this channel set's requests.
        self.broker = MessageBroker(self)
        #: What the channel set counts of its traffic (each channel has its own ``stats``).
        self.stats = Stats()
        #: True once ``close()`` ran: held polls are answered, streams end.
        self.closing = False
        #: True once the managers were started (``start``).
        self.started = False
        self.max_held = max_held
        self._held = 0
        self._held_lock = threading.Lock()
        self._channels: dict[str, Channel] = {}
        self._clean_lock = threading.Lock()
        self._last_clean = time.monotonic()

    @property
    def notifier(self) -> Notifier:
        """Wakes this process's requests that wait for a connection's messages."""
        return self.connection_manager.notifier

    def mapChannel(self, channel: "Channel") -> None:
        channel._channel_set = self
        self._channels[channel.name] = channel

    def unMapChannel(self, channel: "Channel") -> None:
        self._channels.pop(channel.name, None)
        channel._channel_set = None

    def getChannel(self, name: str) -> "Channel":
        try:
            return self._channels[name]
        except KeyError:
            raise ChannelError(f"Channel '{name}' is not mapped.") from None

    def __iter__(self) -> Iterator["Channel"]:
        return iter(list(self._channels.values()))

    @property
    def held(self) -> int:
        """How many long-polls and streams are held now."""
        return self._held

    def holding(self) -> dict[str, int]:
        """What this process holds now, for the console, the metrics and benchmarks:
        ``held`` (long-polls and streams counted against ``max_held``), ``held_polls``
        and ``open_streams`` (over all channels) and ``waiting_connections`` (connections
        with a waiter registered for their messages)."""
        polls = streams = 0
        for channel in self:
            polls += channel.stats.held_polls.value
            streams += channel.stats.open_streams.value
        return {"held": self._held, "held_polls": polls, "open_streams": streams,
                "waiting_connections": self.notifier.waiting()}

    def reserveHold(self) -> bool:
        """Count one more held request, unless ``max_held`` are held already."""
        with self._held_lock:
            if self.max_held is not None and self._held >= self.max_held:
                return False
            self._held += 1
            return True

    def releaseHold(self) -> None:
        with self._held_lock:
            self._held -= 1

    def start(self) -> None:
        """Start what the managers run in the background (a store's listener); transports
        call it before their first request (idempotent)."""
        if not self.started:
            self.started = True
            self.subscription_manager.start(self.notifier)

    def stop(self) -> None:
        """Stop what the managers run in the background."""
        if self.started:
            self.started = False
            self.subscription_manager.stop()

    def close(self) -> None:
        """Answer every held poll and end every open stream (the server is stopping), and
        stop what the managers run in the background."""
        self.closing = True
        self.notifier.notifyAll()
        self.stop()

    # -- connections ---------------------------------------------------------

    def generateId(self) -> str:
        """A new connection id."""
        return self.connection_manager.generateId()

    def connect(self, channel: "Channel", connection_id: str | None = None) -> Connection:
        """A new connection on ``channel`` (ConnectionError if ``connection_id`` is taken)."""
        # New connections are what floods bring: cleaning keeps pace with them.
        self.cleanIfDue()
        return self.connection_manager.createConnection(channel, connection_id)

    def getConnection(self, connection_id: str | None, touch: bool = True) -> Connection:
        """The live connection with this id, else NotConnectedError.

        An expired connection is disconnected on the way, subscriptions included.
        """
        self.cleanIfDue()
        try:
            return self.connection_manager.getConnection(connection_id, touch)
        except NotConnectedError:
            expired = (None if connection_id is None
                       else self.connection_manager.getExpiredConnection(connection_id))
            if expired is not None:
                self.disconnect(expired)
            raise

    def disconnect(self, connection: Connection) -> None:
        """Drop a connection and its subscriptions; its waiting requests return."""
        self.subscription_manager.deleteConnection(connection)
        self.connection_manager.deleteConnection(connection)

    def clean(self) -> None:
        """Disconnect expired connections and drop expired messages."""
        now = self.connection_manager.now()
        for connection in list(self.connection_manager.iterExpired(now)):
            if amfast.log_debug:
                amfast.logger.debug("cleaning expired %r", connection)
            self.disconnect(connection)
        self.subscription_manager.deleteExpiredMessages(now)

    def cleanIfDue(self) -> None:
        if time.monotonic() - self._last_clean < self.clean_freq / 1000:
            return
        if self._clean_lock.acquire(blocking=False):
            try:
                self._last_clean = time.monotonic()
                self.clean()
            finally:
                self._clean_lock.release()

    # -- messaging -------------------------------------------------------------

    def publishMessage(self, msg: AsyncMessage) -> None:
        """Deliver a message to every subscriber of its destination and subtopic."""
        self.notifier.notifyMany(self.subscription_manager.publishMessage(msg))
        self.stats.publish(msg.destination)

    def publishObject(self, body: Any, topic: str, sub_topic: str | None = None,
                      headers: dict | None = None, ttl: int = 10000) -> AsyncMessage:
        """Publish ``body`` to ``topic`` (and ``sub_topic``) from server code."""
        headers = dict(headers or {})
        if sub_topic is not None:
            headers[AsyncMessage.SUBTOPIC_HEADER] = sub_topic
        msg = AsyncMessage(body=body, destination=topic, headers=headers, timeToLive=ttl)
        self.publishMessage(msg)
        return msg

    def storesBlock(self) -> bool:
        """Whether the managers' calls may wait on the network."""
        return self.subscription_manager.blocking or self.connection_manager.blocking

    def publishBlocks(self) -> bool:
        """Whether publishing may block: a store that waits on the network, or a
        ``publishMessage`` a subclass replaced."""
        return self.subscription_manager.blocking or \
            type(self).publishMessage is not ChannelSet.publishMessage

    def notifyConnection(self, connection_id: str) -> None:
        """Wake the requests of this process waiting for the connection's messages."""
        self.notifier.notify(connection_id)

    # -- authentication -----------------------------------------------------------

    def login(self, user: str, password: str) -> bool:
        """Check credentials: return True, or raise ``SecurityError``."""
        raise SecurityError("Authentication not implemented.")

    def checkCredentials(self, user: str, password: str) -> None:
        """AmFast's authentication hook; by default it asks ``login``."""
        if not self.login(user, password):
            raise SecurityError("Invalid credentials.")


class Channel:
    """Receives packets through an endpoint and dispatches them in its channel set."""

    def __init__(self, name: str, max_connections: int = -1, endpoint: Endpoint | None = None):
        self.name = name
        self.max_connections = max_connections
        self.endpoint = AmfEndpoint() if endpoint is None else endpoint
        self._channel_set: ChannelSet | None = None
        #: What this channel counts: requests, faults, request times, held polls, streams.
        self.stats = ChannelStats()

    @property
    def channel_set(self) -> ChannelSet | None:
        return self._channel_set

    def decode(self, raw: bytes) -> Packet:
        return self.endpoint.decodePacket(raw)

    def connect(self, connection_id: str | None = None) -> Connection:
        """A new connection on this channel (ChannelFullError past ``max_connections``)."""
        if -1 < self.max_connections <= \
                self.channel_set.connection_manager.getConnectionCount(self.name):
            raise ChannelFullError(f"Channel '{self.name}' is full.")
        return self.channel_set.connect(self, connection_id)

    def disconnect(self, connection: Connection) -> None:
        self.channel_set.disconnect(connection)

    def getFlexConnection(self, flex_msg: AbstractMessage) -> Connection:
        """The connection named by a Flex message's ``DSId``, made when needed.

        A missing or ``nil`` id gets a new connection.  An id this server issued
        but no longer knows (expired, or state lost in a restart) gets fresh,
        unauthenticated state under that id: a Flex client cannot change its id
        once it has one.  Any other id gets a new connection with a new id.
        """
        headers = flex_msg.headers if isinstance(flex_msg.headers, dict) else {}
        connection_id = headers.get(AbstractMessage.FLEX_CLIENT_ID_HEADER)
        if not connection_id or connection_id == NIL_DSID:
            return self.connect()
        connection_id = str(connection_id)
        try:
            return self.channel_set.getConnection(connection_id)
        except NotConnectedError:
            if not self.channel_set.connection_manager.verifyId(connection_id):
                return self.connect()
        try:
            return self.connect(connection_id)
        except ConnectionError:
            # A concurrent request with the same id re-created it first.
            return self.channel_set.getConnection(connection_id)

    # -- dispatch ----------------------------------------------------------------

    def dispatch(self, packet: Packet, request: Any = None) -> Packet | PendingReply:
        """The reply to ``packet``, or a PendingReply for the transport to complete.

        ``request`` is the transport's own request object (targets see it as
        ``packet.context.request``).
        """
        return self.channel_set.broker.dispatch(packet, RequestContext(self, request))

    def complete(self, pending: PendingReply) -> Packet:
        """Complete a pending reply in this thread (waiting for messages here)."""
        with self.channel_set.notifier.listening(pending.listen, ThreadWaiter()) as waiter:
            return run(pending.steps(), waiter)

    def invoke(self, packet: Packet, request: Any = None) -> Packet:
        """The reply packet to ``packet``, waiting in this thread if it must."""
        reply = self.dispatch(packet, request)
        if isinstance(reply, PendingReply):
            reply = self.complete(reply)
        return reply

    def invokeMessage(self, packet: Packet, message: Message) -> Message:
        """The reply to one message of ``packet`` (AmFast's ``Message.invoke``)."""
        if packet.context is None:
            packet.channel, packet.context = self, RequestContext(self)
        answer = self.channel_set.broker.answer(packet, message)
        if isinstance(answer, tuple):
            reply = Packet(packet.client_type, [], [None])
            answer = self.complete(PendingReply(reply, [(0,) + answer])).messages[0]
        return answer

    def encode(self, response: Packet, request: Packet | None = None) -> bytes:
        """Encode a reply; a message whose result cannot be encoded becomes a fault."""
        try:
            return self.endpoint.encodePacket(response)
        except Exception:
            if request is None:
                raise
        # Encoding runs user code (attributes, ClassDefs): any error fails only its message.
        debug = bool(self.channel_set is not None and self.channel_set.debug)
        for index, message in enumerate(response.messages):
            try:
                self.endpoint.encodePacket(Packet(response.client_type, [], [message]))
            except Exception as exc:
                amfast.logger.warning("reply to '%s' cannot be encoded: %s: %s",
                                      request.messages[index].target, type(exc).__name__, exc)
                response.messages[index] = request.messages[index].fault(exc, debug)
                if self.channel_set is not None:
                    self.channel_set.stats.fault(self, request.messages[index].target, exc,
                                                 debug)
        return self.endpoint.encodePacket(response)


class HttpAnswer(NamedTuple):
    """An HTTP response for a transport to write: status, body, content type, headers."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple = ()


def plain(status: int, text: str, **headers: str) -> HttpAnswer:
    """A short text answer (never a traceback)."""
    return HttpAnswer(status, text.encode("utf-8"), headers=tuple(headers.items()))


SERVICE_UNAVAILABLE = plain(503, "Service temporarily unavailable.\n")


class HttpChannel(Channel):
    """A channel reached over HTTP POST.

    ``wait_interval`` (ms): 0 answers polls at once; above 0 a poll with no
    messages is held that long (long-polling) and returns as soon as a message
    arrives.  ``poll_interval`` (ms) is how often a held poll also re-checks,
    for messages published by other processes.  At most
    ``max_waiting_polls`` polls wait at once; others are answered at once,
    telling the client to wait ``BUSY_POLL_WAIT`` ms before polling again.
    Requests above ``max_body_size`` bytes are refused.
    """

    CONTENT_TYPE = "application/x-amf"
    DEFAULT_MAX_BODY_SIZE = 16 * 1024 * 1024
    BUSY_POLL_WAIT = 3000

    def __init__(self, name: str, max_connections: int = -1, endpoint: Endpoint | None = None,
                 wait_interval: int = 0, poll_interval: int = 500,
                 max_body_size: int = DEFAULT_MAX_BODY_SIZE, max_waiting_polls: int = 100):
        Channel.__init__(self, name, max_connections, endpoint)
        if wait_interval < 0:
            raise ChannelError("wait_interval must be 0 (polling) or a time in milliseconds.")
        self.wait_interval = wait_interval
        self.poll_interval = poll_interval
        self.max_body_size = max_body_size
        self.max_waiting_polls = max_waiting_polls
        self._waiting: set[str] = set()
        self._waiting_lock = threading.Lock()

    # -- held polls ----------------------------------------------------------------

    def holdPoll(self, connection: Connection) -> PollRefused | None:
        """Take a slot to hold a poll of ``connection`` (None), or say why not: this
        channel's ``max_waiting_polls`` or its channel set's ``max_held`` is reached."""
        with self._waiting_lock:
            if connection.id in self._waiting:
                return PollRefused.DUPLICATE
            if len(self._waiting) >= self.max_waiting_polls or \
                    not self.channel_set.reserveHold():
                return PollRefused.BUSY
            self._waiting.add(connection.id)
            self.stats.held_polls.add(1)
        return None

    def releasePoll(self, connection: Connection) -> None:
        with self._waiting_lock:
            if connection.id not in self._waiting:
                return
            self._waiting.discard(connection.id)
            self.stats.held_polls.add(-1)
        self.channel_set.releaseHold()

    # -- HTTP, for every transport --------------------------------------------------

    def checkRequest(self, method: str, content_length: int | None) -> HttpAnswer | None:
        """The answer refusing a request before its body is read, or None."""
        if method != "POST":
            return plain(405, "AMF requests are POSTed.\n", Allow="POST")
        return self.checkLength(content_length)

    def checkLength(self, length: int | None) -> HttpAnswer | None:
        if length is None:
            return plain(411, "Content-Length is required.\n")
        if length < 0:
            return plain(400, "Content-Length is not valid.\n")
        if length > self.max_body_size:
            return plain(413, f"Request body over {self.max_body_size} bytes.\n")
        return None

    @staticmethod
    def checkBody(raw: bytes, length: int) -> HttpAnswer | None:
        if len(raw) != length:
            return plain(400, "Request body is shorter than its Content-Length.\n")
        return None

    def decodeRequest(self, raw: bytes) -> Packet | HttpAnswer:
        """The request packet, or the 400 answer to bytes that are not one."""
        try:
            return self.decode(raw)
        except AmFastError as exc:
            amfast.logger.info("undecodable request on channel '%s': %s", self.name, exc)
            return plain(400, "AMF packet could not be decoded.\n")

    def answerReply(self, reply: Packet, request: Packet) -> HttpAnswer:
        """The encoded reply (200), or 503/500 when it cannot be had."""
        return self.guarded(lambda: self._encoded(reply, request))

    def _encoded(self, reply: Packet, request: Packet) -> HttpAnswer:
        return HttpAnswer(200, self.encode(reply, request), self.CONTENT_TYPE)

    def guarded(self, answer: Callable[[], HttpAnswer]) -> HttpAnswer:
        """``answer()``, with errors as 503 (store unreachable) or 500, never a traceback."""
        try:
            return answer()
        except StoreUnavailableError as exc:
            amfast.logger.error("channel '%s': %s", self.name, exc)
            return SERVICE_UNAVAILABLE
        except Exception as exc:
            amfast.log_exc(exc)
            return plain(500, "Server error.\n")

    def answerAmf(self, raw: bytes, request: Any = None) -> HttpAnswer:
        """Decode, dispatch (waiting in this thread if a poll is held) and encode."""
        packet = self.decodeRequest(raw)
        if isinstance(packet, HttpAnswer):
            return packet
        return self.guarded(lambda: self._encoded(self.invoke(packet, request), packet))
