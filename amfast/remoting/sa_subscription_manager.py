"""Subscriptions and messages in a SQL database (SQLite or PostgreSQL), through SQLAlchemy 2.

Each topic has a row in ``<prefix>topics`` numbering its messages; each published
message is a row of ``<prefix>messages`` (topic, number, expiry, the pickled
message); each subscription a row of ``<prefix>subscriptions`` with its cursor,
the number of the last message it was given.  A publish locks its topic's row
while it numbers and stores the message, so a topic's messages are committed in
the order of their numbers, and a poll that moves a cursor past a number never
skips a message still being stored.  A poll locks its connection's
subscriptions, so two processes polling one connection never both deliver a
message.  Everything outlives a restart of the server: the messages a
subscriber has not received yet are delivered after it, once and in order.

PostgreSQL: a publish ``NOTIFY``s the other processes (on commit), whose listener
(started by ``start``) wakes their requests waiting for the topic's subscribers,
so held polls and streams need not look at the database again and again
(``recheck`` is False while the listener listens).  SQLite: one host, no
notifications between processes; held polls and streams look at the database
again every ``poll_interval`` of their channel (``recheck`` is True).
"""
from __future__ import annotations

import asyncio
import pickle
from typing import Any, Iterator

import sqlalchemy as sa

from amfast.remoting.errors import FlexMessageError
from amfast.remoting.pg_listener import PgListener
from amfast.remoting.sa_manager import (DEFAULT_RETRY_INTERVAL, DEFAULT_TIMEOUT, WATCHDOG,
                                        SaManager, stable_key)
from amfast.remoting.subscription_manager import ANY, Subscription, SubscriptionManager

__all__ = ["SaSubscriptionManager"]

#: The longest topic (destination) name, in characters: it is part of indexed keys.
MAX_TOPIC = 512


