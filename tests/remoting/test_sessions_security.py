"""Connection ids (DSId) and sessions against a hostile client (issue 7, item 4).

* Ids are server-issued, carry at least 128 bits of randomness, and are signed with a
  per-application secret (``ConnectionManager.generateId``/``verifyId``); a presented id the
  server did not issue gets a new connection, one it issued but no longer knows gets fresh,
  unauthenticated state under that id.
* Login and logout rotate what authorises the connection: logout clears the login and the
  session (the id itself cannot change: a Flex client cannot adopt a new DSId).
* The per-topic secure check applies to subscribe, publish, every poll and every stream
  open.

test_messaging_http.py covers the basic cases over HTTP (a forged id gets a new connection,
an issued unknown id fresh state, expiry, login/logout of secure targets, secure subscribe/
publish/poll before login); this module adds what an attacker would try next.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
from collections import defaultdict

import pytest

from amfast.remoting.connection_manager import MemoryConnectionManager
from amfast.remoting.flex_messages import CommandMessage, ErrorMessage, RemotingMessage
from tests.remoting.conftest import (
    DSID,
    TIMEOUT,
    FlexClient,
    RecordingLogin,
)

LOGOUT = CommandMessage.LOGOUT_OPERATION


def token_and_signature(connection_id: str) -> tuple[str, str]:
    token, _, signature = connection_id.rpartition(".")
    return token, signature


def estimated_entropy_bits(ids: list[str]) -> float:
    """Randomness of the ids, by position: the sum over character positions of log2 of the
    number of distinct characters seen there (a fixed character adds nothing)."""
    seen = defaultdict(set)
    for value in ids:
        for position, char in enumerate(value):
            seen[position].add(char)
    return sum(math.log2(len(chars)) for chars in seen.values())


# ============================================================================= the ids


@pytest.fixture(scope="module")
def issued() -> list[str]:
    manager = MemoryConnectionManager(secret=b"k" * 32)
    return [manager.generateId() for _ in range(3000)]


def test_ids_are_unique_and_verifiable(issued):
    assert len(set(issued)) == len(issued)
    manager = MemoryConnectionManager(secret=b"k" * 32)
    assert all(manager.verifyId(i) for i in issued[:200])
    tokens = [token_and_signature(i)[0] for i in issued]
    assert len(set(tokens)) == len(tokens)
    # No id is a prefix or simple function of the one before it.
    assert not any(a[:8] == b[:8] for a, b in itertools.pairwise(tokens))


def test_ids_carry_at_least_128_random_bits(issued):
    """(A UUID4 token, as once used, has 122.)"""
    tokens = [token_and_signature(i)[0] for i in issued]
    bits = estimated_entropy_bits(tokens)
    assert bits >= 128, f"about {bits:.0f} random bits per id"


def test_signatures_are_long_enough_to_resist_guessing(issued):
    for connection_id in issued[:50]:
        token, signature = token_and_signature(connection_id)
        assert token and signature
        assert len(signature) * 4 >= 128  # hex digits
    assert estimated_entropy_bits([token_and_signature(i)[1] for i in issued]) >= 120


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda i: i[:-1] + ("0" if i[-1] != "0" else "1"), id="signature-digit"),
    pytest.param(lambda i: ("0" if i[0] != "0" else "1") + i[1:], id="token-digit"),
    pytest.param(lambda i: i.upper(), id="upper-case"),
    pytest.param(lambda i: i[:-1], id="truncated"),
    pytest.param(lambda i: i + "0", id="extended"),
    pytest.param(lambda i: token_and_signature(i)[0], id="token-only"),
    pytest.param(lambda i: "." + token_and_signature(i)[1], id="signature-only"),
    pytest.param(lambda i: i.replace(".", ".."), id="double-dot"),
    pytest.param(lambda i: i + "." + token_and_signature(i)[1], id="signature-twice"),
    pytest.param(lambda i: " " + i, id="leading-space"),
    pytest.param(lambda i: "\u2010" + i[1:], id="unicode-first-character"),
    pytest.param(lambda i: "", id="empty"),
    pytest.param(lambda i: "nil", id="nil"),
])
def test_a_mangled_id_does_not_verify(issued, mangle):
    manager = MemoryConnectionManager(secret=b"k" * 32)
    assert not manager.verifyId(mangle(issued[0]))


def test_ids_verify_only_under_the_secret_that_signed_them():
    one, same, other = (MemoryConnectionManager(secret=s) for s in (b"one", "one", b"two"))
    connection_id = one.generateId()
    assert same.verifyId(connection_id), "a str secret signs like its UTF-8 bytes"
    assert not other.verifyId(connection_id)
    # Without a secret each manager makes its own random one: ids do not cross.
    first, second = MemoryConnectionManager(), MemoryConnectionManager()
    assert first.verifyId(first.generateId())
    assert not second.verifyId(first.generateId())
    assert len(first.getSecret()) >= 32 and first.getSecret() != second.getSecret()


def test_verifying_garbage_never_raises():
    manager = MemoryConnectionManager(secret=b"s")
    for value in ("x" * 100000, "\x00.\x00", "\udcff.abc", ".", "..", "a.b.c", "é.é", 12, None):
        assert manager.verifyId(value) is False


# ============================================================================= over HTTP


def whoami(client: FlexClient) -> dict:
    reply = client.call("svc", "whoami")
    assert not isinstance(reply, ErrorMessage), reply
    return reply.body


def test_an_id_survives_a_restart_only_with_the_same_secret(serve_messaging):
    """A second server with the application's secret (a restart, another process) takes the
    id with fresh, unauthenticated state; one with another secret issues a new id."""
    servers = {}
    for name, secret in (("first", b"app-secret"), ("restarted", b"app-secret"),
                         ("stranger", b"other-secret")):
        channel_set = serve_messaging.build(connection_params=None)
        channel_set.connection_manager = MemoryConnectionManager(secret=secret)
        servers[name] = serve_messaging(channel_set=channel_set)
    alice = servers["first"].flex()
    alice.login("correct", "correct")
    alice.call("svc", "remember", "k", "v")
    dsid = alice.dsid

    restarted = FlexClient(servers["restarted"].base_url)
    restarted.dsid = dsid
    assert whoami(restarted) == {"id": dsid, "authenticated": False, "user": None,
                                 "session": {}}
    assert isinstance(restarted.call("svc", "secret"), ErrorMessage)

    stranger = FlexClient(servers["stranger"].base_url)
    stranger.dsid = dsid
    me = whoami(stranger)
    assert me["id"] != dsid and stranger.dsid == me["id"]
    assert me["authenticated"] is False


@pytest.mark.parametrize("value", [12345, 1.5, True, ["x"], {"a": 1}, "x" * 100000,
                                   "\u00e9\u4e16.abc", ""], ids=lambda v: type(v).__name__)
def test_a_dsid_header_of_any_type_gets_a_new_connection(messaging, value):
    client = messaging.flex()
    message = RemotingMessage(destination="svc", operation="whoami", body=[],
                              headers={DSID: value})
    reply = client.send(message, keep_dsid=True)
    assert not isinstance(reply, ErrorMessage), reply
    assert reply.body["id"] != value and messaging.channel_set.connection_manager.verifyId(
        reply.body["id"])
    assert reply.body["authenticated"] is False


@pytest.mark.parametrize("headers", [None, [], "DSId", 5], ids=repr)
def test_flex_headers_that_are_not_an_object_get_a_new_connection(messaging, headers):
    client = messaging.flex()
    message = RemotingMessage(destination="svc", operation="whoami", body=[], headers=headers)
    reply = client.send(message, keep_dsid=True)
    assert not isinstance(reply, ErrorMessage), reply
    assert reply.body["authenticated"] is False


def test_the_id_of_another_channel_carries_its_login(messaging):
    """One connection across channels (a ChannelSet fails over with its DSId): the login
    follows the id, never an id the server did not issue."""
    client = messaging.flex("amf")
    client.login("correct", "correct")
    other = FlexClient(messaging.base_url, "longpoll")
    other.dsid = client.dsid
    assert other.call("svc", "secret").body == "secret value"


# ============================================================================= login, logout


def test_logout_keeps_the_id_and_clears_login_and_session(messaging):
    client = messaging.flex()
    client.login("correct", "correct")
    client.call("svc", "remember", "cart", ["item"])
    dsid = client.dsid
    assert not isinstance(client.command(LOGOUT), ErrorMessage)
    assert client.dsid == dsid
    assert whoami(client) == {"id": dsid, "authenticated": False, "user": None,
                              "session": {}}
    # A second logout, and a logout of a connection that never logged in, are harmless.
    assert not isinstance(client.command(LOGOUT), ErrorMessage)
    fresh = messaging.flex()
    assert not isinstance(fresh.command(LOGOUT), ErrorMessage)
    assert whoami(fresh)["authenticated"] is False


def test_a_twin_holding_the_id_loses_the_login_at_logout(messaging):
    """Whoever holds the id (a stolen or shared DSId) is logged out with its owner."""
    owner = messaging.flex()
    owner.login("correct", "correct")
    twin = messaging.flex()
    twin.dsid = owner.dsid
    assert twin.call("svc", "secret").body == "secret value"
    owner.command(LOGOUT)
    refused = twin.call("svc", "secret")
    assert isinstance(refused, ErrorMessage) and refused.faultCode == "Client.Authentication"


def test_a_failed_login_changes_nothing(messaging):
    client = messaging.flex()
    client.login("correct", "correct")
    client.call("svc", "remember", "k", "v")
    reply = client.login("correct", "wrong")
    assert isinstance(reply, ErrorMessage) and reply.faultCode == "Client.Authentication"
    me = whoami(client)
    assert (me["authenticated"], me["user"], me["session"]) == (True, "correct", {"k": "v"})


def test_logging_in_as_someone_else_does_not_inherit_their_session(serve_messaging):
    """A login as another user over a logged-in connection is refused (as BlazeDS), or
    starts with an empty session; never the previous user's session (it once did)."""
    served = serve_messaging(login=RecordingLogin)
    client = served.flex()
    client.login("alice", "pw")
    client.call("svc", "remember", "cart", "alice's")
    reply = client.login("mallory", "pw")
    me = whoami(client)
    if isinstance(reply, ErrorMessage):  # refused: alice stays logged in
        assert (me["user"], me["session"]) == ("alice", {"cart": "alice's"})
    else:
        assert me["user"] == "mallory" and me["session"] == {}


