"""The dispatch core without a transport: replies, pending replies and AmFast's shims."""
from __future__ import annotations

import asyncio
import inspect
import threading
import time

import pytest

import amfast.remoting.connection
from amfast import remoting
from amfast.remoting import Header, Message, Packet
from amfast.remoting.channel import ChannelSet, HttpChannel
from amfast.remoting.connection_manager import MemoryConnectionManager
from amfast.remoting.dispatch import PendingReply
from amfast.remoting.errors import NotConnectedError, SecurityError
from amfast.remoting.flex_messages import AcknowledgeMessage, CommandMessage, ErrorMessage
from amfast.remoting.notifier import AsyncWaiter, ThreadWaiter
from amfast.remoting.subscription_manager import MemorySubscriptionManager
from amfast.remoting.waiting import run, run_async

WAIT_MS = 3000


@pytest.fixture
def channel_set():
    channel_set = ChannelSet()
    channel_set.mapChannel(HttpChannel("amf"))
    channel_set.mapChannel(HttpChannel("longpoll", wait_interval=WAIT_MS))
    service = remoting.Service("svc")
    service.mapTarget(remoting.CallableTarget(lambda value: value, "echo"))

    async def slow_echo(value):
        await asyncio.sleep(0.01)
        return ["async", value]

    async def broken():
        raise KeyError("from a coroutine")

    service.mapTarget(remoting.CallableTarget(slow_echo, "slow_echo"))
    service.mapTarget(remoting.CallableTarget(broken, "broken"))
    service.mapTarget(remoting.CallableTarget(lambda: "secret", "secret", secure=True))
    channel_set.service_mapper.mapService(service)
    return channel_set


def flex(message, response="/1"):
    return Message("null", response, [message])


def ping(channel_set, channel="amf"):
    packet = Packet(Packet.FLASH_9, [], [flex(CommandMessage(
        operation=CommandMessage.CLIENT_PING_OPERATION, headers={"DSId": "nil"}))])
    return channel_set.getChannel(channel).invoke(packet).messages[0].body.headers["DSId"]


def test_a_plain_call_is_answered_at_once(channel_set):
    packet = Packet(0, [], [Message("svc.echo", "/1", ["hi"])])
    reply = channel_set.getChannel("amf").dispatch(packet, request="the transport's request")
    assert isinstance(reply, Packet)
    assert reply.messages[0].body == "hi"
    assert packet.context.request == "the transport's request"
    assert packet.channel is channel_set.getChannel("amf")


def test_a_coroutine_target_gives_a_pending_reply_that_a_thread_completes(channel_set):
    packet = Packet(0, [], [Message("svc.echo", "/1", ["now"]),
                            Message("svc.slow_echo", "/2", ["later"]),
                            Message("svc.broken", "/3", [])])
    reply = channel_set.getChannel("amf").dispatch(packet)
    assert isinstance(reply, PendingReply) and reply.listen == ()
    done = run(reply.steps(), ThreadWaiter())
    assert [m.target for m in done.messages] == ["/1/onResult", "/2/onResult", "/3/onStatus"]
    assert done.messages[1].body == ["async", "later"]
    assert done.messages[2].body.name == "KeyError"


def test_a_coroutine_target_is_awaited_on_an_event_loop(channel_set):
    async def main():
        packet = Packet(Packet.FLASH_9, [], [flex(remoting_message("slow_echo", 7))])
        reply = channel_set.getChannel("amf").dispatch(packet)
        return await run_async(reply.steps(), AsyncWaiter())

    ack = asyncio.run(main()).messages[0].body
    assert isinstance(ack, AcknowledgeMessage) and ack.body == ["async", 7]


def remoting_message(operation, *args):
    from amfast.remoting.flex_messages import RemotingMessage

    return RemotingMessage(destination="svc", operation=operation, body=list(args),
                           headers={"DSId": "nil"})


def test_channel_invoke_completes_a_coroutine_reply_in_the_thread(channel_set):
    packet = Packet(0, [], [Message("svc.slow_echo", "/1", [1])])
    assert channel_set.getChannel("amf").invoke(packet).messages[0].body == ["async", 1]


def poll(dsid):
    return CommandMessage(operation=CommandMessage.POLL_OPERATION, headers={"DSId": dsid})


