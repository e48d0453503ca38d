"""Helpers and fixtures shared by the messaging tests in tests/remoting.

``build_messaging_channel_set`` maps three channels, one of each kind a Flex client uses:

* ``/amf``        ``WsgiChannel`` polling (``wait_interval=0``);
* ``/longpoll``   ``WsgiChannel`` long-polling (``wait_interval=LONG_WAIT`` ms);
* ``/streaming``  ``StreamingWsgiChannel`` (``heart_interval=HEART`` ms);

plus service ``svc`` (``echo``, ``secret`` (secure), ``whoami`` (an ExtCallableTarget
reporting the connection's login and session), ``remember(name, value)`` (sets a session
attribute)).  Login accepts ``correct``/``correct``.

``FlexHttp`` sends single Flex messages over HTTP with amfast's codec and gives back the
reply message whatever it is (ack or ErrorMessage); ``RawStream`` opens a streaming
connection with ``http.client`` and parses the frames itself, keeping the NUL bytes it saw.

Test modules import them with ``from tests.remoting.conftest import ...``.  Every wait is
bounded.
"""
from __future__ import annotations

import base64
import errno
import http.client
import select
import socket
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from amfast import remoting
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Message, Packet
from amfast.remoting.channel import SecurityError
from amfast.remoting.connection_manager import MemoryConnectionManager
from amfast.remoting.flex_messages import (
    AbstractMessage,
    AsyncMessage,
    CommandMessage,
    ErrorMessage,
    RemotingMessage,
)
from amfast.remoting.subscription_manager import MemorySubscriptionManager
from amfast.remoting.wsgi_channel import (
    StreamingWsgiChannel,
    WsgiChannel,
    WsgiChannelSet,
)
from tests.conftest import use_endpoints
from tests.remoting.apps import AuthChannelSet

#: Real-client captures: <repo root>/../shared/captures (see its README.md).
CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
#: How long a long-poll is held (ms): long enough that an early return is visibly early.
LONG_WAIT = 4000
#: The streaming heartbeat (ms).
HEART = 300
#: The longest any single HTTP exchange of these tests may take (s).
TIMEOUT = 10.0

DSID = AbstractMessage.FLEX_CLIENT_ID_HEADER


class RecordingChannelSet(WsgiChannelSet):
    """Accepts any user whose password is not "wrong", and records what login received."""

    def __init__(self, *args, **kwargs):
        WsgiChannelSet.__init__(self, *args, **kwargs)
        self.logins: list = []

    def login(self, user, password):
        self.logins.append((user, password))
        if password == "wrong":
            raise SecurityError("Invalid credentials.")
        return True


def build_messaging_channel_set(channel_set_class: type = AuthChannelSet, *,
                                connection_params: dict | None = None,
                                secure: bool = False, ttl: int = 30000,
                                max_messages: int = 10000, clean_freq: int = 300000,
                                long_wait: int = LONG_WAIT, heart: int = HEART,
                                poll_interval: int = 500, max_held: int | None = None) -> Any:
    """``max_held`` None: these suites hold fewer requests than their servers have threads
    (the bound itself is tested in test_push_limits.py)."""
    channel_set = channel_set_class(
        connection_manager=MemoryConnectionManager(connection_params=connection_params),
        subscription_manager=MemorySubscriptionManager(secure=secure, ttl=ttl,
                                                       max_messages=max_messages),
        clean_freq=clean_freq, max_held=max_held)
    channel_set.mapChannel(WsgiChannel("amf"))
    channel_set.mapChannel(WsgiChannel("longpoll", wait_interval=long_wait,
                                       poll_interval=poll_interval))
    channel_set.mapChannel(StreamingWsgiChannel("streaming", heart_interval=heart,
                                                poll_interval=poll_interval))
    svc = remoting.Service("svc")
    svc.mapTarget(remoting.CallableTarget(lambda value: value, "echo"))
    svc.mapTarget(remoting.CallableTarget(lambda: "secret value", "secret", secure=True))

    def whoami(packet, message, *args):
        connection = message.body[0].connection
        return {"id": connection.id, "authenticated": connection.authenticated,
                "user": connection.flex_user,
                "session": dict(connection.manager.getField(connection.id, "session") or {})}

    svc.mapTarget(remoting.ExtCallableTarget(whoami, "whoami"))

    def remember(packet, message, name, value):
        message.body[0].connection.setSessionAttr(name, value)
        return True

    svc.mapTarget(remoting.ExtCallableTarget(remember, "remember"))
    channel_set.service_mapper.mapService(svc)
    return channel_set


