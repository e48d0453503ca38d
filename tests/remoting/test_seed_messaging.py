"""The messaging snippets of AmFast's documentation (the seed), run as printed over HTTP.

Each snippet below is the seed's text ported to Python 3 (indentation restored; nothing
else changed, typos included), executed with ``exec`` in a namespace giving it what the
page assumes (``amfast`` imported, ``channel_set``, ``target``).  Where a snippet defines a
target function and stops, the test appends the lines an application would add (kept
apart in ``*_CONTINUATION``).  ``test_snippets_are_the_seed_text`` checks every code line
against the seed file when it is present.

Two things are wrong in the seed itself, not in amfast: the RemoteObject snippet reads
``'new_attr_nam'`` (a typo: SessionAttrError), and the Authentication snippet compares
``'pass' == 'correct'`` (so every login is refused).  Both are run as printed, and then
with the obvious correction.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import amfast
import amfast.remoting.channel
import amfast.remoting.connection
from amfast import remoting
from amfast.remoting.client import RemotingFault, RemotingService
from amfast.remoting.flex_messages import AsyncMessage, CommandMessage, ErrorMessage
from amfast.remoting.wsgi_channel import (
    StreamingWsgiChannel,
    WsgiChannel,
    WsgiChannelSet,
)
from tests.remoting.conftest import TIMEOUT, MessagingServer, polled, wait_until

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / \
    "000_227119067da37ffc.txt"

# -- "Storing Session Data": RemoteObject Session Data -----------------------------------

REMOTE_OBJECT_SESSION = """\
# Use ExtCallableTarget to expose Packet and Message objects.
def remote_function(packet, message, *args):
    # Get a Connection object from a Flex message.
    my_flex_message = message.body[0]
    connection = my_flex_message.connection
    connection.setSessionAttr('new_attr_name', 'value')
    val = connection.getSessionAttr('new_attr_nam')
"""
REMOTE_OBJECT_CONTINUATION = """\
    return val
"""

# -- "Storing Session Data": NetConnection Session Data ----------------------------------

NETCONNECTION_SESSION = """\
# To store session data with NetConnection,
# the Connection object will need to be created manually,
# and the connection id will have to be passed as an argument
# or as a Packet header.
def remote_function(packet, message, connection_id):
    try:
        connection = packet.channel.channel_set.getConnection(connection_id)
    except amfast.remoting.channel.NotConnectedError:
        connection_id = packet.channel.channel_set.generateId()
        connection = packet.channel.connect(connection_id)
"""
NETCONNECTION_CONTINUATION = """\
    try:
        calls = connection.getSessionAttr('calls') + 1
    except amfast.remoting.connection.SessionAttrError:
        calls = 1
    connection.setSessionAttr('calls', calls)
    return [connection_id, calls]
"""

# -- "Producer/Consumer Messaging" ----------------------------------------------------------

PRODUCER_CONSUMER = """\
from amfast.remoting import flex_messages
# Create a Flex message to publish.
msg = flex_messages.AsyncMessage(headers=None,
    body="Hello World", destination="topic-name")
channel_set.publishMessage(msg)
# ChannelSet also has a 'publishObject'
# method which is a convenience method to
# automatically create a new AsynceMessage
# to publish.
channel_set.publishObject("Hello World", "topic-name",
    sub_topic="sub-topic-name", headers=None, ttl=30000)
"""

# -- "Authentication" -----------------------------------------------------------------------

AUTHENTICATION = """\
from amfast.remoting.channel import ChannelSet
# Add a login method to a ChannelSet
# to enable authentication.
#
# The method should accept user and password
# arguments. It should return True on login,
# and raise a amfast.remoting.channel.SecurityError
# on failure.
class AuthChannelSet(ChannelSet):
    def login(self, user, password):
        if user == 'correct' and 'pass' == 'correct':
            return True
        raise amfast.remoting.channel.SecurityError('Invalid credentials.')
