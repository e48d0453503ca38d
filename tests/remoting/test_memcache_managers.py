"""The memcache connection and subscription managers against a real memcached.

Two managers built with the same ``key_prefix`` stand for two processes sharing state; each
test has a prefix of its own (``mc_prefix``) on the session's memcached.  Tests that stop,
freeze or restart memcached start a private one (``memcached_factory``).  Concurrency is
tested across threads and across processes (``multiprocessing``, spawned).  Faults are
tested over HTTP under the development server (a thread per request) and under waitress with
4 and 16 worker threads that live as long as the server: while memcached is down every request
gets an AMF fault or an HTTP 503 within ``DOWN_LIMIT`` seconds (``FAULT_LIMIT`` while it is
frozen), and every worker thread serves again within ``RESUME_LIMIT`` seconds of memcached
coming back.  Every wait is bounded.
"""
from __future__ import annotations

import multiprocessing
import pickle
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from amfast.remoting.channel import Channel, ChannelFullError
from amfast.remoting.client import HttpError, RemotingFault, RemotingService
from amfast.remoting.connection import ConnectionError, SessionAttrError
from amfast.remoting.errors import NotConnectedError, StoreUnavailableError
from amfast.remoting.flex_messages import AsyncMessage, CommandMessage
from amfast.remoting.memcache_connection_manager import MemcacheConnectionManager
from amfast.remoting.memcache_subscription_manager import MemcacheSubscriptionManager
from amfast.remoting.wsgi_channel import WsgiChannel
from tests.remoting.apps import build_store_channel_set
from tests.support.servers import WSGI, Transport, serving
from tests.support.streams import RawStream

#: The longest a request may take to fail while memcached is down (s).
DOWN_LIMIT = 1.0
#: The longest a request may take to fail while memcached is frozen (s): socket_timeout, 1 s.
FAULT_LIMIT = 3.0
#: How long service may take to resume once memcached is back (s).
RESUME_LIMIT = 5.0
#: The HTTP client's own timeout (s): a hang fails the test instead of blocking it.
TIMEOUT = 8.0

CHANNEL = Channel("amf")


def make_pair(servers: list, prefix: str, *, secret: Any = None,
              connection_params: dict | None = None, **subscription_options: Any) -> tuple:
    """A connection manager and a subscription manager: one "process"."""
    return (MemcacheConnectionManager(connection_params=connection_params, mc_servers=servers,
                                      key_prefix=prefix, secret=secret),
            MemcacheSubscriptionManager(mc_servers=servers, key_prefix=prefix,
                                        **subscription_options))


@pytest.fixture
def make(memcached, mc_prefix) -> Callable:
    """``make(**options) -> (connection manager, subscription manager)`` on the session's
    memcached with this test's prefix: every call is another process of one application."""
    return lambda **options: make_pair(memcached.servers, mc_prefix, **options)


def message(topic: str, body: Any, sub_topic: str | None = None, headers: dict | None = None,
            ttl: int | None = None) -> AsyncMessage:
    headers = dict(headers or {})
    if sub_topic is not None:
        headers[AsyncMessage.SUBTOPIC_HEADER] = sub_topic
    return AsyncMessage(body=body, destination=topic, headers=headers, timeToLive=ttl)


def publish(manager: MemcacheSubscriptionManager, topic: str, body: Any, **options: Any
            ) -> AsyncMessage:
    msg = message(topic, body, **options)
    manager.publishMessage(msg)
    return msg


def collected(manager: MemcacheSubscriptionManager, connection_id: str) -> list:
    """``(client_id, body)`` of every message a poll of the connection collects."""
    return [(client_id, msg.body) for client_id, msg in manager.collectMessages(connection_id)]


# -- connections ------------------------------------------------------------------------------


def test_the_managers_take_amfasts_arguments_in_amfasts_order(memcached, mc_prefix):
    from amfast.remoting.connection import Connection

    class Tracked(Connection):
        pass

    # MemcacheConnectionManager(connection_class, connection_params, mc_servers, mc_debug)
    cm = MemcacheConnectionManager(Tracked, {"timeout": 1234}, memcached.servers, 1,
                                   key_prefix=mc_prefix)
    # MemcacheSubscriptionManager(secure, ttl, mc_servers, mc_debug)
    sm = MemcacheSubscriptionManager(True, 5000, memcached.servers, 1, key_prefix=mc_prefix)
    assert (sm.secure, sm.ttl, sm.mc_servers, sm.mc.debug) == (True, 5000, memcached.servers, 1)
    assert (cm.mc_servers, cm.mc.debug) == (memcached.servers, 1)
    connection = cm.createConnection(CHANNEL)
    assert isinstance(connection, Tracked) and connection.timeout == 1234
    sm.subscribe(connection.id, "consumer", "news")
    publish(sm, "news", "via positional arguments")
    assert collected(sm, "conn") == [] and collected(sm, connection.id) == [
        ("consumer", "via positional arguments")]
    # The options AmFast did not have come after its own, and work by name.
    later = MemcacheSubscriptionManager(False, 30000, memcached.servers, 0, 7, mc_prefix)
    assert (later.max_messages, later.key_prefix) == (7, mc_prefix)
    named = MemcacheSubscriptionManager(max_messages=3, mc_servers=memcached.servers, ttl=10,
                                        key_prefix=mc_prefix, dead_retry=2.0)
    assert (named.max_messages, named.ttl, named.secure, named.mc.dead_retry) == (3, 10, False,
                                                                                   2.0)



def test_a_connection_made_by_one_process_is_found_by_another(make):
    cm_a, _ = make()
    cm_b, _ = make()
    connection = cm_a.createConnection(CHANNEL)
    found = cm_b.getConnection(connection.id)
    assert (found.id, found.channel_name, found.timeout) == (
        connection.id, "amf", connection.timeout)
    assert found.connected and not found.authenticated
    assert connection.id in set(cm_b.iterConnectionIds())
    assert cm_b.getConnectionCount("amf") == 1
    with pytest.raises(ConnectionError):
        cm_b.createConnection(CHANNEL, connection.id)
    found.delete()
    for manager in (cm_a, cm_b):
        with pytest.raises(NotConnectedError):
            manager.getConnection(connection.id)
    assert cm_a.getConnectionCount("amf") == 0
    assert connection.id not in set(cm_a.iterConnectionIds())


