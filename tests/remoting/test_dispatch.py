"""Packet dispatch in process, without HTTP (inventory §3, §11 items 1-4, 11).

``dispatch`` hands a Packet to a channel (``Channel.invoke``, which attaches the channel and
calls ``Packet.invoke``); ``over_wire`` does the same through the channel's endpoint bytes,
as a client would see it.
"""
from __future__ import annotations

import time
import uuid

import pytest

from amfast import remoting
from amfast.class_def.as_types import AsError
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Header, Message, Packet
from amfast.remoting.channel import ChannelSet, SecurityError
from amfast.remoting.errors import FlexMessageError, RemotingError
from amfast.remoting.flex_messages import (AcknowledgeMessage, CommandMessage, ErrorMessage,
                                           RemotingMessage)
from amfast.remoting.wsgi_channel import WsgiChannel, WsgiChannelSet
from tests.remoting.apps import GOOD_USER, build_channel_set, dsid

CREDENTIALS = {"userid": GOOD_USER[0], "password": GOOD_USER[1]}


@pytest.fixture
def app():
    return build_channel_set()


@pytest.fixture
def channel_set(app):
    return app[0]


@pytest.fixture
def recorder(app):
    return app[1]


def dispatch(channel_set, messages, headers=(), client_type=Packet.FLASH_8, channel="amf"):
    packet = Packet(client_type, list(headers), list(messages))
    reply = channel_set.getChannel(channel).invoke(packet)
    assert len(reply.messages) == len(packet.messages)
    return reply


def over_wire(channel_set, packet, channel="amf"):
    """Encode ``packet`` as a client would, let the channel decode, invoke and encode it,
    and decode the reply bytes."""
    chan = channel_set.getChannel(channel)
    raw = Encoder().encode_packet(packet, amf3=packet.is_amf3)
    request = chan.decode(raw)
    reply_raw = chan.encode(chan.invoke(request), request)
    return Decoder().decode_packet(reply_raw)


def call(target, *args, response="/1"):
    return Message(target, response, list(args))


def flex(message, response="/1"):
    return Message("null", response, [message])


def assert_result(reply_msg, response, value):
    assert reply_msg.target == f"{response}/onResult", reply_msg
    assert reply_msg.response == ""
    assert reply_msg.body == value


def assert_nc_fault(reply_msg, response, name, message=None):
    assert reply_msg.target == f"{response}/onStatus", reply_msg
    assert reply_msg.response == ""
    error = reply_msg.body
    assert isinstance(error, AsError), error
    assert error.errorId == 5000
    assert error.name == name, error.message
    if message is not None:
        assert error.message == message
    return error


def assert_flex_fault(reply_msg, response, request, code, string=None):
    assert reply_msg.target == f"{response}/onStatus", reply_msg
    assert reply_msg.response == ""
    error = reply_msg.body
    assert isinstance(error, ErrorMessage), error
    assert error.faultCode == code, (error.faultCode, error.faultString)
    if string is not None:
        assert error.faultString == string
    assert error.correlationId == request.messageId
    assert error.clientId == request.clientId
    assert error.messageId and error.messageId != request.messageId
    return error


# ----------------------------------------------------------------------------- NetConnection


def test_netconnection_call_replies_on_result_with_empty_response(channel_set):
    reply = dispatch(channel_set, [call("svc.echo", "hello", response="/7")])
    assert_result(reply.messages[0], "/7", "hello")


@pytest.mark.parametrize("client_type", [Packet.FLASH_8, Packet.FLASH_COM, Packet.FLASH_9])
def test_reply_keeps_the_client_type_and_carries_no_headers(channel_set, client_type):
    reply = dispatch(channel_set, [call("svc.echo", 1)], [Header("Remember", False, "x")],
                     client_type=client_type)
    assert reply.client_type == client_type
    assert reply.headers == []


def test_arguments_are_spread_over_the_callable(channel_set):
    reply = dispatch(channel_set, [call("svc.args", 1, "two", [3])])
    assert_result(reply.messages[0], "/1", [1, "two", [3]])


def test_a_body_that_is_not_a_list_is_one_argument(channel_set):
    reply = dispatch(channel_set, [Message("svc.echo", "/1", "solo")])
    assert_result(reply.messages[0], "/1", "solo")


