"""Remoting over a real HTTP server on 127.0.0.1, under wsgiref and under waitress.

Two clients: amfast's own ``RemotingService`` and py3amf's
``pyamf.remoting.client.RemotingService`` (an independent implementation), plus raw
``http.client`` requests for the HTTP surface (inventory §11 item 15).
"""
from __future__ import annotations

import datetime
import http.client
import socket
import struct
import threading
import urllib.request

import pytest

from amfast.class_def.as_types import AsError
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import CallableTarget, Message, Packet
from amfast.remoting.client import HttpError, RemotingFault, RemotingService
from amfast.remoting.flex_messages import (AcknowledgeMessage, CommandMessage, ErrorMessage,
                                           RemotingMessage)
from tests.conftest import use_endpoints
from tests.remoting import apps
from tests.remoting.apps import SMALL_MAX, build_channel_set, dsid

pyamf = pytest.importorskip("pyamf")
from pyamf import remoting as pyamf_remoting  # noqa: E402
from pyamf.flex import messaging as pyamf_messaging  # noqa: E402
from pyamf.remoting.client import RemotingService as PyamfRemotingService  # noqa: E402

TIMEOUT = 10.0


class Served:
    """A channel set being served: its URL, and the recorder of its header/command targets."""

    def __init__(self, server, channel_set, recorder):
        self.server = server
        self.port = server.port
        self.channel_set = channel_set
        self.recorder = recorder

    def url(self, path="/amf"):
        return self.server.url(path)

    def client(self, amf3=False, path="/amf"):
        return RemotingService(self.url(path), amf3=amf3, timeout=TIMEOUT)

    def pyamf_client(self, amf_version=0, strict=False):
        # No proxy, even if the environment names one.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        return PyamfRemotingService(self.url(), amf_version=amf_version, strict=strict,
                                    opener=lambda req: opener.open(req, timeout=TIMEOUT))


@pytest.fixture
def served(serve_app, transport, endpoint_factory):
    channel_set, recorder = build_channel_set(transport=transport)
    use_endpoints(channel_set, endpoint_factory)
    return Served(serve_app(channel_set), channel_set, recorder)


@pytest.fixture
def served_debug(serve_app, transport, endpoint_factory):
    channel_set, recorder = build_channel_set(debug=True, transport=transport)
    use_endpoints(channel_set, endpoint_factory)
    return Served(serve_app(channel_set), channel_set, recorder)


def raw_request(served, method, path="/amf", body=None, headers=None):
    """One HTTP request on a new connection: (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=TIMEOUT)
    try:
        hdrs = {"Content-Type": "application/x-amf"} if body is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()


def assert_amf_reply(status, headers, body):
    assert status == 200, body[:300]
    assert headers["content-type"] == "application/x-amf"
    assert "content-length" in headers and int(headers["content-length"]) == len(body)
    assert "chunked" not in headers.get("transfer-encoding", "")
    return Decoder().decode_packet(body)


def assert_plain_error(status, headers, body, expected):
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("text/plain"), headers
    assert int(headers["content-length"]) == len(body)
    lowered = body.lower()
    assert b"<html" not in lowered and b"traceback" not in lowered, body[:300]


def encode_request(messages, client_type=Packet.FLASH_8, headers=()):
    packet = Packet(client_type, list(headers), list(messages))
    return Encoder().encode_packet(packet, amf3=packet.is_amf3)


# ============================================================================= our client

VALUES = ["hello", "héllo 世界", "", 0, 42, -7, 2 ** 31 - 1, 3.5, True, False, None,
          [1, "two", 3.25], [], {"a": 1, "b": "x", "nested": [1, 2]},
          datetime.datetime(2020, 1, 2, 3, 4, 5)]


def as_sent(value, amf3):
    """What a reply gives back: AMF0 numbers are floats, and so are AMF3 ints outside the
    29-bit range."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if amf3 and -2 ** 28 <= value < 2 ** 28 else float(value)
    if isinstance(value, list):
        return [as_sent(v, amf3) for v in value]
    if isinstance(value, dict):
        return {k: as_sent(v, amf3) for k, v in value.items()}
    return value