def test_concurrent_login_and_logout_of_one_connection_end_consistent(messaging):
    """Logins and logouts of one id racing each other: whatever the last one was, the user
    and the flag agree, and the server answers every request."""
    owner = messaging.flex()
    owner.ping()
    errors: list = []

    def worker(index: int) -> None:
        twin = FlexClient(messaging.base_url)
        twin.dsid = owner.dsid
        try:
            for _ in range(5):
                reply = twin.login("correct", "correct") if index % 2 else twin.command(LOGOUT)
                assert not isinstance(reply, ErrorMessage), reply
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert errors == []
    me = whoami(owner)
    assert me["authenticated"] is (me["user"] == "correct")


# ============================================================================= secure topics


def test_secure_checks_apply_on_every_poll_and_stream_open(serve_messaging):
    served = serve_messaging(secure=True, heart=100)
    client = served.flex()
    client.ping()
    # Not logged in: no stream, no long-poll (answered at once, not held).
    stream = served.stream(client.dsid)
    try:
        assert stream.status == 403
    finally:
        stream.close()
    longpoll = FlexClient(served.base_url, "longpoll")
    longpoll.dsid = client.dsid
    started = time.monotonic()
    refused = longpoll.poll()
    assert isinstance(refused, ErrorMessage) and refused.faultCode == "Client.Authentication"
    assert time.monotonic() - started < 2

    client.login("correct", "correct")
    client.subscribe("chat")
    stream = served.stream(client.dsid)
    try:
        assert stream.status == 200
        assert stream.next_frame(TIMEOUT).correlationId == "open"
    finally:
        stream.close_command()
        stream.close()

    client.command(LOGOUT)
    for reply in (client.poll(), longpoll.poll(), client.subscribe("chat"),
                  client.publish("chat", "after logout")):
        assert isinstance(reply, ErrorMessage) and reply.faultCode == "Client.Authentication"
    stream = served.stream(client.dsid)
    try:
        assert stream.status == 403
    finally:
        stream.close()


def test_an_expired_connection_cannot_open_a_stream(serve_messaging):
    served = serve_messaging(connection_params={"timeout": 200})
    client = served.flex()
    client.ping()
    time.sleep(0.4)
    stream = served.stream(client.dsid)
    try:
        assert stream.status == 400
    finally:
        stream.close()


def test_logout_stops_delivery_on_an_open_secure_stream(serve_messaging):
    """Where messaging is secure, an open stream delivers nothing after its connection logs
    out (it once went on delivering)."""
    served = serve_messaging(secure=True, heart=100)
    client = served.flex()
    client.login("correct", "correct")
    client.subscribe("chat")
    stream = served.stream(client.dsid)
    assert stream.status == 200 and stream.next_frame(TIMEOUT).correlationId == "open"
    served.channel_set.publishObject("while logged in", "chat")
    assert stream.next_frame(TIMEOUT).body == "while logged in"
    client.command(LOGOUT)
    served.channel_set.publishObject("after logout", "chat")
    frame = stream.next_frame(1.0)
    assert frame is None or getattr(frame, "body", None) != "after logout"
