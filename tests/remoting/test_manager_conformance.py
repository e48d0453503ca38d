"""What every (connection manager, subscription manager) pair must do: a conformance suite.

The ``managers`` fixture yields the pairs: the in-memory one, the memcache one, the Redis
one on a single server and on a local 3-master Redis Cluster, and the SQL ones on SQLite
and on PostgreSQL (each skipped when its server binary is not found).  A new store is
checked by adding one entry to ``PAIRS``.

Covered: connections (ids, channels, counts, flags, touch, login state), session
attributes, notify functions, timeouts and the cleaner (``ChannelSet.clean`` and the lazy
clean every ``clean_freq`` ms) removing connections with their subscriptions,
subscriptions, publish/poll (exactly once, in order, personalised), TTLs, ``max_messages``,
subtopics, selectors, and threads hammering all of it.  Times here are real (no fake
clock): short timeouts, bounded sleeps.
"""
from __future__ import annotations

import threading
import time

import pytest

from amfast.remoting.channel import ChannelFullError, ChannelSet, NotConnectedError
from amfast.remoting.connection import ConnectionError, SessionAttrError
from amfast.remoting.errors import ChannelError
from amfast.remoting.flex_messages import AsyncMessage, AsyncMessageExt
from amfast.remoting.selector import SelectorError
from amfast.remoting.subtopic import SubtopicError
from amfast.remoting.wsgi_channel import WsgiChannel

#: The longest any threaded part of a test may run (s).
DEADLINE = 20.0


def _memory_pair(request):
    from amfast.remoting.connection_manager import MemoryConnectionManager
    from amfast.remoting.subscription_manager import MemorySubscriptionManager
    return MemoryConnectionManager(), MemorySubscriptionManager()


def _memcache_pair(request):
    from amfast.remoting.memcache_connection_manager import MemcacheConnectionManager
    from amfast.remoting.memcache_subscription_manager import (
        MemcacheSubscriptionManager,
    )
    memcached = request.getfixturevalue("memcached")
    prefix = request.getfixturevalue("mc_prefix")
    return (MemcacheConnectionManager(mc_servers=memcached.servers, key_prefix=prefix),
            MemcacheSubscriptionManager(mc_servers=memcached.servers, key_prefix=prefix))


def _redis_pair(request):
    from amfast.remoting.redis_connection_manager import RedisConnectionManager
    from amfast.remoting.redis_subscription_manager import RedisSubscriptionManager
    server = request.getfixturevalue("redis_server")
    prefix = request.getfixturevalue("mc_prefix")
    return (RedisConnectionManager(url=server.url, key_prefix=prefix),
            RedisSubscriptionManager(url=server.url, key_prefix=prefix))


def _redis_cluster_pair(request):
    from redis.cluster import RedisCluster

    from amfast.remoting.redis_connection_manager import RedisConnectionManager
    from amfast.remoting.redis_subscription_manager import RedisSubscriptionManager
    cluster = request.getfixturevalue("redis_cluster")
    prefix = request.getfixturevalue("mc_prefix")
    client = RedisCluster.from_url(cluster.url, socket_timeout=1.0)
    return (RedisConnectionManager(client=client, key_prefix=prefix),
            RedisSubscriptionManager(client=client, key_prefix=prefix))


def _sql_pair(request, url):
    from amfast.remoting.sa_connection_manager import SaConnectionManager
    from amfast.remoting.sa_manager import make_engine
    from amfast.remoting.sa_subscription_manager import SaSubscriptionManager

    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    prefix = request.getfixturevalue("sql_prefix")
    return (SaConnectionManager(engine, table_prefix=prefix),
            SaSubscriptionManager(engine, table_prefix=prefix))


def _sqlite_pair(request):
    return _sql_pair(request, request.getfixturevalue("sqlite_url"))


def _postgresql_pair(request):
    return _sql_pair(request, request.getfixturevalue("postgresql").url)