@pytest.mark.parametrize("amf3", [False, True], ids=["amf0", "amf3"])
def test_our_client_netconnection_echo(served, amf3):
    client = served.client(amf3=amf3)
    try:
        results = client.call_many([("svc.echo", [v]) for v in VALUES])
        single = client.call("svc.echo", {"k": 7})
    finally:
        client.close()
    expected = [as_sent(v, amf3) for v in VALUES]
    assert results == expected
    for got, want in zip(results, expected):
        assert type(got) is type(want), (got, want)
    assert single == ({"k": 7} if amf3 else {"k": 7.0})


def test_our_client_batch_one_failure_does_not_fail_the_others(served):
    client = served.client()
    replies = client.send([("svc.echo", ["a"]), ("svc.fail", []), ("svc.missing", []),
                           ("svc.unencodable", []), ("svc.echo", ["e"])])
    client.close()
    assert [m.target.rsplit("/", 1)[1] for m in replies] == [
        "onResult", "onStatus", "onStatus", "onStatus", "onResult"]
    assert replies[0].body == "a" and replies[4].body == "e"
    assert [m.body.name for m in replies[1:4]] == ["ValueError", "RemotingError", "EncodeError"]


class Unreadable:
    """Its attributes cannot be read, so encoding it fails with the getter's error."""

    @property
    def __dict__(self):
        raise RuntimeError("attribute store unavailable")


def test_result_whose_encoding_raises_fails_only_its_message(served):
    def unreadable():
        return Unreadable()

    served.channel_set.service_mapper.getService("svc").mapTarget(
        CallableTarget(unreadable, "unreadable"))
    client = served.client()
    replies = client.send([("svc.echo", ["a"]), ("svc.unreadable", []), ("svc.echo", ["c"])])
    client.close()
    assert [m.target for m in replies][1].endswith("/onStatus")
    assert replies[0].body == "a" and replies[2].body == "c"
    assert replies[1].body.name == "RuntimeError"


def test_our_client_netconnection_fault(served):
    client = served.client()
    with pytest.raises(RemotingFault) as info:
        client.call("svc.fail", 1)
    fault = info.value.fault
    assert isinstance(fault, AsError)
    assert (fault.errorId, fault.name, fault.message) == (5000, "ValueError", "boom")
    assert info.value.code == "ValueError"
    client.close()


def test_fault_replies_carry_no_traceback_on_the_wire(served):
    ping = CommandMessage(operation=CommandMessage.CLIENT_PING_OPERATION)
    failing = RemotingMessage(destination="svc", operation="fail", body=[])
    raw = encode_request([Message("svc.fail", "/1", []), Message("null", "/2", [failing]),
                          Message("null", "/3", [ping])], Packet.FLASH_9)
    status, headers, body = raw_request(served, "POST", body=raw)
    reply = assert_amf_reply(status, headers, body)
    assert b"Traceback" not in body and b'File "' not in body
    assert reply.messages[0].body.message == "boom"
    assert reply.messages[1].body.faultDetail == ""


def test_debug_channel_set_sends_tracebacks(served_debug):
    client = served_debug.client()
    with pytest.raises(RemotingFault) as info:
        client.call("svc.fail")
    assert "Traceback" in info.value.fault.message and "boom" in info.value.fault.message
    message = RemotingMessage(destination="svc", operation="fail", body=[])
    with pytest.raises(RemotingFault) as info:
        client.send_flex(message)
    fault = info.value.fault
    assert isinstance(fault, ErrorMessage) and fault.faultCode == "ValueError"
    assert "Traceback" in fault.faultDetail and fault.correlationId == message.messageId
    client.close()


def test_our_client_flex_remote_call_and_ping(served):
    client = served.client()
    assert client.remote_call("svc", "args", 1, "b", [3]) == [1, "b", [3]]
    assert client.client_id and client.client_id != "nil"
    message = RemotingMessage(destination="svc", operation="echo", body=[{"n": 1}])
    ack = client.send_flex(message)
    assert type(ack) is AcknowledgeMessage
    assert ack.correlationId == message.messageId and ack.body == {"n": 1}
    client.close()