channel_set = AuthChannelSet()
# Set the 'secure' attribute to True
# to protect a Target.
#
# This will stop unauthenticated users
# from invoking a Target.
target.secure = True
# Set the 'secure' attribute of the
# SubscriptionManager to True
# to protect Producer/Consumer messaging.
#
# This will stop un-authenticated
# users from publishing or subscribing
# to topics.
channel_set.subscription_manager.secure = True
"""

SNIPPETS = {"RemoteObject Session Data": REMOTE_OBJECT_SESSION,
            "NetConnection Session Data": NETCONNECTION_SESSION,
            "Producer/Consumer Messaging": PRODUCER_CONSUMER,
            "Authentication": AUTHENTICATION}


def run_snippet(name: str, text: str, **namespace) -> dict:
    namespace.setdefault("amfast", amfast)
    exec(compile(text, f"seed: {name}", "exec"), namespace)
    return namespace


def channels(channel_set):
    channel_set.mapChannel(WsgiChannel("amf"))
    channel_set.mapChannel(WsgiChannel("longpoll", wait_interval=5000))
    channel_set.mapChannel(StreamingWsgiChannel("streaming", heart_interval=1000))
    return channel_set


def as_wsgi(channel_set):
    """Any ChannelSet served like a WsgiChannelSet (the path names the channel)."""
    return lambda environ, start_response: WsgiChannelSet.__call__(channel_set, environ,
                                                                   start_response)


@pytest.fixture(params=["wsgiref", "waitress"])
def server_kind(request) -> str:
    """The seed serves WsgiChannelSets: the WSGI servers only."""
    if request.param == "waitress":
        pytest.importorskip("waitress")
    return request.param


@pytest.fixture
def serve(serve_app):
    def serve_channel_set(channel_set):
        return MessagingServer(serve_app(as_wsgi(channel_set)), channel_set)
    return serve_channel_set


@pytest.mark.skipif(not SEED.is_file(), reason=f"no seed file at {SEED}")
@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippets_are_the_seed_text(name):
    seed = SEED.read_text()
    for line in SNIPPETS[name].splitlines():
        assert line.strip() in seed, f"{name}: {line.strip()!r} is not in the seed"


# ============================================================================= session data


def remote_object_channel_set(snippet: str) -> WsgiChannelSet:
    namespace = run_snippet("RemoteObject Session Data", snippet + REMOTE_OBJECT_CONTINUATION)
    channel_set = channels(WsgiChannelSet())
    service = remoting.Service("session")
    service.mapTarget(remoting.ExtCallableTarget(namespace["remote_function"], "remote_function"))

    def read(packet, message, name):
        return message.body[0].connection.getSessionAttr(name)

    service.mapTarget(remoting.ExtCallableTarget(read, "read"))
    channel_set.service_mapper.mapService(service)
    return channel_set


def test_remote_object_session_data_as_printed(serve):
    """As printed, the snippet stores 'new_attr_name' and then reads the misspelled
    'new_attr_nam': the call fails with SessionAttrError, the attribute stays stored."""
    served = serve(remote_object_channel_set(REMOTE_OBJECT_SESSION))
    client = served.flex()
    reply = client.call("session", "remote_function")
    assert isinstance(reply, ErrorMessage)
    assert reply.faultCode == "SessionAttrError"
    assert "new_attr_nam" in reply.faultString
    assert client.call("session", "read", "new_attr_name").body == "value"
    other = served.flex()
    missing = other.call("session", "read", "new_attr_name")
    assert isinstance(missing, ErrorMessage) and missing.faultCode == "SessionAttrError"


def test_remote_object_session_data_corrected(serve):
    corrected = REMOTE_OBJECT_SESSION.replace("'new_attr_nam')", "'new_attr_name')")
    served = serve(remote_object_channel_set(corrected))
    service = RemotingService(served.url("/amf"), timeout=TIMEOUT)
    assert service.remote_call("session", "remote_function") == "value"
    assert service.remote_call("session", "read", "new_attr_name") == "value"
    service.close()


@pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])
def test_netconnection_session_data_with_a_client_passed_id(serve, amf3):
    namespace = run_snippet("NetConnection Session Data",
                            NETCONNECTION_SESSION + NETCONNECTION_CONTINUATION)
    channel_set = channels(WsgiChannelSet())
    service = remoting.Service("session")
    service.mapTarget(remoting.ExtCallableTarget(namespace["remote_function"], "remote_function"))
    channel_set.service_mapper.mapService(service)
    served = serve(channel_set)
    client = RemotingService(served.url("/amf"), amf3=amf3, timeout=TIMEOUT)
    try:
        connection_id, calls = client.call("session.remote_function", None)
        assert calls == 1 and channel_set.connection_manager.verifyId(connection_id)
        for expected in (2, 3):
            assert client.call("session.remote_function", connection_id) == \
                [connection_id, expected]
        other_id, calls = client.call("session.remote_function", "an-unknown-id")
        assert other_id not in (connection_id, "an-unknown-id") and calls == 1
        assert client.call("session.remote_function", connection_id)[1] == 4
        assert channel_set.getConnection(connection_id).getSessionAttr("calls") == 4
        # An expired connection: the snippet's except branch makes a new one.
        channel_set.disconnect(channel_set.getConnection(connection_id))
        new_id, calls = client.call("session.remote_function", connection_id)
        assert new_id != connection_id and calls == 1
    finally:
        client.close()


# ============================================================================= Producer/Consumer


def test_producer_consumer_snippet_reaches_polling_long_polling_and_streaming_consumers(serve):
    channel_set = channels(WsgiChannelSet())
    served = serve(channel_set)
    plain = served.flex()
    plain.subscribe("topic-name")
    sub = served.flex()
    sub_id = sub.subscribe("topic-name", sub_topic="sub-topic-name").clientId
    held = served.flex("longpoll")
    held.subscribe("topic-name")
    streamer = served.flex("streaming")
    streamer.subscribe("topic-name", sub_topic="sub-topic-name")
    stream = served.stream(streamer.dsid)
    assert stream.next_frame() is not None  # the "open" acknowledgement

    result = {}
    poller = threading.Thread(target=lambda: result.setdefault("reply", held.poll()),
                              daemon=True)
    poller.start()
    assert wait_until(lambda: channel_set.notifier.listened(held.dsid), TIMEOUT)
    started = time.monotonic()
    namespace = run_snippet("Producer/Consumer Messaging", PRODUCER_CONSUMER,
                            channel_set=channel_set)
    poller.join(TIMEOUT)
    try:
        assert time.monotonic() - started < 1, "the held poll returns at the publish"
        assert isinstance(namespace["msg"], AsyncMessage)
        assert [m.body for m in polled(result["reply"])] == ["Hello World"]
        assert [m.body for m in plain.poll_messages()] == ["Hello World"]
        got = sub.poll_messages()
        assert [(m.body, m.clientId) for m in got] == [("Hello World", sub_id)]
        assert got[0].headers[AsyncMessage.SUBTOPIC_HEADER] == "sub-topic-name"
        assert got[0].timeToLive == 30000
        framed = stream.next_frame(TIMEOUT)
        assert framed.body == "Hello World"
        assert framed.headers[AsyncMessage.SUBTOPIC_HEADER] == "sub-topic-name"
    finally:
        served.close_streams()


# ============================================================================= Authentication


def auth_channel_set(snippet: str):
    target = remoting.CallableTarget(lambda: "secret value", "secret")
    namespace = run_snippet("Authentication", snippet, target=target)
    channel_set = channels(namespace["channel_set"])
    service = remoting.Service("svc")
    service.mapTarget(target)
    channel_set.service_mapper.mapService(service)
    return namespace, channel_set


def test_authentication_snippet_as_printed_refuses_every_login(serve):
    """As printed, ``'pass' == 'correct'`` is never true: even correct:correct is refused."""
    namespace, channel_set = auth_channel_set(AUTHENTICATION)
    assert type(channel_set).__name__ == "AuthChannelSet"
    assert not isinstance(channel_set, WsgiChannelSet)  # a plain ChannelSet subclass
    assert namespace["target"].secure is True
    assert channel_set.subscription_manager.secure is True
    served = serve(channel_set)
    client = served.flex()
    reply = client.login("correct", "correct")
    assert isinstance(reply, ErrorMessage) and reply.faultCode == "Client.Authentication"
    for refused in (client.call("svc", "secret"), client.subscribe("chat"),
                    client.publish("chat", "x"), client.poll()):
        assert isinstance(refused, ErrorMessage), refused
        assert refused.faultCode == "Client.Authentication"
    service = RemotingService(served.url("/amf"), timeout=TIMEOUT)
    service.setCredentials("correct", "correct")
    with pytest.raises(RemotingFault):
        service.call("svc.secret")
    service.close()


def test_authentication_snippet_corrected(serve):
    corrected = AUTHENTICATION.replace("'pass' == 'correct'", "password == 'correct'")
    _, channel_set = auth_channel_set(corrected)
    served = serve(channel_set)

    stranger = served.flex()
    wrong = stranger.login("correct", "wrong")
    assert isinstance(wrong, ErrorMessage) and wrong.faultCode == "Client.Authentication"
    assert isinstance(stranger.subscribe("chat"), ErrorMessage)
    assert isinstance(stranger.call("svc", "secret"), ErrorMessage)
    assert served.stream(stranger.dsid).status == 403

    member = served.flex()
    assert not isinstance(member.login("correct", "correct"), ErrorMessage)
    assert member.call("svc", "secret").body == "secret value"
    client_id = member.subscribe("chat").clientId
    producer = served.flex()
    producer.login("correct", "correct")
    assert not isinstance(producer.publish("chat", "members only"), ErrorMessage)
    got = member.poll_messages()
    assert [(m.body, m.clientId) for m in got] == [("members only", client_id)]

    # NetConnection: the Credentials header (userid/password) opens the secure target.
    service = RemotingService(served.url("/amf"), timeout=TIMEOUT)
    service.setCredentials("correct", "correct")
    assert service.call("svc.secret") == "secret value"
    service.setCredentials("correct", "nope")
    with pytest.raises(RemotingFault) as info:
        service.call("svc.secret")
    assert info.value.code == "SecurityError"
    service.close()

    member.command(CommandMessage.LOGOUT_OPERATION)
    assert isinstance(member.call("svc", "secret"), ErrorMessage)
    assert isinstance(member.poll(), ErrorMessage)
