"""A channel set's counts in the Prometheus text format, with prometheus-client
(``pip install 'amfast[metrics]'``).

Per channel: requests, faults, request times (a histogram, held polls included with
their wait), held polls, open streams and connections; per destination: messages
published and delivered.  The process's own metrics (CPU, memory, open files, garbage
collection) come with them.  Counts start at zero when the process starts.
"""
from __future__ import annotations

from typing import Any, Iterator

from amfast.console.errors import ConsoleError

__all__ = ["MetricsExporter"]


class MetricsExporter:
    """Renders the metrics of ``channel_set`` (its own registry: nothing global changes)."""

    def __init__(self, channel_set: Any):
        try:
            import prometheus_client
        except ImportError:
            raise ConsoleError("metrics need prometheus-client: "
                               "pip install 'amfast[metrics]'") from None
        self._client = prometheus_client
        self.registry = prometheus_client.CollectorRegistry()
        self.registry.register(_ChannelSetCollector(channel_set))
        prometheus_client.ProcessCollector(registry=self.registry)
        prometheus_client.PlatformCollector(registry=self.registry)
        prometheus_client.GCCollector(registry=self.registry)

    @property
    def content_type(self) -> str:
        return self._client.CONTENT_TYPE_LATEST

    def render(self) -> bytes:
        return self._client.generate_latest(self.registry)


class _ChannelSetCollector:
    """A prometheus-client collector reading the counts when scraped."""

    def __init__(self, channel_set: Any):
        self.channel_set = channel_set

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                            HistogramMetricFamily)

        channel_set = self.channel_set
        requests = CounterMetricFamily("amfast_requests", "AMF requests answered.",
                                       labels=["channel"])
        faults = CounterMetricFamily("amfast_faults", "Faults sent to clients.",
                                     labels=["channel"])
        seconds = HistogramMetricFamily(
            "amfast_request_duration_seconds",
            "Time from dispatch to reply (a held poll counts its wait).", labels=["channel"])
        held = GaugeMetricFamily("amfast_held_polls", "Long-polls held now.",
                                 labels=["channel"])
        streams = GaugeMetricFamily("amfast_open_streams", "Streams open now.",
                                    labels=["channel"])
        connections = GaugeMetricFamily("amfast_connections", "Connections of the channel.",
                                        labels=["channel"])
        for channel in channel_set:
            stats, name = channel.stats, [channel.name]
            requests.add_metric(name, stats.requests.total)
            faults.add_metric(name, stats.faults.total)
            seconds.add_metric(name, [(_bound(b), c) for b, c in stats.latency.cumulative()],
                               stats.latency.sum)
            held.add_metric(name, stats.held_polls.value)
            streams.add_metric(name, stats.open_streams.value)
            connections.add_metric(
                name, channel_set.connection_manager.getConnectionCount(channel.name))
        holding = GaugeMetricFamily(
            "amfast_holding", "What the process holds now (ChannelSet.holding): held "
            "requests, held polls, open streams, waiting connections, tasks, pending writes.",
            labels=["what"])
        for what, count in channel_set.holding().items():
            holding.add_metric([what], count)
        published = CounterMetricFamily("amfast_messages_published",
                                        "Messages published to the destination.",
                                        labels=["destination"])
        delivered = CounterMetricFamily("amfast_messages_delivered",
                                        "Messages delivered to the destination's subscribers.",
                                        labels=["destination"])
        for destination, counts in channel_set.stats.destinations():
            published.add_metric([str(destination)], counts.published)
            delivered.add_metric([str(destination)], counts.delivered)
        yield from (requests, faults, seconds, held, streams, connections, holding, published,
                    delivered)


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
