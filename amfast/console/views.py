"""What the console's pages show, as JSON-ready data read from a channel set.

Counts come from ``channel_set.stats`` and each channel's ``stats``; connections and
subscriptions from the managers (``iterConnectionIds``, ``loadState``,
``iterConnectionSubscriptions``), at most ``max_scan`` connections per look, so a
store with very many stays cheap to show (the page then says how many it skipped).
"""
from __future__ import annotations

import inspect
import time
from typing import Any

from amfast.remoting.channel import HttpChannel
from amfast.remoting.services import ExtCallableTarget, Service
from amfast.remoting.stats import HISTORY

__all__ = ["services", "channels", "clients", "charts", "faults"]


def _describe_target(target: Any) -> dict:
    func = getattr(target, "callable", None)
    shown = {"name": str(target.name), "secure": bool(target.secure),
             "kind": type(target).__name__, "doc": inspect.getdoc(func or target) or "",
             "arguments": [], "coroutine": False}
    if func is None:
        return shown
    shown["coroutine"] = inspect.iscoroutinefunction(func)
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return shown
    if isinstance(target, ExtCallableTarget):
        parameters = parameters[2:]  # the packet and the message
    shown["arguments"] = [
        ("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "")
        + p.name + ("" if p.default is p.empty else "=" + repr(p.default)[:40])
        for p in parameters]
    return shown


def services(channel_set: Any) -> list[dict]:
    """Every service with its targets; the default service's targets are called by name
    alone (``prefix`` is how a call names them)."""
    mapper = channel_set.service_mapper
    shown = []
    for service, prefix in [(s, f"{s.name}{Service.SEPARATOR}") for s in mapper] + [
            (mapper.default_service, "")]:
        targets = sorted((_describe_target(t) for t in service), key=lambda t: t["name"])
        if targets or prefix:
            shown.append({"name": str(service.name), "prefix": prefix, "targets": targets})
    return shown


def _kind(channel: Any) -> str:
    if hasattr(channel, "max_streams"):
        return "streaming"
    if getattr(channel, "wait_interval", 0):
        return "long-polling"
    return "polling"


def channels(channel_set: Any) -> list[dict]:
    manager = channel_set.connection_manager
    shown = []
    for channel in channel_set:
        stats = channel.stats
        latency = stats.latency
        shown.append({
            "name": channel.name, "class": type(channel).__name__, "kind": _kind(channel),
            "endpoint": type(channel.endpoint).__name__,
            "browsable": isinstance(channel, HttpChannel),
            "wait_interval": getattr(channel, "wait_interval", None),
            "heart_interval": getattr(channel, "heart_interval", None),
            "max_connections": channel.max_connections,
            "connections": manager.getConnectionCount(channel.name),
            "held_polls": stats.held_polls.value, "open_streams": stats.open_streams.value,
            "requests": stats.requests.total, "faults": stats.faults.total,
            "mean_ms": round(latency.sum / latency.count * 1000, 3) if latency.count else None,
        })
    return shown


def clients(channel_set: Any, limit: int = 200, max_scan: int = 10000) -> dict:
    """The live connections (the ``limit`` most recently active) and the destinations
    their subscriptions name, with subscriber counts per destination and subtopic."""
    connections = channel_set.connection_manager
    subscriptions = channel_set.subscription_manager
    notifier = channel_set.notifier
    now = connections.now()
    found, destinations, scanned, skipped = [], {}, 0, 0
    for connection_id in connections.iterConnectionIds():
        if scanned >= max_scan:
            skipped += 1
            continue
        scanned += 1
        state = connections.loadState(connection_id)
        if state is None:
            continue
        connection = connections.connection_class(connections, state["channel_name"],
                                                  connection_id, state["timeout"])
        subs = [{"destination": s.topic, "subtopic": s.sub_topic, "selector": s.selector,
                 "client_id": s.client_id}
                for s in subscriptions.iterConnectionSubscriptions(connection)]
        for sub in subs:
            _count(destinations, connection_id, sub)
        found.append({"id": connection_id, "channel": state["channel_name"],
                      "user": state.get("flex_user"),
                      "authenticated": bool(state.get("authenticated")),
                      "last_active": state.get("last_active"),
                      "last_polled": state.get("last_polled") or None,
                      "expired": connections.isExpired(state, now),
                      "waiting": notifier.listened(connection_id),
                      "subscriptions": subs})
    found.sort(key=lambda c: c["last_active"] or 0, reverse=True)
    published = dict(channel_set.stats.destinations())
    for name, counts in published.items():
        if name not in destinations:
            destinations[name] = {"subscribers": set(), "consumers": 0, "subtopics": {}}
    shown_destinations = []
    for name in sorted(destinations, key=str):
        entry = destinations[name]
        counts = published.get(name)
        shown_destinations.append({
            "name": name, "subscribers": len(entry["subscribers"]),
            "consumers": entry["consumers"],
            "published": counts.published if counts else 0,
            "delivered": counts.delivered if counts else 0,
            "subtopics": [{"subtopic": subtopic, "subscribers": len(ids)}
                          for subtopic, ids in sorted(entry["subtopics"].items(),
                                                      key=lambda item: str(item[0]))]})
    return {"now": now, "connections": found[:limit], "total": len(found) + skipped,
            "scanned": scanned, "skipped": skipped, "destinations": shown_destinations}


def _count(destinations: dict, connection_id: str, sub: dict) -> None:
    entry = destinations.setdefault(sub["destination"],
                                    {"subscribers": set(), "consumers": 0, "subtopics": {}})
    entry["subscribers"].add(connection_id)
    entry["consumers"] += 1
    if sub["subtopic"] is not None:
        entry["subtopics"].setdefault(sub["subtopic"], set()).add(connection_id)


def charts(channel_set: Any, seconds: int = 300) -> dict:
    """Per-second series of the last ``seconds`` (at most ``HISTORY``): messages published
    and delivered, requests and faults, held polls and open streams (each second's peak)."""
    seconds = max(1, min(int(seconds), HISTORY - 1))
    stats = channel_set.stats
    per_channel = [channel.stats for channel in channel_set]
    now = time.monotonic()  # one clock for every series, so that their seconds line up

    def summed(name: str) -> list[int]:
        series = [getattr(s, name).history(seconds, now) for s in per_channel]
        return [sum(values) for values in zip(*series)] if series else [0] * seconds

    return {
        "seconds": seconds,
        # The series end with the last whole second before now.
        "end": time.time() * 1000,
        "published": stats.published.history(seconds, now),
        "delivered": stats.delivered.history(seconds, now),
        "requests": summed("requests"), "faults": summed("faults"),
        "held_polls": summed("held_polls"), "open_streams": summed("open_streams"),
        "totals": {
            "published": stats.published.total, "delivered": stats.delivered.total,
            "requests": sum(s.requests.total for s in per_channel),
            "faults": sum(s.faults.total for s in per_channel),
            "held_polls": sum(s.held_polls.value for s in per_channel),
            "open_streams": sum(s.open_streams.value for s in per_channel)},
    }


def faults(channel_set: Any) -> list[dict]:
    """The recent faults, newest first (tracebacks only in debug mode, as they were kept)."""
    return [fault._asdict() for fault in channel_set.stats.faults()]