def test_target_splits_on_the_last_dot(channel_set):
    service = remoting.Service("com.example.Deep")
    service.mapTarget(remoting.CallableTarget(lambda: "deep", "call"))
    channel_set.service_mapper.mapService(service)
    reply = dispatch(channel_set, [call("com.example.Deep.call")])
    assert_result(reply.messages[0], "/1", "deep")


def test_a_target_without_a_dot_is_in_the_default_service(channel_set):
    reply = dispatch(channel_set, [call("plain", "x")])
    assert_result(reply.messages[0], "/1", "plain:x")


@pytest.mark.parametrize("target", ["svc.missing", "nosuch.echo", "missing", "", "svc."])
def test_unknown_target_is_a_remoting_error_fault(channel_set, target):
    reply = dispatch(channel_set, [call(target)])
    error = assert_nc_fault(reply.messages[0], "/1", "RemotingError")
    assert f"'{target}'" in error.message and "not found" in error.message


def test_netconnection_fault_is_an_as_error_named_after_the_exception(channel_set):
    reply = dispatch(channel_set, [call("svc.fail")])
    error = assert_nc_fault(reply.messages[0], "/1", "ValueError", "boom")
    assert "Traceback" not in error.message


def test_netconnection_fault_carries_the_traceback_only_in_debug():
    channel_set, _ = build_channel_set(debug=True)
    reply = dispatch(channel_set, [call("svc.fail")])
    error = assert_nc_fault(reply.messages[0], "/1", "ValueError")
    assert "Traceback" in error.message and "boom" in error.message


def test_fault_error_raised_for_a_netconnection_call(channel_set):
    reply = dispatch(channel_set, [call("svc.fault")])
    assert_nc_fault(reply.messages[0], "/1", "FaultError", "custom fault")


def test_one_failing_message_never_fails_the_others(channel_set):
    reply = dispatch(channel_set, [call("svc.echo", 1, response="/1"),
                                   call("svc.fail", response="/2"),
                                   call("svc.missing", response="/3"),
                                   call("svc.secret", response="/4"),
                                   call("plain", "p", response="/5")])
    assert_result(reply.messages[0], "/1", 1)
    assert_nc_fault(reply.messages[1], "/2", "ValueError")
    assert_nc_fault(reply.messages[2], "/3", "RemotingError")
    assert_nc_fault(reply.messages[3], "/4", "SecurityError")
    assert_result(reply.messages[4], "/5", "plain:p")


def test_failing_flex_message_never_fails_a_netconnection_call_beside_it(channel_set):
    request = RemotingMessage(destination="svc", operation="fail", body=[])
    reply = dispatch(channel_set, [flex(request, "/1"), call("svc.echo", "ok", response="/2")],
                     client_type=Packet.FLASH_9)
    assert_flex_fault(reply.messages[0], "/1", request, "ValueError", "boom")
    assert_result(reply.messages[1], "/2", "ok")


def test_replies_come_back_in_request_order_over_the_wire(channel_set):
    messages = [call("svc.echo", f"v{i}", response=f"/{i}") for i in range(1, 21)]
    messages[7] = call("svc.fail", response="/8")
    reply = over_wire(channel_set, Packet(Packet.FLASH_8, [], messages))
    assert [m.target for m in reply.messages] == [
        f"/{i}/onStatus" if i == 8 else f"/{i}/onResult" for i in range(1, 21)]
    assert [m.body for i, m in enumerate(reply.messages, 1) if i != 8] == [
        f"v{i}" for i in range(1, 21) if i != 8]


def test_empty_packet_gets_an_empty_reply(channel_set):
    reply = dispatch(channel_set, [])
    assert reply.messages == []


def test_null_target_without_a_flex_message_is_an_ordinary_unknown_target(channel_set):
    reply = dispatch(channel_set, [Message("null", "/1", [1, 2])])
    assert_nc_fault(reply.messages[0], "/1", "RemotingError")


