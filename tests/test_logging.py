"""AmFast's logging recipe: a handler on ``amfast.logger`` and ``amfast.log_debug = True``."""
from __future__ import annotations

import io
import logging

import pytest

import amfast
from amfast import remoting
from amfast.remoting.channel import Channel, ChannelSet


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    amfast.logger.addHandler(handler)
    debug, raw = amfast.log_debug, amfast.log_raw
    try:
        yield stream
    finally:
        amfast.logger.removeHandler(handler)
        amfast.log_debug, amfast.log_raw = debug, raw


def _echo_channel():
    channel_set = ChannelSet()
    channel = Channel("amf")
    channel_set.mapChannel(channel)
    service = remoting.Service("svc")
    service.mapTarget(remoting.CallableTarget(lambda value: value, "echo"))
    channel_set.service_mapper.mapService(service)
    return channel


def _call(channel):
    request = remoting.Packet(0, [], [remoting.Message("svc.echo", "/1", ["hi"])])
    return channel.decode(channel.encode(channel.invoke(channel.decode(
        channel.encode(request)))))


def test_the_logger_is_amfasts():
    assert amfast.logger is logging.getLogger("AmFast")
    assert amfast.logger.level == logging.DEBUG
    assert any(isinstance(h, logging.NullHandler) for h in amfast.logger.handlers)


def test_silent_by_default(captured):
    _call(_echo_channel())
    assert captured.getvalue() == ""


def test_log_debug_prints_requests_and_replies_through_a_users_handler(captured):
    amfast.log_debug = True
    reply = _call(_echo_channel())
    assert reply.messages[0].body == "hi"
    text = captured.getvalue()
    assert "request packet" in text and "response packet" in text and "svc.echo" in text


def test_log_raw_adds_the_bytes(captured):
    amfast.log_debug = amfast.log_raw = True
    _call(_echo_channel())
    assert "request bytes: 00 00" in captured.getvalue()
