"""Subscriptions and messages in memcached, shared by every process and host that uses it.

Each topic has a counter (``incr``) numbering its messages; each message is
its own item, expiring with its TTL (so no item grows and none passes
memcached's 1 MB limit because of the others).  Each connection's
subscriptions are one item holding, per subscription, the number of the last
message it received; a poll reads the messages after it and moves it with
``cas``, so two processes polling the same connection never both deliver a
message.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

from amfast.remoting.errors import StoreUnavailableError
from amfast.remoting.memcache_manager import CAS_ATTEMPTS, MemcacheManager
from amfast.remoting.subscription_manager import ANY, Subscription, SubscriptionManager

__all__ = ["MemcacheSubscriptionManager"]


class MemcacheSubscriptionManager(MemcacheManager, SubscriptionManager):
    """Subscriptions and messages in memcached (default server 127.0.0.1:11211)."""

    def __init__(self, secure: bool = False, ttl: int = 30000, max_messages: int = 10000,
                 mc_servers: Iterable[str] | None = None, mc_debug: int = 0,
                 key_prefix: str = "amfast", socket_timeout: float = 1.0,
                 dead_retry: float = 1.0):
        SubscriptionManager.__init__(self, secure, ttl, max_messages)
        self._init_memcache(mc_servers, mc_debug, key_prefix, socket_timeout, dead_retry)

    # -- keys ---------------------------------------------------------------------

    def _subs_key(self, connection_id: str) -> str:
        return self.mc_key("subs", connection_id)

    def _topic_subs_key(self, topic: str) -> str:
        return self.mc_key("topic-subs", topic)

    def _seq_key(self, topic: str) -> str:
        return self.mc_key("seq", topic)

    def _msg_key(self, topic: str, seq: int) -> str:
        return self.mc_key("msg", topic, seq)

    def _topics_key(self) -> str:
        return self.mc_key("topics")

    def _last_seq(self, topic: str) -> int:
        return int(self.mc.get(self._seq_key(topic)) or 0)

    # -- subscriptions --------------------------------------------------------------

    def subscribe(self, connection_id: str, client_id: str, topic: str,
                  sub_topic: str | None = None, selector: str | None = None) -> None:
        # Validates the subtopic and selector before anything is stored.
        subscription = Subscription(connection_id, client_id, topic, sub_topic, selector,
                                    self._last_seq(topic))
        record = (subscription.client_id, subscription.topic, subscription.sub_topic,
                  subscription.selector, subscription.cursor)

        def add(subs: dict) -> dict:
            subs = dict(subs)
            subs.setdefault(subscription.key, record)
            return subs
        self.mc_update(self._subs_key(connection_id), add, default={})
        self.mc_set_add(self._topic_subs_key(topic), connection_id)
        self.mc_set_add(self._topics_key(), topic)

    def _subscriptions(self, connection_id: str, subs: dict) -> list:
        return [Subscription(connection_id, *record) for record in subs.values()]

    def unSubscribe(self, connection_id: str, client_id: str, topic: str,
                    sub_topic: Any = ANY, selector: Any = ANY) -> None:
        def remove(subs: dict) -> dict:
            return {key: record for key, record in subs.items()
                    if not Subscription(connection_id, *record).matchesRemoval(
                        client_id, topic, sub_topic, selector)}
        left = self.mc_update(self._subs_key(connection_id), remove)
        if left is not None and not any(key[1] == topic for key in left):
            self.mc_set_discard(self._topic_subs_key(topic), connection_id)

    def deleteConnection(self, connection: Any) -> None:
        subs = self.mc_get(self._subs_key(connection.id)) or {}
        self.mc_delete(self._subs_key(connection.id))
        for topic in {key[1] for key in subs}:
            self.mc_set_discard(self._topic_subs_key(topic), connection.id)

    def iterSubscribers(self, topic: str, sub_topic: str | None = None) -> Iterator[str]:
        ids = list(self.mc_get(self._topic_subs_key(topic)) or ())
        if sub_topic is not None:
            records = self.mc_get_multi([self._subs_key(i) for i in ids])
            ids = [i for i in ids if any(
                key[1] == topic and key[2] == sub_topic
                for key in records.get(self._subs_key(i), {}))]
        return iter(ids)

    def iterConnectionSubscriptions(self, connection: Any) -> Iterator[Subscription]:
        subs = self.mc_get(self._subs_key(connection.id)) or {}
        return iter(self._subscriptions(connection.id, subs))

    # -- messages ---------------------------------------------------------------------

    def persistMessage(self, msg: Any) -> list:
        seq = self.mc_incr(self._seq_key(msg.destination))
        expires = msg.timestamp + msg.timeToLive
        self.mc_set(self._msg_key(msg.destination, seq), (expires, msg),
                    int(math.ceil(msg.timeToLive / 1000)) + 1)
        return list(self.mc_get(self._topic_subs_key(msg.destination)) or ())

    def collectMessages(self, connection_id: str) -> list:
        key = self._subs_key(connection_id)
        for _ in range(CAS_ATTEMPTS):
            subs = self.mc.gets(key)
            if not subs:
                if subs is None:
                    self.mc_check()
                return []
            now = self.now()
            found = []
            delivered = set()
            moved = {}
            seqs = self.mc_get_multi([self._seq_key(k[1]) for k in subs])
            for sub_key, record in subs.items():
                subscription = Subscription(connection_id, *record)
                last = int(seqs.get(self._seq_key(subscription.topic)) or 0)
                # Past max_messages behind, the oldest are skipped (the overflow policy).
                first = max(subscription.cursor + 1, last - self.max_messages + 1)
                numbers = range(first, last + 1)
                entries = self.mc_get_multi([self._msg_key(subscription.topic, n)
                                             for n in numbers]) if numbers else {}
                for n in numbers:
                    entry = entries.get(self._msg_key(subscription.topic, n))
                    once = (subscription.client_id, subscription.topic, n)
                    if entry is not None and entry[0] > now and once not in delivered and \
                            subscription.accepts(entry[1]):
                        delivered.add(once)
                        found.append((subscription.client_id, entry[1]))
                moved[sub_key] = record[:4] + (max(last, subscription.cursor),)
            if moved == subs or self.mc.cas(key, moved):
                return found
        raise StoreUnavailableError(f"subscriptions of {connection_id} are polled too often")

    def deleteExpiredMessages(self, now: float | None = None) -> None:
        """Messages expire in memcached by themselves; drop subscribers that are gone."""
        for topic in self.mc_get(self._topics_key()) or ():
            ids = list(self.mc_get(self._topic_subs_key(topic)) or ())
            records = self.mc_get_multi([self._subs_key(i) for i in ids])
            for connection_id in ids:
                if self._subs_key(connection_id) not in records:
                    self.mc_set_discard(self._topic_subs_key(topic), connection_id)

    def reset(self) -> None:
        for topic in self.mc_get(self._topics_key()) or ():
            for connection_id in self.mc_get(self._topic_subs_key(topic)) or ():
                self.mc_delete(self._subs_key(connection_id))
            self.mc_delete(self._topic_subs_key(topic))
            self.mc_delete(self._seq_key(topic))
        self.mc_delete(self._topics_key())