class SaSubscriptionManager(SaManager, SubscriptionManager):
    """Subscriptions and messages in SQL tables shared by every process that uses the same
    database and ``table_prefix``.

    AmFast's arguments come first, in AmFast's order; the others are best given by name
    (``max_messages`` as for ``MemorySubscriptionManager``; ``timeout`` and
    ``retry_interval`` as for ``SaConnectionManager``).
    """

    def __init__(self, engine: Any, metadata: sa.MetaData | None = None, secure: bool = False,
                 ttl: int = 30000, table_prefix: str = "", max_messages: int = 10000,
                 timeout: float = DEFAULT_TIMEOUT,
                 retry_interval: float = DEFAULT_RETRY_INTERVAL):
        SubscriptionManager.__init__(self, secure, ttl, max_messages)
        self._init_sa(engine, metadata, table_prefix, timeout, retry_interval)
        self.topics = self._table(
            "topics",
            sa.Column("topic", sa.Text, primary_key=True),
            sa.Column("last_seq", sa.BigInteger, nullable=False))
        self.subscriptions = self._table(
            "subscriptions",
            sa.Column("connection_id", sa.Text, primary_key=True),
            sa.Column("sub_key", sa.String(32), primary_key=True),
            sa.Column("client_id", sa.Text, nullable=False),
            sa.Column("topic", sa.Text, nullable=False, index=True),
            sa.Column("sub_topic", sa.Text),
            sa.Column("selector", sa.Text),
            sa.Column("cursor", sa.BigInteger, nullable=False))
        self.messages = self._table(
            "messages",
            sa.Column("topic", sa.Text, primary_key=True),
            sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("expires", sa.Float, nullable=False, index=True),
            sa.Column("message", sa.LargeBinary, nullable=False))
        self._listener: PgListener | None = None

    @property
    def recheck(self) -> bool:
        """Whether held polls and streams must look at the database again: always on
        SQLite, on PostgreSQL while the listener is not listening."""
        return self._listener is None or not self._listener.listening

    # -- lifecycle: the PostgreSQL listener -------------------------------------------------

    def start(self, notifier: Any) -> None:
        """Start listening for the other processes' publishes (PostgreSQL)."""
        SubscriptionManager.start(self, notifier)
        if self.dialect == "postgresql" and self._listener is None:
            self._listener = PgListener(self._listen_connection, self.notify_channel,
                                        self._heard, notifier.notifyAll, notifier.notifyAll)
            self._listener.start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    async def stopAsync(self) -> None:
        """``stop`` in a thread: the listener may take a moment to end."""
        await asyncio.to_thread(self.stop)

    def _listen_connection(self) -> Any:
        """A psycopg connection of the engine's, taken out of its pool, in autocommit."""
        raw = self.engine.raw_connection()
        raw.detach()
        connection = raw.dbapi_connection
        connection.autocommit = True
        return connection

    def _heard(self, connection: Any, payloads: list) -> None:
        """Wake this process's waiters named by the payloads: ``c:<connection id>``, ``t:<topic>``
        (its subscribers), ``*`` (everybody)."""
        notifier = self.notifier
        if "*" in payloads:
            notifier.notifyAll()
            return
        notifier.notifyMany(p[2:] for p in payloads if p.startswith("c:"))
        topics = list({p[2:] for p in payloads if p.startswith("t:")})
        if topics and notifier.waiting():
            from psycopg import sql

            query = sql.SQL("SELECT DISTINCT connection_id FROM {} WHERE topic = ANY(%s)").format(
                sql.Identifier(self.subscriptions.name))
            with WATCHDOG.watch(connection.pgconn.socket, self.timeout):
                ids = [row[0] for row in connection.execute(query, (topics,))]
            notifier.notifyMany(ids)

    # -- subscriptions --------------------------------------------------------------------

    @staticmethod
    def _check_topic(topic: str) -> None:
        if len(topic) > MAX_TOPIC:
            raise FlexMessageError(f"Destination names are limited to {MAX_TOPIC} characters.")

    def subscribe(self, connection_id: str, client_id: str, topic: str,
                  sub_topic: str | None = None, selector: str | None = None) -> None:
        self._check_topic(topic)
        # Validates the subtopic and selector before anything is stored.
        subscription = Subscription(connection_id, client_id, topic, sub_topic, selector)
        topics, subs = self.topics, self.subscriptions

        def insert(conn: sa.Connection) -> None:
            cursor = conn.execute(sa.select(topics.c.last_seq).where(
                topics.c.topic == topic)).scalar() or 0
            # Subscribing again keeps the cursor: nothing published meanwhile is lost.
            conn.execute(self._insert(subs).values(
                connection_id=connection_id, sub_key=stable_key(*subscription.key),
                client_id=client_id, topic=topic, sub_topic=subscription.sub_topic,
                selector=subscription.selector, cursor=cursor).on_conflict_do_nothing())
        self._run(insert, write=True)

    def _subscription(self, row: Any) -> Subscription:
        return Subscription(row.connection_id, row.client_id, row.topic, row.sub_topic,
                            row.selector, row.cursor)

    def unSubscribe(self, connection_id: str, client_id: str, topic: str,
                    sub_topic: Any = ANY, selector: Any = ANY) -> None:
        subs = self.subscriptions

        def remove(conn: sa.Connection) -> None:
            keys = [row.sub_key for row in conn.execute(sa.select(subs).where(
                subs.c.connection_id == connection_id, subs.c.client_id == client_id,
                subs.c.topic == topic)) if self._subscription(row).matchesRemoval(
                    client_id, topic, sub_topic, selector)]
            if keys:
                conn.execute(sa.delete(subs).where(subs.c.connection_id == connection_id,
                                                   subs.c.sub_key.in_(keys)))
        self._run(remove, write=True)

    def deleteConnection(self, connection: Any) -> None:
        subs = self.subscriptions
        self._run(lambda conn: conn.execute(sa.delete(subs).where(
            subs.c.connection_id == connection.id)), write=True)

    def iterSubscribers(self, topic: str, sub_topic: str | None = None) -> Iterator[str]:
        subs = self.subscriptions
        query = sa.select(subs.c.connection_id).where(subs.c.topic == topic).distinct()
        if sub_topic is not None:
            query = query.where(subs.c.sub_topic == sub_topic)
        return iter(self._run(lambda conn: conn.execute(query).scalars().all()))

    def iterConnectionSubscriptions(self, connection: Any) -> Iterator[Subscription]:
        subs = self.subscriptions
        rows = self._run(lambda conn: conn.execute(sa.select(subs).where(
            subs.c.connection_id == connection.id)).all())
        return iter([self._subscription(row) for row in rows])

    # -- messages ----------------------------------------------------------------------------

    def persistMessage(self, msg: Any) -> list:
        topic = msg.destination
        self._check_topic(topic)
        blob = pickle.dumps(msg, pickle.HIGHEST_PROTOCOL)
        expires = msg.timestamp + msg.timeToLive
        topics, subs, messages = self.topics, self.subscriptions, self.messages

        def store(conn: sa.Connection) -> list:
            ids = conn.execute(sa.select(subs.c.connection_id).where(
                subs.c.topic == topic).distinct()).scalars().all()
            if not ids:
                return []  # no subscriber could ever receive it
            # The topic's row stays locked until the commit: the topic's messages are
            # committed in the order of their numbers.
            insert = self._insert(topics).values(topic=topic, last_seq=1)
            seq = conn.execute(insert.on_conflict_do_update(
                index_elements=[topics.c.topic], set_={"last_seq": topics.c.last_seq + 1})
                .returning(topics.c.last_seq)).scalar_one()
            conn.execute(sa.insert(messages).values(topic=topic, seq=seq, expires=expires,
                                                    message=blob))
            if seq > self.max_messages:  # the oldest beyond max_messages go
                conn.execute(sa.delete(messages).where(
                    messages.c.topic == topic, messages.c.seq <= seq - self.max_messages))
            self._notify(conn, "t:" + topic)
            return ids
        return self._run(store, write=True)

    def collectMessages(self, connection_id: str) -> list:
        subs, messages = self.subscriptions, self.messages
        # Held polls and streams look often: a read finds whether anything is new, and only
        # then are the subscriptions locked (on SQLite, the one write lock is taken).
        new = sa.select(sa.literal(1)).select_from(subs.join(messages, sa.and_(
            messages.c.topic == subs.c.topic, messages.c.seq > subs.c.cursor))).where(
            subs.c.connection_id == connection_id).limit(1)
        if self.dialect == "postgresql":
            return self._run(lambda conn: [] if conn.execute(new).first() is None
                             else self._collect(conn, connection_id))
        if self._run(lambda conn: conn.execute(new).first()) is None:
            return []
        return self._run(lambda conn: self._collect(conn, connection_id), write=True)

    def _collect(self, conn: sa.Connection, connection_id: str) -> list:
        subs, messages = self.subscriptions, self.messages
        rows = conn.execute(sa.select(subs).where(subs.c.connection_id == connection_id)
                            .order_by(subs.c.topic, subs.c.sub_key).with_for_update()).all()
        if not rows:
            return []
        after: dict = {}
        for row in rows:
            after[row.topic] = min(row.cursor, after.get(row.topic, row.cursor))
        entries: dict = {topic: [] for topic in after}
        for topic, seq, expires, blob in conn.execute(
                sa.select(messages.c.topic, messages.c.seq, messages.c.expires,
                          messages.c.message)
                .where(sa.or_(*(sa.and_(messages.c.topic == topic, messages.c.seq > cursor)
                                for topic, cursor in after.items())))
                .order_by(messages.c.topic, messages.c.seq)):
            entries[topic].append((seq, expires, blob))
        now = self.now()
        loaded: dict = {}
        found = []
        # A Consumer gets a message once even when several of its subscriptions accept it.
        delivered = set()
        moved = []
        for row in rows:
            subscription = self._subscription(row)
            log = entries[row.topic]
            for seq, expires, blob in log:
                if seq <= row.cursor or expires <= now:
                    continue
                msg = loaded.get((row.topic, seq))
                if msg is None:
                    msg = loaded[(row.topic, seq)] = pickle.loads(blob)
                once = (row.client_id, row.topic, seq)
                if once not in delivered and subscription.accepts(msg):
                    delivered.add(once)
                    found.append((row.client_id, msg))
            if log and log[-1][0] > row.cursor:
                moved.append({"k": row.sub_key, "c": log[-1][0]})
        if moved:
            conn.execute(sa.update(subs).where(
                subs.c.connection_id == connection_id,
                subs.c.sub_key == sa.bindparam("k")).values(cursor=sa.bindparam("c")), moved)
        return found

    def deleteExpiredMessages(self, now: float | None = None) -> None:
        now = self.now() if now is None else now
        messages = self.messages
        self._run(lambda conn: conn.execute(sa.delete(messages).where(
            messages.c.expires <= now)), write=True)

    def reset(self) -> None:
        def delete(conn: sa.Connection) -> None:
            for table in (self.messages, self.subscriptions, self.topics):
                conn.execute(sa.delete(table))
        self._run(delete, write=True)