PAIRS = {"memory": _memory_pair, "memcache": _memcache_pair, "redis": _redis_pair,
         "redis-cluster": _redis_cluster_pair, "sqlite": _sqlite_pair,
         "postgresql": _postgresql_pair}


#: Known bugs of one pair: test name -> {pair: reason}; such tests are strict xfails there.
KNOWN_BUGS: dict = {}


@pytest.fixture(params=sorted(PAIRS))
def managers(request):
    """``(connection_manager, subscription_manager)``, fresh for each test."""
    reason = KNOWN_BUGS.get(request.node.originalname, {}).get(request.param)
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    connection_manager, subscription_manager = PAIRS[request.param](request)
    yield connection_manager, subscription_manager
    try:
        subscription_manager.reset()
        connection_manager.reset()
    except NotImplementedError:
        pass


def make_channel_set(managers, clean_freq=300000, **channel_options):
    connection_manager, subscription_manager = managers
    channel_set = ChannelSet(connection_manager=connection_manager,
                             subscription_manager=subscription_manager, clean_freq=clean_freq)
    channel = WsgiChannel("amf", **channel_options)
    channel_set.mapChannel(channel)
    return channel_set, channel


@pytest.fixture
def env(managers):
    """``(channel_set, channel, connection_manager, subscription_manager)``."""
    channel_set, channel = make_channel_set(managers)
    return channel_set, channel, managers[0], managers[1]


def now_ms() -> float:
    return time.time() * 1000


def msg(body, topic="chat", sub_topic=None, ttl=0, **headers) -> AsyncMessage:
    if sub_topic is not None:
        headers[AsyncMessage.SUBTOPIC_HEADER] = sub_topic
    return AsyncMessage(body=body, destination=topic, headers=headers, timeToLive=ttl)


def bodies(polled) -> list:
    return [m.body for m in polled]


# ============================================================================= connections


def test_connect_and_find_a_connection(env):
    channel_set, channel, cm, _ = env
    before = now_ms()
    connection = channel.connect()
    assert cm.verifyId(connection.id)
    found = channel_set.getConnection(connection.id)
    assert (found.id, found.channel_name) == (connection.id, "amf")
    assert found.timeout == connection.timeout == 1800000
    assert found.connected is True and found.authenticated is False
    assert found.flex_user is None
    assert before - 1000 <= found.last_active <= now_ms() + 1000
    assert cm.getConnectionCount("amf") == 1
    assert cm.getConnectionCount("other") == 0
    assert connection.id in list(cm.iterConnectionIds())


def test_connect_with_a_chosen_id_and_refuse_a_taken_one(env):
    channel_set, channel, cm, _ = env
    assert channel.connect("chosen-id").id == "chosen-id"
    with pytest.raises(ConnectionError):
        channel.connect("chosen-id")
    assert issubclass(ConnectionError, ChannelError)
    assert cm.getConnectionCount("amf") == 1


def test_unknown_ids_are_not_connected(env):
    channel_set, _, cm, _ = env
    for connection_id in ("never-seen", None):
        with pytest.raises(NotConnectedError):
            channel_set.getConnection(connection_id)
    with pytest.raises(NotConnectedError):
        cm.getConnection("never-seen")


def test_generated_ids_are_unique_and_signed(env):
    channel_set, _, cm, _ = env
    ids = {channel_set.generateId() for _ in range(300)}
    assert len(ids) == 300
    assert all(cm.verifyId(i) for i in ids)
    some = next(iter(ids))
    for forged in ("x", some + "0", some.upper(), some.rpartition(".")[0] + ".00", ""):
        assert not cm.verifyId(forged)


def test_max_connections_per_channel(managers):
    channel_set, channel = make_channel_set(managers, max_connections=2)
    first = channel.connect()
    channel.connect()
    with pytest.raises(ChannelFullError):
        channel.connect()
    channel.disconnect(first)
    channel.connect()
    assert managers[0].getConnectionCount("amf") == 2