def test_unencodable_result_fails_only_its_own_message(channel_set):
    for client_type in (Packet.FLASH_8, Packet.FLASH_9):
        packet = Packet(client_type, [], [call("svc.echo", "a", response="/1"),
                                          call("svc.unencodable", response="/2"),
                                          call("svc.echo", "c", response="/3")])
        reply = over_wire(channel_set, packet)
        assert_result(reply.messages[0], "/1", "a")
        assert_nc_fault(reply.messages[1], "/2", "EncodeError")
        assert_result(reply.messages[2], "/3", "c")


def test_unencodable_flex_result_is_an_error_message(channel_set):
    request = RemotingMessage(destination="svc", operation="unencodable", body=[])
    reply = over_wire(channel_set, Packet(Packet.FLASH_9, [], [flex(request)]))
    assert_flex_fault(reply.messages[0], "/1", request, "EncodeError")


def test_amf0_numbers_come_back_as_floats_and_amf3_ints_as_ints(channel_set):
    value = {"n": 42, "list": [1, 2.5], "s": "x"}
    amf0 = over_wire(channel_set, Packet(Packet.FLASH_8, [], [call("svc.echo", value)]))
    assert amf0.messages[0].body == {"n": 42.0, "list": [1.0, 2.5], "s": "x"}
    assert type(amf0.messages[0].body["n"]) is float
    amf3 = over_wire(channel_set, Packet(Packet.FLASH_9, [], [call("svc.echo", value)]))
    assert type(amf3.messages[0].body["n"]) is int


# ----------------------------------------------------------------------------- targets


def test_ext_callable_target_gets_the_packet_and_the_message(channel_set):
    reply = dispatch(channel_set, [call("svc.ext", 1, 2, response="/3")],
                     client_type=Packet.FLASH_COM)
    body = reply.messages[0].body
    assert body["target"] == "svc.ext" and body["response"] == "/3"
    assert body["client_type"] == Packet.FLASH_COM and body["channel"] == "amf"
    assert body["args"] == [1, 2] and body["flex_class"] is None


def test_ext_callable_target_of_a_flex_call_sees_the_flex_message(channel_set):
    request = RemotingMessage(destination="svc", operation="ext", body=["a"])
    reply = dispatch(channel_set, [flex(request)], client_type=Packet.FLASH_9)
    body = reply.messages[0].body.body
    assert body["target"] == "null" and body["flex_class"] == "RemotingMessage"
    assert body["flex_operation"] == "ext" and body["args"] == ["a"]


def test_map_object_maps_public_methods(channel_set):
    class Api:
        def hello(self, name):
            return f"hello {name}"

        def _hidden(self):
            return "hidden"

    public = remoting.Service("api")
    remoting.CallableTarget.mapObject(public, Api())
    private = remoting.Service("api_private")
    remoting.CallableTarget.mapObject(private, Api(), secure=True, map_private=True)
    channel_set.service_mapper.mapService(public)
    channel_set.service_mapper.mapService(private)
    reply = dispatch(channel_set, [call("api.hello", "bob", response="/1"),
                                   call("api._hidden", response="/2"),
                                   call("api_private._hidden", response="/3")])
    assert_result(reply.messages[0], "/1", "hello bob")
    assert_nc_fault(reply.messages[1], "/2", "RemotingError")
    assert_nc_fault(reply.messages[2], "/3", "SecurityError")
    assert private.getTarget("_hidden").secure


def test_unmapped_targets_and_services_are_gone(channel_set):
    mapper = channel_set.service_mapper
    svc = mapper.getService("svc")
    svc.unMapTarget(svc.getTarget("echo"))
    mapper.unMapService(mapper.getService("echo"))
    reply = dispatch(channel_set, [call("svc.echo", 1, response="/1"),
                                   call("echo.echo", 1, response="/2")])
    assert_nc_fault(reply.messages[0], "/1", "RemotingError")
    assert_nc_fault(reply.messages[1], "/2", "RemotingError")


# ----------------------------------------------------------------------------- headers


def test_header_target_gets_the_header_value_before_the_messages(channel_set, recorder):
    reply = dispatch(channel_set, [call("svc.ext")], [Header("Remember", False, {"k": [1]})])
    assert recorder.headers == [{"k": [1]}]
    assert reply.messages[0].body["remembered"] == {"k": [1]}