def test_our_client_flex_fault_is_an_error_message(served):
    client = served.client()
    client.ping()
    message = RemotingMessage(destination="svc", operation="fail", body=[], clientId="CL-1")
    with pytest.raises(RemotingFault) as info:
        client.send_flex(message)
    fault = info.value.fault
    assert isinstance(fault, ErrorMessage)
    assert (fault.faultCode, fault.faultString, fault.faultDetail) == ("ValueError", "boom", "")
    assert fault.correlationId == message.messageId and fault.clientId == "CL-1"
    client.close()


def test_ping_ack_carries_a_dsid_header(served):
    raw = encode_request([Message("null", "/1", [CommandMessage(
        operation=CommandMessage.CLIENT_PING_OPERATION, messageId="PING-1",
        headers={"DSId": "nil", "DSMessagingVersion": 1})])], Packet.FLASH_9)
    reply = assert_amf_reply(*raw_request(served, "POST", body=raw))
    assert reply.messages[0].target == "/1/onResult"
    ack = reply.messages[0].body
    assert isinstance(ack, AcknowledgeMessage) and not isinstance(ack, ErrorMessage)
    assert ack.correlationId == "PING-1"
    assert dsid(ack) and dsid(ack) != "nil"


# ----------------------------------------------------------------------------- secure targets


def test_secure_target_over_netconnection(served):
    client = served.client()
    with pytest.raises(RemotingFault) as info:
        client.call("svc.secret")
    assert info.value.code == "SecurityError"
    client.setCredentials(*apps.GOOD_USER)
    assert client.call("svc.secret") == "secret value"
    assert client.call("svc.ext")["authenticated"] is True
    client.setCredentials("correct", "wrong")
    replies = client.send([("svc.echo", [1]), ("svc.secret", [])])
    assert [m.body.name for m in replies] == ["SecurityError", "SecurityError"]
    assert all(m.target.endswith("/onStatus") for m in replies)
    client.close()


def test_secure_target_over_flex_is_client_authentication(served):
    client = served.client()
    client.ping()
    message = RemotingMessage(destination="svc", operation="secret", body=[])
    with pytest.raises(RemotingFault) as info:
        client.send_flex(message)
    assert info.value.code == "Client.Authentication"
    assert info.value.fault.correlationId == message.messageId
    client.close()


# ----------------------------------------------------------------------------- header targets


def test_header_target_receives_its_value(served):
    client = served.client()
    client.addHeader("Remember", {"token": "t-1", "n": [1, 2]})
    client.addHeader("Ignored", "whatever")
    assert client.call("svc.ext")["remembered"] == {"token": "t-1", "n": [1.0, 2.0]}
    assert served.recorder.headers == [{"token": "t-1", "n": [1.0, 2.0]}]
    client.close()


def test_unknown_required_header_fails_the_packet_with_a_clear_fault(served):
    client = served.client()
    client.addHeader("MustUnderstand", 1, required=True)
    replies = client.send([("svc.echo", [1]), ("plain", ["x"])])
    for reply in replies:
        assert reply.target.endswith("/onStatus")
        assert reply.body.name == "RemotingError"
        assert "'MustUnderstand'" in reply.body.message
    client.close()


def test_failing_header_target_fails_every_message(served):
    client = served.client()
    client.addHeader("Explode", True)
    replies = client.send([("svc.echo", [1]), ("svc.echo", [2])])
    assert [(m.body.name, m.body.message) for m in replies] == [
        ("ValueError", "header exploded")] * 2
    client.close()


# ----------------------------------------------------------------------------- command targets


def test_command_target_by_operation_gets_the_command_body(served):
    client = served.client()
    command = CommandMessage(operation=CommandMessage.TRIGGER_CONNECT_OPERATION,
                             body={"x": "y"})
    ack = client.send_flex(command)
    assert ack.body == {"got": {"x": "y"}} and ack.correlationId == command.messageId
    assert served.recorder.commands == [{"x": "y"}]
    with pytest.raises(RemotingFault) as info:
        client.send_flex(CommandMessage(operation=CommandMessage.UNKNOWN_OPERATION))
    assert info.value.code == "FlexMessageError"
    client.close()


