"""The SQL connection and subscription managers on SQLite and on a real PostgreSQL.

Managers made with their own engine stand for the processes of one application (same
database, same ``table_prefix``); each test has a prefix of its own (``sql_prefix``) on the
session's PostgreSQL cluster, or a new SQLite file.  Tests that stop or freeze PostgreSQL run
a private cluster (``postgresql_factory``).  What the manager conformance suite checks
(test_manager_conformance.py) is not repeated here: here are AmFast's arguments, the tables,
what a restart keeps, the PostgreSQL listener (LISTEN/NOTIFY), faults, and HTTP under every
server kind (WSGI and ASGI).  Every wait is bounded.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

sa = pytest.importorskip("sqlalchemy")

from amfast.remoting.channel import Channel  # noqa: E402
from amfast.remoting.client import RemotingService  # noqa: E402
from amfast.remoting.connection import Connection, SessionAttrError  # noqa: E402
from amfast.remoting.errors import (FlexMessageError, NotConnectedError,  # noqa: E402
                                    StoreUnavailableError)
from amfast.remoting.flex_messages import AsyncMessage, CommandMessage  # noqa: E402
from amfast.remoting.notifier import ThreadWaiter  # noqa: E402
from amfast.remoting.sa_connection_manager import SaConnectionManager  # noqa: E402
from amfast.remoting.sa_manager import make_engine  # noqa: E402
from amfast.remoting.sa_subscription_manager import SaSubscriptionManager  # noqa: E402
from tests.remoting.conftest import build_messaging_channel_set  # noqa: E402
from tests.remoting.test_memcache_managers import (HeldPoll, assert_unavailable,  # noqa: E402
                                                   attempt, until_available)
from tests.support.net import free_port, wait_for_port  # noqa: E402
from tests.support.streams import RawStream  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

CHANNEL = Channel("amf")
#: The longest an operation may take to fail while PostgreSQL is down (s).
DOWN_LIMIT = 1.0
#: ... while it is frozen: the operation timeout (1 s here) or a new connection's (2 s).
FAULT_LIMIT = 3.0
#: How long a notification from another process may take to wake a waiter (s).
WAKE_LIMIT = 0.5
#: The HTTP client's own timeout (s): a hang fails the test instead of blocking it.
TIMEOUT = 8.0


class SqlStore:
    """One database and table prefix; ``make()`` is one more process of the application."""

    def __init__(self, url: str, prefix: str):
        self.url, self.prefix = url, prefix
        self.made: list = []

    def make(self, secret: Any = None, connection_params: dict | None = None,
             timeout: float = 1.0, **options: Any) -> tuple:
        engine = make_engine(self.url, timeout)
        pair = (SaConnectionManager(engine, connection_params=connection_params,
                                    table_prefix=self.prefix, secret=secret, timeout=timeout),
                SaSubscriptionManager(engine, table_prefix=self.prefix, timeout=timeout,
                                      **options))
        self.made.append(pair)
        return pair

    def close(self) -> None:
        for _, sm in self.made:
            sm.stop()
            sm.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, sql_prefix):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgresql")
    made = SqlStore(url if isinstance(url, str) else url.url, sql_prefix)
    yield made
    made.close()


@pytest.fixture
def pg_store(postgresql, sql_prefix):
    made = SqlStore(postgresql.url, sql_prefix)
    yield made
    made.close()


@pytest.fixture
def private_pg(postgresql_factory, sql_prefix):
    """``(PostgresProcess, SqlStore)`` on a cluster of the test's own."""
    server = postgresql_factory()
    made = SqlStore(server.url, sql_prefix)
    yield server, made
    made.close()


def message(topic: str, body: Any, **headers: Any) -> AsyncMessage:
    return AsyncMessage(body=body, destination=topic, headers=headers)


def bodies(polled: list) -> list:
    return [m.body for m in polled]


# -- AmFast's arguments, the tables -------------------------------------------------------------