def credentials(user: str, password: str, charset: str = "utf-8") -> str:
    """The LOGIN body Flex sends: base64 of ``user:password``."""
    return base64.b64encode(f"{user}:{password}".encode(charset)).decode("ascii")


class FlexHttp:
    """One Flex client over HTTP: one Flex message per request, replies decoded by amfast.

    ``dsid`` is sent as the ``DSId`` header ("nil" before the first reply) and taken
    from every reply that carries one, as Flex's ChannelSet does.
    """

    def __init__(self, base_url: str, channel: str = "amf", timeout: float = TIMEOUT):
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.path = "/" + channel
        self.timeout = timeout
        self.dsid: str | None = None
        self.encoder = Encoder()
        self.decoder = Decoder()
        self._counter = 0

    def post(self, raw: bytes, path: str | None = None,
             content_type: str = "application/x-amf") -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", path or self.path, raw, {"Content-Type": content_type})
            response = conn.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            conn.close()

    def encode(self, *messages: AbstractMessage) -> bytes:
        bodies = []
        for message in messages:
            self._counter += 1
            bodies.append(Message("null", f"/{self._counter}", [message]))
        return self.encoder.encode_packet(Packet(Packet.FLASH_9, [], bodies), amf3=True)

    def send_raw(self, raw: bytes) -> Packet:
        status, headers, body = self.post(raw)
        assert status == 200, (status, body[:300])
        assert headers.get("content-type") == "application/x-amf", headers
        return self.decoder.decode_packet(body)

    def send(self, message: AbstractMessage, keep_dsid: bool = False) -> AbstractMessage:
        """The reply (ack, CLIENT_SYNC command or ErrorMessage) to one Flex message."""
        if not keep_dsid:
            message.headers[DSID] = self.dsid or "nil"
        reply = self.send_raw(self.encode(message))
        assert len(reply.messages) == 1
        body = reply.messages[0].body
        failed = reply.messages[0].target.endswith("/onStatus")
        assert failed == isinstance(body, ErrorMessage), reply.messages[0]
        if isinstance(body.headers, dict) and body.headers.get(DSID):
            self.dsid = body.headers[DSID]
        return body

    def command(self, operation: int, **fields: Any) -> AbstractMessage:
        return self.send(CommandMessage(operation=operation, **fields))

    def ping(self, version: int | None = None) -> AbstractMessage:
        headers = {} if version is None else {CommandMessage.MESSAGING_VERSION: version}
        return self.command(CommandMessage.CLIENT_PING_OPERATION, headers=headers)

    def login(self, user: str, password: str, charset: str | None = None) -> AbstractMessage:
        headers = {} if charset is None else {CommandMessage.CREDENTIALS_CHARSET_HEADER: charset}
        return self.command(CommandMessage.LOGIN_OPERATION,
                            body=credentials(user, password, charset or "utf-8"),
                            headers=headers)

    def subscribe(self, destination: str, client_id: str | None = None,
                  sub_topic: str | None = None, selector: str | None = None
                  ) -> AbstractMessage:
        headers: dict = {}
        if sub_topic is not None:
            headers[AsyncMessage.SUBTOPIC_HEADER] = sub_topic
        if selector is not None:
            headers[CommandMessage.SELECTOR_HEADER] = selector
        return self.command(CommandMessage.SUBSCRIBE_OPERATION, destination=destination,
                            clientId=client_id, headers=headers)

    def publish(self, destination: str, body: Any, sub_topic: str | None = None,
                headers: dict | None = None, **fields: Any) -> AbstractMessage:
        headers = dict(headers or {})
        if sub_topic is not None:
            headers[AsyncMessage.SUBTOPIC_HEADER] = sub_topic
        return self.send(AsyncMessage(body=body, destination=destination, headers=headers,
                                      **fields))

    def call(self, destination: str, operation: str, *args: Any) -> AbstractMessage:
        """A RemoteObject call; the ack (its ``body`` is the result) or ErrorMessage."""
        return self.send(RemotingMessage(destination=destination, operation=operation,
                                         body=list(args)))

    def poll(self, **headers: Any) -> AbstractMessage:
        return self.command(CommandMessage.POLL_OPERATION, headers=dict(headers))

    def poll_messages(self) -> list:
        reply = self.poll()
        assert not isinstance(reply, ErrorMessage), reply
        return polled(reply)