def test_ext_target_and_default_service_over_http(served):
    client = served.client(amf3=True)
    body = client.call("svc.ext", "a", 2)
    assert body["args"] == ["a", 2] and body["client_type"] == Packet.FLASH_9
    assert body["channel"] == "amf"
    assert client.call("plain", "z") == "plain:z"
    client.close()


def test_concurrent_clients(served):
    errors, results = [], {}

    def worker(n):
        client = served.client(amf3=bool(n % 2))
        try:
            results[n] = [client.call("svc.echo", f"{n}-{i}") for i in range(10)]
            results[n].append(client.remote_call("svc", "echo", n))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    for n in range(6):
        assert results[n] == [f"{n}-{i}" for i in range(10)] + [n]


# ============================================================================= py3amf's client


@pytest.mark.parametrize("strict", [False, True], ids=["loose", "strict"])
@pytest.mark.parametrize("amf_version", [0, 3], ids=["amf0", "amf3"])
def test_pyamf_netconnection_echo(served, amf_version, strict):
    gateway = served.pyamf_client(amf_version, strict=strict)
    svc = gateway.getService("svc")
    value = {"s": "héllo", "n": 7, "f": 2.5, "l": [1, "two", None], "t": True,
             "d": datetime.datetime(2021, 5, 6, 7, 8, 9)}
    assert svc.echo(value) == value
    assert svc.args(1, "b") == [1, "b"]
    assert gateway.getService("plain")("q") == "plain:q"


@pytest.mark.parametrize("amf_version", [0, 3], ids=["amf0", "amf3"])
def test_pyamf_batch_and_netconnection_fault(served, amf_version):
    gateway = served.pyamf_client(amf_version)
    svc = gateway.getService("svc", auto_execute=False)
    first, failing, last = svc.echo("a"), svc.fail(), svc.echo("c")
    envelope = gateway.execute()
    ok_a, fault, ok_c = (envelope[r.id] for r in (first, failing, last))
    assert (ok_a.status, ok_a.body) == (pyamf_remoting.STATUS_OK, "a")
    assert (ok_c.status, ok_c.body) == (pyamf_remoting.STATUS_OK, "c")
    assert fault.status == pyamf_remoting.STATUS_ERROR
    # The AS Error object {errorId 5000, name, message}, typed 'Error'.
    assert dict(fault.body) == {"errorId": 5000, "name": "ValueError", "message": "boom"}
    assert getattr(fault.body, "alias", None) == "Error"


@pytest.mark.parametrize("amf_version", [0, 3], ids=["amf0", "amf3"])
def test_pyamf_credentials_and_secure_target(served, amf_version):
    gateway = served.pyamf_client(amf_version)
    request = gateway.addRequest(gateway.getService("svc", auto_execute=False).secret)
    response = gateway.execute_single(request)
    assert response.status == pyamf_remoting.STATUS_ERROR
    assert response.body["name"] == "SecurityError"
    gateway.setCredentials(*apps.GOOD_USER)  # a must-understand header in py3amf
    assert gateway.getService("svc").secret() == "secret value"
    gateway.setCredentials("correct", "nope")
    request = gateway.addRequest(gateway.getService("svc", auto_execute=False).echo, 1)
    response = gateway.execute_single(request)
    assert response.status == pyamf_remoting.STATUS_ERROR
    assert response.body["name"] == "SecurityError"


def test_pyamf_headers(served):
    gateway = served.pyamf_client(0)
    gateway.addHeader("Remember", "from pyamf")
    assert gateway.getService("svc").ext()["remembered"] == "from pyamf"
    gateway.addHeader("UnknownButRequired", 1, must_understand=True)
    request = gateway.addRequest(gateway.getService("svc", auto_execute=False).echo, 1)
    response = gateway.execute_single(request)
    assert response.status == pyamf_remoting.STATUS_ERROR
    assert response.body["name"] == "RemotingError"
    assert "UnknownButRequired" in response.body["message"]


def pyamf_flex(gateway, message):
    request = gateway.addRequest(gateway.getService("null"), message)
    return gateway.execute_single(request)