def test_touch_and_poll_times(env):
    channel_set, channel, cm, sm = env
    connection = channel.connect()
    first = connection.last_active
    assert connection.last_polled == 0
    time.sleep(0.03)
    channel_set.getConnection(connection.id, touch=False)
    assert connection.last_active == first
    connection.touch()
    touched = connection.last_active
    assert touched > first
    time.sleep(0.03)
    channel_set.getConnection(connection.id)  # touches by default
    assert connection.last_active > touched
    sm.pollConnection(connection)
    assert connection.last_polled >= connection.last_active - 1


def test_connected_flag(env):
    _, channel, cm, _ = env
    connection = channel.connect()
    connection.disconnect()
    assert cm.getConnection(connection.id).connected is False
    connection.connect()
    assert connection.connected is True


def test_login_state_is_stored(env):
    channel_set, channel, _, _ = env
    connection = channel.connect()
    other = channel.connect()
    connection.authenticate("bob")
    again = channel_set.getConnection(connection.id)
    assert (again.authenticated, again.flex_user) == (True, "bob")
    assert (other.authenticated, other.flex_user) == (False, None)
    again.unAuthenticate()
    assert (connection.authenticated, connection.flex_user) == (False, None)


def test_session_attributes(env):
    channel_set, channel, _, _ = env
    connection = channel.connect()
    other = channel.connect()
    connection.setSessionAttr("name", "value")
    connection.setSessionAttr("complex", {"list": [1, 2.5, "x"], "nested": {"a": None}})
    fresh = channel_set.getConnection(connection.id)
    assert fresh.getSessionAttr("name") == "value"
    assert fresh.getSessionAttr("complex") == {"list": [1, 2.5, "x"], "nested": {"a": None}}
    fresh.setSessionAttr("name", "changed")
    assert connection.getSessionAttr("name") == "changed"
    with pytest.raises(SessionAttrError):
        other.getSessionAttr("name")
    with pytest.raises(SessionAttrError):
        connection.getSessionAttr("missing")
    connection.delSessionAttr("name")
    with pytest.raises(SessionAttrError):
        connection.getSessionAttr("name")
    with pytest.raises(SessionAttrError):
        connection.delSessionAttr("name")
    assert issubclass(SessionAttrError, ConnectionError)
    connection.clearSession()
    with pytest.raises(SessionAttrError):
        connection.getSessionAttr("complex")


def test_session_attributes_of_a_gone_connection_fail(env):
    channel_set, channel, _, _ = env
    connection = channel.connect()
    channel_set.disconnect(connection)
    with pytest.raises(NotConnectedError):
        connection.setSessionAttr("k", "v")


def test_notify_functions(env):
    channel_set, channel, cm, sm = env
    subscriber, bystander = channel.connect(), channel.connect()
    calls = []
    subscriber.setNotifyFunc(lambda: calls.append("subscriber"))
    bystander.setNotifyFunc(lambda: calls.append("bystander"))
    assert subscriber.notify_func is cm.getNotifyFunc(subscriber.id)
    sm.subscribe(subscriber.id, "C1", "chat")
    channel_set.publishMessage(msg("hello"))
    assert calls == ["subscriber"]
    subscriber.unSetNotifyFunc()
    assert subscriber.notify_func is None
    channel_set.publishMessage(msg("again"))
    assert calls == ["subscriber"]
    channel_set.disconnect(bystander)  # its waiters are woken, once
    assert calls == ["subscriber", "bystander"]
    assert cm.getNotifyFunc(bystander.id) is None


def test_disconnect_removes_the_connection_and_its_subscriptions(env):
    channel_set, channel, cm, sm = env
    connection, stays = channel.connect(), channel.connect()
    sm.subscribe(connection.id, "C1", "chat")
    sm.subscribe(stays.id, "C2", "chat")
    channel_set.disconnect(connection)
    with pytest.raises(NotConnectedError):
        channel_set.getConnection(connection.id)
    assert list(sm.iterSubscribers("chat")) == [stays.id]
    assert list(sm.iterConnectionSubscriptions(connection)) == []
    assert cm.getConnectionCount("amf") == 1