def polled(reply: AbstractMessage) -> list:
    """The messages a poll reply carries ([] for a plain acknowledgement)."""
    if isinstance(reply, CommandMessage) and \
            reply.operation == CommandMessage.CLIENT_SYNC_OPERATION:
        assert isinstance(reply.body, list), reply
        return reply.body
    assert not isinstance(reply, CommandMessage), reply
    return []


class RawStream:
    """A streaming connection read byte by byte over a plain socket: frames, NULs, timings.

    The request is written by hand and the response parsed here (``Transfer-Encoding:
    chunked`` under waitress, a body ending with the connection under wsgiref), so every
    byte of the stream is seen as it arrives; reads wait with ``select``, never longer than
    asked.  ``events`` lists ``("nul", count, t)`` and ``("frame", message, t)`` in arrival
    order (``t`` from ``time.monotonic()``); ``raw`` is the body received so far.
    """

    def __init__(self, host: str, port: int, dsid: str, path: str = "/streaming",
                 timeout: float = TIMEOUT):
        self.host, self.port, self.path, self.dsid = host, port, path, dsid
        self.sock = socket.create_connection((host, port), timeout=timeout)
        form = f"DSId={urllib.parse.quote(dsid)}".encode()
        self.sock.sendall(
            f"POST {path}?command=open&version=1 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(form)}\r\n\r\n".encode() + form)
        self.sock.setblocking(False)
        self._transport = b""
        self.ended = False
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._transport:
            if not self._recv(deadline - time.monotonic()):
                raise AssertionError(f"no response head: {self._transport[:200]!r}")
        head, self._transport = self._transport.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.decoder = Decoder()
        self.raw = b""
        self.buffer = b""
        self.events: list = []
        self._taken = 0
        self._dechunk()

    # -- transport -------------------------------------------------------------------

    def _recv(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for bytes; False if none came (``ended`` at EOF)."""
        if self.ended:
            return False
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self.ended = True
            return False
        self._transport += chunk
        return True

    def _dechunk(self) -> None:
        """Move body bytes from the transport buffer to ``raw`` and ``buffer``."""
        if not hasattr(self, "raw"):
            return
        if not self.chunked:
            body, self._transport = self._transport, b""
        else:
            body = b""
            while True:
                head, sep, rest = self._transport.partition(b"\r\n")
                if not sep:
                    break
                size = int(head.split(b";")[0], 16)
                if size == 0:
                    self.ended = True
                    self._transport = b""
                    break
                if len(rest) < size + 2:
                    break
                body += rest[:size]
                self._transport = rest[size + 2:]
        self.raw += body
        self.buffer += body

    def _read(self, timeout: float) -> bool:
        got = self._recv(timeout)
        self._dechunk()
        return got

    def body(self, timeout: float = 5.0) -> bytes:
        """The whole body of a response that is not a stream (an error reply)."""
        length = int(self.headers.get("content-length", -1))
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline and \
                (length < 0 or len(self.raw) < length):
            self._read(deadline - time.monotonic())
        return self.raw

    # -- frames -------------------------------------------------------------------------

    def _parse(self) -> bool:
        """Move one event from the buffer to ``events``; False if more bytes are needed."""
        now = time.monotonic()
        nuls = len(self.buffer) - len(self.buffer.lstrip(b"\0"))
        if nuls:
            self.buffer = self.buffer[nuls:]
            self.events.append(("nul", nuls, now))
            return True
        head, sep, rest = self.buffer.partition(b"\r\n")
        if not sep:
            return False
        length = int(head, 16)
        if len(rest) < length + 2:
            return False
        assert rest[length:length + 2] == b"\r\n", rest[:length + 2][-10:]
        self.buffer = rest[length + 2:]
        self.events.append(("frame", self.decoder.decode(rest[:length], amf3=True), now))
        return True

    def frames(self) -> list:
        return [e[1] for e in self.events if e[0] == "frame"]

    def next_frame(self, timeout: float = 5.0) -> Any:
        """The next framed message not yet taken (None if the stream ended or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            while self._parse():
                pass
            frames = self.frames()
            if len(frames) > self._taken:
                self._taken += 1
                return frames[self._taken - 1]
            remaining = deadline - time.monotonic()
            if self.ended or remaining <= 0:
                return None
            self._read(remaining)

    def read_for(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds``."""
        deadline = time.monotonic() + seconds
        while not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._read(remaining)
            while self._parse():
                pass

    def read_to_end(self, timeout: float = 5.0) -> bool:
        """Read until the server ends the stream; True if it did within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        while self._parse():
            pass
        return self.ended

    # -- commands ------------------------------------------------------------------------

    def close_command(self, dsid: str | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            conn.request("POST", f"{self.path}?command=close&version=1",
                         f"DSId={dsid if dsid is not None else self.dsid}",
                         {"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _u29(value: int) -> bytes:
    if value < 0x80:
        return bytes([value])
    if value < 0x4000:
        return bytes([(value >> 7) | 0x80, value & 0x7F])
    if value < 0x200000:
        return bytes([(value >> 14) | 0x80, ((value >> 7) & 0x7F) | 0x80, value & 0x7F])
    raise ValueError(value)


def replace_amf3_string(raw: bytes, old: str, new: str) -> bytes:
    """``raw`` with every inline AMF3 string ``old`` (length header included) made ``new``.

    The Royale captures' body length field is 1 (not the real length), so a replacement of
    another length leaves the packet valid.
    """
    old_b, new_b = old.encode("utf-8"), new.encode("utf-8")
    encoded = _u29(len(old_b) << 1 | 1) + old_b
    assert encoded in raw, f"{old!r} is not an inline AMF3 string of this packet"
    return raw.replace(encoded, _u29(len(new_b) << 1 | 1) + new_b)


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def tolerate_trigger_race(server) -> None:
    """Make a waitress ``RunningServer.stop`` survive its own race (see below).

    ``RunningServer.stop`` (tests/conftest.py) appends the ``close_all`` thunk, then writes
    to waitress's trigger pipe.  When the event loop is already handling an earlier pull
    (a worker thread just finished a response), it can run the thunk, closing the trigger,
    before that write: ``os.write`` then fails with EBADF although the stop is under way.
    Here that error finishes the stop instead of failing the test's teardown.
    """
    if server.kind != "waitress":
        return
    original = server.stop

    def stop() -> None:
        try:
            original()
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
            server._thread.join(TIMEOUT)
            server._server.task_dispatcher.shutdown(timeout=TIMEOUT)
            assert not server._thread.is_alive(), "waitress server thread did not stop"

    server.stop = stop


class MessagingServer:
    """A messaging channel set served over HTTP."""

    def __init__(self, server, channel_set):
        tolerate_trigger_race(server)
        self.server = server
        self.channel_set = channel_set
        self.kind = server.kind
        self.port = server.port
        self.base_url = server.base_url
        self.streams: list[RawStream] = []

    def url(self, path: str = "/amf") -> str:
        return self.server.url(path)

    def flex(self, channel: str = "amf") -> FlexHttp:
        return FlexHttp(self.base_url, channel)

    def stream(self, dsid: str, path: str = "/streaming") -> RawStream:
        stream = RawStream("127.0.0.1", self.port, dsid, path)
        self.streams.append(stream)
        return stream

    def close_streams(self) -> None:
        """Ask the server to end every stream opened here, and drop their sockets."""
        for stream in self.streams:
            if stream.status == 200 and not stream.ended:
                try:
                    stream.close_command()
                except OSError:
                    pass
            stream.close()


@pytest.fixture
def messaging(serve_wsgi, endpoint_factory):
    """``build_messaging_channel_set()`` served under each server kind and endpoint kind."""
    channel_set = build_messaging_channel_set()
    use_endpoints(channel_set, endpoint_factory)
    served = MessagingServer(serve_wsgi(channel_set), channel_set)
    yield served
    served.close_streams()


@pytest.fixture
def serve_messaging(serve_wsgi, endpoint_factory):
    """``serve_messaging(**build_options) -> MessagingServer`` (or pass ``channel_set=``)."""
    served: list[MessagingServer] = []

    def serve(channel_set=None, **options):
        if channel_set is None:
            channel_set = build_messaging_channel_set(**options)
        use_endpoints(channel_set, endpoint_factory)
        served.append(MessagingServer(serve_wsgi(channel_set), channel_set))
        return served[-1]

    yield serve
    for server in served:
        server.close_streams()


@pytest.fixture
def captures():
    if not CAPTURES.is_dir():
        pytest.skip(f"no captures folder at {CAPTURES}")
    return CAPTURES