def test_pyamf_flex_remoting_message(served):
    gateway = served.pyamf_client(3)
    ping = pyamf_messaging.CommandMessage(operation=5, messageId="P-1",
                                          headers={"DSId": "nil", "DSMessagingVersion": 1})
    response = pyamf_flex(gateway, ping)
    assert response.status == pyamf_remoting.STATUS_OK
    assert isinstance(response.body, pyamf_messaging.AcknowledgeMessage)
    client_id = response.body.headers["DSId"]
    assert client_id and client_id != "nil" and response.body.correlationId == "P-1"

    message = pyamf_messaging.RemotingMessage(
        destination="svc", operation="echo", body=[{"a": [1, 2], "b": "x"}],
        messageId="R-1", clientId="C-1", headers={"DSId": client_id})
    response = pyamf_flex(gateway, message)
    assert response.status == pyamf_remoting.STATUS_OK
    ack = response.body
    assert type(ack) is pyamf_messaging.AcknowledgeMessage
    assert ack.body == {"a": [1, 2], "b": "x"}
    assert (ack.correlationId, ack.clientId) == ("R-1", "C-1")


@pytest.mark.parametrize("operation,code,string", [
    ("fail", "ValueError", "boom"),
    ("secret", "Client.Authentication", None),
    ("fault", "App.Custom", "custom fault"),
    ("missing", "FlexMessageError", None),
])
def test_pyamf_flex_faults(served, operation, code, string):
    gateway = served.pyamf_client(3)
    message = pyamf_messaging.RemotingMessage(destination="svc", operation=operation, body=[],
                                              messageId=f"F-{operation}")
    response = pyamf_flex(gateway, message)
    assert response.status == pyamf_remoting.STATUS_ERROR
    error = response.body
    assert isinstance(error, pyamf_messaging.ErrorMessage)
    assert error.faultCode == code
    if string is not None:
        assert error.faultString == string
    assert error.correlationId == f"F-{operation}"
    assert "Traceback" not in (error.faultDetail or "")


def test_pyamf_command_target(served):
    gateway = served.pyamf_client(3)
    command = pyamf_messaging.CommandMessage(operation=13, body=["payload"], messageId="T-1")
    response = pyamf_flex(gateway, command)
    assert response.status == pyamf_remoting.STATUS_OK
    assert response.body.body == {"got": ["payload"]}
    assert response.body.correlationId == "T-1"
    assert served.recorder.commands == [["payload"]]


# ============================================================================= bad HTTP


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_methods_other_than_post_are_405_with_allow(served, method):
    status, headers, body = raw_request(served, method)
    assert_plain_error(status, headers, body, 405)
    assert headers["allow"] == "POST"


def test_get_from_our_client_is_reported_as_http_error(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=TIMEOUT)
    conn.request("GET", "/amf")
    assert conn.getresponse().status == 405
    conn.close()
    client = served.client(path="/nowhere")
    with pytest.raises(HttpError) as info:
        client.call("svc.echo", 1)
    assert info.value.status == 404
    client.close()


@pytest.mark.parametrize("path", ["/nowhere", "/", "/amf/extra", "/AMF"])
def test_unknown_channel_path_is_404(served, path):
    raw = encode_request([Message("svc.echo", "/1", [1])])
    assert_plain_error(*raw_request(served, "POST", path, body=raw), 404)


def _nested(depth):
    return (struct.pack(">HHH", 0, 0, 1) + b"\x00\x01a\x00\x02/1" + struct.pack(">I", 0)
            + b"\x0a\x00\x00\x00\x01" + b"\x0a\x00\x00\x00\x01" * depth + b"\x05")


WRONG_BODIES = {
    "empty": b"",
    "text": b"hello, this is not AMF",
    "html": b"<html><body>form</body></html>",
    "json": b'{"target": "svc.echo", "args": [1]}',
    "unknown-version": struct.pack(">HHH", 2, 0, 0),
    "counts-without-data": struct.pack(">HHH", 0, 0, 65535),
    "array-count-too-big": (struct.pack(">HHH", 0, 0, 1) + b"\x00\x01a\x00\x02/1"
                            + struct.pack(">I", 0) + b"\x0a\xff\xff\xff\xff"),
    "nested-too-deep": _nested(5000),
}


@pytest.mark.parametrize("name", sorted(WRONG_BODIES))
def test_undecodable_body_is_400(served, name):
    assert_plain_error(*raw_request(served, "POST", body=WRONG_BODIES[name]), 400)