# ============================================================================= expiry, cleaner


def test_connection_timeout_from_connection_params_and_the_cleaner(env):
    channel_set, channel, cm, sm = env
    cm.connection_params["timeout"] = 150
    short = channel.connect()
    cm.connection_params.pop("timeout")
    long = channel.connect()
    assert (short.timeout, long.timeout) == (150, 1800000)
    sm.subscribe(short.id, "C1", "chat", "room")
    sm.subscribe(long.id, "C2", "chat", "room")
    channel_set.getConnection(short.id)
    time.sleep(0.3)
    assert [c.id for c in cm.iterExpired()] == [short.id]
    with pytest.raises(NotConnectedError):
        cm.getConnection(short.id)
    channel_set.clean()
    assert list(sm.iterSubscribers("chat")) == [long.id]
    assert list(sm.iterConnectionSubscriptions(short)) == []
    assert cm.getConnectionCount("amf") == 1
    assert short.id not in list(cm.iterConnectionIds())
    channel_set.getConnection(long.id)


def test_an_expired_connection_found_by_id_is_dropped_with_its_subscriptions(env):
    channel_set, channel, cm, sm = env
    cm.connection_params["timeout"] = 100
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "chat")
    time.sleep(0.25)
    with pytest.raises(NotConnectedError):
        channel_set.getConnection(connection.id)
    assert list(sm.iterSubscribers("chat")) == []


def test_a_touched_connection_does_not_expire(env):
    channel_set, channel, cm, _ = env
    cm.connection_params["timeout"] = 200
    connection = channel.connect()
    for _ in range(8):  # 0.4 s, twice the timeout
        time.sleep(0.05)
        channel_set.getConnection(connection.id)
    channel_set.clean()
    assert channel_set.getConnection(connection.id).id == connection.id


def test_lazy_clean_every_clean_freq(managers):
    channel_set, channel = make_channel_set(managers, clean_freq=50)
    cm, sm = managers
    cm.connection_params["timeout"] = 100
    expiring = channel.connect()
    cm.connection_params.pop("timeout")
    active = channel.connect()
    sm.subscribe(expiring.id, "C1", "chat")
    sm.subscribe(active.id, "C2", "chat")
    time.sleep(0.25)
    channel_set.getConnection(active.id)  # any look-up may run the due clean
    assert list(sm.iterSubscribers("chat")) == [active.id]
    assert cm.getConnectionCount("amf") == 1


def test_no_lazy_clean_before_clean_freq(managers):
    channel_set, channel = make_channel_set(managers, clean_freq=600000)
    cm, sm = managers
    cm.connection_params["timeout"] = 50
    expiring = channel.connect()
    cm.connection_params.pop("timeout")
    active = channel.connect()
    sm.subscribe(expiring.id, "C1", "chat")
    time.sleep(0.15)
    channel_set.getConnection(active.id)
    assert list(sm.iterSubscribers("chat")) == [expiring.id]
    channel_set.clean()
    assert list(sm.iterSubscribers("chat")) == []


def test_reset_forgets_everything(env):
    channel_set, channel, cm, sm = env
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "chat")
    sm.reset()
    cm.reset()
    with pytest.raises(NotConnectedError):
        cm.getConnection(connection.id)
    assert list(sm.iterSubscribers("chat")) == []


# ============================================================================= subscriptions