def test_unknown_optional_header_is_ignored(channel_set):
    reply = dispatch(channel_set, [call("svc.echo", 1)], [Header("NoSuchHeader", False, 1)])
    assert_result(reply.messages[0], "/1", 1)


def test_unknown_required_header_fails_every_message_with_a_clear_fault(channel_set, recorder):
    ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION)
    reply = dispatch(channel_set, [call("svc.echo", 1, response="/1"),
                                   call("plain", 2, response="/2"),
                                   flex(ping, "/3")],
                     [Header("Remember", False, "seen"), Header("MustKnow", True, 1)],
                     client_type=Packet.FLASH_9)
    for index in (0, 1):
        error = assert_nc_fault(reply.messages[index], f"/{index + 1}", "RemotingError")
        assert "'MustKnow'" in error.message and "not understood" in error.message
    error = assert_flex_fault(reply.messages[2], "/3", ping, "RemotingError")
    assert "'MustKnow'" in error.faultString


def test_failing_header_target_fails_every_message(channel_set):
    reply = dispatch(channel_set, [call("svc.echo", 1, response="/1"),
                                   call("svc.echo", 2, response="/2")],
                     [Header("Explode", False, None)])
    for index in (0, 1):
        assert_nc_fault(reply.messages[index], f"/{index + 1}", "ValueError", "header exploded")


# ----------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("required", [False, True])
def test_credentials_header_opens_secure_targets(channel_set, required):
    reply = dispatch(channel_set, [call("svc.secret", response="/1"), call("svc.ext", response="/2")],
                     [Header("Credentials", required, CREDENTIALS)])
    assert_result(reply.messages[0], "/1", "secret value")
    assert reply.messages[1].body["authenticated"] is True


def test_secure_target_refuses_a_packet_without_credentials(channel_set):
    reply = dispatch(channel_set, [call("svc.secret")])
    assert_nc_fault(reply.messages[0], "/1", "SecurityError")


def test_authentication_lasts_for_its_packet_only(channel_set):
    dispatch(channel_set, [call("svc.secret")], [Header("Credentials", False, CREDENTIALS)])
    reply = dispatch(channel_set, [call("svc.secret")])
    assert_nc_fault(reply.messages[0], "/1", "SecurityError")


@pytest.mark.parametrize("credentials", [
    {"userid": "correct", "password": "wrong"},
    {"userid": "nobody"},
    "correct:correct",
    None,
])
def test_bad_credentials_fail_every_message(channel_set, credentials):
    reply = dispatch(channel_set, [call("svc.echo", 1, response="/1"),
                                   call("svc.secret", response="/2")],
                     [Header("Credentials", False, credentials)])
    for index in (0, 1):
        assert_nc_fault(reply.messages[index], f"/{index + 1}", "SecurityError")


def test_channel_set_without_login_refuses_credentials():
    channel_set = WsgiChannelSet()
    channel_set.mapChannel(WsgiChannel("amf"))
    reply = dispatch(channel_set, [call("x.y")], [Header("Credentials", False, CREDENTIALS)])
    assert_nc_fault(reply.messages[0], "/1", "SecurityError")


def test_amfast_check_credentials_hook_and_login_returning_false():
    class Hooked(ChannelSet):
        def checkCredentials(self, user, password):
            if user != "hook":
                raise SecurityError("hook says no")

    class Falsy(ChannelSet):
        def login(self, user, password):
            return False

    for cls, user, ok in ((Hooked, "hook", True), (Hooked, "other", False),
                          (Falsy, "any", False)):
        channel_set = cls()
        channel_set.mapChannel(WsgiChannel("amf"))
        service = remoting.Service("s")
        service.mapTarget(remoting.CallableTarget(lambda: "in", "t", secure=True))
        channel_set.service_mapper.mapService(service)
        reply = dispatch(channel_set, [call("s.t")],
                         [Header("Credentials", False, {"userid": user, "password": "p"})])
        if ok:
            assert_result(reply.messages[0], "/1", "in")
        else:
            assert_nc_fault(reply.messages[0], "/1", "SecurityError")


# ----------------------------------------------------------------------------- Flex messages