def test_the_managers_take_amfasts_arguments_in_amfasts_order(sqlite_url):
    class Tracked(Connection):
        pass

    engine = sa.create_engine(sqlite_url)
    metadata = sa.MetaData()
    try:
        # SaConnectionManager(engine, metadata, connection_class, connection_params, table_prefix)
        cm = SaConnectionManager(engine, metadata, Tracked, {"timeout": 1234}, "app")
        # SaSubscriptionManager(engine, metadata, secure, ttl, table_prefix)
        sm = SaSubscriptionManager(engine, metadata, True, 5000, "app")
        assert (sm.secure, sm.ttl, sm.table_prefix, cm.table_prefix) == (True, 5000, "app_",
                                                                         "app_")
        assert cm.engine is engine is sm.engine and cm.metadata is metadata is sm.metadata
        connection = cm.createConnection(CHANNEL)
        assert isinstance(connection, Tracked) and connection.timeout == 1234
        sm.subscribe(connection.id, "consumer", "news")
        sm.publishMessage(message("news", "via positional arguments"))
        assert bodies(sm.pollConnection(connection)) == ["via positional arguments"]
        assert sorted(metadata.tables) == ["app_connections", "app_messages",
                                           "app_session_attrs", "app_settings",
                                           "app_subscriptions", "app_topics"]
    finally:
        engine.dispose()


def test_tables_are_created_on_first_use_with_the_documented_columns(store):
    cm, sm = store.make()
    engine = cm.engine
    assert not [name for name in sa.inspect(engine).get_table_names()
                if name.startswith(store.prefix)]  # nothing before the first use
    cm.createConnection(CHANNEL)
    sm.subscribe("conn", "consumer", "news")
    inspector = sa.inspect(engine)
    columns = {name[len(store.prefix):]: [c["name"] for c in inspector.get_columns(name)]
               for name in inspector.get_table_names() if name.startswith(store.prefix)}
    assert columns == {
        "connections": ["id", "channel_name", "timeout", "connected", "last_active",
                        "last_polled", "authenticated", "flex_user", "small_messages"],
        "session_attrs": ["connection_id", "name", "value"],
        "settings": ["name", "value"],
        "topics": ["topic", "last_seq"],
        "subscriptions": ["connection_id", "sub_key", "client_id", "topic", "sub_topic",
                          "selector", "cursor"],
        "messages": ["topic", "seq", "expires", "message"]}
    # Another process finds them there.
    cm_b, sm_b = store.make()
    assert list(sm_b.iterSubscribers("news")) == ["conn"]


def test_a_destination_name_too_long_for_the_tables_is_refused_cleanly(store):
    _, sm = store.make()
    with pytest.raises(FlexMessageError, match="512 characters"):
        sm.subscribe("conn", "consumer", "n" * 513)
    with pytest.raises(FlexMessageError):
        sm.publishMessage(message("n" * 513, "x"))
    sm.subscribe("conn", "consumer", "n" * 512)
    sm.publishMessage(message("n" * 512, "fits"))
    assert [m.body for _, m in sm.collectMessages("conn")] == ["fits"]


# -- what a restart keeps -------------------------------------------------------------------------


def test_a_restart_keeps_connections_sessions_logins_subscriptions_and_undelivered_messages(
        store):
    cm, sm = store.make()  # no secret given: a random one, kept in the database
    connection = cm.createConnection(CHANNEL)
    connection.setSessionAttr("nick", "ann")
    connection.setSessionAttr("prefs", {"colour": "blue", "sizes": [1, 2]})
    connection.authenticate("ann")
    connection.useSmallMessages()
    sm.subscribe(connection.id, "plain", "news")
    sm.subscribe(connection.id, "sport", "news", "sport.*", "priority > 2")
    for n in range(3):
        sm.publishMessage(message("news", n))
    assert bodies(sm.pollConnection(connection)) == [0, 1, 2]
    sm.publishMessage(message("news", 3))
    sm.publishMessage(message("news", "goal", DSSubtopic="sport.football", priority=5))
    sm.publishMessage(message("news", 4))
    sm.stop()
    cm.engine.dispose()  # the server stops

    cm, sm = store.make()  # and starts again
    assert cm.verifyId(connection.id)
    again = cm.getConnection(connection.id)
    assert (again.channel_name, again.timeout, again.connected) == ("amf", 1800000, True)
    assert (again.authenticated, again.flex_user, again.small_messages) == (True, "ann", True)
    assert again.getSessionAttr("nick") == "ann"
    assert again.getSessionAttr("prefs") == {"colour": "blue", "sizes": [1, 2]}
    assert sorted((s.client_id, s.sub_topic, s.selector)
                  for s in sm.iterConnectionSubscriptions(again)) == [
        ("plain", None, None), ("sport", "sport.*", "priority > 2")]
    polled = sm.pollConnection(again)
    assert [(m.clientId, m.body) for m in polled if m.clientId == "plain"] == [
        ("plain", 3), ("plain", 4)]
    assert [(m.clientId, m.body) for m in polled if m.clientId == "sport"] == [
        ("sport", "goal")]
    assert all(type(m).__name__ == "AsyncMessageExt" for m in polled)
    assert sm.pollConnection(again) == []
    assert cm.getConnectionCount("amf") == 1