def test_subscribe_and_unsubscribe(env):
    channel_set, channel, _, sm = env
    a, b = channel.connect(), channel.connect()
    sm.subscribe(a.id, "A1", "chat")
    sm.subscribe(a.id, "A1", "chat", "room")
    sm.subscribe(a.id, "A2", "chat", "room", "n > 1")
    sm.subscribe(b.id, "B1", "news")
    assert sorted(sm.iterSubscribers("chat")) == [a.id]
    assert list(sm.iterSubscribers("chat", "room")) == [a.id]
    assert list(sm.iterSubscribers("news")) == [b.id]
    keys = sorted((s.client_id, s.topic, s.sub_topic or "", s.selector or "")
                  for s in sm.iterConnectionSubscriptions(a))
    assert keys == [("A1", "chat", "", ""), ("A1", "chat", "room", ""),
                    ("A2", "chat", "room", "n > 1")]
    sm.unSubscribe(a.id, "A1", "chat", "room")
    assert len(list(sm.iterConnectionSubscriptions(a))) == 2
    sm.unSubscribe(a.id, "A2", "chat")  # every subscription of A2 on chat
    sm.unSubscribe(a.id, "A1", "chat")
    assert list(sm.iterConnectionSubscriptions(a)) == []
    assert list(sm.iterSubscribers("chat")) == []


def test_publish_then_poll_exactly_once_in_order_personalised(env):
    channel_set, channel, _, sm = env
    a, b = channel.connect(), channel.connect()
    sm.subscribe(a.id, "A1", "chat")
    sm.subscribe(b.id, "B1", "chat")
    sm.subscribe(b.id, "B2", "chat")
    sent = [msg(n) for n in range(150)]
    for message in sent:
        channel_set.publishMessage(message)
    got_a = sm.pollConnection(a)
    assert bodies(got_a) == list(range(150))
    assert {m.clientId for m in got_a} == {"A1"}
    assert [m.messageId for m in got_a] == [m.messageId for m in sent]
    got_b = sm.pollConnection(b)
    assert sorted((m.clientId, m.body) for m in got_b) == sorted(
        [("B1", n) for n in range(150)] + [("B2", n) for n in range(150)])
    for client_id in ("B1", "B2"):
        assert [m.body for m in got_b if m.clientId == client_id] == list(range(150))
    assert sm.pollConnection(a) == [] and sm.pollConnection(b) == []
    # The published message itself is not readdressed.
    assert all(m.clientId is None for m in sent)


def test_messages_before_the_subscription_are_not_delivered(env):
    channel_set, channel, _, sm = env
    connection = channel.connect()
    channel_set.publishMessage(msg("early"))
    sm.subscribe(connection.id, "C1", "chat")
    channel_set.publishMessage(msg("late"))
    assert bodies(sm.pollConnection(connection)) == ["late"]


def test_publish_stamps_the_time_and_the_default_ttl(env):
    channel_set, channel, _, sm = env
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "chat")
    old = msg("old", ttl=0)
    old.timestamp = 12345
    kept = msg("kept", ttl=5000)
    before = now_ms()
    channel_set.publishMessage(old)
    channel_set.publishMessage(kept)
    got = sm.pollConnection(connection)
    assert [m.timeToLive for m in got] == [sm.ttl, 5000]
    assert all(before - 1000 <= m.timestamp <= now_ms() + 1000 for m in got)


def test_expired_messages_are_not_delivered(env):
    channel_set, channel, _, sm = env
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "chat")
    channel_set.publishMessage(msg("short", ttl=100))
    channel_set.publishMessage(msg("long", ttl=60000))
    channel_set.publishMessage(msg("short again", ttl=100))
    time.sleep(0.25)
    sm.deleteExpiredMessages()
    assert bodies(sm.pollConnection(connection)) == ["long"]


def test_max_messages_drops_the_oldest(env):
    channel_set, channel, _, sm = env
    sm.max_messages = 5
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "chat")
    for n in range(12):
        channel_set.publishMessage(msg(n))
    assert bodies(sm.pollConnection(connection)) == list(range(7, 12))


def test_subtopics(env):
    channel_set, channel, _, sm = env
    subs = {}
    for name, sub_topic in (("all", "chat.*"), ("a", "chat.a"), ("none", None), ("star", "*")):
        subs[name] = channel.connect()
        sm.subscribe(subs[name].id, name, "chat", sub_topic)
    for body, sub_topic in (("a", "chat.a"), ("b.c", "chat.b.c"), ("plain", None),
                            ("chat", "chat")):
        channel_set.publishMessage(msg(body, sub_topic=sub_topic))
    got = {name: bodies(sm.pollConnection(c)) for name, c in subs.items()}
    assert got == {"all": ["a", "b.c"], "a": ["a"], "none": ["plain"],
                   "star": ["a", "b.c", "chat"]}