def test_remoting_message_is_acknowledged_with_the_result(channel_set):
    request = RemotingMessage(destination="svc", operation="args", body=[1, "b"],
                              clientId="CLIENT-1", messageId="REQ-1")
    before = time.time() * 1000
    reply = dispatch(channel_set, [flex(request, "/5")], client_type=Packet.FLASH_9)
    assert_result(reply.messages[0], "/5", reply.messages[0].body)
    ack = reply.messages[0].body
    assert type(ack) is AcknowledgeMessage
    assert ack.body == [1, "b"]
    assert ack.correlationId == "REQ-1"
    assert ack.clientId == "CLIENT-1"
    assert ack.messageId and ack.messageId != "REQ-1"
    assert before - 1000 <= ack.timestamp <= time.time() * 1000 + 1000


def test_remoting_message_body_that_is_not_a_list_is_one_argument(channel_set):
    request = RemotingMessage(destination="svc", operation="echo", body={"a": 1})
    reply = dispatch(channel_set, [flex(request)], client_type=Packet.FLASH_9)
    assert reply.messages[0].body.body == {"a": 1}


def test_flex_fault_is_an_error_message_without_traceback(channel_set):
    request = RemotingMessage(destination="svc", operation="fail", body=[],
                              clientId="C", messageId="M-1")
    reply = dispatch(channel_set, [flex(request, "/2")], client_type=Packet.FLASH_9)
    error = assert_flex_fault(reply.messages[0], "/2", request, "ValueError", "boom")
    assert error.faultDetail == ""
    assert "Traceback" not in repr(vars(error))


def test_flex_fault_carries_the_traceback_only_in_debug():
    channel_set, _ = build_channel_set(debug=True)
    request = RemotingMessage(destination="svc", operation="fail", body=[])
    reply = dispatch(channel_set, [flex(request)], client_type=Packet.FLASH_9)
    error = assert_flex_fault(reply.messages[0], "/1", request, "ValueError", "boom")
    assert "Traceback" in error.faultDetail and "ValueError: boom" in error.faultDetail


def test_flex_fault_error_chooses_code_detail_and_extended_data(channel_set):
    request = RemotingMessage(destination="svc", operation="fault", body=[])
    reply = dispatch(channel_set, [flex(request)], client_type=Packet.FLASH_9)
    error = assert_flex_fault(reply.messages[0], "/1", request, "App.Custom", "custom fault")
    assert error.faultDetail == "some detail"
    assert error.extendedData == {"why": "because"}


def test_flex_secure_operation_fault_is_client_authentication(channel_set):
    request = RemotingMessage(destination="svc", operation="secret", body=[])
    reply = dispatch(channel_set, [flex(request)], client_type=Packet.FLASH_9)
    assert_flex_fault(reply.messages[0], "/1", request, "Client.Authentication")


@pytest.mark.parametrize("destination,operation", [("svc", "missing"), ("nosuch", "echo")])
def test_flex_unknown_operation_is_a_flex_message_error(channel_set, destination, operation):
    request = RemotingMessage(destination=destination, operation=operation, body=[])
    reply = dispatch(channel_set, [flex(request)], client_type=Packet.FLASH_9)
    error = assert_flex_fault(reply.messages[0], "/1", request, "FlexMessageError")
    assert f"{destination}.{operation}" in error.faultString


def test_flex_round_trip_over_the_wire(channel_set):
    request = RemotingMessage(destination="svc", operation="echo", body=[{"n": 1}],
                              messageId="WIRE-1", headers={"DSId": "abc"})
    reply = over_wire(channel_set, Packet(Packet.FLASH_9, [], [flex(request, "/9")]))
    assert reply.messages[0].target == "/9/onResult"
    ack = reply.messages[0].body
    assert isinstance(ack, AcknowledgeMessage) and not isinstance(ack, ErrorMessage)
    assert ack.body == {"n": 1} and ack.correlationId == "WIRE-1"


# ----------------------------------------------------------------------------- commands