def subscribe(dsid, destination="chat"):
    return CommandMessage(operation=CommandMessage.SUBSCRIBE_OPERATION, destination=destination,
                          headers={"DSId": dsid})


def test_a_long_poll_is_a_pending_reply_woken_by_a_publish(channel_set):
    channel = channel_set.getChannel("longpoll")
    dsid = ping(channel_set, "longpoll")
    channel.invoke(Packet(Packet.FLASH_9, [], [flex(subscribe(dsid))]))
    reply = channel.dispatch(Packet(Packet.FLASH_9, [], [flex(poll(dsid))]))
    assert isinstance(reply, PendingReply) and reply.listen == (dsid,)
    threading.Timer(0.1, channel_set.publishObject, ("hello", "chat")).start()
    started = time.monotonic()
    done = channel.complete(reply)
    assert time.monotonic() - started < WAIT_MS / 1000
    sync = done.messages[0].body
    assert sync.operation == CommandMessage.CLIENT_SYNC_OPERATION
    assert [m.body for m in sync.body] == ["hello"]
    assert channel_set.notifier.waiting() == 0


def test_a_long_poll_completed_on_an_event_loop(channel_set):
    channel = channel_set.getChannel("longpoll")
    dsid = ping(channel_set, "longpoll")
    channel.invoke(Packet(Packet.FLASH_9, [], [flex(subscribe(dsid))]))

    async def main():
        reply = channel.dispatch(Packet(Packet.FLASH_9, [], [flex(poll(dsid))]))
        waiter = AsyncWaiter()
        with channel_set.notifier.listening(reply.listen, waiter):
            threading.Timer(0.1, channel_set.publishObject, ("from a thread", "chat")).start()
            return await run_async(reply.steps(), waiter)

    sync = asyncio.run(main()).messages[0].body
    assert [m.body for m in sync.body] == ["from a thread"]


def test_an_abandoned_long_poll_frees_its_slot(channel_set):
    channel = channel_set.getChannel("longpoll")
    dsid = ping(channel_set, "longpoll")
    channel.invoke(Packet(Packet.FLASH_9, [], [flex(subscribe(dsid))]))
    reply = channel.dispatch(Packet(Packet.FLASH_9, [], [flex(poll(dsid))]))
    steps = reply.steps()
    effect = next(steps)
    while not isinstance(effect, float):  # collections come first
        effect = steps.send(effect.func(*effect.args))
    again = channel.dispatch(Packet(Packet.FLASH_9, [], [flex(poll(dsid))]))
    assert again.messages[0].body.headers.get(CommandMessage.NO_OP_POLL_HEADER) is True
    steps.close()
    assert isinstance(channel.dispatch(Packet(Packet.FLASH_9, [], [flex(poll(dsid))])),
                      PendingReply)


def test_closing_the_channel_set_answers_held_polls(channel_set):
    channel = channel_set.getChannel("longpoll")
    dsid = ping(channel_set, "longpoll")
    channel.invoke(Packet(Packet.FLASH_9, [], [flex(subscribe(dsid))]))
    reply = channel.dispatch(Packet(Packet.FLASH_9, [], [flex(poll(dsid))]))
    threading.Timer(0.1, channel_set.close).start()
    started = time.monotonic()
    ack = channel.complete(reply).messages[0].body
    assert time.monotonic() - started < 2 and not isinstance(ack, ErrorMessage)


def test_a_batched_poll_is_never_held(channel_set):
    channel = channel_set.getChannel("longpoll")
    dsid = ping(channel_set, "longpoll")
    packet = Packet(Packet.FLASH_9, [], [flex(subscribe(dsid), "/1"), flex(poll(dsid), "/2")])
    assert isinstance(channel.dispatch(packet), Packet)


# -- AmFast's visible API ------------------------------------------------------------------


def test_packet_and_message_invoke_are_shims_through_the_channel(channel_set):
    channel = channel_set.getChannel("amf")
    packet = Packet(0, [], [Message("svc.echo", "/1", ["a"]), Message("svc.slow_echo", "/2", [2])])
    packet.channel = channel
    assert [m.body for m in packet.invoke().messages] == ["a", ["async", 2]]
    assert packet.messages[1].invoke(packet).body == ["async", 2]