def test_processes_share_state_and_a_given_secret(store):
    cm_a, sm_a = store.make(secret="shared")
    cm_b, sm_b = store.make(secret="shared")
    connection = cm_a.createConnection(CHANNEL)
    assert cm_b.verifyId(connection.id)
    cm_b.getConnection(connection.id).setSessionAttr("k", [1, "x"])
    assert connection.getSessionAttr("k") == [1, "x"]
    sm_a.subscribe(connection.id, "consumer", "news")
    for n in range(5):
        (sm_a if n % 2 else sm_b).publishMessage(message("news", n))
    assert [m.body for _, m in sm_b.collectMessages(connection.id)] == list(range(5))
    assert sm_a.collectMessages(connection.id) == []
    cm_b.deleteConnection(cm_b.getConnection(connection.id))
    with pytest.raises(NotConnectedError):
        cm_a.getConnection(connection.id)
    with pytest.raises(NotConnectedError):
        connection.setSessionAttr("k", 2)


def test_without_a_secret_every_process_uses_the_one_in_the_database(store):
    cm_a, _ = store.make()
    cm_b, _ = store.make()
    assert cm_b.verifyId(cm_a.generateId()) and cm_a.verifyId(cm_b.generateId())
    stranger = SqlStore(store.url, store.prefix + "other_")
    try:
        other, _ = stranger.make()
        assert not other.verifyId(cm_a.generateId())
    finally:
        stranger.close()


# -- the PostgreSQL listener ----------------------------------------------------------------------


def test_sqlite_held_requests_recheck_and_postgresql_ones_wait_for_notifications(store):
    cm, sm = store.make()
    assert sm.blocking and cm.blocking
    assert sm.recheck  # not started: nothing would wake a waiter for other processes
    sm.start(cm.notifier)
    try:
        if store.url.startswith("sqlite"):
            assert sm.recheck
        else:
            assert wait_until(lambda: not sm.recheck), "the listener does not listen"
    finally:
        sm.stop()
    assert sm.recheck


def test_an_asgi_lifespan_starts_and_stops_the_listener(pg_store):
    import asyncio

    cm, sm = pg_store.make()

    async def lifespan() -> bool:
        await sm.startAsync(cm.notifier)
        deadline = time.monotonic() + 5
        while sm.recheck and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        listening = not sm.recheck
        await sm.stopAsync()
        return listening

    assert asyncio.run(lifespan())
    assert sm.recheck


def held(cm: SaConnectionManager, connection_id: str) -> tuple:
    """A ThreadWaiter registered for the connection in ``cm``'s process, and an Event set
    when it is woken (watched by a thread, for up to 10 s)."""
    waiter = ThreadWaiter()
    woken = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not woken.is_set():
            if waiter._event.is_set():
                woken.set()
            time.sleep(0.002)

    cm.notifier.add(connection_id, waiter)
    threading.Thread(target=watch, daemon=True).start()
    return waiter, woken


def test_a_publish_in_one_process_wakes_the_subscribers_waiting_in_another(pg_store):
    cm_a, sm_a = pg_store.make()
    cm_b, sm_b = pg_store.make()
    sm_b.start(cm_b.notifier)
    assert wait_until(lambda: not sm_b.recheck)
    subscriber = cm_a.createConnection(CHANNEL)
    bystander = cm_a.createConnection(CHANNEL)
    sm_a.subscribe(subscriber.id, "consumer", "news")
    sm_a.subscribe(bystander.id, "consumer", "weather")
    _, woken = held(cm_b, subscriber.id)
    _, not_woken = held(cm_b, bystander.id)
    published = time.monotonic()
    sm_a.publishMessage(message("news", "wake up"))
    assert woken.wait(WAKE_LIMIT * 4), "the waiter in the other process was not woken"
    assert time.monotonic() - published < WAKE_LIMIT
    assert not not_woken.is_set()
    assert [m.body for _, m in sm_b.collectMessages(subscriber.id)] == ["wake up"]
    # A disconnect in A ends what waits for the connection in B.
    _, gone = held(cm_b, bystander.id)
    cm_a.deleteConnection(bystander)
    assert gone.wait(WAKE_LIMIT * 4)


