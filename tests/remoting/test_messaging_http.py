"""Flex Producer/Consumer messaging over HTTP, under wsgiref (threaded) and waitress.

The commands a Flex ``ChannelSet``/``Consumer``/``Producer`` sends (CLIENT_PING, LOGIN,
LOGOUT, SUBSCRIBE, UNSUBSCRIBE, MULTI_SUBSCRIBE, POLL, DISCONNECT) and published
AsyncMessages, sent one Flex message per request with amfast's codec (``FlexClient``), with
py3amf's codec as the independent side, and replayed from Apache Royale captures.
Polling (``/amf``) and long-polling (``/longpoll``) channels; streaming is in
test_streaming.py.
"""
from __future__ import annotations

import base64
import threading
import time

import pytest

from amfast.remoting.connection_manager import MemoryConnectionManager
from amfast.remoting.errors import NotConnectedError
from amfast.remoting.flex_messages import (
    AcknowledgeMessage,
    AsyncMessage,
    CommandMessage,
    ErrorMessage,
)
from tests.remoting.conftest import (
    DSID,
    LONG_WAIT,
    TIMEOUT,
    FlexClient,
    RecordingLogin,
    build_messaging_channel_set,
    polled,
    replace_amf3_string,
    wait_until,
)

ADD = CommandMessage.ADD_SUBSCRIPTIONS
REMOVE = CommandMessage.REMOVE_SUBSCRIPTIONS
SUBTOPIC = AsyncMessage.SUBTOPIC_HEADER


def now_ms() -> float:
    return time.time() * 1000


def bodies(messages) -> list:
    return [m.body for m in messages]


# ============================================================================= CLIENT_PING


def test_ping_ack_carries_a_dsid_and_the_messaging_version_asked_for(messaging):
    client = messaging.flex()
    ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION,
                          headers={CommandMessage.MESSAGING_VERSION: 1})
    ack = client.send(ping)
    assert type(ack).__name__ in ("AcknowledgeMessage", "AcknowledgeMessageExt")
    assert ack.correlationId == ping.messageId
    assert ack.headers[DSID] and ack.headers[DSID] != "nil"
    assert ack.headers[CommandMessage.MESSAGING_VERSION] == 1
    messaging.channel_set.getConnection(ack.headers[DSID])  # a live connection

    plain = messaging.flex()
    ack = plain.ping()
    assert CommandMessage.MESSAGING_VERSION not in ack.headers
    assert ack.headers[DSID] not in (None, "nil", client.dsid)


def test_ping_with_a_known_dsid_keeps_it(messaging):
    client = messaging.flex()
    first = client.ping().headers[DSID]
    assert client.ping().headers[DSID] == first


# ============================================================================= SUBSCRIBE/POLL