def test_a_header_target_may_authenticate_the_packet_as_amfasts_did(channel_set):
    def token(packet, header, value):
        assert packet._authenticated is False
        if value == "let me in":
            packet._authenticated = True

    channel_set.service_mapper.packet_header_service.mapTarget(
        remoting.ExtCallableTarget(token, "Token"))
    channel = channel_set.getChannel("amf")
    refused = channel.invoke(Packet(0, [], [Message("svc.secret", "/1", [])]))
    assert refused.messages[0].body.name == "SecurityError"
    allowed = channel.invoke(Packet(0, [Header("Token", False, "let me in")],
                                    [Message("svc.secret", "/1", [])]))
    assert allowed.messages[0].body == "secret"


def test_ext_callable_targets_get_the_packet_the_message_and_the_arguments(channel_set):
    seen = []

    def ext(packet, message, a, b):
        seen.append((packet.channel.name, message.target, packet.context.request))
        return a + b

    service = remoting.Service("ext")
    service.mapTarget(remoting.ExtCallableTarget(ext, "add"))
    channel_set.service_mapper.mapService(service)
    reply = channel_set.getChannel("amf").invoke(
        Packet(0, [], [Message("ext.add", "/1", [1, 2])]), request={"environ": True})
    assert reply.messages[0].body == 3
    assert seen == [("amf", "ext.add", {"environ": True})]


def test_channel_set_takes_amfasts_positional_arguments():
    mapper = remoting.ServiceMapper()
    connections = MemoryConnectionManager()
    subscriptions = MemorySubscriptionManager()
    channel_set = ChannelSet(mapper, connections, subscriptions, False, 1000)
    assert channel_set.service_mapper is mapper
    assert channel_set.connection_manager is connections
    assert channel_set.subscription_manager is subscriptions
    assert channel_set.notify_connections is False and channel_set.clean_freq == 1000
    assert list(inspect.signature(ChannelSet).parameters)[:5] == [
        "service_mapper", "connection_manager", "subscription_manager", "notify_connections",
        "clean_freq"]


def test_not_connected_error_is_a_connection_error_again():
    assert issubclass(NotConnectedError, amfast.remoting.connection.ConnectionError)
    assert issubclass(amfast.remoting.connection.SessionAttrError,
                      amfast.remoting.connection.ConnectionError)
    assert issubclass(amfast.remoting.connection.ConnectionError,
                      amfast.remoting.channel.ChannelError)
    assert issubclass(SecurityError, amfast.remoting.channel.ChannelError)


# -- what may block (the ASGI transport answers the rest on its event loop) ----------------


def test_what_blocks_is_user_code_and_the_logins():
    from amfast.remoting.flex_messages import AsyncMessage, RemotingMessage

    channel_set = ChannelSet()
    broker = channel_set.broker
    service = remoting.Service("svc")
    service.mapTarget(remoting.CallableTarget(lambda: 1, "plain"))

    async def coroutine():
        return 1

    service.mapTarget(remoting.CallableTarget(coroutine, "coro"))
    channel_set.service_mapper.mapService(service)

    def packet(*messages, headers=()):
        return Packet(Packet.FLASH_9, list(headers), [flex(m) if not isinstance(m, Message)
                                                      else m for m in messages])

    assert not broker.blocks(packet(poll("nil")))
    assert not broker.blocks(packet(subscribe("nil"), poll("nil")))
    assert not broker.blocks(packet(RemotingMessage(destination="svc", operation="coro")))
    assert not broker.blocks(packet(Message("svc.coro", "/1", [])))
    assert not broker.blocks(packet(AsyncMessage(destination="chat", body=1)))
    assert broker.blocks(packet(Message("svc.plain", "/1", [])))
    assert broker.blocks(packet(RemotingMessage(destination="svc", operation="plain")))
    assert broker.blocks(packet(CommandMessage(operation=CommandMessage.LOGIN_OPERATION)))
    assert broker.blocks(packet(poll("nil"), headers=[Header("Credentials", False, {})]))

    class Persisting(ChannelSet):
        def publishMessage(self, msg):
            ChannelSet.publishMessage(self, msg)

    assert Persisting().broker.blocks(packet(AsyncMessage(destination="chat", body=1)))


def test_message_ids_are_uuids_and_differ_in_forked_workers():
    import os
    import uuid

    from amfast.remoting.flex_messages import _new_id

    ids = {_new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(uuid.UUID(i).version == 4 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, _new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child != _new_id() and uuid.UUID(child).version == 4