def test_the_listener_listens_again_after_postgresql_restarts(private_pg):
    server, made = private_pg
    cm_a, sm_a = made.make()
    cm_b, sm_b = made.make()
    sm_b.start(cm_b.notifier)
    assert wait_until(lambda: not sm_b.recheck)
    sm_a.subscribe("conn", "consumer", "news")
    _, woken = held(cm_b, "conn")
    server.stop()
    # The waiters wake to find the database gone, and held requests look again and again.
    assert woken.wait(5), "losing the listener woke nobody"
    assert sm_b.recheck
    server.start()
    assert wait_until(lambda: not sm_b.recheck, 10), "the listener did not come back"
    _, woken = held(cm_b, "conn")
    until = time.monotonic() + 5
    while True:  # the first use of a pooled connection from before the restart may fail
        try:
            sm_a.publishMessage(message("news", "after the restart"))
            break
        except StoreUnavailableError:
            assert time.monotonic() < until
            time.sleep(0.1)
    assert woken.wait(WAKE_LIMIT * 4)
    assert [m.body for _, m in sm_b.collectMessages("conn")] == ["after the restart"]


# -- faults ---------------------------------------------------------------------------------------


def test_while_postgresql_is_down_operations_fail_fast_and_resume_with_nothing_lost(private_pg):
    server, made = private_pg
    cm, sm = made.make()
    connection = cm.createConnection(CHANNEL)
    connection.setSessionAttr("nick", "ann")
    sm.subscribe(connection.id, "consumer", "news")
    sm.publishMessage(message("news", "before"))
    server.stop()
    for action in (lambda: cm.getConnection(connection.id),
                   lambda: connection.setSessionAttr("nick", "bob"),
                   lambda: sm.publishMessage(message("news", "lost")),
                   lambda: sm.collectMessages(connection.id),
                   lambda: cm.createConnection(CHANNEL)):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as failed:
            action()
        assert time.monotonic() - started < DOWN_LIMIT
        assert str(failed.value) == "the SQL database is unreachable"  # no SQL, no address
    server.start()
    deadline = time.monotonic() + 5
    while True:
        try:
            again = cm.getConnection(connection.id)
            break
        except StoreUnavailableError:
            assert time.monotonic() < deadline, "service did not resume"
            time.sleep(0.1)
    assert again.getSessionAttr("nick") == "ann"
    assert [m.body for _, m in sm.collectMessages(connection.id)] == ["before"]


def test_while_postgresql_is_frozen_operations_fail_within_the_limit_and_resume(private_pg):
    server, made = private_pg
    cm, sm = made.make()
    connection = cm.createConnection(CHANNEL)
    sm.subscribe(connection.id, "consumer", "news")
    server.pause()
    try:
        slow = 0
        for action in (lambda: cm.getConnection(connection.id),
                       lambda: sm.publishMessage(message("news", "frozen")),
                       lambda: sm.collectMessages(connection.id),
                       lambda: cm.getConnection(connection.id)):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                action()
            took = time.monotonic() - started
            assert took < FAULT_LIMIT, took
            slow += took >= 0.5
        # The process refuses the frozen server at once for retry_interval (1 s) after a
        # timeout: not every operation waits.
        assert slow <= 3
    finally:
        server.resume()
    deadline = time.monotonic() + 5
    while True:
        try:
            sm.publishMessage(message("news", "thawed"))
            break
        except StoreUnavailableError:
            assert time.monotonic() < deadline, "service did not resume"
            time.sleep(0.1)
    assert [m.body for _, m in sm.collectMessages(connection.id)] == ["thawed"]


# -- over HTTP, under every server kind (WSGI and ASGI) ------------------------------------------


def serve_sql(serve_app, transport, made: SqlStore, **options: Any):
    """The messaging channel set of tests/remoting/conftest.py on the SQL managers."""
    cm, sm = made.make(secret="http secret")
    channel_set = build_messaging_channel_set(transport=transport, connection_manager=cm,
                                              subscription_manager=sm, **options)
    return serve_app(channel_set), channel_set


def amf_client(server, channel: str = "/amf", client_id: str | None = None) -> RemotingService:
    client = RemotingService(server.url(channel), timeout=TIMEOUT)
    client.client_id = client_id
    return client