def test_getting_a_connection_touches_it_for_every_process(make):
    cm_a, _ = make()
    cm_b, _ = make()
    connection = cm_a.createConnection(CHANNEL)
    before = connection.last_active
    time.sleep(0.02)
    cm_b.getConnection(connection.id)
    assert cm_a.getConnection(connection.id, touch=False).last_active > before
    connection.disconnect()
    assert not cm_b.getConnection(connection.id).connected


def test_max_connections_counts_the_connections_of_every_process(make):
    from amfast.remoting.wsgi_channel import WsgiChannelSet

    (cm_a, sm_a), (cm_b, sm_b) = make(), make()
    channel_a, channel_b = (WsgiChannel("limited", max_connections=2) for _ in range(2))
    WsgiChannelSet(connection_manager=cm_a, subscription_manager=sm_a).mapChannel(channel_a)
    WsgiChannelSet(connection_manager=cm_b, subscription_manager=sm_b).mapChannel(channel_b)
    channel_a.connect()
    channel_b.connect()
    with pytest.raises(ChannelFullError):
        channel_a.connect()


def test_reset_forgets_the_connections_of_its_prefix(make):
    cm_a, _ = make()
    ids = [cm_a.createConnection(CHANNEL).id for _ in range(3)]
    cm_b, _ = make()
    cm_b.reset()
    for connection_id in ids:
        with pytest.raises(NotConnectedError):
            cm_a.getConnection(connection_id)
    assert list(cm_a.iterConnectionIds()) == []


# -- session attributes and login -----------------------------------------------------------------


def test_session_attributes_are_shared(make):
    cm_a, _ = make()
    cm_b, _ = make()
    via_a = cm_a.createConnection(CHANNEL)
    via_b = cm_b.getConnection(via_a.id)
    via_a.setSessionAttr("nick", "ann")
    via_a.setSessionAttr("prefs", {"colour": "blue", "sizes": [1, 2]})
    assert via_b.getSessionAttr("nick") == "ann"
    assert via_b.getSessionAttr("prefs") == {"colour": "blue", "sizes": [1, 2]}
    via_b.setSessionAttr("nick", "bob")
    via_b.delSessionAttr("prefs")
    assert via_a.getSessionAttr("nick") == "bob"
    with pytest.raises(SessionAttrError):
        via_a.getSessionAttr("prefs")
    with pytest.raises(SessionAttrError):
        via_a.delSessionAttr("prefs")
    via_a.clearSession()
    with pytest.raises(SessionAttrError):
        via_b.getSessionAttr("nick")
    # Another connection has its own session.
    with pytest.raises(SessionAttrError):
        cm_b.createConnection(CHANNEL).getSessionAttr("nick")


def test_a_login_is_shared(make):
    cm_a, _ = make()
    cm_b, _ = make()
    via_a = cm_a.createConnection(CHANNEL)
    via_b = cm_b.getConnection(via_a.id)
    assert not via_b.authenticated and via_b.flex_user is None
    via_a.authenticate("ann")
    assert via_b.authenticated and via_b.flex_user == "ann"
    via_b.unAuthenticate()
    assert not via_a.authenticated and via_a.flex_user is None


def test_session_attributes_set_by_many_threads_at_once_are_all_kept(make):
    cm, _ = make()
    connection = cm.createConnection(CHANNEL)
    barrier = threading.Barrier(6, timeout=10)
    errors: list = []

    def write(n: int) -> None:
        try:
            managers = make()  # each thread its own "process" too
            own = managers[0].getConnection(connection.id)
            barrier.wait()
            for i in range(15):
                own.setSessionAttr(f"t{n}-{i}", i)
                own.touch()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    session = cm.getField(connection.id, "session")
    assert session == {f"t{n}-{i}": i for n in range(6) for i in range(15)}


# -- subscriptions and messages -------------------------------------------------------------------


def test_subscriptions_are_shared(make):
    _, sm_a = make()
    _, sm_b = make()
    sm_a.subscribe("conn-1", "consumer-1", "news")
    sm_a.subscribe("conn-1", "consumer-2", "news", "sport.*", "priority > 2")
    sm_b.subscribe("conn-2", "consumer-3", "news", "weather")
    assert set(sm_b.iterSubscribers("news")) == {"conn-1", "conn-2"}
    assert set(sm_b.iterSubscribers("news", "sport.*")) == {"conn-1"}
    assert set(sm_a.iterSubscribers("news", "weather")) == {"conn-2"}
    connection = type("C", (), {"id": "conn-1"})()
    subs = sorted((s.client_id, s.topic, s.sub_topic, s.selector)
                  for s in sm_b.iterConnectionSubscriptions(connection))
    assert subs == [("consumer-1", "news", None, None),
                    ("consumer-2", "news", "sport.*", "priority > 2")]
    sm_b.unSubscribe("conn-1", "consumer-2", "news", "sport.*", "priority > 2")
    assert [s.client_id for s in sm_a.iterConnectionSubscriptions(connection)] == ["consumer-1"]
    sm_b.unSubscribe("conn-1", "consumer-1", "news")
    assert set(sm_a.iterSubscribers("news")) == {"conn-2"}
    sm_a.deleteConnection(type("C", (), {"id": "conn-2"})())
    assert list(sm_b.iterSubscribers("news")) == []


def test_published_messages_are_polled_once_and_in_order(make):
    _, sm_a = make()
    _, sm_b = make()
    sm_a.subscribe("conn-1", "consumer-1", "news")
    sm_b.subscribe("conn-2", "consumer-2", "news")
    publish(sm_a, "elsewhere", "not for them")
    for n in range(30):
        publish(sm_a if n % 2 else sm_b, "news", n)
    assert collected(sm_b, "conn-1") == [("consumer-1", n) for n in range(30)]
    assert collected(sm_a, "conn-1") == []
    assert collected(sm_a, "conn-2") == [("consumer-2", n) for n in range(30)]
    publish(sm_b, "news", "later")
    assert collected(sm_a, "conn-1") == [("consumer-1", "later")]
    # A new subscriber gets only what is published after it subscribed.
    sm_b.subscribe("conn-3", "consumer-3", "news")
    assert collected(sm_a, "conn-3") == []
    publish(sm_a, "news", "last")
    assert collected(sm_a, "conn-3") == [("consumer-3", "last")]