def test_truncated_amf_is_400(served):
    raw = encode_request([Message("svc.echo", f"/{i}", [{"i": i, "s": "x" * 10}])
                          for i in range(1, 4)], Packet.FLASH_9)
    for cut in sorted({1, 2, 5, 8, 20, len(raw) // 2, len(raw) - 2, len(raw) - 1}):
        assert_plain_error(*raw_request(served, "POST", body=raw[:cut]), 400)
    # The whole packet still works on the same server.
    reply = assert_amf_reply(*raw_request(served, "POST", body=raw))
    assert [m.body["i"] for m in reply.messages] == [1, 2, 3]


def test_body_over_max_body_size_is_413(served):
    fits = encode_request([Message("svc.echo", "/1", ["x" * (SMALL_MAX - 100)])])
    assert len(fits) <= SMALL_MAX
    reply = assert_amf_reply(*raw_request(served, "POST", "/small", body=fits))
    assert reply.messages[0].body == "x" * (SMALL_MAX - 100)
    # Bodies that fit in the server's first read: one that answers without reading the body
    # then closes with nothing unread (no RST racing the reply).
    for size in (SMALL_MAX + 1, 4 * SMALL_MAX):
        too_big = encode_request([Message("svc.echo", "/1", ["x" * size])])
        assert_plain_error(*raw_request(served, "POST", "/small", body=too_big), 413)
    # The default channel takes it.
    reply = assert_amf_reply(*raw_request(served, "POST", "/amf", body=too_big))
    assert reply.messages[0].body == "x" * 4 * SMALL_MAX


def test_chunked_request_is_answered_or_refused_cleanly(served):
    raw = encode_request([Message("svc.echo", "/1", ["chunked"])])
    # The whole request in one write: a server that answers 411 without reading the body
    # must not make the client fail while still sending it.
    request = (b"POST /amf HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/x-amf\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n"
               + b"%x\r\n" % len(raw) + raw + b"\r\n0\r\n\r\n")
    with socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        status, body = response.status, response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    if status == 200:  # the server de-chunked it and gave the length
        assert assert_amf_reply(status, headers, body).messages[0].body == "chunked"
    else:
        assert_plain_error(status, headers, body, 411)


def test_internal_error_is_a_plain_500_without_traceback(served):
    def broken_dispatch(packet, request=None):
        raise RuntimeError("internal failure with a secret detail")

    # An error outside any message's handling (here the whole dispatch) is the server's.
    served.channel_set.getChannel("amf").dispatch = broken_dispatch
    raw = encode_request([Message("svc.echo", "/1", [1])])
    status, headers, body = raw_request(served, "POST", body=raw)
    assert_plain_error(status, headers, body, 500)
    assert b"secret detail" not in body and b"RuntimeError" not in body


def test_success_reply_is_amf_with_content_length(served):
    raw = encode_request([Message("svc.echo", "/1", ["hi"])], Packet.FLASH_9)
    reply = assert_amf_reply(*raw_request(served, "POST", body=raw))
    assert reply.client_type == Packet.FLASH_9
    assert reply.messages[0].target == "/1/onResult" and reply.messages[0].body == "hi"


def test_keep_alive_connection_serves_several_requests(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=TIMEOUT)
    try:
        for i in range(5):
            raw = encode_request([Message("svc.echo", "/1", [i])], Packet.FLASH_9)
            try:
                conn.request("POST", "/amf", raw, {"Content-Type": "application/x-amf"})
                response = conn.getresponse()
            except (http.client.HTTPException, ConnectionError):
                conn.close()  # a server that closes after each reply (HTTP/1.0)
                conn.request("POST", "/amf", raw, {"Content-Type": "application/x-amf"})
                response = conn.getresponse()
            reply = assert_amf_reply(response.status,
                                     {k.lower(): v for k, v in response.getheaders()},
                                     response.read())
            assert reply.messages[0].body == i
    finally:
        conn.close()


def test_bad_request_does_not_disturb_the_server(served):
    assert_plain_error(*raw_request(served, "POST", body=b"\x00\x03garbage"), 400)
    client = served.client()
    assert client.call("svc.echo", "still alive") == "still alive"
    client.close()