def test_messaging_over_http_survives_a_server_restart(serve_app, transport, store):
    server, _ = serve_sql(serve_app, transport, store, long_wait=5000)
    client = amf_client(server)
    client.login("correct", "correct")
    client.remote_call("svc", "remember", "nick", "ann")
    consumer = client.subscribe("news")
    client.publish("news", "one")
    assert bodies(client.poll()) == ["one"]
    # A long-poll held by this process wakes at once for a publish made in it.
    long_poll = amf_client(server, "/longpoll", client.client_id)
    result: list = []
    waiter = threading.Thread(target=lambda: result.append(long_poll.poll()), daemon=True)
    waiter.start()
    time.sleep(0.3)
    published = time.monotonic()
    client.publish("news", "two")
    waiter.join(TIMEOUT)
    assert bodies(result[0]) == ["two"] and time.monotonic() - published < 1.0
    client.publish("news", "three")  # not polled before the restart
    server.stop()

    server, _ = serve_sql(serve_app, transport, store)  # a new process on the same database
    again = amf_client(server, client_id=client.client_id)
    assert again.remote_call("svc", "secret") == "secret value"  # still logged in
    assert again.remote_call("svc", "whoami")["session"] == {"nick": "ann"}
    polled = again.poll()
    assert bodies(polled) == ["three"] and {m.clientId for m in polled} == {consumer}
    stream = RawStream("127.0.0.1", server.port, client.client_id)
    try:
        opened = stream.next_frame(5)
        assert opened is not None and opened.correlationId == "open", opened
        again.publish("news", "pushed")
        assert stream.next_frame(5).body == "pushed"
    finally:
        stream.close()


def test_over_http_a_stopped_postgresql_is_a_fault_or_503_and_service_resumes_with_state(
        serve_app, transport, private_pg):
    pg, made = private_pg
    server, _ = serve_sql(serve_app, transport, made, long_wait=5000)
    client = amf_client(server)
    client.subscribe("news")
    client.login("correct", "correct")
    client.remote_call("svc", "remember", "nick", "ann")
    pg.stop()
    for action in (client.ping, client.poll, lambda: client.publish("news", "lost"),
                   lambda: client.remote_call("svc", "whoami"),
                   lambda: amf_client(server).ping()):
        assert_unavailable(attempt(action, DOWN_LIMIT + 1))
    pg.start()
    # Unlike memcached, PostgreSQL kept everything: login, session, subscription.
    assert until_available(lambda: client.remote_call("svc", "secret")) == "secret value"
    assert until_available(lambda: client.remote_call("svc", "whoami"))["session"] == {
        "nick": "ann"}
    until_available(lambda: client.publish("news", "after"))
    assert bodies(until_available(client.poll)) == ["after"]


def test_over_http_a_frozen_postgresql_fails_requests_within_the_limit(
        serve_app, transport, private_pg):
    pg, made = private_pg
    server, _ = serve_sql(serve_app, transport, made, long_wait=5000)
    client = amf_client(server)
    client.subscribe("news")
    pg.pause()
    try:
        for action in (client.ping, client.poll, lambda: client.publish("news", "frozen")):
            assert_unavailable(attempt(action, FAULT_LIMIT + 1))
    finally:
        pg.resume()
    until_available(lambda: client.publish("news", "thawed"))
    assert bodies(until_available(client.poll)) == ["thawed"]


def test_a_long_poll_and_a_stream_held_when_postgresql_goes_down_end_within_the_limit(
        serve_app, transport, private_pg):
    pg, made = private_pg
    server, _ = serve_sql(serve_app, transport, made, long_wait=5000)
    client = amf_client(server)
    client.subscribe("news")
    streamer = amf_client(server)
    streamer.subscribe("news")
    stream = RawStream("127.0.0.1", server.port, streamer.client_id)
    long_poll = amf_client(server, "/longpoll", client.client_id)
    try:
        assert stream.next_frame(5).correlationId == "open"
        held = HeldPoll(long_poll)
        stopped = time.monotonic()
        pg.stop()
        outcome = held.outcome()
        assert time.monotonic() - stopped < FAULT_LIMIT
        assert_unavailable(outcome)
        last = None
        while (frame := stream.next_frame(FAULT_LIMIT)) is not None:
            last = frame
        assert isinstance(last, CommandMessage) and \
            last.operation == CommandMessage.DISCONNECT_OPERATION, last
        assert time.monotonic() - stopped < FAULT_LIMIT + 1
    finally:
        stream.close()


def test_session_errors_are_the_managers_own(store):
    cm, _ = store.make()
    connection = cm.createConnection(CHANNEL)
    with pytest.raises(SessionAttrError):
        connection.delSessionAttr("missing")
    connection.setSessionAttr("kept", 1)
    with pytest.raises(SessionAttrError):
        connection.getSessionAttr("missing")
    assert connection.getSessionAttr("kept") == 1