def test_client_ping_ack_carries_a_new_dsid(channel_set):
    for headers in ({"DSId": "nil", "DSMessagingVersion": 1}, {}):
        ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION, headers=headers)
        reply = dispatch(channel_set, [flex(ping)], client_type=Packet.FLASH_9)
        assert reply.messages[0].target == "/1/onResult"
        ack = reply.messages[0].body
        assert isinstance(ack, AcknowledgeMessage) and not isinstance(ack, ErrorMessage)
        assert ack.correlationId == ping.messageId
        client_id = dsid(ack)
        assert isinstance(client_id, str) and client_id and client_id != "nil"


def test_client_ping_ids_differ_between_clients(channel_set):
    ids = set()
    for _ in range(5):
        ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION,
                              headers={"DSId": "nil"})
        ids.add(dsid(dispatch(channel_set, [flex(ping)], client_type=3).messages[0].body))
    assert len(ids) == 5


def test_client_ping_keeps_an_id_the_server_issued(channel_set):
    issued = channel_set.generateId()
    ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION, headers={"DSId": issued})
    reply = dispatch(channel_set, [flex(ping)], client_type=Packet.FLASH_9)
    assert dsid(reply.messages[0].body) == issued


def test_client_ping_replaces_a_forged_id(channel_set):
    forged = str(uuid.uuid4())
    ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION, headers={"DSId": forged})
    reply = dispatch(channel_set, [flex(ping)], client_type=Packet.FLASH_9)
    issued = dsid(reply.messages[0].body)
    assert issued != forged and channel_set.connection_manager.verifyId(issued)


def test_command_target_mapped_by_operation_gets_the_command_body(channel_set, recorder):
    command = CommandMessage(operation=CommandMessage.TRIGGER_CONNECT_OPERATION,
                             body={"payload": [1, 2]}, messageId="CMD-1")
    reply = dispatch(channel_set, [flex(command, "/4")], client_type=Packet.FLASH_9)
    assert recorder.commands == [{"payload": [1, 2]}]
    assert reply.messages[0].target == "/4/onResult"
    ack = reply.messages[0].body
    assert isinstance(ack, AcknowledgeMessage) and not isinstance(ack, ErrorMessage)
    assert ack.body == {"got": {"payload": [1, 2]}} and ack.correlationId == "CMD-1"


def test_unmapped_command_operation_is_a_flex_message_error(channel_set):
    command = CommandMessage(operation=CommandMessage.UNKNOWN_OPERATION)
    reply = dispatch(channel_set, [flex(command)], client_type=Packet.FLASH_9)
    error = assert_flex_fault(reply.messages[0], "/1", command, "FlexMessageError")
    assert str(CommandMessage.UNKNOWN_OPERATION) in error.faultString


def test_command_targets_can_be_remapped_and_may_return_a_whole_reply(channel_set):
    def custom_ping(packet, message, body):
        ack = message.body[0].acknowledge()
        ack.headers["DSId"] = "custom-id"
        ack.body = "pong"
        return ack

    channel_set.service_mapper.command_service.mapTarget(
        remoting.ExtCallableTarget(custom_ping, CommandMessage.CLIENT_PING_OPERATION))
    ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION, headers={"DSId": "nil"})
    ack = dispatch(channel_set, [flex(ping)], client_type=Packet.FLASH_9).messages[0].body
    assert (dsid(ack), ack.body, ack.correlationId) == ("custom-id", "pong", ping.messageId)


def test_failing_command_target_is_an_error_message(channel_set):
    def broken(body):
        raise KeyError("nope")

    channel_set.service_mapper.command_service.mapTarget(remoting.CallableTarget(broken, 11))
    command = CommandMessage(operation=11)
    reply = dispatch(channel_set, [flex(command)], client_type=Packet.FLASH_9)
    assert_flex_fault(reply.messages[0], "/1", command, "KeyError")


def test_service_mapper_builtins():
    mapper = remoting.ServiceMapper()
    assert mapper.packet_header_service.getTarget("Credentials") is not None
    assert mapper.command_service.getTarget(CommandMessage.CLIENT_PING_OPERATION) is not None
    assert list(mapper) == []
    assert mapper.getTarget("nosuch", "x") is None


def test_errors_hierarchy_used_in_faults():
    assert issubclass(FlexMessageError, RemotingError)
    assert issubclass(SecurityError, Exception)