def test_polled_messages_are_personalised_for_each_subscriber(make):
    cm, sm = make()
    connection = cm.createConnection(CHANNEL)
    connection.useSmallMessages()
    sm.subscribe(connection.id, "consumer-1", "news")
    sm.subscribe(connection.id, "consumer-2", "news", "a.b")
    publish(sm, "news", "plain")
    publish(sm, "news", "sub", sub_topic="a.b")
    polled = sm.pollConnection(connection)
    # (Each Consumer gets its messages in order; how two Consumers' interleave is open.)
    assert sorted((m.clientId, m.body) for m in polled) == [("consumer-1", "plain"),
                                                            ("consumer-2", "sub")]
    assert all(type(m).__name__ == "AsyncMessageExt" for m in polled)
    assert connection.last_polled > 0


def test_subtopics_and_selectors_filter_after_the_round_trip_through_memcached(make):
    _, sm = make()
    sm.subscribe("conn", "sport", "news", "sport.*")
    sm.subscribe("conn", "urgent", "news", None, "priority >= 5 AND region = 'eu'")
    publish(sm, "news", "football", sub_topic="sport.football")
    publish(sm, "news", "weather", sub_topic="weather")
    publish(sm, "news", "urgent-eu", headers={"priority": 7, "region": "eu"})
    publish(sm, "news", "calm-eu", headers={"priority": 1, "region": "eu"})
    assert sorted(collected(sm, "conn")) == [("sport", "football"), ("urgent", "urgent-eu")]


def test_a_subscriber_behind_max_messages_gets_only_the_latest(make):
    _, sm = make(max_messages=5)
    sm.subscribe("conn", "consumer", "news")
    for n in range(12):
        publish(sm, "news", n)
    assert [body for _, body in collected(sm, "conn")] == list(range(7, 12))


def test_key_prefixes_keep_applications_apart(memcached):
    one, two = (f"iso{uuid.uuid4().hex[:10]}" for _ in range(2))
    cm_1, sm_1 = make_pair(memcached.servers, one)
    cm_2, sm_2 = make_pair(memcached.servers, two)
    connection = cm_1.createConnection(CHANNEL)
    connection.setSessionAttr("app", "one")
    with pytest.raises(NotConnectedError):
        cm_2.getConnection(connection.id)
    # The same id in the other application is another connection.
    other = cm_2.createConnection(CHANNEL, connection.id)
    with pytest.raises(SessionAttrError):
        other.getSessionAttr("app")
    sm_1.subscribe("conn", "consumer", "news")
    sm_2.subscribe("conn", "consumer", "news")
    publish(sm_1, "news", "for one")
    assert collected(sm_2, "conn") == []
    assert collected(sm_1, "conn") == [("consumer", "for one")]
    # Each prefix has its own id secret.
    assert not cm_2.verifyId(cm_1.generateId())
    cm_2.reset()
    sm_2.reset()
    assert cm_1.getConnection(connection.id).getSessionAttr("app") == "one"
    assert list(sm_1.iterSubscribers("news")) == ["conn"]
    assert cm_1.getConnectionCount("amf") == 1


# -- expiry -------------------------------------------------------------------------------------


def test_an_idle_connection_expires_and_the_cleaner_drops_its_subscriptions(make):
    from amfast.remoting.wsgi_channel import WsgiChannelSet

    cm_a, sm_a = make(connection_params={"timeout": 300})
    cm_b, sm_b = make(connection_params={"timeout": 300})
    idle = cm_a.createConnection(CHANNEL)
    busy = cm_a.createConnection(CHANNEL)
    sm_a.subscribe(idle.id, "consumer", "news")
    sm_a.subscribe(busy.id, "consumer", "news")
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        cm_b.getConnection(busy.id)  # touched by the other process
        time.sleep(0.05)
    with pytest.raises(NotConnectedError):
        cm_b.getConnection(idle.id)
    # Another process's cleaner finds it.
    channel_set = WsgiChannelSet(connection_manager=cm_b, subscription_manager=sm_b)
    channel_set.clean()
    assert set(cm_a.iterConnectionIds()) == {busy.id}
    assert set(sm_a.iterSubscribers("news")) == {busy.id}
    assert cm_a.getConnectionCount("amf") == 1


def test_a_message_past_its_time_to_live_is_not_delivered_and_leaves_memcached(make):
    _, sm = make()
    sm.subscribe("conn", "consumer", "news")
    publish(sm, "news", "short", ttl=300)
    publish(sm, "news", "long", ttl=60000)
    last = int(sm.mc.get(sm._seq_key("news")))
    short_key = sm._msg_key("news", last - 1)
    assert sm.mc.get(short_key) is not None
    time.sleep(0.4)
    assert collected(sm, "conn") == [("consumer", "long")]
    # memcached drops the item itself: its lifetime is the TTL rounded up to a second, +1 s.
    deadline = time.monotonic() + 4
    while sm.mc.get(short_key) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sm.mc.get(short_key) is None
    assert sm.mc.get(sm._msg_key("news", last)) is not None


def test_a_message_with_a_time_to_live_over_30_days_is_delivered(make):
    _, sm = make()
    sm.subscribe("conn", "consumer", "news")
    publish(sm, "news", "kept for 40 days", ttl=40 * 86400 * 1000)
    assert collected(sm, "conn") == [("consumer", "kept for 40 days")]


def test_a_connection_memcached_dropped_is_no_longer_counted_after_cleaning(make):
    from amfast.remoting.wsgi_channel import WsgiChannelSet

    cm, sm = make()
    channel_set = WsgiChannelSet(connection_manager=cm, subscription_manager=sm)
    connection = cm.createConnection(CHANNEL)
    cm.mc.delete(cm._state_key(connection.id))  # what expiry or eviction does
    channel_set.clean()
    assert list(cm.iterConnectionIds()) == []
    assert cm.getConnectionCount("amf") == 0