# -- two server processes on one PostgreSQL -------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """tests/remoting/sa_server.py in a process of its own (output to a file)."""

    def __init__(self, url: str, prefix: str, secret: str, server: str):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        # Held requests look at the database again only every 30 s: a quick wake-up can
        # only come from a notification.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.remoting.sa_server", "--url", url, "--prefix", prefix,
             "--secret", secret, "--port", str(self.port), "--server", server,
             "--wait", "5000", "--poll-interval", "30000"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

    def url(self, channel: str = "/amf") -> str:
        return f"http://127.0.0.1:{self.port}{channel}"

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def two_servers(postgresql):
    """A (the development server, WSGI) and B (uvicorn, ASGI) sharing the session's
    PostgreSQL: one table prefix, one secret."""
    pytest.importorskip("uvicorn")
    prefix, secret = f"mp{uuid.uuid4().hex[:10]}_", uuid.uuid4().hex
    servers = [ServerProcess(postgresql.url, prefix, secret, kind)
               for kind in ("wsgiref", "uvicorn")]
    try:
        for server in servers:
            wait_for_port(server.port, timeout=20)
        for server in servers:  # each has started its listener by the first answer
            RemotingService(server.url(), timeout=TIMEOUT).ping()
        yield servers
    finally:
        for server in servers:
            server.stop()


def held_poll(server, client_id: str) -> tuple:
    """A long-poll of the connection on ``server`` in a thread: (thread, [(messages, when)])."""
    result: list = []
    long_poll = RemotingService(server.url("/longpoll"), timeout=TIMEOUT)
    long_poll.client_id = client_id

    def run() -> None:
        try:
            result.append((long_poll.poll(), time.monotonic()))
        except Exception as exc:  # reported by the caller's assertions
            result.append((exc, time.monotonic()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.mark.parametrize("direction", ["a-to-b", "b-to-a"])
def test_a_publish_on_one_process_wakes_a_long_poll_on_the_other_quickly(two_servers, direction):
    publisher, waiter = two_servers if direction == "a-to-b" else two_servers[::-1]
    consumer = RemotingService(waiter.url(), timeout=TIMEOUT)
    topic = f"chat-{uuid.uuid4().hex[:8]}"
    consumer.subscribe(topic)
    thread, result = held_poll(waiter, consumer.client_id)
    time.sleep(0.5)  # held by now
    assert not result, result
    published = time.monotonic()
    RemotingService(publisher.url(), timeout=TIMEOUT).publish(topic, "wake up")
    thread.join(TIMEOUT)
    assert result, "the long-poll did not return"
    messages, returned = result[0]
    assert not isinstance(messages, Exception), messages
    assert bodies(messages) == ["wake up"]
    assert returned - published < WAKE_LIMIT, returned - published


def test_a_stream_on_one_process_pushes_what_the_other_published(two_servers):
    a, b = two_servers
    consumer = RemotingService(b.url(), timeout=TIMEOUT)
    topic = f"chat-{uuid.uuid4().hex[:8]}"
    consumer.subscribe(topic)
    stream = RawStream("127.0.0.1", b.port, consumer.client_id)
    try:
        assert stream.next_frame(5).correlationId == "open"
        published = time.monotonic()
        RemotingService(a.url(), timeout=TIMEOUT).publish(topic, "pushed")
        assert stream.next_frame(5).body == "pushed"
        assert time.monotonic() - published < WAKE_LIMIT
    finally:
        stream.close()


def test_a_login_and_a_disconnect_through_one_process_hold_in_the_other(two_servers):
    a, b = two_servers
    via_a = RemotingService(a.url(), timeout=TIMEOUT)
    via_a.login("correct", "correct")
    via_b = RemotingService(b.url(), timeout=TIMEOUT)
    via_b.client_id = via_a.client_id
    assert via_b.remote_call("svc", "secret") == "secret value"
    topic = f"chat-{uuid.uuid4().hex[:8]}"
    via_a.subscribe(topic)
    thread, result = held_poll(b, via_a.client_id)
    time.sleep(0.5)
    disconnected = time.monotonic()
    via_a.disconnect()  # the long-poll held by B ends at once
    thread.join(TIMEOUT)
    assert result and result[0][1] - disconnected < WAKE_LIMIT * 2, result


def test_neither_process_wrote_a_traceback(two_servers):
    for server in two_servers:
        assert "Traceback" not in server.output(), server.output()[-3000:]
        assert server.proc.poll() is None, server.output()[-3000:]