def test_subscribe_with_null_client_id_gets_one_that_pushed_messages_carry(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.ping()
    subscribe = CommandMessage(operation=CommandMessage.SUBSCRIBE_OPERATION, destination="chat",
                               clientId=None, headers={SUBTOPIC: "room1"})
    ack = consumer.send(subscribe)
    assert not isinstance(ack, ErrorMessage), ack
    assert ack.correlationId == subscribe.messageId
    client_id = ack.clientId
    assert isinstance(client_id, str) and client_id
    assert ack.headers[DSID] == consumer.dsid

    producer.publish("chat", {"text": "hi"}, sub_topic="room1")
    poll = CommandMessage(operation=CommandMessage.POLL_OPERATION)
    reply = consumer.send(poll)
    assert isinstance(reply, CommandMessage), reply
    assert reply.operation == CommandMessage.CLIENT_SYNC_OPERATION == 4
    assert reply.correlationId == poll.messageId
    [pushed] = reply.body
    assert isinstance(pushed, AsyncMessage)
    assert pushed.clientId == client_id
    assert (pushed.destination, pushed.body) == ("chat", {"text": "hi"})
    assert pushed.headers[SUBTOPIC] == "room1"


def test_two_null_client_id_subscribes_get_different_ids(messaging):
    a, b = messaging.flex(), messaging.flex()
    assert a.subscribe("chat").clientId != b.subscribe("chat").clientId


def test_subscribe_keeps_a_client_chosen_client_id(messaging):
    consumer = messaging.flex()
    assert consumer.subscribe("chat", client_id="MY-CONSUMER").clientId == "MY-CONSUMER"
    messaging.flex().publish("chat", 1)
    assert [m.clientId for m in consumer.poll_messages()] == ["MY-CONSUMER"]


def test_poll_without_messages_is_a_plain_acknowledgement(messaging):
    consumer = messaging.flex()
    consumer.subscribe("chat")
    poll = CommandMessage(operation=CommandMessage.POLL_OPERATION)
    reply = consumer.send(poll)
    assert type(reply).__name__ in ("AcknowledgeMessage", "AcknowledgeMessageExt"), reply
    assert not isinstance(reply, CommandMessage)
    assert reply.correlationId == poll.messageId
    assert not reply.body
    assert not reply.headers.get(CommandMessage.NO_OP_POLL_HEADER)


def test_poll_returns_each_message_once_in_publishing_order(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.subscribe("chat")
    for n in range(6):
        assert not isinstance(producer.publish("chat", n), ErrorMessage)
    assert bodies(consumer.poll_messages()) == list(range(6))
    assert consumer.poll_messages() == []
    producer.publish("chat", "later")
    assert bodies(consumer.poll_messages()) == ["later"]


def test_messages_published_before_subscribing_are_not_delivered(messaging):
    producer, consumer = messaging.flex(), messaging.flex()
    producer.publish("chat", "too early")
    consumer.subscribe("chat")
    producer.publish("chat", "in time")
    assert bodies(consumer.poll_messages()) == ["in time"]


def test_publish_is_acknowledged_stamped_and_readdressed_without_the_publisher_dsid(messaging):
    producer, alice, bob = messaging.flex(), messaging.flex(), messaging.flex()
    alice_id = alice.subscribe("chat").clientId
    bob_id = bob.subscribe("chat").clientId
    producer.ping()
    message = AsyncMessage(body={"n": 1}, destination="chat", clientId="PRODUCER-1",
                           timestamp=12345, timeToLive=0,
                           headers={"X-Custom": "kept", "DSEndpoint": "my-amf"})
    before = now_ms()
    ack = producer.send(message)
    after = now_ms()
    assert not isinstance(ack, ErrorMessage), ack
    assert ack.correlationId == message.messageId
    assert ack.clientId == "PRODUCER-1"
    assert ack.headers[DSID] == producer.dsid

    for consumer, client_id in ((alice, alice_id), (bob, bob_id)):
        [pushed] = consumer.poll_messages()
        assert pushed.clientId == client_id
        assert pushed.body == {"n": 1} and pushed.destination == "chat"
        assert pushed.messageId == message.messageId
        assert before - 1000 <= pushed.timestamp <= after + 1000, "not stamped by the server"
        assert pushed.timeToLive == 30000, "a TTL of 0 gets the manager's default"
        assert pushed.headers.get("X-Custom") == "kept"
        assert DSID not in pushed.headers
        assert producer.dsid not in repr(pushed.headers)


def test_publish_keeps_a_ttl_the_producer_set(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.subscribe("chat")
    producer.publish("chat", "x", timeToLive=5000)
    assert [m.timeToLive for m in consumer.poll_messages()] == [5000]


def test_publish_to_a_wildcard_subtopic_is_refused(messaging):
    reply = messaging.flex().publish("chat", "x", sub_topic="room.*")
    assert isinstance(reply, ErrorMessage)
    assert reply.faultCode == "SubtopicError"


def test_subtopics_and_wildcards(messaging):
    producer = messaging.flex()
    consumers = {}
    for name, sub_topic in (("all", "chat.*"), ("a", "chat.a"), ("none", None),
                            ("other", "other"), ("star", "*")):
        consumer = messaging.flex()
        consumer.subscribe("chat", sub_topic=sub_topic)
        consumers[name] = consumer
    for body, sub_topic in (("to a", "chat.a"), ("to b.c", "chat.b.c"), ("plain", None),
                            ("to chat", "chat"), ("to other", "other")):
        producer.publish("chat", body, sub_topic=sub_topic)
    got = {name: bodies(c.poll_messages()) for name, c in consumers.items()}
    assert got == {
        "all": ["to a", "to b.c"],
        "a": ["to a"],
        "none": ["plain"],
        "other": ["to other"],
        "star": ["to a", "to b.c", "to chat", "to other"],
    }


def test_destinations_are_separate(messaging):
    chat, news, producer = messaging.flex(), messaging.flex(), messaging.flex()
    chat.subscribe("chat")
    news.subscribe("news")
    producer.publish("chat", "c")
    producer.publish("news", "n")
    assert bodies(chat.poll_messages()) == ["c"]
    assert bodies(news.poll_messages()) == ["n"]


def test_selector_is_honoured(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.subscribe("prices", selector="price > 10 AND symbol IN ('ADBE', 'MSFT')")
    for price, symbol in ((5, "ADBE"), (12, "ADBE"), (20, "GOOG"), (11.5, "MSFT")):
        producer.publish("prices", f"{symbol}@{price}",
                         headers={"price": price, "symbol": symbol})
    producer.publish("prices", "no headers")
    assert bodies(consumer.poll_messages()) == ["ADBE@12", "MSFT@11.5"]


@pytest.mark.parametrize("send_selector", [False, True], ids=["plain", "with-DSSelector"])
def test_unsubscribe_removes_a_subtopic_subscription_that_has_a_selector(messaging,
                                                                         send_selector):
    consumer, producer = messaging.flex(), messaging.flex()
    client_id = consumer.subscribe("chat", sub_topic="room1", selector="n > 0").clientId
    headers = {SUBTOPIC: "room1"}
    if send_selector:
        headers[CommandMessage.SELECTOR_HEADER] = "n > 0"
    ack = consumer.command(CommandMessage.UNSUBSCRIBE_OPERATION, destination="chat",
                           clientId=client_id, headers=headers)
    assert not isinstance(ack, ErrorMessage), ack
    producer.publish("chat", "after", sub_topic="room1", headers={"n": 1})
    assert bodies(consumer.poll_messages()) == []
    assert list(messaging.channel_set.subscription_manager.iterSubscribers("chat")) == []


def test_unsubscribe_without_subtopic_removes_every_subscription_of_the_consumer(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    client_id = consumer.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                                 headers={ADD: ["_;_", "a_;_n > 0", "b_;_"]}).clientId
    consumer.command(CommandMessage.UNSUBSCRIBE_OPERATION, destination="chat",
                     clientId=client_id)
    for sub_topic in (None, "a", "b"):
        producer.publish("chat", "x", sub_topic=sub_topic, headers={"n": 1})
    assert consumer.poll_messages() == []


def test_invalid_selector_fails_the_subscribe(messaging):
    reply = messaging.flex().subscribe("prices", selector="price >")
    assert isinstance(reply, ErrorMessage)


def test_unsubscribe_stops_delivery(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    client_id = consumer.subscribe("chat", sub_topic="room1").clientId
    producer.publish("chat", "before", sub_topic="room1")
    ack = consumer.command(CommandMessage.UNSUBSCRIBE_OPERATION, destination="chat",
                           clientId=client_id, headers={SUBTOPIC: "room1"})
    assert not isinstance(ack, ErrorMessage), ack
    assert ack.clientId == client_id
    producer.publish("chat", "after", sub_topic="room1")
    # Messages published before the unsubscribe are dropped with the subscription.
    assert bodies(consumer.poll_messages()) == []
    assert list(messaging.channel_set.subscription_manager.iterSubscribers("chat")) == []


def test_multi_subscribe_adds_and_removes_subtopic_selector_pairs(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.ping()
    ack = consumer.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                           clientId=None, headers={ADD: ["a_;_", "b_;_prio = 1"]})
    assert not isinstance(ack, ErrorMessage), ack
    client_id = ack.clientId
    assert client_id

    def publish_round(tag):
        producer.publish("chat", f"{tag} a", sub_topic="a")
        producer.publish("chat", f"{tag} b1", sub_topic="b", headers={"prio": 1})
        producer.publish("chat", f"{tag} b2", sub_topic="b", headers={"prio": 2})
        producer.publish("chat", f"{tag} c", sub_topic="c")

    publish_round("1")
    got = consumer.poll_messages()
    assert bodies(got) == ["1 a", "1 b1"]
    assert {m.clientId for m in got} == {client_id}

    ack = consumer.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                           clientId=client_id, headers={REMOVE: ["a_;_"], ADD: ["c_;_"]})
    assert not isinstance(ack, ErrorMessage), ack
    publish_round("2")
    assert bodies(consumer.poll_messages()) == ["2 b1", "2 c"]


def test_multi_subscribe_removing_the_no_subtopic_entry_keeps_the_subtopic_ones(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    client_id = consumer.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                                 headers={ADD: ["_;_", "room_;_"]}).clientId
    consumer.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                     clientId=client_id, headers={REMOVE: ["_;_"]})
    producer.publish("chat", "plain")
    producer.publish("chat", "to room", sub_topic="room")
    assert bodies(consumer.poll_messages()) == ["to room"]


def test_two_selectors_on_one_subtopic_are_two_subscriptions(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                     headers={ADD: ["room_;_prio = 1", "room_;_prio = 2"]})
    for prio in (1, 2, 3):
        producer.publish("chat", prio, sub_topic="room", headers={"prio": prio})
    assert bodies(consumer.poll_messages()) == [1, 2]


def test_overlapping_subscriptions_deliver_a_message_once_per_consumer(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                     headers={ADD: ["chat.a_;_", "chat.*_;_"]})
    producer.publish("chat", "once", sub_topic="chat.a")
    assert bodies(consumer.poll_messages()) == ["once"]


def test_server_code_publishes_to_http_subscribers(messaging):
    plain, sub = messaging.flex(), messaging.flex()
    plain.subscribe("topic-name")
    sub.subscribe("topic-name", sub_topic="sub-topic-name")
    messaging.channel_set.publishObject("to sub", "topic-name", sub_topic="sub-topic-name",
                                       ttl=30000)
    messaging.channel_set.publishMessage(AsyncMessage(body="to plain", destination="topic-name"))
    assert bodies(plain.poll_messages()) == ["to plain"]
    assert bodies(sub.poll_messages()) == ["to sub"]


# ============================================================================= long-polling


def _waiting(messaging, dsid) -> bool:
    """A poll of this connection is held (it waits for notifications)."""
    return messaging.channel_set.notifier.listened(dsid)


def _poll_in_thread(client, result):
    def run():
        try:
            result["reply"] = client.poll()
        except Exception as exc:  # reported by the test
            result["error"] = exc
        result["t"] = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_long_poll_returns_within_milliseconds_of_a_publish(messaging):
    consumer, producer = messaging.flex("longpoll"), messaging.flex()
    consumer.subscribe("chat")
    producer.ping()
    result: dict = {}
    started = time.monotonic()
    thread = _poll_in_thread(consumer, result)
    assert wait_until(lambda: _waiting(messaging, consumer.dsid), TIMEOUT)
    time.sleep(0.05)
    assert "reply" not in result, "a long-poll without messages must be held"
    published = time.monotonic()
    producer.publish("chat", "now")
    thread.join(TIMEOUT)
    assert not thread.is_alive() and "error" not in result, result
    latency = result["t"] - published
    assert latency < 0.2, f"held poll returned {latency * 1000:.0f} ms after the publish"
    assert result["t"] - started < LONG_WAIT / 1000
    assert bodies(polled(result["reply"])) == ["now"]


def test_long_poll_without_messages_returns_a_plain_ack_after_the_wait(serve_messaging):
    served = serve_messaging(long_wait=400)
    consumer = served.flex("longpoll")
    consumer.subscribe("chat")
    started = time.monotonic()
    reply = consumer.poll()
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 3, elapsed
    assert polled(reply) == [] and not isinstance(reply, ErrorMessage)
    assert not reply.headers.get(CommandMessage.NO_OP_POLL_HEADER)


def test_long_poll_with_waiting_messages_returns_at_once(messaging):
    consumer, producer = messaging.flex("longpoll"), messaging.flex()
    consumer.subscribe("chat")
    producer.publish("chat", "waiting")
    started = time.monotonic()
    assert bodies(consumer.poll_messages()) == ["waiting"]
    assert time.monotonic() - started < 1


def test_suppress_poll_wait_header_answers_at_once(messaging):
    consumer = messaging.flex("longpoll")
    consumer.subscribe("chat")
    started = time.monotonic()
    reply = consumer.poll(**{CommandMessage.SUPPRESS_POLL_WAIT_HEADER: True})
    assert polled(reply) == []
    assert time.monotonic() - started < 1


def test_second_poll_during_a_long_poll_gets_a_no_op_ack(messaging):
    consumer, producer = messaging.flex("longpoll"), messaging.flex()
    consumer.subscribe("chat")
    result: dict = {}
    thread = _poll_in_thread(consumer, result)
    assert wait_until(lambda: _waiting(messaging, consumer.dsid), TIMEOUT)

    twin = FlexClient(messaging.base_url, "longpoll")
    twin.dsid = consumer.dsid
    started = time.monotonic()
    reply = twin.poll()
    assert time.monotonic() - started < 1, "the second poll must not be held"
    assert not isinstance(reply, (ErrorMessage, CommandMessage)), reply
    assert isinstance(reply, AcknowledgeMessage)
    assert reply.headers.get(CommandMessage.NO_OP_POLL_HEADER) is True

    producer.publish("chat", "for the first poll")
    thread.join(TIMEOUT)
    assert bodies(polled(result["reply"])) == ["for the first poll"]


def test_held_long_polls_never_block_other_requests(messaging):
    holders, results, threads = [], [], []
    for _ in range(2):
        holder = messaging.flex("longpoll")
        holder.subscribe("quiet")
        result: dict = {}
        threads.append(_poll_in_thread(holder, result))
        holders.append(holder)
        results.append(result)
    assert wait_until(lambda: all(_waiting(messaging, h.dsid) for h in holders), TIMEOUT)
    other = messaging.flex()
    for n in range(5):
        started = time.monotonic()
        assert other.call("svc", "echo", n).body == n
        assert time.monotonic() - started < 1
    assert all("reply" not in r for r in results)
    messaging.channel_set.publishObject("wake up", "quiet")
    for thread in threads:
        thread.join(TIMEOUT)
    assert [bodies(polled(r["reply"])) for r in results] == [["wake up"]] * 2


def test_long_poll_of_a_connection_disconnected_meanwhile_returns_an_ack(messaging):
    consumer = messaging.flex("longpoll")
    consumer.subscribe("chat")
    result: dict = {}
    thread = _poll_in_thread(consumer, result)
    assert wait_until(lambda: _waiting(messaging, consumer.dsid), TIMEOUT)
    twin = FlexClient(messaging.base_url, "amf")
    twin.dsid = consumer.dsid
    disconnected = time.monotonic()
    assert not isinstance(twin.command(CommandMessage.DISCONNECT_OPERATION), ErrorMessage)
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert result["t"] - disconnected < 1, "the held poll returns when its connection goes"
    reply = result["reply"]
    assert not isinstance(reply, ErrorMessage), (reply.faultCode, reply.faultString)
    assert polled(reply) == []


def test_long_poll_past_max_waiting_polls_is_answered_at_once_with_a_poll_wait(
        serve_messaging, transport):
    channel_set = build_messaging_channel_set(transport=transport)
    channel_set.mapChannel(transport.Channel("busy", wait_interval=3000, max_waiting_polls=1))
    served = serve_messaging(channel_set=channel_set)
    first, second = served.flex("busy"), served.flex("busy")
    first.subscribe("chat")
    second.subscribe("chat")
    result: dict = {}
    thread = _poll_in_thread(first, result)
    assert wait_until(lambda: _waiting(served, first.dsid), TIMEOUT)
    started = time.monotonic()
    reply = second.poll()
    assert time.monotonic() - started < 1, "a poll the channel cannot hold is not held"
    channel_set.publishObject("done", "chat")
    thread.join(TIMEOUT)
    assert not isinstance(reply, ErrorMessage), (reply.faultCode, reply.faultString)
    assert polled(reply) == []
    wait = reply.headers.get(CommandMessage.POLL_WAIT_HEADER)
    assert isinstance(wait, (int, float)) and wait > 0


# ============================================================================= LOGIN/LOGOUT


def test_login_opens_secure_targets_and_logout_closes_them(messaging):
    client = messaging.flex()
    client.ping()
    refused = client.call("svc", "secret")
    assert isinstance(refused, ErrorMessage) and refused.faultCode == "Client.Authentication"

    ack = client.login("correct", "correct")
    assert not isinstance(ack, ErrorMessage), ack
    assert client.call("svc", "secret").body == "secret value"
    me = client.call("svc", "whoami").body
    assert (me["authenticated"], me["user"]) == (True, "correct")

    assert client.call("svc", "remember", "k", "v").body is True
    assert not isinstance(client.command(CommandMessage.LOGOUT_OPERATION), ErrorMessage)
    assert client.call("svc", "whoami").body["session"] == {}, "logout clears the session"
    refused = client.call("svc", "secret")
    assert isinstance(refused, ErrorMessage) and refused.faultCode == "Client.Authentication"
    assert client.call("svc", "whoami").body["authenticated"] is False


def test_login_is_per_connection(messaging):
    alice, bob = messaging.flex(), messaging.flex()
    alice.login("correct", "correct")
    bob.ping()
    assert isinstance(bob.call("svc", "secret"), ErrorMessage)
    assert alice.call("svc", "secret").body == "secret value"


@pytest.mark.parametrize("body", [
    base64.b64encode(b"correct:wrong").decode(),
    base64.b64encode(b"wrong:correct").decode(),
    base64.b64encode(b"correctcorrect").decode(),
    "not base64 at all!",
    "",
])
def test_wrong_login_is_a_client_authentication_fault(messaging, body):
    client = messaging.flex()
    client.ping()
    reply = client.command(CommandMessage.LOGIN_OPERATION, body=body)
    assert isinstance(reply, ErrorMessage)
    assert reply.faultCode == "Client.Authentication"
    assert "Traceback" not in (reply.faultDetail or "")
    assert client.call("svc", "whoami").body["authenticated"] is False


def test_login_splits_user_and_password_on_the_first_colon(serve_messaging):
    served = serve_messaging(login=RecordingLogin)
    client = served.flex()
    assert not isinstance(client.login("user", "pass:with:colons"), ErrorMessage)
    assert served.channel_set.logins == [("user", "pass:with:colons")]
    assert client.call("svc", "whoami").body["user"] == "user"


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "iso-8859-1", "utf-16"])
def test_login_honours_the_credentials_charset(serve_messaging, charset):
    served = serve_messaging(login=RecordingLogin)
    client = served.flex()
    reply = client.login("jürgen", "pässwörd", charset=charset)
    assert not isinstance(reply, ErrorMessage), reply
    assert served.channel_set.logins == [("jürgen", "pässwörd")]


def test_login_accepts_base64_wrapped_at_76_characters_as_flex_sends_it(serve_messaging):
    served = serve_messaging(login=RecordingLogin)
    user, password = "someone.with.a.long.name@example.com", "and-a-rather-long-password-too"
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert len(encoded) > 76
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    client = served.flex()
    client.ping()
    reply = client.command(CommandMessage.LOGIN_OPERATION, body=wrapped,
                           headers={CommandMessage.CREDENTIALS_CHARSET_HEADER: "UTF-8"})
    assert not isinstance(reply, ErrorMessage), reply.faultString
    assert served.channel_set.logins == [(user, password)]


def test_channel_set_without_login_refuses_every_login(serve_messaging):
    served = serve_messaging(login=None)
    reply = served.flex().login("correct", "correct")
    assert isinstance(reply, ErrorMessage) and reply.faultCode == "Client.Authentication"


def test_secure_subscription_manager_refuses_subscribe_publish_poll_before_login(
        serve_messaging):
    served = serve_messaging(secure=True)
    client = served.flex()
    client.ping()
    for reply in (client.subscribe("chat"), client.publish("chat", "x"), client.poll()):
        assert isinstance(reply, ErrorMessage), reply
        assert reply.faultCode == "Client.Authentication"
    reply = client.command(CommandMessage.MULTI_SUBSCRIBE_OPERATION, destination="chat",
                           headers={ADD: ["a_;_"]})
    assert isinstance(reply, ErrorMessage) and reply.faultCode == "Client.Authentication"
    assert list(served.channel_set.subscription_manager.iterSubscribers("chat")) == []

    assert not isinstance(client.login("correct", "correct"), ErrorMessage)
    client_id = client.subscribe("chat").clientId
    assert not isinstance(client.publish("chat", "in"), ErrorMessage)
    got = client.poll_messages()
    assert bodies(got) == ["in"] and got[0].clientId == client_id

    client.command(CommandMessage.LOGOUT_OPERATION)
    assert isinstance(client.publish("chat", "out"), ErrorMessage)
    assert isinstance(client.poll(), ErrorMessage)


def test_a_forged_dsid_gets_a_new_connection_never_someone_elses(messaging):
    alice = messaging.flex()
    alice.login("correct", "correct")
    assert alice.call("svc", "remember", "secret", "alice's").body is True

    for forged in ("made-up-connection-id", alice.dsid.rpartition(".")[0] + ".0000",
                   alice.dsid.upper(), alice.dsid + "x"):
        stranger = messaging.flex()
        stranger.dsid = forged
        me = stranger.call("svc", "whoami").body
        assert me["id"] not in (forged, alice.dsid)
        assert stranger.dsid == me["id"], "the reply tells the client its new id"
        assert me == {"id": me["id"], "authenticated": False, "user": None, "session": {}}
        assert isinstance(stranger.call("svc", "secret"), ErrorMessage)
    assert alice.call("svc", "whoami").body["session"] == {"secret": "alice's"}


def test_an_issued_but_unknown_dsid_gets_fresh_state_under_that_id(messaging):
    issued = messaging.channel_set.generateId()  # signed, never connected
    client = messaging.flex()
    client.dsid = issued
    me = client.call("svc", "whoami").body
    assert me == {"id": issued, "authenticated": False, "user": None, "session": {}}


def test_an_expired_dsid_comes_back_without_its_login_session_or_subscriptions(
        serve_messaging):
    served = serve_messaging(connection_params={"timeout": 300})
    alice, producer = served.flex(), served.flex()
    alice.login("correct", "correct")
    alice.call("svc", "remember", "k", "v")
    alice.subscribe("chat")
    dsid = alice.dsid
    time.sleep(0.5)
    producer.publish("chat", "while away")
    me = alice.call("svc", "whoami").body
    assert alice.dsid == dsid
    assert me == {"id": dsid, "authenticated": False, "user": None, "session": {}}
    assert alice.poll_messages() == []


def test_disconnect_drops_the_connection_and_its_subscriptions(messaging):
    consumer, producer = messaging.flex(), messaging.flex()
    consumer.login("correct", "correct")
    consumer.subscribe("chat")
    dsid = consumer.dsid
    ack = consumer.command(CommandMessage.DISCONNECT_OPERATION)
    assert not isinstance(ack, ErrorMessage), ack
    with pytest.raises(NotConnectedError):
        messaging.channel_set.getConnection(dsid)
    assert list(messaging.channel_set.subscription_manager.iterSubscribers("chat")) == []
    producer.publish("chat", "after")
    # The same id again: a new connection, logged out and subscribed to nothing.
    assert consumer.poll_messages() == []
    assert consumer.call("svc", "whoami").body["authenticated"] is False


class BarrierConnectionManager(MemoryConnectionManager):
    """Holds the first two look-ups of ``racing_id`` until both happened: two first requests
    with the same new DSId, interleaved as they can be on a threaded server."""

    def __init__(self):
        MemoryConnectionManager.__init__(self)
        self.racing_id = self.generateId()  # issued by this server, state not (yet) stored
        self.barrier = threading.Barrier(2, timeout=2)
        self.held = 0

    def loadState(self, connection_id):
        state = MemoryConnectionManager.loadState(self, connection_id)
        if connection_id == self.racing_id and state is None and self.held < 2:
            self.held += 1
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return state


def test_concurrent_first_requests_with_the_same_new_dsid_both_succeed(serve_messaging):
    channel_set = serve_messaging.build()
    manager = channel_set.connection_manager = BarrierConnectionManager()
    served = serve_messaging(channel_set=channel_set)
    replies = []

    def request():
        client = served.flex()
        client.dsid = manager.racing_id
        replies.append(client.call("svc", "echo", 1))

    threads = [threading.Thread(target=request, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(replies) == 2
    faults = [(r.faultCode, r.faultString) for r in replies if isinstance(r, ErrorMessage)]
    assert faults == []


# ============================================================================= py3amf's side

pyamf = pytest.importorskip("pyamf")
from pyamf import remoting as pyamf_remoting  # noqa: E402
from pyamf.flex import messaging as pyamf_messaging  # noqa: E402


def pyamf_send(messaging, message, channel="amf"):
    """POST one Flex message encoded by py3amf; the reply decoded by py3amf."""
    envelope = pyamf_remoting.Envelope(amfVersion=3)
    envelope["/1"] = pyamf_remoting.Request("null", [message])
    raw = pyamf_remoting.encode(envelope).getvalue()
    status, headers, body = FlexClient(messaging.base_url, channel).post(raw)
    assert status == 200 and headers["content-type"] == "application/x-amf"
    reply = pyamf_remoting.decode(body)
    assert list(reply.keys()) == ["/1"]
    return reply["/1"]


def test_py3amf_subscribe_publish_poll(messaging):
    ping = pyamf_messaging.CommandMessage(operation=5, messageId="PING-1",
                                          headers={"DSId": "nil"})
    response = pyamf_send(messaging, ping)
    assert response.status == pyamf_remoting.STATUS_OK
    assert type(response.body) is pyamf_messaging.AcknowledgeMessage
    dsid = response.body.headers["DSId"]

    subscribe = pyamf_messaging.CommandMessage(
        operation=0, destination="chat", clientId=None, messageId="SUB-1",
        headers={"DSId": dsid, "DSSubtopic": "room1"})
    response = pyamf_send(messaging, subscribe)
    assert response.status == pyamf_remoting.STATUS_OK, response.body
    assert response.body.correlationId == "SUB-1"
    client_id = response.body.clientId
    assert client_id

    empty = pyamf_send(messaging, pyamf_messaging.CommandMessage(
        operation=2, messageId="POLL-0", headers={"DSId": dsid}))
    assert type(empty.body) is pyamf_messaging.AcknowledgeMessage
    assert empty.body.correlationId == "POLL-0"

    producer = messaging.flex()
    producer.ping()
    for n in (1, 2):
        publish = pyamf_messaging.AsyncMessage(
            destination="chat", body={"n": n}, messageId=f"PUB-{n}", clientId="PRODUCER",
            headers={"DSId": producer.dsid, "DSSubtopic": "room1", "n": n})
        response = pyamf_send(messaging, publish)
        assert response.status == pyamf_remoting.STATUS_OK, response.body
        assert isinstance(response.body, pyamf_messaging.AcknowledgeMessage)
        assert response.body.correlationId == f"PUB-{n}"

    response = pyamf_send(messaging, pyamf_messaging.CommandMessage(
        operation=2, messageId="POLL-1", headers={"DSId": dsid}), channel="longpoll")
    sync = response.body
    assert type(sync) is pyamf_messaging.CommandMessage
    assert sync.operation == 4 and sync.correlationId == "POLL-1"
    assert [m.body for m in sync.body] == [{"n": 1}, {"n": 2}]
    for pushed in sync.body:
        assert isinstance(pushed, pyamf_messaging.AsyncMessage)
        assert pushed.clientId == client_id
        assert pushed.destination == "chat"
        assert pushed.headers["DSSubtopic"] == "room1"
        assert "DSId" not in pushed.headers
        assert pushed.timeToLive == 30000

    unsubscribe = pyamf_messaging.CommandMessage(
        operation=1, destination="chat", clientId=client_id, messageId="UNSUB-1",
        headers={"DSId": dsid, "DSSubtopic": "room1"})
    assert pyamf_send(messaging, unsubscribe).status == pyamf_remoting.STATUS_OK
    assert list(messaging.channel_set.subscription_manager.iterSubscribers("chat")) == []


def test_py3amf_login_fault_is_client_authentication(messaging):
    login = pyamf_messaging.CommandMessage(operation=8, messageId="LOGIN-1",
                                           body=base64.b64encode(b"correct:wrong").decode(),
                                           headers={"DSId": "nil"})
    response = pyamf_send(messaging, login)
    assert response.status == pyamf_remoting.STATUS_ERROR
    assert isinstance(response.body, pyamf_messaging.ErrorMessage)
    assert response.body.faultCode == "Client.Authentication"
    assert response.body.correlationId == "LOGIN-1"


# ============================================================================= Royale captures


def test_royale_consumer_producer_session_replayed(messaging, captures):
    """The Royale ``mx.messaging`` session, request by request, with the DSId the server
    gives at the ping (and the clientId it gives at the subscribe) put in its captures."""
    from amfast.decoder import Decoder
    client = messaging.flex()

    def replay(name, replacements=()):
        raw = (captures / name).read_bytes()
        for old, new in replacements:
            if old.encode() in raw:
                raw = replace_amf3_string(raw, old, new)
        request = Decoder().decode_packet(raw)
        reply = client.send_raw(raw)
        [message] = reply.messages
        assert message.target == request.messages[0].response + (
            "/onStatus" if isinstance(message.body, ErrorMessage) else "/onResult")
        assert message.body.correlationId == request.messages[0].body[0].messageId
        return message.body

    ping = replay("royale_ping.bin")
    dsid = ping.headers[DSID]
    assert messaging.channel_set.connection_manager.verifyId(dsid)
    assert ping.headers[CommandMessage.MESSAGING_VERSION] == 1
    ids = [("00C3F101-1B86-4D27-BA6F-B0A9E8D3EA0B", dsid),
           ("A714DB7C-D640-4574-BBB4-366C0B3D23A4", dsid)]

    wrong = replay("royale_login_wrongpass.bin", ids)
    assert isinstance(wrong, ErrorMessage) and wrong.faultCode == "Client.Authentication"
    assert not isinstance(replay("royale_login.bin", ids), ErrorMessage)
    assert messaging.channel_set.getConnection(dsid).flex_user == "correct"

    subscribed = replay("royale_subscribe.bin", ids)
    assert not isinstance(subscribed, ErrorMessage), subscribed
    client_id = subscribed.clientId
    assert client_id and subscribed.headers[DSID] == dsid

    published = replay("royale_publish.bin", ids)
    assert not isinstance(published, ErrorMessage), published
    sync = replay("royale_poll.bin", ids)
    stub = Decoder().decode_packet(
        (captures / "response_poll_clientsync_chatstub.bin").read_bytes()).messages[0].body
    assert isinstance(sync, CommandMessage) and sync.operation == stub.operation == 4
    [pushed] = sync.body
    model = stub.body[0]
    assert pushed.clientId == client_id
    assert (pushed.body, pushed.destination) == (model.body, model.destination)
    for header in ("X-Probe", "DSSubtopic"):
        assert pushed.headers[header] == model.headers[header]
    assert DSID not in pushed.headers and "DSEndpoint" not in pushed.headers
    assert pushed.timeToLive > 0 and pushed.timestamp > 0

    ids.append(("6DCDD335-3EE8-4166-9224-0C40D6C00C0C", client_id))
    assert not isinstance(replay("royale_unsubscribe.bin", ids), ErrorMessage)
    replay("royale_publish.bin", ids)
    assert polled(replay("royale_poll.bin", ids)) == []

    assert not isinstance(replay("royale_logout.bin", ids), ErrorMessage)
    assert messaging.channel_set.getConnection(dsid).authenticated is False
    assert not isinstance(replay("royale_disconnect.bin", ids), ErrorMessage)
    with pytest.raises(NotConnectedError):
        messaging.channel_set.getConnection(dsid)
