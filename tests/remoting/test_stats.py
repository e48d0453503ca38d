"""What channel sets count (``amfast.remoting.stats``): the counters themselves, then the
counts the dispatch core, the channel set, polls and streams keep, in process and over
HTTP under every server kind."""
from __future__ import annotations

import threading

import pytest

from amfast import remoting
from amfast.remoting.channel import Channel, ChannelSet
from amfast.remoting.client import RemotingService
from amfast.remoting.flex_messages import ErrorMessage
from amfast.remoting.stats import (HISTORY, LATENCY_BUCKETS, OTHER, Latency, Level, Rate,
                                   Stats)
from tests.remoting.conftest import wait_until

# ----------------------------------------------------------------------- the counters


def test_rate_counts_each_second_and_in_all():
    rate = Rate()
    rate.add(1, now=100.2)
    rate.add(2, now=100.9)
    rate.add(1, now=102.5)
    assert rate.total == 4
    # The seconds before 103, oldest first; the current second is not complete.
    assert rate.history(4, now=103.1) == [0, 3, 0, 1]
    assert rate.history(3, now=102.0) == [0, 3, 0]


def test_rate_forgets_what_is_older_than_its_history():
    rate = Rate()
    rate.add(5, now=10.0)
    rate.add(1, now=10.0 + HISTORY)  # the same slot, a later second
    assert rate.history(HISTORY, now=11.0 + HISTORY)[-1] == 1
    assert sum(rate.history(HISTORY * 2, now=11.0 + HISTORY)) == 1
    assert len(rate.history(HISTORY * 2, now=11.0 + HISTORY)) == HISTORY - 1
    assert rate.total == 6


def test_level_history_shows_each_seconds_peak_and_keeps_the_level_between_changes():
    level = Level()
    level.add(1, now=50.1)
    level.add(1, now=50.2)
    level.add(-1, now=50.3)   # 50: peak 2, ends at 1
    level.add(-1, now=53.5)   # 53: peak 1, ends at 0
    level.add(3, now=55.5)    # 55 (the current second): 3
    assert level.value == 3
    assert level.history(7, now=55.9) == [0, 0, 2, 1, 1, 1, 0]
    assert level.history(2, now=58.0) == [3, 3]


def test_latency_buckets_are_cumulative_with_an_infinite_last_one():
    latency = Latency()
    for seconds in (0.0005, 0.003, 0.003, 0.2, 100.0):
        latency.observe(seconds)
    pairs = dict(latency.cumulative())
    assert pairs[0.001] == 1 and pairs[0.005] == 3 and pairs[0.25] == 4
    assert pairs[LATENCY_BUCKETS[-1]] == 4 and pairs[float("inf")] == 5
    assert latency.count == 5 and latency.sum == pytest.approx(100.2065)


class _Msg:
    def __init__(self, destination):
        self.destination = destination


def test_destinations_past_the_bound_are_counted_together():
    stats = Stats(max_destinations=2)
    for name in ("a", "b", "c", "d"):
        stats.publish(name)
    stats.deliver([_Msg("a"), _Msg("d"), _Msg("e")])
    counts = {name: (d.published, d.delivered) for name, d in stats.destinations()}
    assert counts == {"a": (1, 1), "b": (1, 0), OTHER: (2, 2)}
    assert (stats.published.total, stats.delivered.total) == (4, 3)


def test_recent_faults_are_bounded_and_newest_first():
    stats = Stats(max_faults=3)
    channel = Channel("amf")
    for n in range(5):
        stats.fault(channel, f"svc.t{n}", ValueError(f"bad {n}"), debug=False)
    faults = stats.faults()
    assert [f.target for f in faults] == ["svc.t4", "svc.t3", "svc.t2"]
    assert faults[0].error == "ValueError" and faults[0].message == "bad 4"
    assert faults[0].channel == "amf" and faults[0].detail == ""
    assert channel.stats.faults.total == 5


# ----------------------------------------------------------------------- in process


def _channel(debug: bool = False) -> Channel:
    channel_set = ChannelSet(debug=debug)
    channel = Channel("amf")
    channel_set.mapChannel(channel)
    service = remoting.Service("svc")
    service.mapTarget(remoting.CallableTarget(lambda value: value, "echo"))

    def fail():
        raise ValueError("it failed")

    service.mapTarget(remoting.CallableTarget(fail, "fail"))
    service.mapTarget(remoting.CallableTarget(lambda: len, "unencodable"))
    channel_set.service_mapper.mapService(service)
    return channel


