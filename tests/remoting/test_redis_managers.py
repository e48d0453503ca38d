"""The Redis managers against a real redis-server: keys, expiry, wake-ups, faults, Cluster.

Two channel sets built on one Redis with one ``key_prefix`` stand for two processes; each
test has a prefix of its own (``mc_prefix``) on the session's redis-server.  Tests that
stop, freeze or restart Redis start a private one (``redis_factory``).  The listener is
cut while messages flow (``CLIENT KILL``) and dropped by Redis (pub/sub output buffer
limit): nothing is lost or delivered twice.  Faults are tested over HTTP under wsgiref,
waitress and uvicorn: while Redis is down every request gets an AMF fault or an HTTP 503
within ``DOWN_LIMIT`` seconds (``FAULT_LIMIT`` while it is frozen), and service resumes by
itself once Redis is back.  The conformance suite (test_manager_conformance.py) runs the
managers on a 3-master Redis Cluster too; here, wake-ups through the Cluster.  Every wait
is bounded.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

import pytest

redis = pytest.importorskip("redis")

from amfast.remoting.channel import ChannelSet  # noqa: E402
from amfast.remoting.errors import ChannelError, StoreUnavailableError  # noqa: E402
from amfast.remoting.flex_messages import AsyncMessage, CommandMessage  # noqa: E402
from amfast.remoting.notifier import AsyncWaiter, CallbackWaiter, ThreadWaiter  # noqa: E402
from amfast.remoting.redis_connection_manager import (CLEAN_MARGIN_MS,  # noqa: E402
                                                      RedisConnectionManager)
from amfast.remoting.redis_listener import AsyncListener, ThreadListener  # noqa: E402
from amfast.remoting.redis_subscription_manager import RedisSubscriptionManager  # noqa: E402
from amfast.remoting.wsgi_channel import WsgiChannel  # noqa: E402
from tests.remoting.apps import build_store_channel_set  # noqa: E402
from tests.remoting.test_memcache_managers import (amf_client, assert_unavailable,  # noqa: E402
                                                   attempt, hold_a_long_poll, settle,
                                                   settled_client, until_available)
from tests.support.servers import WSGI, Transport  # noqa: E402
from tests.support.streams import RawStream  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

#: The longest a request may take to fail while Redis is down (s).
DOWN_LIMIT = 1.5
#: ... while Redis is frozen: the socket timeout (1 s), and the listener's health check.
FAULT_LIMIT = 3.5
#: The HTTP client's own timeout (s): a hang fails the test instead of blocking it.
TIMEOUT = 8.0
#: How soon a waiter in one process must wake for a publish through another (s).
WAKE_LIMIT = 0.5


def message(body: Any, topic: str = "chat", ttl: int = 0) -> AsyncMessage:
    return AsyncMessage(body=body, destination=topic, timeToLive=ttl)


@pytest.fixture
def processes(redis_server, mc_prefix):
    """``processes(url=None, **options) -> ChannelSet``: channel sets on one Redis and one
    prefix ("processes" of one application), each with an ``amf`` channel; ``start()``ed
    by the test when it wants a listener, stopped at teardown."""
    made: list = []

    def make(url: str | None = None, client: Any = None, **options: Any) -> ChannelSet:
        where = {"client": client} if client is not None else {"url": url or redis_server.url}
        channel_set = ChannelSet(
            connection_manager=RedisConnectionManager(key_prefix=mc_prefix, **where),
            subscription_manager=RedisSubscriptionManager(key_prefix=mc_prefix, **where,
                                                          **options))
        channel_set.mapChannel(WsgiChannel("amf"))
        made.append(channel_set)
        return channel_set

    yield make
    for channel_set in made:
        channel_set.stop()


def listening(channel_set: ChannelSet) -> bool:
    listener = channel_set.subscription_manager.listener
    return listener is not None and listener.listening


# ============================================================================= configuration


def test_a_url_or_a_client_and_a_prefix_without_braces(redis_server, mc_prefix):
    client = redis.Redis.from_url(redis_server.url)
    cm = RedisConnectionManager(client=client, key_prefix=mc_prefix)
    assert cm.redis is client
    sm = RedisSubscriptionManager(True, 5000, url=redis_server.url, key_prefix=mc_prefix,
                                  max_messages=7)
    assert (sm.secure, sm.ttl, sm.max_messages, sm.key_prefix) == (True, 5000, 7, mc_prefix)
    with pytest.raises(ChannelError):
        RedisConnectionManager(url=redis_server.url, client=client)
    with pytest.raises(ChannelError):
        RedisSubscriptionManager(url=redis_server.url, key_prefix="app{1}")
    with pytest.raises(ChannelError):
        RedisConnectionManager(client=redis.Redis.from_url(redis_server.url,
                                                           decode_responses=True))


def test_a_connections_keys_and_a_topics_keys_each_share_a_cluster_slot(processes,
                                                                        redis_server,
                                                                        mc_prefix):
    from redis.crc import key_slot

    channel_set = processes()
    channel = channel_set.getChannel("amf")
    sm = channel_set.subscription_manager
    connections = [channel.connect() for _ in range(3)]
    for n, connection in enumerate(connections):
        connection.setSessionAttr("n", n)
        sm.subscribe(connection.id, f"C{n}", "news", "sport" if n else None)
        sm.subscribe(connection.id, f"C{n}", "weather")
    channel_set.publishMessage(message("x", "news"))
    client = redis.Redis.from_url(redis_server.url)
    keys = [k.decode() for k in client.scan_iter(f"{mc_prefix}:*")]
    slots: dict = {}
    for key in keys:
        owner = key[key.index("{") + 1:key.index("}")]
        slots.setdefault(owner, set()).add(key_slot(key.encode()))
    assert {f"c:{c.id}" for c in connections} | {"t:news", "t:weather", "index"} == set(slots)
    assert all(len(found) == 1 for found in slots.values()), slots
    assert len(keys) >= 3 * 2 + 2 * 2 + 2  # states, topic sets; logs, subscribers; index


def test_everything_lives_in_redis_with_an_expiry(processes, redis_server, mc_prefix):
    channel_set = processes()
    cm, sm = channel_set.connection_manager, channel_set.subscription_manager
    cm.connection_params["timeout"] = 60000
    connection = channel_set.getChannel("amf").connect()
    connection.authenticate("ann")
    connection.setSessionAttr("nick", "Ann")
    sm.subscribe(connection.id, "C1", "news")
    channel_set.publishMessage(message("kept", "news", ttl=20000))
    client = redis.Redis.from_url(redis_server.url)
    ttls = {k.decode(): client.pttl(k) for k in client.scan_iter(f"{mc_prefix}:*")}
    state = cm.connection_key(connection.id)
    assert 60000 < ttls.pop(state) <= 60000 + CLEAN_MARGIN_MS
    assert 20000 < ttls.pop(sm.topic_key("news", "log")) <= 21000
    for key in (sm.connection_key(connection.id, "topics"),
                sm.topic_key("news", f"cur:{connection.id}")):
        assert 0 < ttls.pop(key) <= sm.subscription_ttl
    # What indexes everything is cleaned by the cleaner, not by expiry; the shared secret
    # lasts.
    assert set(ttls) == {sm.topic_key("news", "subs"), cm.index_key("ids"),
                         cm.index_key("counts"), sm.index_key("topics"), cm.index_key("secret")}
    time.sleep(0.05)
    connection.touch()  # the state's expiry starts again
    assert client.pttl(state) > ttls.get(state, 0)


def test_a_subscriber_that_comes_back_within_the_ttl_gets_what_it_missed_once_in_order(
        processes):
    a, b = processes(), processes()
    connection = a.getChannel("amf").connect()
    a.subscription_manager.subscribe(connection.id, "C1", "chat")
    for n in range(20):
        b.publishMessage(message(n))
    # Gone for a while, then back through the other process.
    back = b.getConnection(connection.id)
    assert [m.body for m in b.subscription_manager.pollConnection(back)] == list(range(20))
    assert a.subscription_manager.pollConnection(connection) == []


def test_a_connection_served_by_one_listening_process_keeps_its_topics_for_the_others(
        processes, redis_server):
    """A listening process remembers a connection's topics; it still renews their expiry
    in Redis, so another process that serves the connection later finds them."""
    a = processes(subscription_ttl=600)
    # A client of its own: b remembers nothing of what a does (another process).
    b = processes(client=redis.Redis.from_url(redis_server.url), subscription_ttl=600)
    a.start()
    assert wait_until(lambda: listening(a))
    connection = a.getChannel("amf").connect()
    a.subscription_manager.subscribe(connection.id, "C1", "chat")
    deadline = time.monotonic() + 1.5  # well past the subscriptions' lifetime
    sent = 0
    while time.monotonic() < deadline:
        a.publishMessage(message(sent))
        assert [m.body for m in a.subscription_manager.pollConnection(connection)] == [sent]
        sent += 1
        time.sleep(0.05)
    b.publishMessage(message("through b"))
    back = b.getConnection(connection.id)
    assert [m.body for m in b.subscription_manager.pollConnection(back)] == ["through b"]


def test_a_topic_name_of_any_length_or_content(processes):
    channel_set = processes()
    sm = channel_set.subscription_manager
    connection = channel_set.getChannel("amf").connect()
    for topic in ("x" * 5000, "a{b}c", "é\n}{"):
        sm.subscribe(connection.id, "C", topic)
        channel_set.publishMessage(message(topic[:3], topic))
    assert sorted(m.body for m in sm.pollConnection(connection)) == sorted(["xxx", "a{b", "é\n}"])


# ============================================================================= wake-ups


def test_a_publish_through_one_process_wakes_a_waiter_of_another_at_once(processes):
    a, b = processes(), processes()
    assert a.subscription_manager.recheck  # no listener yet: look at Redis every poll_interval
    a.start()
    b.start()
    assert wait_until(lambda: listening(a) and listening(b))
    assert not a.subscription_manager.recheck
    assert isinstance(a.subscription_manager.listener, ThreadListener)
    connection = a.getChannel("amf").connect()
    a.subscription_manager.subscribe(connection.id, "C1", "chat")
    woken: list = []
    a.notifier.add(connection.id, CallbackWaiter(lambda: woken.append(time.monotonic())))
    waiter = ThreadWaiter()
    with a.notifier.listening([connection.id], waiter):
        published = time.monotonic()
        b.publishMessage(message("hello"))
        waiter.wait(5.0)
        assert time.monotonic() - published < WAKE_LIMIT
    assert [m.body for m in a.subscription_manager.pollConnection(connection)] == ["hello"]
    # A publish through this process wakes its waiters once (not again via Redis).
    a.publishMessage(message("here"))
    time.sleep(0.2)
    assert len(woken) == 2, woken
    a.stop()
    assert a.subscription_manager.listener is None and a.subscription_manager.recheck


async def start_on_this_loop(channel_set: ChannelSet) -> None:
    """Its subscription manager started on the running loop (an ASGI lifespan), once the
    listener is subscribed."""
    await channel_set.subscription_manager.startAsync(channel_set.notifier)
    for _ in range(500):
        if listening(channel_set):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the listener did not subscribe")


def collect_on_a_loop(publisher: ChannelSet, subscriber: ChannelSet, topics: tuple,
                      count: int = 20) -> None:
    """``count`` connections of ``subscriber`` subscribe to ``topics``; with its manager
    started on an event loop, one message is published to each topic through
    ``publisher`` and the connections are collected at once: one batch for all, each
    gets every message once, and their states are remembered (read with the batch)."""
    manager = subscriber.subscription_manager
    ids = [subscriber.getChannel("amf").connect().id for _ in range(count)]
    for connection_id in ids:
        for topic in topics:
            manager.subscribe(connection_id, "consumer", topic)
    batches: list = []

    async def scenario() -> list:
        await start_on_this_loop(subscriber)
        try:
            manager.view.state_changed(["*"])  # nothing remembered yet
            collector = manager.asyncCollector()
            assert collector is not None
            # Threads (WSGI) have no loop: they collect with redis-py.
            assert await asyncio.to_thread(manager.asyncCollector) is None
            collects = manager._async_collects
            run_batch = collects._run_batch

            async def counted(keys: list) -> dict:
                batches.append(list(keys))
                return await run_batch(keys)

            collects._run_batch = counted
            for topic in topics:
                publisher.subscription_manager.publishMessage(message(topic, topic))
            results = await asyncio.wait_for(
                asyncio.gather(*(collector(i) for i in ids)), TIMEOUT)
            assert all(manager.view.state(i) == {
                "connected": True, "authenticated": False, "flex_user": None,
                "small_messages": False} for i in ids), manager.view.state(ids[0])
            again = await asyncio.wait_for(collector(ids[0]), TIMEOUT)
            return results + [again]
        finally:
            await manager.stopAsync()

    *results, again = asyncio.run(scenario())
    assert batches == [ids, ids[:1]]
    assert [sorted((c, m.body) for c, m in found) for found in results] == \
        [[("consumer", topic) for topic in sorted(topics)]] * len(ids)
    assert again == []
    assert manager.asyncCollector() is None  # stopped


def test_on_an_event_loop_the_streams_a_wake_up_reaches_are_collected_in_one_claim(
        processes):
    """... and the states they check at their next wake-up are read meanwhile."""
    collect_on_a_loop(processes(), processes(), ("news",))


def test_a_disconnect_through_one_process_wakes_the_waiters_of_another(processes):
    a, b = processes(), processes()
    a.start()
    assert wait_until(lambda: listening(a))
    connection = a.getChannel("amf").connect()
    woken = threading.Event()
    a.notifier.add(connection.id, CallbackWaiter(woken.set))
    b.disconnect(b.getConnection(connection.id))
    assert woken.wait(WAKE_LIMIT)


def test_what_a_listening_process_remembers_follows_changes_made_through_another(processes):
    a, b = processes(), processes()
    a.start()
    assert wait_until(lambda: listening(a))
    connection = a.getChannel("amf").connect()
    connection.authenticate("ann")
    assert connection.authenticated and connection.flex_user == "ann"  # remembered now
    b.getConnection(connection.id).unAuthenticate()
    assert wait_until(lambda: not connection.authenticated, WAKE_LIMIT)
    assert connection.flex_user is None
    # A's collects remember the connection's topics; a subscription made through B, and
    # what is published to it, reach them all the same.
    sm_a = a.subscription_manager
    sm_a.subscribe(connection.id, "C1", "news")
    assert sm_a.collectMessages(connection.id) == []
    b.subscription_manager.subscribe(connection.id, "C2", "sport")
    b.publishMessage(message("goal", "sport"))
    assert wait_until(lambda: [(c, m.body) for c, m in sm_a.collectMessages(connection.id)],
                      WAKE_LIMIT) == [("C2", "goal")]
    b.subscription_manager.unSubscribe(connection.id, "C2", "sport")
    b.publishMessage(message("late", "sport"))
    assert sm_a.collectMessages(connection.id) == []
    # Gone through B: A finds it gone at once.
    b.disconnect(b.getConnection(connection.id))
    assert wait_until(lambda: not connection.connected, WAKE_LIMIT)


def run_flow(a: ChannelSet, b: ChannelSet, count: int, during: Callable[[int], None],
             spacing: float = 0.002) -> tuple:
    """``count`` messages published through ``b`` to a subscriber that waits on ``a``
    (woken by ``a``'s listener, or after 10 s); ``during(n)`` runs after the n-th publish.
    Returns what the subscriber received and how many of its waits ran out."""
    connection = a.getChannel("amf").connect()
    sm = a.subscription_manager
    sm.subscribe(connection.id, "C1", "flow")
    received: list = []
    timeouts = [0]
    finished = threading.Event()

    def subscriber() -> None:
        waiter = ThreadWaiter()
        deadline = time.monotonic() + 30
        with a.notifier.listening([connection.id], waiter):
            while len(received) < count and time.monotonic() < deadline:
                got = sm.pollConnection(connection)
                received.extend(m.body for m in got)
                if len(received) >= count:
                    break
                started = time.monotonic()
                waiter.wait(10.0)
                timeouts[0] += time.monotonic() - started >= 10.0
        finished.set()

    thread = threading.Thread(target=subscriber, daemon=True)
    thread.start()
    time.sleep(0.1)
    for n in range(count):
        b.publishMessage(message(n, "flow"))
        during(n)
        time.sleep(spacing)
    assert finished.wait(30), f"{len(received)} of {count} received"
    return received, timeouts[0]


def test_a_listener_cut_while_messages_flow_comes_back_and_nothing_is_lost(processes,
                                                                          redis_server):
    a, b = processes(), processes()
    a.start()
    assert wait_until(lambda: listening(a))
    admin = redis.Redis.from_url(redis_server.url)
    listener = a.subscription_manager.listener
    cut_at = {100, 200, 300}

    def cut(n: int) -> None:
        if n in cut_at:
            # Every pub/sub connection of the server: this test's listener among them.
            assert admin.client_kill_filter(_type="pubsub", skipme=True) >= 1

    started = time.monotonic()
    received, timeouts = run_flow(a, b, 400, cut)
    assert received == list(range(400)), "every message once, in order"
    assert timeouts == 0, "every wait ended with a wake-up"
    assert listener.subscriptions >= 1 + len(cut_at)
    assert wait_until(lambda: listening(a))
    print(f"\n400 messages, listener cut 3 times: {time.monotonic() - started:.2f} s")


def test_a_listener_redis_drops_for_its_output_buffer_comes_back_and_catches_up(
        processes, redis_factory):
    server = redis_factory()
    a, b = processes(server.url), processes(server.url, max_messages=100000)
    a.start()
    assert wait_until(lambda: listening(a))
    listener = a.subscription_manager.listener
    # Past 64 kB queued for a pub/sub client, Redis drops it.
    server.cli("config", "set", "client-output-buffer-limit", "pubsub 65536 0 0")
    blocked = threading.Event()
    release = threading.Event()
    original = listener.wake

    def slow_wake(data: bytes) -> None:
        blocked.set()
        release.wait(10)  # the listener reads nothing meanwhile
        original(data)

    listener.wake = slow_wake
    stalled = a.getChannel("amf").connect()
    a.subscription_manager.subscribe(stalled.id, "S", "big")
    b.publishMessage(message("first", "big"))
    assert blocked.wait(5)
    # Wake-ups naming a few hundred connections each, until Redis drops the listener.
    many = [b.getChannel("amf").connect() for _ in range(300)]
    for connection in many:
        b.subscription_manager.subscribe(connection.id, "M", "big")
    # The socket buffers take a few MB before Redis queues anything: publish until the
    # listener is dropped (bounded).
    sent = 0
    dropped = False
    while not dropped and sent < 3000:
        for _ in range(50):
            b.publishMessage(message(sent, "big"))
            sent += 1
        dropped = not server.cli("client", "list", "type", "pubsub").strip()
    release.set()
    listener.wake = original
    assert dropped, "Redis did not drop the listener"
    received, timeouts = run_flow(a, b, 50, lambda n: None)
    assert received == list(range(50)) and timeouts == 0
    assert listener.subscriptions >= 2
    assert [m.body for m in a.subscription_manager.pollConnection(stalled)] == \
        ["first"] + list(range(sent))


# ============================================================================= Cluster


def test_wake_ups_and_polls_through_a_redis_cluster(redis_cluster, mc_prefix):
    from redis.cluster import RedisCluster

    made = []
    for _ in range(2):
        client = RedisCluster.from_url(redis_cluster.url, socket_timeout=1.0)
        channel_set = ChannelSet(
            connection_manager=RedisConnectionManager(client=client, key_prefix=mc_prefix),
            subscription_manager=RedisSubscriptionManager(client=client, key_prefix=mc_prefix))
        channel_set.mapChannel(WsgiChannel("amf"))
        made.append(channel_set)
    a, b = made
    try:
        a.start()
        assert wait_until(lambda: listening(a))
        connections = [a.getChannel("amf").connect() for _ in range(6)]
        for n, connection in enumerate(connections):
            for topic in ("news", "sport", "weather"):
                a.subscription_manager.subscribe(connection.id, f"C{n}", topic)
        woken = threading.Event()
        a.notifier.add(connections[0].id, CallbackWaiter(woken.set))
        for n in range(5):
            for topic in ("news", "sport", "weather"):
                b.publishMessage(message(f"{topic}{n}", topic))
        assert woken.wait(WAKE_LIMIT)
        for connection in connections:
            bodies = [m.body for m in b.subscription_manager.pollConnection(
                b.getConnection(connection.id))]
            for topic in ("news", "sport", "weather"):
                assert [x for x in bodies if x.startswith(topic)] == [f"{topic}{n}"
                                                                       for n in range(5)]
        b.disconnect(b.getConnection(connections[0].id))
        assert sorted(b.subscription_manager.iterSubscribers("news")) == sorted(
            c.id for c in connections[1:])
    finally:
        for channel_set in made:
            channel_set.stop()
            channel_set.subscription_manager.reset()
            channel_set.connection_manager.reset()


def test_on_an_event_loop_a_wake_up_reads_the_states_of_the_waiting_connections_first(
        processes, redis_server):
    """The streams it wakes check their states at once: they find them remembered."""
    subscriber = processes()
    publisher = processes(client=redis.Redis.from_url(redis_server.url))  # another process
    manager = subscriber.subscription_manager
    waiting, idle = (subscriber.getChannel("amf").connect() for _ in range(2))
    for connection in (waiting, idle):
        manager.subscribe(connection.id, "consumer", "news")

    async def scenario() -> tuple:
        await start_on_this_loop(subscriber)
        try:
            waiter = AsyncWaiter()
            with subscriber.notifier.listening([waiting.id], waiter):
                manager.view.state_changed(["*"])  # nothing remembered
                publisher.publishMessage(message("hello", "news"))
                await waiter.wait(TIMEOUT)
                return manager.view.state(waiting.id), manager.view.state(idle.id)
        finally:
            await manager.stopAsync()

    woken, not_waiting = asyncio.run(scenario())
    assert woken == {"connected": True, "authenticated": False, "flex_user": None,
                     "small_messages": False}
    assert not_waiting is None  # nobody waits for it here: not read


def test_on_an_event_loop_through_a_redis_cluster(redis_cluster, mc_prefix):
    """The loop's collections on ``redis.asyncio``'s Cluster client: a claim per topic
    (each topic's keys in their own slot), the states in a pipeline across slots."""
    import redis.asyncio.cluster
    from redis.cluster import RedisCluster

    made = []
    for _ in range(2):
        client = RedisCluster.from_url(redis_cluster.url, socket_timeout=1.0)
        async_client = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster.url,
                                                                   socket_timeout=1.0)
        channel_set = ChannelSet(
            connection_manager=RedisConnectionManager(client=client, key_prefix=mc_prefix),
            subscription_manager=RedisSubscriptionManager(
                client=client, async_client=async_client, key_prefix=mc_prefix))
        channel_set.mapChannel(WsgiChannel("amf"))
        made.append(channel_set)
    try:
        collect_on_a_loop(*made, ("news", "sport", "weather"), count=6)
    finally:
        for channel_set in made:
            channel_set.stop()
            channel_set.subscription_manager.reset()
            channel_set.connection_manager.reset()


# ============================================================================= faults over HTTP


def serve_channel_set(serve, url: str, prefix: str, transport: Transport = WSGI):
    """Messaging over HTTP with the Redis managers: channels amf, longpoll (held 5 s) and
    streaming; login correct/correct; service svc: remember, recall (session), secret."""
    channel_set = build_store_channel_set(
        transport, RedisConnectionManager(url=url, key_prefix=prefix, secret="test secret"),
        RedisSubscriptionManager(url=url, key_prefix=prefix))
    return serve(channel_set), channel_set


@pytest.fixture
def served(serve_app, transport, redis_factory, mc_prefix):
    """``(redis, server, channel_set)``: a private Redis, and the channel set served under
    each server kind; the channel set is stopped at teardown."""
    server = redis_factory()
    running, channel_set = serve_channel_set(serve_app, server.url, mc_prefix, transport)
    client = amf_client(running)
    client.ping()  # the channel set starts its listener with its first request
    assert wait_until(lambda: listening(channel_set))
    yield server, running, channel_set
    channel_set.stop()


def test_under_an_asgi_lifespan_the_listener_is_a_task_on_the_event_loop(served, server_kind):
    _, _, channel_set = served
    expected = AsyncListener if server_kind == "uvicorn" else ThreadListener
    assert isinstance(channel_set.subscription_manager.listener, expected)


def test_while_redis_is_down_requests_fail_fast_and_service_resumes_after_restart(served):
    redis_server, server, _ = served
    client, long_poll = settled_client(server)
    dsid = client.client_id

    redis_server.stop()
    began = time.monotonic()
    for action in (client.ping, client.poll, long_poll.poll,
                   lambda: client.publish("news", "lost"),
                   lambda: client.subscribe("other"),
                   lambda: client.remote_call("svc", "recall", "nick"),
                   lambda: client.login("correct", "correct"),
                   lambda: amf_client(server).ping()):  # a new client too
        assert_unavailable(attempt(action, DOWN_LIMIT))
    assert attempt(lambda: client.stream(server.url("/streaming")), DOWN_LIMIT) == ("http", 503)
    down = time.monotonic() - began

    redis_server.start()  # the same port, empty
    began = time.monotonic()
    until_available(client.ping)
    resumed = time.monotonic() - began
    assert client.client_id == dsid  # signed by the secret: the client keeps its id
    # What the restart lost: the login, the session, the subscription.
    kind, fault = settle(lambda: client.remote_call("svc", "secret"))
    assert kind == "fault" and fault.faultCode == "Client.Authentication", fault
    assert until_available(lambda: client.remote_call("svc", "recall", "nick")) is None
    until_available(lambda: client.subscribe("news"))
    until_available(lambda: client.publish("news", "heard"))
    assert [m.body for m in until_available(client.poll)] == ["heard"]
    print(f"\n10 requests refused while Redis was down in {down:.2f} s; "
          f"service back {resumed:.2f} s after the restart")


def test_while_redis_is_frozen_requests_fail_within_the_limit_and_service_resumes(served):
    redis_server, server, _ = served
    client = amf_client(server)
    client.subscribe("news")
    client.remote_call("svc", "remember", "nick", "ann")
    redis_server.pause()
    try:
        slowest = 0.0
        for action in (client.poll, lambda: client.remote_call("svc", "recall", "nick"),
                       amf_client(server).ping):
            started = time.monotonic()
            assert_unavailable(attempt(action, FAULT_LIMIT))
            slowest = max(slowest, time.monotonic() - started)
    finally:
        redis_server.resume()
    # Nothing was lost: Redis only paused.
    assert until_available(lambda: client.remote_call("svc", "recall", "nick")) == "ann"
    until_available(lambda: client.publish("news", "after"))
    assert [m.body for m in until_available(client.poll)] == ["after"]
    print(f"\nslowest refusal while Redis was frozen: {slowest:.2f} s")


def test_a_long_poll_held_when_redis_goes_down_fails_within_the_limit(served):
    redis_server, server, _ = served
    held = hold_a_long_poll(server)
    stopped = time.monotonic()
    redis_server.stop()
    outcome = held.outcome()
    took = time.monotonic() - stopped
    assert took < DOWN_LIMIT
    assert_unavailable(outcome)
    print(f"\nheld long-poll refused {took:.2f} s after Redis stopped")


def test_a_long_poll_held_when_redis_freezes_fails_within_the_limit(served):
    redis_server, server, _ = served
    held = hold_a_long_poll(server)
    frozen = time.monotonic()
    redis_server.pause()  # the listener hears nothing: its health check finds out
    try:
        outcome = held.outcome()
        took = time.monotonic() - frozen
    finally:
        redis_server.resume()
    assert took < FAULT_LIMIT
    assert_unavailable(outcome)
    print(f"\nheld long-poll refused {took:.2f} s after Redis froze")


def test_a_stream_ends_with_a_disconnect_when_redis_goes_down(served):
    redis_server, server, _ = served
    client = amf_client(server)
    client.subscribe("news")
    stream = RawStream("127.0.0.1", server.port, client.client_id)
    try:
        assert stream.next_frame(5).correlationId == "open"
        client.publish("news", "before")
        assert stream.next_frame(5).body == "before"
        stopped = time.monotonic()
        redis_server.stop()
        last = None
        while (msg := stream.next_frame(FAULT_LIMIT)) is not None:
            last = msg
        assert stream.ended and time.monotonic() - stopped < FAULT_LIMIT
        assert isinstance(last, CommandMessage) and \
            last.operation == CommandMessage.DISCONNECT_OPERATION, last
    finally:
        stream.close()


def test_a_stream_on_one_process_pushes_what_another_published_at_once(served, mc_prefix):
    redis_server, server, _ = served
    other = ChannelSet(
        connection_manager=RedisConnectionManager(url=redis_server.url, key_prefix=mc_prefix,
                                                  secret="test secret"),
        subscription_manager=RedisSubscriptionManager(url=redis_server.url,
                                                      key_prefix=mc_prefix))
    client = amf_client(server)
    client.subscribe("news")
    stream = RawStream("127.0.0.1", server.port, client.client_id)
    try:
        assert stream.next_frame(5).correlationId == "open"
        for n in range(5):
            published = time.monotonic()
            other.publishObject(n, "news")
            frame = stream.next_frame(5)
            assert frame.body == n
            assert time.monotonic() - published < WAKE_LIMIT
    finally:
        stream.close()


def test_store_errors_are_store_unavailable_errors(redis_factory, mc_prefix):
    server = redis_factory()
    cm = RedisConnectionManager(url=server.url, key_prefix=mc_prefix)
    server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        cm.getConnection("some id")
    assert time.monotonic() - started < DOWN_LIMIT
