"""Helpers and fixtures shared by the messaging tests in tests/remoting.

``build_messaging_channel_set`` maps three channels, one of each kind a Flex client uses,
with the classes of a transport (``tests.support.servers``: WSGI or ASGI):

* ``/amf``        polling (``wait_interval=0``);
* ``/longpoll``   long-polling (``wait_interval=LONG_WAIT`` ms);
* ``/streaming``  streaming (``heart_interval=HEART`` ms);

plus service ``svc`` (``echo``, ``secret`` (secure), ``whoami`` (an ExtCallableTarget
reporting the connection's login and session), ``remember(name, value)`` (sets a session
attribute)).  Login accepts ``correct``/``correct``.

The ``messaging`` and ``serve_messaging`` fixtures serve it under every server kind and
endpoint kind; a ``MessagingServer`` makes Flex clients (``tests.support.flex.FlexClient``)
and raw streams (``tests.support.streams.RawStream``) for it.  Every wait is bounded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amfast import remoting
from amfast.remoting.channel import SecurityError
from amfast.remoting.connection_manager import MemoryConnectionManager
from amfast.remoting.push_encoding import amf3_string
from amfast.remoting.subscription_manager import MemorySubscriptionManager
from tests.conftest import use_endpoints
from tests.remoting.apps import GoodUserLogin
from tests.support.flex import DSID, TIMEOUT, FlexClient, polled  # noqa: F401 (re-exported)
from tests.support.servers import WSGI, Transport
from tests.support.streams import RawStream
from tests.support.waiting import wait_until  # noqa: F401 (re-exported)

#: Real-client captures: <repo root>/../shared/captures (see its README.md).
CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
#: How long a long-poll is held (ms): long enough that an early return is visibly early.
LONG_WAIT = 4000
#: The streaming heartbeat (ms).
HEART = 300


class RecordingLogin:
    """ChannelSet mixin: any user whose password is not "wrong" logs in; ``logins``
    records what login received."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logins: list = []

    def login(self, user, password):
        self.logins.append((user, password))
        if password == "wrong":
            raise SecurityError("Invalid credentials.")
        return True


def build_messaging_channel_set(login: type | None = GoodUserLogin, *,
                                transport: Transport = WSGI,
                                connection_params: dict | None = None,
                                secure: bool = False, ttl: int = 30000,
                                max_messages: int = 10000, clean_freq: int = 300000,
                                long_wait: int = LONG_WAIT, heart: int = HEART,
                                poll_interval: int = 500, max_held: int | None = None,
                                connection_manager: Any = None,
                                subscription_manager: Any = None) -> Any:
    """``login``: a ChannelSet mixin with ``login`` (None: the channel set's own, which
    refuses everybody).  ``max_held`` None: these suites hold fewer requests than their
    servers have threads (the bound itself is tested in test_push_limits.py).  The managers
    are in-memory ones made of the options above unless given."""
    if connection_manager is None:
        connection_manager = MemoryConnectionManager(connection_params=connection_params)
    if subscription_manager is None:
        subscription_manager = MemorySubscriptionManager(secure=secure, ttl=ttl,
                                                         max_messages=max_messages)
    channel_set = transport.channel_set_class(*(() if login is None else (login,)))(
        connection_manager=connection_manager, subscription_manager=subscription_manager,
        clean_freq=clean_freq, max_held=max_held)
    channel_set.mapChannel(transport.Channel("amf"))
    channel_set.mapChannel(transport.Channel("longpoll", wait_interval=long_wait,
                                             poll_interval=poll_interval))
    channel_set.mapChannel(transport.StreamingChannel("streaming", heart_interval=heart,
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


def replace_amf3_string(raw: bytes, old: str, new: str) -> bytes:
    """``raw`` with every inline AMF3 string ``old`` (length header included) made ``new``.

    The Royale captures' body length field is 1 (not the real length), so a replacement of
    another length leaves the packet valid.
    """
    encoded = amf3_string(old)
    assert encoded in raw, f"{old!r} is not an inline AMF3 string of this packet"
    return raw.replace(encoded, amf3_string(new))


class MessagingServer:
    """A messaging channel set served over HTTP."""

    def __init__(self, server, channel_set):
        self.server = server
        self.channel_set = channel_set
        self.kind = server.kind
        self.transport = server.transport
        self.port = server.port
        self.base_url = server.base_url
        self.streams: list[RawStream] = []
        self.clients: list[FlexClient] = []

    def url(self, path: str = "/amf") -> str:
        return self.server.url(path)

    def flex(self, channel: str = "amf") -> FlexClient:
        client = FlexClient(self.base_url, channel)
        self.clients.append(client)
        return client

    def stream(self, dsid: str, path: str = "/streaming") -> RawStream:
        stream = RawStream("127.0.0.1", self.port, dsid, path)
        self.streams.append(stream)
        return stream

    def close_streams(self) -> None:
        """Ask the server to end every stream opened here, drop their sockets, and close
        the clients' connections."""
        for stream in self.streams:
            if stream.status == 200 and not stream.ended:
                try:
                    stream.close_command()
                except OSError:
                    pass
            stream.close()
        for client in self.clients:
            client.close()


@pytest.fixture
def messaging(serve_app, transport, endpoint_factory):
    """``build_messaging_channel_set()`` served under each server kind and endpoint kind."""
    channel_set = build_messaging_channel_set(transport=transport)
    use_endpoints(channel_set, endpoint_factory)
    served = MessagingServer(serve_app(channel_set), channel_set)
    yield served
    served.close_streams()


@pytest.fixture
def serve_messaging(serve_app, transport, endpoint_factory):
    """``serve_messaging(**build_options) -> MessagingServer``, or pass ``channel_set=``
    built with ``serve_messaging.build(**build_options)`` and channels of
    ``serve_messaging.transport``."""
    served: list[MessagingServer] = []

    def build(**options):
        return build_messaging_channel_set(transport=transport, **options)

    def serve(channel_set=None, **options):
        if channel_set is None:
            channel_set = build(**options)
        use_endpoints(channel_set, endpoint_factory)
        served.append(MessagingServer(serve_app(channel_set), channel_set))
        return served[-1]

    serve.build, serve.transport = build, transport
    yield serve
    for server in served:
        server.close_streams()


@pytest.fixture
def captures():
    if not CAPTURES.is_dir():
        pytest.skip(f"no captures folder at {CAPTURES}")
    return CAPTURES
