"""Subscriptions and messages in memcached, shared by every process and host that uses it.

Each topic has a counter (``incr``) numbering its messages; each message is
its own item, expiring with its TTL (so no item grows with the traffic).
Each connection's subscriptions are one item holding, per subscription, the
number of the last message it received; a poll reads the messages after it
and moves it with ``cas``, so two processes polling the same connection never
both deliver a message.  A number whose item is not there yet (its publisher
is between numbering and storing it) is waited for, up to ``STORE_GRACE_MS``,
before it counts as expired.  A topic's subscribers are a set split in shards.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from amfast.remoting.memcache_manager import CAS_ATTEMPTS, MemcacheManager, lifetime
from amfast.remoting.subscription_manager import ANY, Subscription, SubscriptionManager

__all__ = ["MemcacheSubscriptionManager"]

TOPIC_SHARDS = 16
#: How long a numbered message may take to appear before it is given up for lost.
STORE_GRACE_MS = 5000


class MemcacheSubscriptionManager(MemcacheManager, SubscriptionManager):
    """Subscriptions and messages in memcached (default server 127.0.0.1:11211).

    AmFast's arguments come first, in AmFast's order; the others are best given by name.
    """

    def __init__(self, secure: bool = False, ttl: int = 30000,
                 mc_servers: Iterable[str] | None = None, mc_debug: int = 0,
                 max_messages: int = 10000, key_prefix: str = "amfast",
                 socket_timeout: float = 1.0, dead_retry: float = 1.0):
        SubscriptionManager.__init__(self, secure, ttl, max_messages)
        self._init_memcache(mc_servers, mc_debug, key_prefix, socket_timeout, dead_retry)

    # -- keys ---------------------------------------------------------------------

    def _subs_key(self, connection_id: str) -> str:
        return self.mc_key("subs", connection_id)

    def _topic_shard(self, topic: str, connection_id: str) -> str:
        return self.mc_shard("topic-subs", topic, connection_id, TOPIC_SHARDS)

    def _seq_key(self, topic: str) -> str:
        return self.mc_key("seq", topic)

    def _msg_key(self, topic: str, seq: int) -> str:
        return self.mc_key("msg", topic, seq)

    def _topics_key(self) -> str:
        return self.mc_key("topics")

    def _subscribers(self, topic: str) -> list:
        shards = self.mc_get_multi(self.mc_shards("topic-subs", topic, TOPIC_SHARDS))
        return [i for members in shards.values() for i in members]

    # -- subscriptions --------------------------------------------------------------
    # A stored subscription is (client_id, topic, sub_topic, selector, cursor, pending):
    # pending maps message numbers not stored yet to when they were first missed.

    def subscribe(self, connection_id: str, client_id: str, topic: str,
                  sub_topic: str | None = None, selector: str | None = None) -> None:
        # Validates the subtopic and selector before anything is stored.
        subscription = Subscription(connection_id, client_id, topic, sub_topic, selector,
                                    int(self.mc.get(self._seq_key(topic)) or 0))
        record = (subscription.client_id, subscription.topic, subscription.sub_topic,
                  subscription.selector, subscription.cursor, {})
        self.mc_update(self._subs_key(connection_id),
                       lambda subs: {subscription.key: record, **subs}, default={})
        self.mc_set_add(self._topic_shard(topic, connection_id), connection_id)
        self.mc_set_add(self._topics_key(), topic)

    @staticmethod
    def _subscription(connection_id: str, record: tuple) -> Subscription:
        return Subscription(connection_id, *record[:5])

    def unSubscribe(self, connection_id: str, client_id: str, topic: str,
                    sub_topic: Any = ANY, selector: Any = ANY) -> None:
        def remove(subs: dict) -> dict:
            return {key: record for key, record in subs.items()
                    if not self._subscription(connection_id, record).matchesRemoval(
                        client_id, topic, sub_topic, selector)}
        left = self.mc_update(self._subs_key(connection_id), remove)
        if left is not None and not any(key[1] == topic for key in left):
            self.mc_set_discard(self._topic_shard(topic, connection_id), connection_id)

    def deleteConnection(self, connection: Any) -> None:
        subs = self.mc_get(self._subs_key(connection.id)) or {}
        self.mc_delete(self._subs_key(connection.id))
        for topic in {key[1] for key in subs}:
            self.mc_set_discard(self._topic_shard(topic, connection.id), connection.id)

    def iterSubscribers(self, topic: str, sub_topic: str | None = None) -> Iterator[str]:
        ids = self._subscribers(topic)
        if sub_topic is not None:
            records = self.mc_get_multi([self._subs_key(i) for i in ids])
            ids = [i for i in ids if any(
                key[1] == topic and key[2] == sub_topic
                for key in records.get(self._subs_key(i), {}))]
        return iter(ids)

    def iterConnectionSubscriptions(self, connection: Any) -> Iterator[Subscription]:
        subs = self.mc_get(self._subs_key(connection.id)) or {}
        return iter([self._subscription(connection.id, r) for r in subs.values()])

    # -- messages ---------------------------------------------------------------------

    def persistMessage(self, msg: Any) -> list:
        seq = self.mc_incr(self._seq_key(msg.destination))
        expires = msg.timestamp + msg.timeToLive
        self.mc_set(self._msg_key(msg.destination, seq), (expires, msg),
                    lifetime(msg.timeToLive + 1000))
        return self._subscribers(msg.destination)

    def collectMessages(self, connection_id: str) -> list:
        key = self._subs_key(connection_id)
        for _ in range(CAS_ATTEMPTS):
            subs = self.mc.gets(key)
            if not subs:
                if subs is None:
                    self.mc_check()
                return []
            found, moved = self._collect(connection_id, subs)
            if moved == subs or self.mc.cas(key, moved):
                return found
        # Other polls of this connection kept winning: they delivered the messages.
        return []

    def _collect(self, connection_id: str, subs: dict) -> tuple:
        """The messages due to the subscriptions, and the subscriptions moved past them."""
        now = self.now()
        found = []
        delivered = set()
        moved = {}
        seqs = self.mc_get_multi([self._seq_key(k[1]) for k in subs])
        for sub_key, record in subs.items():
            subscription = self._subscription(connection_id, record)
            topic, cursor, pending = subscription.topic, record[4], dict(record[5])
            last = int(seqs.get(self._seq_key(topic)) or 0)
            # Past max_messages behind, the oldest are skipped (the overflow policy).
            first = max(cursor + 1, last - self.max_messages + 1)
            numbers = sorted(set(pending) | set(range(first, last + 1)))
            entries = self.mc_get_multi([self._msg_key(topic, n) for n in numbers])
            for n in numbers:
                entry = entries.get(self._msg_key(topic, n))
                if entry is None:
                    since = pending.get(n, now)
                    if now - since < STORE_GRACE_MS:
                        pending[n] = since
                    else:
                        pending.pop(n, None)
                    continue
                pending.pop(n, None)
                once = (subscription.client_id, topic, n)
                if entry[0] > now and once not in delivered and subscription.accepts(entry[1]):
                    delivered.add(once)
                    found.append((subscription.client_id, entry[1]))
            moved[sub_key] = record[:4] + (max(last, cursor), pending)
        return found, moved

    def deleteExpiredMessages(self, now: float | None = None) -> None:
        """Messages expire in memcached by themselves; drop subscribers that are gone."""
        for topic in self.mc_get(self._topics_key()) or ():
            ids = self._subscribers(topic)
            records = self.mc_get_multi([self._subs_key(i) for i in ids])
            for connection_id in ids:
                if self._subs_key(connection_id) not in records:
                    self.mc_set_discard(self._topic_shard(topic, connection_id), connection_id)

    def reset(self) -> None:
        for topic in self.mc_get(self._topics_key()) or ():
            for connection_id in self._subscribers(topic):
                self.mc_delete(self._subs_key(connection_id))
            for shard in self.mc_shards("topic-subs", topic, TOPIC_SHARDS):
                self.mc_delete(shard)
            self.mc_delete(self._seq_key(topic))
        self.mc_delete(self._topics_key())