# -- memcached's item size limit (1 MB) -----------------------------------------------------------


def test_each_message_is_its_own_item_so_big_ones_fit(make):
    _, sm = make()
    sm.subscribe("conn", "consumer", "files")
    bodies = ["a" * 600_000, "b" * 600_000, "c" * 900_000]  # 2.1 MB in all
    for body in bodies:
        publish(sm, "files", body)
    assert [body for _, body in collected(sm, "conn")] == bodies


def test_a_message_over_the_item_limit_fails_cleanly_and_the_topic_goes_on(make):
    _, sm = make()
    sm.subscribe("conn", "consumer", "files")
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="item (size )?limit"):
        publish(sm, "files", "x" * 2_000_000)
    assert time.monotonic() - started < FAULT_LIMIT
    publish(sm, "files", "small")
    assert collected(sm, "conn") == [("consumer", "small")]


def test_a_session_over_the_item_limit_fails_cleanly_and_the_connection_goes_on(make):
    cm, _ = make()
    connection = cm.createConnection(CHANNEL)
    connection.setSessionAttr("kept", 1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        connection.setSessionAttr("huge", "x" * 2_000_000)
    assert time.monotonic() - started < FAULT_LIMIT
    assert connection.getSessionAttr("kept") == 1
    with pytest.raises(SessionAttrError):
        connection.getSessionAttr("huge")
    connection.setSessionAttr("after", 2)
    assert connection.getSessionAttr("after") == 2


def test_a_session_over_the_item_limit_is_reported_as_too_large(make):
    cm, _ = make()
    connection = cm.createConnection(CHANNEL)
    with pytest.raises(StoreUnavailableError, match="item (size )?limit"):
        connection.setSessionAttr("huge", "x" * 2_000_000)


def test_a_topic_takes_more_subscribers_than_fit_in_one_item(make):
    cm, sm = make()
    # Where the manager keeps a topic's subscriber ids: one item, or one item per shard.
    shard_key = getattr(sm, "_topic_shard", None) or (
        lambda topic, connection_id: sm._topic_subs_key(topic))

    def pickled(ids: list) -> int:
        return len(pickle.dumps(frozenset(ids), pickle.HIGHEST_PROTOCOL))

    # As many ids as fit in one 1 MB item, plus a few: as if that many connections had
    # subscribed (subscribing them one by one takes minutes).
    sample = [cm.generateId() for _ in range(1000)]
    count = int((1_048_576 - 2000) / (pickled(sample) / len(sample)))
    ids = sample + [cm.generateId() for _ in range(count - len(sample))]
    for _ in range(500):  # bounded: the estimate is within a few ids
        if pickled(ids) > 1_048_576 - 300:
            break
        ids.append(cm.generateId())
    by_key: dict = {}
    for connection_id in ids:
        by_key.setdefault(shard_key("crowded", connection_id), []).append(connection_id)
    for key, members in by_key.items():
        sm.mc_set(key, frozenset(members))
    late = [cm.generateId() for _ in range(10)]
    for connection_id in late:
        sm.subscribe(connection_id, "consumer", "crowded")
    assert set(late) <= set(sm.iterSubscribers("crowded"))


# -- connection id secret ---------------------------------------------------------------------------


def test_managers_of_one_prefix_share_a_random_secret_through_memcached(make, memcached):
    cm_a, _ = make()
    cm_b, _ = make()
    assert cm_b.verifyId(cm_a.generateId())
    assert cm_a.verifyId(cm_b.generateId())
    stranger, _ = make_pair(memcached.servers, f"other{uuid.uuid4().hex[:8]}")
    assert not stranger.verifyId(cm_a.generateId())
    assert not cm_a.verifyId(stranger.generateId())


def test_a_given_secret_survives_a_memcached_restart(memcached_factory, mc_prefix):
    mc = memcached_factory()
    cm_a, _ = make_pair(mc.servers, mc_prefix, secret="shared secret")
    issued = cm_a.createConnection(CHANNEL).id
    mc.restart()
    cm_b, _ = make_pair(mc.servers, mc_prefix, secret=b"shared secret")
    assert cm_b.verifyId(issued)
    assert cm_a.verifyId(cm_b.generateId())
    assert not cm_b.verifyId(issued[:-1] + ("0" if issued[-1] != "0" else "1"))


def test_without_a_secret_processes_agree_again_soon_after_a_memcached_restart(
        memcached_factory, mc_prefix, monkeypatch):
    import amfast.remoting.memcache_connection_manager as module

    # A manager may trust the secret it read for a while (SECRET_REFRESH s, if it has such a
    # setting): made short here, the processes must agree again within FAULT_LIMIT.
    monkeypatch.setattr(module, "SECRET_REFRESH", 0.5, raising=False)
    mc = memcached_factory()
    old, _ = make_pair(mc.servers, mc_prefix)
    old.generateId()
    mc.restart()
    new, _ = make_pair(mc.servers, mc_prefix)
    def agree() -> bool:
        try:
            return old.verifyId(new.generateId()) and new.verifyId(old.generateId())
        except StoreUnavailableError:  # the old socket's first use after the restart
            return False

    deadline = time.monotonic() + FAULT_LIMIT
    while not agree():
        assert time.monotonic() < deadline, "the processes still disagree about the secret"
        time.sleep(0.1)


# -- concurrency: threads -----------------------------------------------------------------------


def run_threads(count: int, target: Callable[[int], None], timeout: float = 30) -> None:
    errors: list = []
    barrier = threading.Barrier(count, timeout=10)

    def run(n: int) -> None:
        try:
            barrier.wait()
            target(n)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    assert not errors, errors


def test_threads_subscribing_at_once_lose_no_subscription(make):
    cm, sm = make()

    def subscribe(n: int) -> None:
        _, own = make()
        for i in range(20):
            own.subscribe(f"conn-{n}-{i}", "consumer", "news")
            own.subscribe("shared", f"consumer-{n}-{i}", "news")
            cm.createConnection(CHANNEL)

    run_threads(5, subscribe)
    expected = {f"conn-{n}-{i}" for n in range(5) for i in range(20)} | {"shared"}
    assert set(sm.iterSubscribers("news")) == expected
    shared = type("C", (), {"id": "shared"})()
    assert len(list(sm.iterConnectionSubscriptions(shared))) == 100
    assert len(set(cm.iterConnectionIds())) == 100
    assert cm.getConnectionCount("amf") == 100


def test_threads_publishing_at_once_lose_no_message(make):
    _, sm = make()
    sm.subscribe("conn", "consumer", "news")

    def publish_some(n: int) -> None:
        _, own = make()
        for i in range(40):
            publish(own, "news", [n, i])

    run_threads(4, publish_some)
    bodies = [tuple(body) for _, body in collected(sm, "conn")]
    assert sorted(bodies) == sorted((n, i) for n in range(4) for i in range(40))
    for n in range(4):
        assert [i for m, i in bodies if m == n] == list(range(40))


def test_threads_polling_one_connection_at_once_deliver_each_message_once(make):
    _, sm = make()
    sm.subscribe("conn", "consumer", "news")
    for i in range(200):
        publish(sm, "news", i)
    got: list = []
    lock = threading.Lock()

    def poll(n: int) -> None:
        _, own = make()
        for _ in range(20):
            bodies = [body for _, body in collected(own, "conn")]
            with lock:
                got.extend(bodies)

    run_threads(4, poll)
    assert sorted(got) == list(range(200))


def test_a_poll_between_numbering_and_storing_a_message_does_not_lose_it(make):
    _, publisher = make()
    _, poller = make()
    poller.subscribe("conn", "consumer", "news")
    polled: list = []
    store = publisher.mc_set

    def store_after_a_poll(key: str, value: Any, ttl: int = 0) -> None:
        polled.extend(collected(poller, "conn"))  # another process polls meanwhile
        store(key, value, ttl)

    publisher.mc_set = store_after_a_poll
    publish(publisher, "news", "racing")
    publisher.mc_set = store
    polled.extend(collected(poller, "conn"))
    assert polled == [("consumer", "racing")]


def test_a_poll_that_keeps_losing_the_race_to_another_poll_is_not_a_store_error(make):
    _, slow = make()
    _, fast = make()
    _, publisher = make()
    slow.subscribe("conn", "consumer", "news")
    cas = slow.mc.cas
    got: list = []

    def contended(key: str, value: Any, time: int = 0) -> Any:
        # Each time, another process's poll takes the messages first, and one more comes.
        got.extend(collected(fast, "conn"))
        publish(publisher, "news", "more")
        return cas(key, value, time)

    publish(publisher, "news", "first")
    slow.mc.cas = contended  # the client is thread-local: this thread's only
    try:
        got.extend(collected(slow, "conn"))
    finally:
        del slow.mc.cas
    got.extend(collected(fast, "conn"))
    assert [body for _, body in got].count("first") == 1


# -- concurrency: processes -------------------------------------------------------------------------


def _process_writer(servers, prefix, name, start, results) -> None:
    """Subscribes, sets session attributes and connects, as fast as it can."""
    cm, sm = make_pair(servers, prefix)
    start.wait(20)
    try:
        shared = cm.getConnection("shared-connection-id", touch=False)
        for i in range(30):
            sm.subscribe(f"{name}-conn-{i}", "consumer", "news")
            sm.subscribe("shared-connection-id", f"{name}-consumer-{i}", "news")
            shared.setSessionAttr(f"{name}-{i}", i)
            cm.createConnection(CHANNEL)
        results.put((name, "ok"))
    except Exception as exc:
        results.put((name, repr(exc)))


def _process_publisher(servers, prefix, name, count, start, results) -> None:
    _, sm = make_pair(servers, prefix)
    start.wait(20)
    try:
        for i in range(count):
            sm.publishMessage(message("news", [name, i]))
        results.put((name, "ok"))
    except Exception as exc:
        results.put((name, repr(exc)))


def _process_poller(servers, prefix, name, connection_id, start, stop, results) -> None:
    """Polls as fast as it can until ``stop``; reports what it got, and how many polls
    failed with StoreUnavailableError (lost compare-and-swaps, see
    test_a_poll_that_keeps_losing_the_race_to_another_poll_is_not_a_store_error)."""
    _, sm = make_pair(servers, prefix)
    start.wait(20)
    got: list = []
    contended = 0
    try:
        deadline = time.monotonic() + 30
        last = False
        while not last:
            last = stop.is_set() or time.monotonic() > deadline
            try:
                got += [tuple(msg.body) for _, msg in sm.collectMessages(connection_id)]
            except StoreUnavailableError as exc:
                if "polled too often" not in str(exc):
                    raise
                contended += 1
                last = False
        results.put((name, (got, contended)))
    except Exception as exc:
        results.put((name, repr(exc)))


def run_processes(targets: list, timeout: float = 40) -> dict:
    """Run spawned processes ``(function, args)`` at once (their last two arguments are
    given: a start barrier they all pass when ready, and a result queue); their results by
    name (the first argument after the servers and prefix)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(targets))
    results = context.Queue()
    processes = [context.Process(target=function, args=args + (start, results), daemon=True)
                 for function, args in targets]
    for process in processes:
        process.start()
    return _collect(processes, results, timeout)


def _collect(processes: list, results, timeout: float) -> dict:
    import queue

    out: dict = {}
    deadline = time.monotonic() + timeout
    try:
        while len(out) < len(processes):
            try:
                name, value = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            out[name] = value
    finally:
        for process in processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(5)
    assert len(out) == len(processes), f"only {sorted(out)} reported"
    return out


def test_two_processes_writing_the_same_keys_at_once_lose_nothing(memcached, mc_prefix):
    cm, sm = make_pair(memcached.servers, mc_prefix)
    cm.createConnection(CHANNEL, "shared-connection-id")
    args = (memcached.servers, mc_prefix)
    results = run_processes([(_process_writer, args + ("p1",)),
                             (_process_writer, args + ("p2",))])
    assert results == {"p1": "ok", "p2": "ok"}
    expected = {f"p{n}-conn-{i}" for n in (1, 2) for i in range(30)} | {"shared-connection-id"}
    assert set(sm.iterSubscribers("news")) == expected
    shared = cm.getConnection("shared-connection-id")
    assert len(list(sm.iterConnectionSubscriptions(shared))) == 60
    assert cm.getField(shared.id, "session") == {
        f"p{n}-{i}": i for n in (1, 2) for i in range(30)}
    assert len(set(cm.iterConnectionIds())) == 61
    assert cm.getConnectionCount("amf") == 61


PUBLISHED_PER_PROCESS = 400


@pytest.fixture(scope="module")
def publish_while_polling(memcached):
    """Two processes publish to a topic while two others poll one connection subscribed to
    it, at once; returns (what the pollers got, by poller) and any worker errors."""
    prefix = f"race{uuid.uuid4().hex[:10]}"
    _, sm = make_pair(memcached.servers, prefix)
    sm.subscribe("conn", "consumer", "news")
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    args = (memcached.servers, prefix)
    start = context.Barrier(4)  # the pollers poll from the start of the publishing
    results = context.Queue()
    publishers = [context.Process(target=_process_publisher, daemon=True, args=args + (
        name, PUBLISHED_PER_PROCESS, start, results)) for name in ("pub1", "pub2")]
    pollers = [context.Process(target=_process_poller, daemon=True, args=args + (
        name, "conn", start, stop, results)) for name in ("poll1", "poll2")]
    for process in publishers + pollers:
        process.start()
    for process in publishers:
        process.join(30)
    stop.set()
    return _collect(publishers + pollers, results, 30)


def test_processes_publishing_while_others_poll_deliver_nothing_twice_and_in_order(
        publish_while_polling):
    results = publish_while_polling
    assert results["pub1"] == "ok" and results["pub2"] == "ok", results
    assert all(isinstance(results[name], tuple) for name in ("poll1", "poll2")), results
    polled = [results["poll1"][0], results["poll2"][0]]
    everything = polled[0] + polled[1]
    assert len(everything) == len(set(everything)), "a message was delivered twice"
    published = {(name, i) for name in ("pub1", "pub2") for i in range(PUBLISHED_PER_PROCESS)}
    assert set(everything) <= published
    for got in polled:  # each poll returns messages in publishing order
        for name in ("pub1", "pub2"):
            numbers = [i for who, i in got if who == name]
            assert numbers == sorted(numbers)
    assert len(everything) > 0


def test_processes_publishing_while_others_poll_lose_no_message(publish_while_polling):
    everything = publish_while_polling["poll1"][0] + publish_while_polling["poll2"][0]
    published = {(name, i) for name in ("pub1", "pub2") for i in range(PUBLISHED_PER_PROCESS)}
    assert not published - set(everything), \
        f"{len(published - set(everything))} of {len(published)} messages lost"


# -- memcached stopping, freezing, restarting ---------------------------------------------------


def test_the_first_operations_of_a_thread_after_a_memcached_restart_succeed(
        memcached_factory, mc_prefix):
    """A thread's sockets from before a restart are dropped, not failed on: each operation kind
    works at once (no StoreUnavailableError, no missing value)."""
    mc = memcached_factory()
    cm, sm = make_pair(mc.servers, mc_prefix, secret="s")
    operations = {
        "get": lambda: sm.mc_get(sm.mc_key("k")),
        "gets and cas": lambda: sm.mc_update(sm.mc_key("k"), lambda v: v + 1, default=0),
        "get_multi": lambda: sm.mc_get_multi([sm.mc_key("k"), sm.mc_key("j")]),
        "set": lambda: sm.mc_set(sm.mc_key("j"), "value"),
        "add": lambda: sm.mc_add(sm.mc_key("a"), "value"),
        "incr": lambda: sm.mc_incr(sm.mc_key("n")),
        "delete": lambda: sm.mc_delete(sm.mc_key("j")),
        "connection": lambda: cm.createConnection(CHANNEL).id,
    }
    for name, operation in operations.items():
        operation()  # this thread's socket is open
        mc.restart()
        try:
            operation()
        except StoreUnavailableError as exc:
            pytest.fail(f"{name} failed on the socket from before the restart: {exc}")
    sm.subscribe("conn", "consumer", "news")
    mc.restart()
    assert collected(sm, "conn") == []  # the subscription is gone with memcached's content
    sm.subscribe("conn", "consumer", "news")
    publish(sm, "news", "after the restart")
    assert collected(sm, "conn") == [("consumer", "after the restart")]


def test_a_server_one_thread_found_frozen_is_refused_at_once_by_the_others(
        memcached_factory, mc_prefix):
    """Dead marks are the process's: one thread waits out the socket timeout, the others of
    the process fail at once, and all of them try memcached again after ``dead_retry``."""
    mc = memcached_factory()
    _, sm = make_pair(mc.servers, mc_prefix)
    key = sm.mc_key("k")
    sm.mc_set(key, "value")
    with ThreadPoolExecutor(max_workers=1) as other:  # one long-lived worker thread
        assert other.submit(sm.mc_get, key).result(5) == "value"  # it holds a socket
        mc.pause()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                sm.mc_get(key)
            assert time.monotonic() - started < FAULT_LIMIT

            def refused() -> float:
                started = time.monotonic()
                with pytest.raises(StoreUnavailableError):
                    sm.mc_get(key)
                return time.monotonic() - started

            assert other.submit(refused).result(5) < 0.5
        finally:
            mc.resume()
        deadline = time.monotonic() + RESUME_LIMIT
        for thread_get in (lambda: sm.mc_get(key), lambda: other.submit(sm.mc_get, key).result(5)):
            while True:
                try:
                    assert thread_get() == "value"
                    break
                except StoreUnavailableError:
                    assert time.monotonic() < deadline, "memcached is still refused"
                    time.sleep(0.1)


def test_with_dead_retry_0_a_failure_is_still_an_error_and_memcached_is_tried_every_time(
        memcached_factory, mc_prefix):
    mc = memcached_factory()
    _, sm = make_pair(mc.servers, mc_prefix, dead_retry=0)
    key = sm.mc_key("k")
    sm.mc_set(key, "value")
    mc.stop()
    for _ in range(3):  # never read as a missing key
        with pytest.raises(StoreUnavailableError):
            sm.mc_get(key)
    mc.start()
    assert sm.mc_get(key) is None  # at once, and empty
    sm.mc_set(key, "again")
    assert sm.mc_get(key) == "again"


def serve_channel_set(serve, servers: list, prefix: str, secret: str = "test secret",
                      transport: Transport = WSGI):
    """Messaging over HTTP with the memcache managers: channels amf, longpoll (held 5 s,
    re-checked every 100 ms) and streaming; login correct/correct; service svc: remember,
    recall (session), secret (secure)."""
    cm, sm = make_pair(servers, prefix, secret=secret)
    channel_set = build_store_channel_set(transport, cm, sm, poll_interval=100)
    return serve(channel_set)


@pytest.fixture(params=[("wsgiref", 4), ("waitress", 4), ("waitress", 16)],
                ids=["wsgiref", "waitress-4", "waitress-16"])
def serve_faults(request):
    """``serve_faults(app) -> RunningServer`` under each server the fault tests run under: the
    development server, and waitress (worker threads kept for the server's life) with 4 and
    16 threads.  ``RunningServer.threads`` is the worker count (nominal for wsgiref)."""
    kind, threads = request.param
    if kind == "waitress":
        pytest.importorskip("waitress")
    with serving(kind, threads) as serve:
        yield serve


def attempt(action: Callable[[], Any], limit: float = FAULT_LIMIT) -> tuple:
    """``("ok", result)``, ``("fault", ErrorMessage)`` or ``("http", status)``, within ``limit``
    seconds."""
    started = time.monotonic()
    try:
        outcome: tuple = ("ok", action())
    except RemotingFault as fault:
        outcome = ("fault", fault.fault)
    except HttpError as error:
        outcome = ("http", error.status)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"took {elapsed:.2f}s: {outcome}"
    return outcome


def assert_unavailable(outcome: tuple) -> None:
    """A fault naming the store, or a 503; no traceback reaches the client."""
    kind, value = outcome
    if kind == "http":
        assert value == 503, outcome
        return
    assert kind == "fault", outcome
    assert value.faultCode == "StoreUnavailableError", (value.faultCode, value.faultString)
    for text in (value.faultString, value.faultDetail, repr(value.rootCause)):
        assert "Traceback" not in str(text)


def settle(action: Callable[[], Any]) -> tuple:
    """The first outcome of ``action`` that is not "memcached is unavailable", retrying for
    up to RESUME_LIMIT: after memcached comes back, a process that found it down still
    refuses it for up to ``dead_retry`` (1 s)."""
    deadline = time.monotonic() + RESUME_LIMIT
    while True:
        outcome = attempt(action)
        unavailable = outcome[0] == "http" or (
            outcome[0] == "fault" and outcome[1].faultCode == "StoreUnavailableError")
        if not unavailable:
            return outcome
        assert_unavailable(outcome)
        assert time.monotonic() < deadline, f"service did not resume: {outcome}"
        time.sleep(0.1)


def until_available(action: Callable[[], Any]) -> Any:
    """``action``'s result once memcached answers again (see ``settle``)."""
    outcome = settle(action)
    assert outcome[0] == "ok", outcome
    return outcome[1]


def amf_client(server) -> RemotingService:
    return RemotingService(server.url("/amf"), timeout=TIMEOUT)


class HeldPoll:
    """A long-poll held in a thread, checked held after half a second; ``outcome()`` waits for
    how it ended (as ``attempt`` tells it)."""

    def __init__(self, long_poll: RemotingService):
        self._result: list = []
        self._thread = threading.Thread(
            target=lambda: self._result.append(attempt(long_poll.poll, TIMEOUT)), daemon=True)
        self._thread.start()
        time.sleep(0.5)
        assert not self._result, self._result  # held

    def outcome(self) -> tuple:
        self._thread.join(TIMEOUT)
        assert self._result, "the long-poll never returned"
        return self._result[0]


def settled_client(server) -> tuple:
    """A client subscribed to "news", logged in, with session attribute nick=ann, and a
    long-poll client on its connection: ``(client, long_poll)``."""
    client = amf_client(server)
    client.ping()
    client.subscribe("news")
    client.login("correct", "correct")
    client.remote_call("svc", "remember", "nick", "ann")
    assert client.remote_call("svc", "secret") == "secret value"
    long_poll = RemotingService(server.url("/longpoll"), timeout=TIMEOUT)
    long_poll.client_id = client.client_id
    return client, long_poll


def hold_a_long_poll(server, topic: str = "news") -> HeldPoll:
    """A new client subscribed to ``topic``, its long-poll held."""
    client = amf_client(server)
    client.subscribe(topic)
    long_poll = RemotingService(server.url("/longpoll"), timeout=TIMEOUT)
    long_poll.client_id = client.client_id
    return HeldPoll(long_poll)


def in_every_worker_thread(server, topic: str) -> list:
    """The outcomes of requests that run in every worker thread of ``server`` at once: a
    long-poll held by all threads but one, then a publish (served by the last) that ends
    them.  Each long-poll returns the message."""
    consumers = []
    for _ in range(server.threads - 1):
        consumer = amf_client(server)
        consumer.subscribe(topic)
        long_poll = RemotingService(server.url("/longpoll"), timeout=TIMEOUT)
        long_poll.client_id = consumer.client_id
        consumers.append(long_poll)
    with ThreadPoolExecutor(max_workers=len(consumers)) as pool:
        polls = [pool.submit(attempt, long_poll.poll, TIMEOUT) for long_poll in consumers]
        time.sleep(0.5)  # every long-poll is held by now
        published = attempt(lambda: amf_client(server).publish(topic, "to all"))
        outcomes = [published] + [poll.result(TIMEOUT) for poll in polls]
    for kind, value in outcomes[1:]:
        if kind == "ok":
            assert [m.body for m in value] == ["to all"], value
    return outcomes


def assert_all_ok(outcomes: list) -> None:
    failed = [outcome for outcome in outcomes if outcome[0] != "ok"]
    assert not failed, f"{len(failed)} of {len(outcomes)} failed: {failed[:3]}"


def test_while_memcached_is_down_requests_fail_fast_and_service_resumes_after_restart(
        serve_faults, memcached_factory, mc_prefix):
    mc = memcached_factory()
    server = serve_channel_set(serve_faults, mc.servers, mc_prefix)
    client, long_poll = settled_client(server)
    dsid = client.client_id

    mc.stop()
    for action in (client.ping, client.poll, long_poll.poll,
                   lambda: client.publish("news", "lost"),
                   lambda: client.subscribe("other"),
                   lambda: client.remote_call("svc", "recall", "nick"),
                   lambda: client.login("correct", "correct"),
                   lambda: amf_client(server).ping()):  # a new client too
        assert_unavailable(attempt(action, DOWN_LIMIT))
    stream = attempt(lambda: client.stream(server.url("/streaming")), DOWN_LIMIT)
    assert stream == ("http", 503)
    for _ in range(2 * server.threads):
        assert_unavailable(attempt(amf_client(server).ping, DOWN_LIMIT))

    mc.start()  # the same port, empty
    until_available(client.ping)
    # The id is signed by the secret: the client keeps it, with fresh state.
    assert client.client_id == dsid
    # What the restart lost: the login, the session, the subscription.
    kind, fault = settle(lambda: client.remote_call("svc", "secret"))
    assert kind == "fault" and fault.faultCode == "Client.Authentication", fault
    assert until_available(lambda: client.remote_call("svc", "recall", "nick")) is None
    until_available(lambda: client.publish("news", "unheard"))
    assert until_available(client.poll) == []
    # Subscribing again works as before.
    until_available(lambda: client.subscribe("news"))
    until_available(lambda: client.publish("news", "heard"))
    assert [m.body for m in until_available(client.poll)] == ["heard"]
    until_available(lambda: client.login("correct", "correct"))
    assert until_available(lambda: client.remote_call("svc", "secret")) == "secret value"
    # No worker thread keeps refusing memcached, or fails on a socket from before.
    assert_all_ok(in_every_worker_thread(server, "everywhere"))


def test_after_a_quick_memcached_restart_every_worker_thread_serves_at_once(
        serve_faults, memcached_factory, mc_prefix):
    mc = memcached_factory()
    server = serve_channel_set(serve_faults, mc.servers, mc_prefix)
    assert_all_ok(in_every_worker_thread(server, "before"))  # each holds a memcached socket
    mc.restart()  # with no request meanwhile: memcached closed every one of those sockets
    assert_all_ok([attempt(amf_client(server).ping, DOWN_LIMIT)
                   for _ in range(2 * server.threads)])
    assert_all_ok(in_every_worker_thread(server, "after"))


def test_while_memcached_is_frozen_requests_fail_within_the_limit_and_service_resumes(
        serve_faults, memcached_factory, mc_prefix):
    mc = memcached_factory()
    server = serve_channel_set(serve_faults, mc.servers, mc_prefix)
    client = amf_client(server)
    client.subscribe("news")
    client.remote_call("svc", "remember", "nick", "ann")
    assert_all_ok(in_every_worker_thread(server, "before"))  # each holds a memcached socket
    mc.pause()  # connections are accepted, nothing is answered: the socket timeout (1 s)
    try:
        for action in (client.poll, lambda: client.remote_call("svc", "recall", "nick")):
            assert_unavailable(attempt(action))
        # The thread that waited out the timeout spared the others the wait: the process
        # tries memcached again once per dead_retry (1 s), each try waiting 1 s.
        slow = 0
        began = time.monotonic()
        for _ in range(2 * server.threads):
            started = time.monotonic()
            assert_unavailable(attempt(amf_client(server).ping))
            slow += time.monotonic() - started >= DOWN_LIMIT
        tries = 1 + int((time.monotonic() - began) // 2)
        assert slow <= tries, f"{slow} requests waited for the frozen memcached"
    finally:
        mc.resume()
    # Nothing was lost: memcached only paused.
    assert until_available(lambda: client.remote_call("svc", "recall", "nick")) == "ann"
    until_available(lambda: client.publish("news", "after"))
    assert [m.body for m in until_available(client.poll)] == ["after"]
    assert_all_ok(in_every_worker_thread(server, "everywhere"))


def test_a_long_poll_held_when_memcached_goes_down_fails_within_the_limit(
        serve_app, transport, memcached_factory, mc_prefix):
    mc = memcached_factory()
    server = serve_channel_set(serve_app, mc.servers, mc_prefix, transport=transport)
    held = hold_a_long_poll(server)
    stopped = time.monotonic()
    mc.stop()
    outcome = held.outcome()
    assert time.monotonic() - stopped < FAULT_LIMIT
    assert_unavailable(outcome)


def open_stream(serve_app, transport, memcached_factory, mc_prefix) -> tuple:
    mc = memcached_factory()
    server = serve_channel_set(serve_app, mc.servers, mc_prefix, transport=transport)
    client = amf_client(server)
    client.subscribe("news")
    stream = RawStream("127.0.0.1", server.port, client.client_id)
    opened = stream.next_frame(5)
    assert opened is not None and opened.correlationId == "open", opened
    client.publish("news", "before")
    assert stream.next_frame(5).body == "before"
    return mc, stream


def test_a_stream_ends_within_the_limit_when_memcached_goes_down(
        serve_app, transport, memcached_factory, mc_prefix):
    mc, stream = open_stream(serve_app, transport, memcached_factory, mc_prefix)
    try:
        stopped = time.monotonic()
        mc.stop()
        while stream.next_frame(FAULT_LIMIT) is not None:
            pass
        assert stream.ended
        assert time.monotonic() - stopped < FAULT_LIMIT
    finally:
        stream.close()


def test_a_stream_ends_with_a_disconnect_when_memcached_goes_down(
        serve_app, transport, memcached_factory, mc_prefix):
    mc, stream = open_stream(serve_app, transport, memcached_factory, mc_prefix)
    try:
        mc.stop()
        last = None
        while (msg := stream.next_frame(FAULT_LIMIT)) is not None:
            last = msg
        assert isinstance(last, CommandMessage) and \
            last.operation == CommandMessage.DISCONNECT_OPERATION, (stream.ended, last)
    finally:
        stream.close()