def _call(channel: Channel, *messages: tuple) -> remoting.Packet:
    request = remoting.Packet(0, [], [remoting.Message(target, f"/{n}", list(args))
                                      for n, (target, *args) in enumerate(messages)])
    return channel.decode(channel.encode(channel.invoke(channel.decode(
        channel.encode(request))), request))


def test_requests_faults_and_their_times_are_counted_per_channel():
    channel = _channel()
    _call(channel, ("svc.echo", 1))
    _call(channel, ("svc.echo", 2), ("svc.fail",), ("svc.nope",))
    stats = channel.stats
    assert stats.requests.total == 2  # packets, not messages
    assert stats.latency.count == 2
    assert stats.faults.total == 2
    faults = channel.channel_set.stats.faults()
    assert [(f.target, f.error, f.message) for f in faults] == [
        ("svc.nope", "RemotingError", "Target 'svc.nope' not found."),
        ("svc.fail", "ValueError", "it failed")]
    assert all(f.detail == "" for f in faults), "no traceback outside debug mode"


def test_a_reply_that_cannot_be_encoded_is_a_fault_too():
    channel = _channel()
    reply = _call(channel, ("svc.unencodable",))
    assert reply.messages[0].target.endswith("/onStatus")
    assert channel.stats.faults.total == 1
    assert channel.channel_set.stats.faults()[0].target == "svc.unencodable"


def test_debug_mode_keeps_the_traceback_of_recent_faults():
    channel = _channel(debug=True)
    _call(channel, ("svc.fail",))
    detail = channel.channel_set.stats.faults()[0].detail
    assert detail.startswith("Traceback") and "it failed" in detail


def test_a_failing_header_counts_one_request_and_a_fault_per_message():
    channel = _channel()
    request = remoting.Packet(0, [remoting.Header("Unknown", True, 1)],
                              [remoting.Message("svc.echo", "/1", [1]),
                               remoting.Message("svc.echo", "/2", [2])])
    channel.invoke(channel.decode(channel.encode(request)))
    assert (channel.stats.requests.total, channel.stats.faults.total) == (1, 2)


def test_publishes_count_per_destination_server_code_included():
    channel_set = _channel().channel_set
    channel_set.publishObject("hi", "news")
    channel_set.publishObject("hi", "news", "sports")
    destination = dict(channel_set.stats.destinations())["news"]
    assert (destination.published, destination.delivered) == (2, 0)
    assert channel_set.stats.published.total == 2


# ----------------------------------------------------------------------- over HTTP


def test_polls_streams_and_held_polls_are_counted(messaging):
    channel_set = messaging.channel_set
    channels = {channel.name: channel for channel in channel_set}
    publisher = messaging.flex("amf")
    publisher.ping()
    polling = messaging.flex("amf")
    polling.ping()
    polling.subscribe("chat")
    held = messaging.flex("longpoll")
    held.ping()
    held.subscribe("chat")
    streamed = messaging.flex("amf")
    streamed.ping()
    streamed.subscribe("chat")
    stream = messaging.stream(streamed.dsid)
    assert stream.next_frame() is not None  # the open acknowledgement
    assert wait_until(lambda: channels["streaming"].stats.open_streams.value == 1)

    replies: list = []
    poller = threading.Thread(target=lambda: replies.append(held.poll_messages()), daemon=True)
    poller.start()
    assert wait_until(lambda: channels["longpoll"].stats.held_polls.value == 1)

    assert not isinstance(publisher.publish("chat", "one"), ErrorMessage)
    poller.join(10)
    assert [m.body for m in replies[0]] == ["one"]
    assert [m.body for m in polling.poll_messages()] == ["one"]
    assert stream.next_frame().body == "one"
    news = dict(channel_set.stats.destinations())["chat"]
    assert wait_until(lambda: news.delivered == 3), news.delivered
    assert news.published == 1
    assert channels["longpoll"].stats.held_polls.value == 0

    stream.close_command()
    assert stream.read_to_end()
    assert wait_until(lambda: channels["streaming"].stats.open_streams.value == 0)
    # Every request of the polling channel was answered and timed.
    amf = channels["amf"].stats
    assert amf.requests.total == amf.latency.count == 7
    assert channels["longpoll"].stats.requests.total == 3


def test_rpc_calls_are_counted_under_every_server(messaging):
    service = RemotingService(messaging.url("/amf"))
    try:
        assert service.call("svc.echo", "x") == "x"
        with pytest.raises(Exception):
            service.call("svc.secret")
    finally:
        service.close()
    amf = {channel.name: channel for channel in messaging.channel_set}["amf"].stats
    assert (amf.requests.total, amf.faults.total) == (2, 1)
    assert messaging.channel_set.stats.faults()[0].error == "SecurityError"