def test_a_message_to_several_subtopics(env):
    channel_set, channel, _, sm = env
    x, y = channel.connect(), channel.connect()
    sm.subscribe(x.id, "X", "chat", "x")
    sm.subscribe(y.id, "Y", "chat", "y")
    message = msg("both")
    message.headers[AsyncMessage.SUBTOPIC_HEADER] = ["x", "y"]
    channel_set.publishMessage(message)
    assert bodies(sm.pollConnection(x)) == ["both"] == bodies(sm.pollConnection(y))


def test_invalid_subtopics_are_refused(env):
    channel_set, channel, _, sm = env
    connection = channel.connect()
    for bad in ("a..b", ".a", "a.", "a.b*"):
        with pytest.raises(SubtopicError):
            sm.subscribe(connection.id, "C1", "chat", bad)
    with pytest.raises(SubtopicError):
        channel_set.publishMessage(msg("x", sub_topic="room.*"))
    assert list(sm.iterConnectionSubscriptions(connection)) == []


def test_selectors(env):
    channel_set, channel, _, sm = env
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "prices", None, "price > 10 AND symbol = 'ADBE'")
    with pytest.raises(SelectorError):
        sm.subscribe(connection.id, "C2", "prices", None, "price >")
    for price, symbol in ((5, "ADBE"), (12, "ADBE"), (20, "MSFT")):
        channel_set.publishMessage(msg(f"{symbol}{price}", "prices", price=price, symbol=symbol))
    assert bodies(sm.pollConnection(connection)) == ["ADBE12"]


def test_a_consumer_gets_a_message_once_even_through_two_subscriptions(env):
    channel_set, channel, _, sm = env
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "chat", "chat.a")
    sm.subscribe(connection.id, "C1", "chat", "chat.*")
    sm.subscribe(connection.id, "C2", "chat", "chat.*")
    channel_set.publishMessage(msg("once", sub_topic="chat.a"))
    assert sorted(m.clientId for m in sm.pollConnection(connection)) == ["C1", "C2"]


def test_small_messages_when_the_connection_asked(env):
    channel_set, channel, _, sm = env
    small, full = channel.connect(), channel.connect()
    small.useSmallMessages()
    for connection in (small, full):
        sm.subscribe(connection.id, "C", "chat")
    channel_set.publishMessage(msg("x"))
    assert [type(m) for m in sm.pollConnection(small)] == [AsyncMessageExt]
    assert [type(m) for m in sm.pollConnection(full)] == [AsyncMessage]


# ============================================================================= threads


def run_threads(targets, deadline=DEADLINE):
    """Run the callables in threads; their exceptions, re-raised; bounded in time."""
    errors = []

    def wrap(target):
        def run():
            try:
                target()
            except BaseException as exc:  # reported below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    end = time.monotonic() + deadline
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "threads did not finish in time"
    if errors:
        raise errors[0]


def test_threads_create_connections_and_sessions(env):
    channel_set, channel, cm, _ = env
    made = []
    lock = threading.Lock()

    def worker(n):
        def run():
            for i in range(20):
                connection = channel.connect()
                connection.setSessionAttr("owner", (n, i))
                with lock:
                    made.append((connection.id, (n, i)))
        return run

    run_threads([worker(n) for n in range(8)])
    assert len({cid for cid, _ in made}) == 160
    assert cm.getConnectionCount("amf") == 160
    for cid, owner in made:
        assert tuple(channel_set.getConnection(cid).getSessionAttr("owner")) == owner


def test_concurrent_session_and_login_updates_are_not_lost(env):
    _, channel, _, _ = env
    connection = channel.connect()

    def setter(n):
        def run():
            for i in range(15):
                connection.setSessionAttr(f"k{n}-{i}", i)
        return run

    def toggler():
        for i in range(30):
            connection.authenticate(f"user{i}")
            connection.touch()

    run_threads([setter(n) for n in range(6)] + [toggler])
    for n in range(6):
        for i in range(15):
            assert connection.getSessionAttr(f"k{n}-{i}") == i
    assert connection.flex_user == "user29" and connection.authenticated


def test_concurrent_publishers_and_pollers_exactly_once_in_order(env):
    channel_set, channel, _, sm = env
    sm.max_messages = 100000
    publishers, per_publisher = 4, 150
    subscribers = [channel.connect() for _ in range(4)]
    for n, connection in enumerate(subscribers):
        sm.subscribe(connection.id, f"C{n}", "chat")
    received = {c.id: [] for c in subscribers}
    done = threading.Event()

    def publisher(p):
        def run():
            for i in range(per_publisher):
                channel_set.publishMessage(msg({"p": p, "i": i}))
        return run

    def poller(connection):
        def run():
            end = time.monotonic() + DEADLINE - 2
            quiet_since = None
            while time.monotonic() < end:
                got = sm.pollConnection(connection)
                received[connection.id].extend(got)
                if len(received[connection.id]) >= publishers * per_publisher:
                    return
                if done.is_set():  # after the last publish, stop once nothing comes
                    quiet_since = quiet_since if not got and quiet_since else time.monotonic()
                    if time.monotonic() - quiet_since > 0.5:
                        return
                time.sleep(0.001)
        return run

    pub_threads = [publisher(p) for p in range(publishers)]

    def publish_all():
        run_threads(pub_threads)
        done.set()

    run_threads([publish_all] + [poller(c) for c in subscribers])
    for connection in subscribers:
        got = [m.body for m in received[connection.id]]
        assert len(got) == publishers * per_publisher, len(got)
        for p in range(publishers):
            assert [b["i"] for b in got if b["p"] == p] == list(range(per_publisher))


def test_a_poll_while_a_message_is_being_stored_does_not_skip_it(env):
    """A publish that is slow to store its message (a slow store) and a poll meanwhile."""
    channel_set, channel, _, sm = env
    connection = channel.connect()
    sm.subscribe(connection.id, "C1", "chat")
    if hasattr(sm, "mc_set"):  # the memcache manager: slow down storing message items
        original = sm.mc_set

        def slow_set(key, *args, **kwargs):
            if ":msg:" in key:
                time.sleep(0.3)
            return original(key, *args, **kwargs)

        sm.mc_set = slow_set
    publisher = threading.Thread(target=channel_set.publishMessage, args=(msg("slow"),),
                                 daemon=True)
    publisher.start()
    time.sleep(0.1)
    got = bodies(sm.pollConnection(connection))  # while the message is being stored
    publisher.join(DEADLINE)
    got += bodies(sm.pollConnection(connection))
    assert got == ["slow"]


def test_subscription_churn_while_publishing(env):
    channel_set, channel, _, sm = env
    stable = channel.connect()
    sm.subscribe(stable.id, "STABLE", "chat")
    churners = [channel.connect() for _ in range(3)]
    stop = threading.Event()

    def publish():
        for i in range(300):
            channel_set.publishMessage(msg(i))
        stop.set()

    def churn(connection):
        def run():
            n = 0
            while not stop.is_set() and n < 2000:
                sm.subscribe(connection.id, f"X{n % 3}", "chat", None if n % 2 else "a")
                sm.pollConnection(connection)
                sm.unSubscribe(connection.id, f"X{n % 3}", "chat")
                n += 1
        return run

    run_threads([publish] + [churn(c) for c in churners])
    assert bodies(sm.pollConnection(stable)) == list(range(300))
    for connection in churners:
        sm.pollConnection(connection)
        assert list(sm.iterConnectionSubscriptions(connection)) == []
