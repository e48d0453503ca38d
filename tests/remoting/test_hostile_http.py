"""A hostile or broken HTTP client against the real WSGI servers (wsgiref and waitress).

What a client sends on the socket, byte for byte (raw sockets where ``http.client`` would
correct it): wrong methods and content types, missing or lying Content-Length, truncated and
oversize bodies, slow clients, thousands of forged DSIds, malformed streaming commands,
concurrent logins, hostile XML (XXE, external-DTD SSRF, billion laughs) and faults that
could leak internals.  Throughout, the server answers with a status (never a 500 or a
traceback), keeps serving the other clients, and its state stays bounded.

The polling, login and session behaviour itself is in test_messaging_http.py, the plain
HTTP surface (405, 404, 413, chunked) in test_http.py; what is here is what they leave out.
Every wait is bounded.
"""
from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Message, Packet
from amfast.remoting.endpoint import AmfEndpoint
from amfast.remoting.flex_messages import (
    AsyncMessage,
    CommandMessage,
    ErrorMessage,
    RemotingMessage,
)
from tests.remoting.conftest import DSID, TIMEOUT, FlexClient, build_messaging_channel_set, wait_until

SMALL = 1024
#: The longest an answer to a well-behaved client may take while others misbehave (s).
PROMPT = 2.0


def build_hostile_channel_set(transport, **options):
    """The messaging channel set of conftest plus ``/small`` and ``/smallstream``
    (``max_body_size=SMALL``), ``/noxml`` (XML values refused) and ``/capped``
    (``max_connections=20``)."""
    channel_set = build_messaging_channel_set(transport=transport, **options)
    channel_set.mapChannel(transport.Channel("small", max_body_size=SMALL))
    channel_set.mapChannel(transport.StreamingChannel("smallstream", max_body_size=SMALL,
                                                      heart_interval=300))
    channel_set.mapChannel(transport.Channel("noxml", endpoint=AmfEndpoint(
        decoder=Decoder(xml_type="refuse"))))
    channel_set.mapChannel(transport.Channel("capped", max_connections=20))
    return channel_set


@pytest.fixture
def hostile(serve_messaging, transport):
    return serve_messaging(channel_set=build_hostile_channel_set(transport))


# ----------------------------------------------------------------------------- raw HTTP


class Reply:
    """What came back on a raw socket: ``status`` None when the server closed (or the wait
    ended) without an answer."""

    def __init__(self, raw: bytes, timed_out: bool, elapsed: float):
        self.raw = raw
        self.timed_out = timed_out
        self.elapsed = elapsed
        self.status = None
        self.headers: dict = {}
        self.body = b""
        head, sep, body = raw.partition(b"\r\n\r\n")
        if sep and head.startswith(b"HTTP/"):
            lines = head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self.body = body

    def __repr__(self) -> str:
        return f"Reply({self.status}, timed_out={self.timed_out}, {self.raw[:200]!r})"


def raw_http(served, data: bytes, *, half_close: bool | None = None, timeout: float = TIMEOUT,
             then: bytes = b"", drip: float = 0.0) -> Reply:
    """Send ``data`` to ``served`` on a new socket (``drip`` seconds between bytes), then
    ``then``, then half-close and read until the server closes or ``timeout``.

    uvicorn takes a half-close for a client that left (it closes without answering), so
    there the socket stays open unless ``half_close`` says otherwise.
    """
    if half_close is None:
        half_close = served.kind != "uvicorn"
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=timeout)
    timed_out = False
    chunks = []
    try:
        if drip:
            for i in range(len(data)):
                sock.sendall(data[i:i + 1])
                time.sleep(drip)
        else:
            sock.sendall(data)
        if then:
            try:
                sock.sendall(then)
            except OSError:
                pass  # the server answered and closed already
        if half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        deadline = started + timeout
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                timed_out = True
                break
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if _complete(b"".join(chunks)):
                break
    finally:
        sock.close()
    return Reply(b"".join(chunks), timed_out, time.monotonic() - started)


def _complete(raw: bytes) -> bool:
    """A whole response with a Content-Length arrived."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return bool(match) and len(body) >= int(match.group(1))


def request_bytes(path: str, body: bytes = b"", method: str = "POST",
                  headers: list | None = None, content_length: object = "auto") -> bytes:
    """An HTTP/1.1 request, written by hand; ``content_length`` None leaves it out."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if content_length == "auto":
        content_length = len(body)
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    for name, value in headers or [("Content-Type", "application/x-amf")]:
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def echo_packet(value="hi", version: int = Packet.FLASH_8) -> bytes:
    packet = Packet(version, [], [Message("svc.echo", "/1", [value])])
    return Encoder().encode_packet(packet, amf3=packet.is_amf3)


def still_serving(served, value: str = "still here") -> float:
    """A well-behaved echo call succeeds; how long it took."""
    started = time.monotonic()
    client = FlexClient(served.base_url)
    reply = client.call("svc", "echo", value)
    assert not isinstance(reply, ErrorMessage), reply
    assert reply.body == value
    return time.monotonic() - started


def assert_plain(reply: Reply, *statuses: int) -> None:
    """One of ``statuses``, in short plain text without a traceback."""
    assert reply.status in statuses, reply
    assert reply.headers.get("content-type", "").startswith("text/plain"), reply
    assert b"Traceback" not in reply.body and b'File "' not in reply.body, reply


ECHO = echo_packet()


# ============================================================================= methods


def test_methods_other_than_post_are_405(hostile):
    for method in ("HEAD", "OPTIONS", "PATCH", "TRACE", "BREW"):
        for path in ("/amf", "/streaming", "/streaming?command=open"):
            reply = raw_http(hostile, request_bytes(path, method=method,
                                                         content_length=None, headers=[]))
            if method == "BREW" and hostile.kind == "uvicorn":
                # httptools refuses methods HTTP does not define before any application.
                assert reply.status == 400, (method, path, reply)
                continue
            assert reply.status == 405, (method, path, reply)
            assert reply.headers.get("allow") == "POST"
            if method == "HEAD":
                assert reply.body == b""
            else:
                assert_plain(reply, 405)


def test_get_with_a_body_is_405_and_its_body_is_not_decoded(hostile):
    reply = raw_http(hostile, request_bytes("/amf", ECHO, method="GET"))
    assert_plain(reply, 405)
    still_serving(hostile)


# ============================================================================= content types


def test_any_content_type_of_valid_amf_is_answered_never_500(hostile):
    """AMF clients are not consistent about Content-Type (BlazeDS does not check it): a valid
    packet is answered, or refused with 415; never parsed as a form, never a 500."""
    for content_type in ("text/plain", "application/json", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=zz", "application/xml", "",
                         "application/x-amf; charset=x"):
        headers = [("Content-Type", content_type)] if content_type else []
        for path in ("/amf", "/streaming"):
            reply = raw_http(hostile, request_bytes(path, ECHO, headers=headers))
            assert reply.status in (200, 415), (content_type, reply)
            if reply.status == 200:
                assert reply.headers["content-type"] == "application/x-amf"
                assert Decoder().decode_packet(reply.body).messages[0].body == "hi"


NOT_AMF = [
    ("application/x-www-form-urlencoded", b"DSId=nil&a=b&c=%FF%FE"),
    ("multipart/form-data; boundary=zz",
     b'--zz\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
     + b"\0" * 200 + b"\r\n--zz--\r\n"),
    ("application/json", b'{"target": "svc.echo", "args": ["hi"]}'),
    ("text/html", b"<html><body><form></form></body></html>"),
]


def test_bodies_that_are_not_amf_are_400(hostile):
    for content_type, body in NOT_AMF:
        for path in ("/amf", "/streaming"):
            reply = raw_http(hostile, request_bytes(
                path, body, headers=[("Content-Type", content_type)]))
            assert_plain(reply, 400)


# ============================================================================= Content-Length


def test_missing_content_length_is_411_or_400(hostile):
    reply = raw_http(hostile, request_bytes("/amf", ECHO, content_length=None))
    assert_plain(reply, 400, 411)
    still_serving(hostile)


def test_content_length_that_is_not_a_number_is_refused(hostile):
    for value in ("abc", "1e3", "0x10", "", " ", "+5", "5 5"):
        reply = raw_http(hostile, request_bytes("/amf", ECHO, content_length=value))
        assert_plain(reply, 400, 411)
    still_serving(hostile)


def test_content_length_shorter_than_the_body_decodes_only_that_much(hostile):
    """The bytes past Content-Length are not part of the request: a truncated packet, 400."""
    reply = raw_http(hostile, request_bytes("/amf", ECHO, content_length=len(ECHO) - 5))
    assert_plain(reply, 400)
    still_serving(hostile)


def test_content_length_longer_than_the_body_then_eof(hostile):
    """The client half-closes before the announced length: a 400, or the connection closed
    without an answer (waitress never hands an incomplete request to the application)."""
    reply = raw_http(hostile, request_bytes("/amf", ECHO, content_length=len(ECHO) + 50))
    assert reply.status in (400, None), reply
    if reply.status is not None:
        assert_plain(reply, 400)
    still_serving(hostile)


def test_content_length_longer_than_the_body_held_open(hostile):
    """A client that announces more than it sends and waits holds only its own request:
    the others are answered promptly meanwhile, and the server is fine after it leaves."""
    results: list = []
    liars = [threading.Thread(target=lambda: results.append(raw_http(
        hostile, request_bytes("/amf", ECHO, content_length=len(ECHO) + 100),
        half_close=False, timeout=1.0)), daemon=True) for _ in range(8)]
    for liar in liars:
        liar.start()
    time.sleep(0.2)
    for _ in range(5):
        assert still_serving(hostile) < PROMPT
    for liar in liars:
        liar.join(TIMEOUT)
    assert len(results) == 8
    for reply in results:
        assert reply.status in (None, 400), reply  # never a 200 of a partial packet
    still_serving(hostile)


def test_negative_content_length_is_refused_at_once(hostile):
    """Content-Length -1 followed by more than max_body_size bytes, connection held open:
    the server must answer (400/411/413) without reading the body to its end (it once
    read(-1) until the client closed, past max_body_size)."""
    reply = raw_http(hostile, request_bytes("/small", b"", content_length="-1"),
                     then=b"\0" * (16 * SMALL), half_close=False, timeout=2.0)
    assert reply.status in (400, 411, 413), reply
    assert reply.elapsed < 1.5, reply


#: waitress reads (spooling to disk) bodies up to its max_request_body_size, 1 GiB by default,
#: before the application sees the request; beyond that it answers 413 itself.
WAITRESS_MAX_BODY = 1 << 30


def test_oversize_content_length_is_413_before_any_body(hostile):
    """An announced body over the limit is refused at once: nothing is read or allocated.
    (waitress reads a body under its own limit before the application runs: there the body
    of the smallest case is sent, and the others are waitress's to refuse.)"""
    cases = [("/small", SMALL + 1), ("/amf", 16 * 1024 * 1024 + 1), ("/small", 10 ** 9),
             ("/small", 10 ** 12), ("/amf", 10 ** 20)]
    for path, length in cases:
        body = b""
        if hostile.kind == "waitress" and length <= WAITRESS_MAX_BODY:
            if length > 64 * SMALL:
                continue
            body = b"\0" * length
        reply = raw_http(hostile, request_bytes(path, body, content_length=length),
                         half_close=False, timeout=PROMPT)
        # httptools refuses a length past 64 bits itself, before any application.
        too_long_for_the_server = hostile.kind == "uvicorn" and length >= 2 ** 64
        assert_plain(reply, 400 if too_long_for_the_server else 413)
        assert not reply.timed_out


def test_streaming_commands_honour_max_body_size(hostile):
    """The form body of ?command=open/close is bounded like an AMF body (it was once read
    and parsed whole, whatever its size)."""
    body = b"DSId=" + b"a" * (8 * SMALL)
    for command in ("open", "close"):
        reply = raw_http(hostile, request_bytes(
            f"/smallstream?command={command}", body,
            headers=[("Content-Type", "application/x-www-form-urlencoded")]))
        assert_plain(reply, 413)


def test_streaming_command_with_a_short_body_is_400(hostile):
    """A ?command=open whose body is shorter than its Content-Length (the client
    half-closes): 400 as for AMF requests (it was once a 500 from webob's
    DisconnectionError), or the connection closed by a server that waits for whole bodies."""
    reply = raw_http(hostile, request_bytes(
        "/streaming?command=open", b"DSId=abc", content_length=100,
        headers=[("Content-Type", "application/x-www-form-urlencoded")]))
    assert reply.status in (400, None), reply
    still_serving(hostile)


def test_pipelined_garbage_after_a_request_does_not_disturb_the_server(hostile):
    data = request_bytes("/amf", ECHO) + b"\x00\xff" * 100 + b"\r\n\r\n"
    reply = raw_http(hostile, data)
    assert reply.status == 200, reply
    still_serving(hostile)


def test_content_length_and_chunked_together_are_not_smuggled(hostile):
    """Both framings (a request-smuggling vector): one request answered or refused, and the
    bytes after it are never run as a second request."""
    smuggled = request_bytes("/amf", echo_packet("smuggled"))
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ECHO), ECHO)
    data = request_bytes("/amf", chunk + smuggled, headers=[
        ("Content-Type", "application/x-amf"), ("Transfer-Encoding", "chunked")],
        content_length=len(chunk))
    reply = raw_http(hostile, data)
    assert reply.status in (200, 400, None), reply
    assert b"smuggled" not in reply.raw
    still_serving(hostile)


# ============================================================================= slow clients


def test_a_slow_client_does_not_hold_up_the_others(hostile):
    """A body sent one byte every 20 ms: the other clients are answered meanwhile, and the
    slow request is answered correctly in the end."""
    body = echo_packet("slow but whole")
    result: dict = {}

    def slow():
        sock = socket.create_connection(("127.0.0.1", hostile.port), timeout=TIMEOUT)
        try:
            sock.sendall(request_bytes("/amf", b"", content_length=len(body)))
            for i in range(len(body)):
                sock.sendall(body[i:i + 1])
                time.sleep(0.02)
            data = b""
            while not _complete(data):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            result["reply"] = Reply(data, False, 0)
        finally:
            sock.close()

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    answered = 0
    while thread.is_alive() and answered < 20:
        assert still_serving(hostile, f"meanwhile {answered}") < PROMPT
        answered += 1
        time.sleep(0.05)
    thread.join(TIMEOUT)
    assert answered >= 5, "the slow body took less time than expected"
    reply = result["reply"]
    assert reply.status == 200, reply
    assert Decoder().decode_packet(reply.body).messages[0].body == "slow but whole"


def test_slowloris_headers_do_not_hold_up_the_others(hostile):
    """Twenty connections that send half a header and stall."""
    socks = []
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", hostile.port), timeout=TIMEOUT)
            sock.sendall(b"POST /amf HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(sock)
        for i in range(5):
            assert still_serving(hostile, f"beside slowloris {i}") < PROMPT
    finally:
        for sock in socks:
            sock.close()
    still_serving(hostile)


def test_clients_that_vanish_mid_request_do_not_disturb_the_server(hostile):
    for cut in (5, 30, len(ECHO) // 2):
        sock = socket.create_connection(("127.0.0.1", hostile.port), timeout=TIMEOUT)
        sock.sendall(request_bytes("/amf", ECHO)[:-cut])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, not a clean close
    still_serving(hostile)


# ============================================================================= forged DSIds


#: Forged ids per server: wsgiref speaks HTTP/1.0 (a connection per request), so fewer.
FORGED = {"waitress": 2000, "wsgiref": 1000, "uvicorn": 2000}


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Poster:
    """POSTs on one kept-alive connection (re-opened when the server closes it)."""

    def __init__(self, served, channel: str = "amf"):
        self.conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=TIMEOUT)
        self.path = "/" + channel
        self.flex = FlexClient(served.base_url, channel)

    def forged_call(self, dsid: str) -> tuple[int, object]:
        message = RemotingMessage(destination="svc", operation="echo", body=["x"],
                                  headers={DSID: dsid})
        try:
            self.conn.request("POST", self.path, self.flex.encode(message),
                              {"Content-Type": "application/x-amf"})
            response = self.conn.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.conn.close()  # the server closed the kept-alive connection first
            self.conn.request("POST", self.path, self.flex.encode(message),
                              {"Content-Type": "application/x-amf"})
            response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            return response.status, body
        return response.status, Decoder().decode_packet(body).messages[0].body

    def close(self) -> None:
        self.conn.close()


def forged_call(served, dsid: str, channel: str = "amf") -> tuple[int, object]:
    poster = Poster(served, channel)
    try:
        return poster.forged_call(dsid)
    finally:
        poster.close()


def connection_count(served) -> int:
    return len(list(served.channel_set.connection_manager.iterConnectionIds()))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_thousands_of_forged_dsids_cost_one_small_connection_each_at_most(hostile):
    """Each forged id gets a new, server-issued id (never its own); the state it costs is one
    connection with nothing else attached, and memory grows by a bounded amount."""
    manager = hostile.channel_set.connection_manager
    subscriptions = hostile.channel_set.subscription_manager
    before_count = connection_count(hostile)
    before_rss = rss_kb()
    issued = set()
    forged_count = FORGED[hostile.kind]
    poster = Poster(hostile)
    try:
        for i in range(forged_count):
            forged = f"forged-{i}-" + "z" * (i % 200)
            status, reply = poster.forged_call(forged)
            assert status == 200, reply
            assert not isinstance(reply, ErrorMessage), reply
            new_id = reply.headers[DSID]
            assert new_id != forged and manager.verifyId(new_id)
            issued.add(new_id)
    finally:
        poster.close()
    assert len(issued) == forged_count
    grown = connection_count(hostile) - before_count
    assert grown <= forged_count
    assert list(subscriptions.iterConnectionSubscriptions(
        type("C", (), {"id": next(iter(issued))})())) == []
    assert manager.notifier.waiting() == 0
    growth_mb = (rss_kb() - before_rss) / 1024
    assert growth_mb < 40, f"RSS grew by {growth_mb:.1f} MB for {forged_count} forged ids"
    assert still_serving(hostile) < PROMPT


def test_forged_dsid_connections_expire_and_are_cleaned(serve_messaging, transport):
    """The state forged ids leave goes away: connections expire after their timeout and the
    cleaner drops them, so the count returns to what the live clients use."""
    channel_set = build_hostile_channel_set(transport, connection_params={"timeout": 300},
                                            clean_freq=100)
    served = serve_messaging(channel_set=channel_set)
    for i in range(200):
        assert forged_call(served, f"forged-{i}")[0] == 200
    # The cleaner runs meanwhile: what is held is what was made in the last ~0.4 s.
    assert 0 < connection_count(served) <= 200
    time.sleep(0.5)
    # The cleaner runs when a request names a connection (a ping with "nil" does not).
    client = served.flex()
    client.ping()

    def cleaned() -> bool:
        assert not isinstance(client.ping(), ErrorMessage)
        return connection_count(served) <= 2

    assert wait_until(cleaned, 3.0, interval=0.05), connection_count(served)


def test_max_connections_caps_what_forged_ids_can_create(hostile):
    """On a channel with max_connections, forged ids beyond the cap get a fault (never a
    500) and the count stays at the cap; clients already connected keep working."""
    regular = FlexClient(hostile.base_url, "capped")
    assert not isinstance(regular.call("svc", "echo", 1), ErrorMessage)
    faults = 0
    for i in range(60):
        status, reply = forged_call(hostile, f"forged-{i}", channel="capped")
        assert status == 200, reply
        faults += isinstance(reply, ErrorMessage)
    assert hostile.channel_set.connection_manager.getConnectionCount("capped") == 20
    assert faults == 60 - 19
    reply = regular.call("svc", "echo", "regular")
    assert not isinstance(reply, ErrorMessage) and reply.body == "regular"


def test_forged_dsids_on_stream_commands_create_nothing(hostile):
    before = connection_count(hostile)
    for i in range(100):
        for command in ("open", "close"):
            reply = raw_http(hostile, request_bytes(
                f"/streaming?command={command}&version=1", f"DSId=forged-{i}".encode(),
                headers=[("Content-Type", "application/x-www-form-urlencoded")]))
            assert_plain(reply, 400)
    assert connection_count(hostile) == before
    assert hostile.channel_set.getChannel("streaming")._streams == set()


# ============================================================================= stream commands


def stream_command(served, query: str, body: bytes = b"", method: str = "POST",
                   content_type: str = "application/x-www-form-urlencoded") -> Reply:
    return raw_http(served, request_bytes(f"/streaming{query}", body, method=method,
                                               headers=[("Content-Type", content_type)]))


def test_unknown_stream_command_is_400(hostile):
    client = hostile.flex()
    client.ping()
    for query in ("?command=bogus", "?command=", "?command=OPEN", "?command=open%00",
                  "?command=" + "x" * 5000, "?command=close%20"):
        reply = stream_command(hostile, query, f"DSId={client.dsid}".encode())
        assert_plain(reply, 400)
    assert hostile.channel_set.getChannel("streaming")._streams == set()


def test_stream_command_without_a_connected_dsid_is_400(hostile):
    for command in ("open", "close"):
        for body in (b"", b"DSId=", b"dsid=x", b"DSId=nil", b"DSId=%00",
                     b"DSId=" + b"%FF" * 100, b"\x00\x01\x02", b"DSId=a&DSId=b"):
            reply = stream_command(hostile, f"?command={command}&version=1", body)
            assert_plain(reply, 400)


def test_close_without_open_changes_nothing(hostile):
    client = hostile.flex()
    client.ping()
    reply = stream_command(hostile, "?command=close&version=1", f"DSId={client.dsid}".encode())
    assert reply.status in (200, 400), reply
    assert hostile.channel_set.getChannel("streaming")._streams == set()
    assert not isinstance(client.call("svc", "echo", 1), ErrorMessage)
    # And an open after it works.
    stream = hostile.stream(client.dsid)
    try:
        assert stream.status == 200
        first = stream.next_frame(TIMEOUT)
        assert first is not None and first.correlationId == "open"
    finally:
        stream.close()


def test_stream_command_given_an_amf_body_is_400(hostile):
    reply = stream_command(hostile, "?command=open&version=1", ECHO, content_type="application/x-amf")
    assert_plain(reply, 400)


# ============================================================================= logins


def test_concurrent_logins_are_each_answered_right(hostile):
    """Sixteen clients log in at once (half with a wrong password), four requests log one
    connection in at once, and a bystander is served throughout."""
    clients = [hostile.flex() for _ in range(16)]
    for client in clients:
        client.ping()
    shared = hostile.flex()
    shared.ping()
    results: dict = {}
    errors: list = []

    def login(index, client, password):
        try:
            reply = client.login("correct", password)
            results[index] = (password, reply, client.call("svc", "whoami").body)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def login_shared(index):
        twin = FlexClient(hostile.base_url)
        twin.dsid = shared.dsid
        try:
            results[f"shared{index}"] = ("correct", twin.login("correct", "correct"), None)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=login, daemon=True,
                                args=(i, c, "correct" if i % 2 else "wrong"))
               for i, c in enumerate(clients)]
    threads += [threading.Thread(target=login_shared, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)  # not a burst beyond wsgiref's listen backlog: see
        # test_messaging_concurrency.py
    while any(t.is_alive() for t in threads):
        assert still_serving(hostile, "bystander") < PROMPT
    for thread in threads:
        thread.join(TIMEOUT)
    assert errors == []
    assert len(results) == 20
    for key, (password, reply, me) in results.items():
        if password == "correct":
            assert not isinstance(reply, ErrorMessage), (key, reply)
        else:
            assert isinstance(reply, ErrorMessage), (key, reply)
            assert reply.faultCode == "Client.Authentication"
        if me is not None:
            assert me["authenticated"] is (password == "correct"), (key, me)
            assert me["user"] == ("correct" if password == "correct" else None)
    assert shared.call("svc", "secret").body == "secret value"


# ============================================================================= hostile XML

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">'
                    for i in range(1, 10))
          + "]><lolz>&lol9;</lolz>")


@pytest.fixture
def trap():
    """A listening socket that records whether anything connected to it (SSRF probe)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def accepted(sock) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def xml_packets(text: str) -> dict:
    """``text`` as an XML argument of ``svc.echo`` in every encoding a client can use."""
    raw = text.encode("utf-8")
    u29 = Encoder().encode(text, True)[1:]  # the AMF3 length header + bytes of the string

    def packet(version: int, value: bytes) -> bytes:
        return (struct.pack(">HHH", version, 0, 1) + b"\x00\x08svc.echo\x00\x02/1"
                + struct.pack(">I", len(value) + 5) + b"\x0a\x00\x00\x00\x01" + value)

    return {
        "amf0-xml": packet(0, b"\x0f" + struct.pack(">I", len(raw)) + raw),
        "amf3-xml": packet(3, b"\x11\x0b" + u29),
        "amf3-xmldocument": packet(3, b"\x11\x07" + u29),
    }


def hostile_xml(tmp_path: Path, port: int) -> dict:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    return {
        "xxe-file": (f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM '
                     f'"file://{secret}">]><a>&x;</a>'),
        "external-dtd-ssrf": f'<!DOCTYPE a SYSTEM "http://127.0.0.1:{port}/evil.dtd"><a/>',
        "parameter-entity-ssrf": (f'<!DOCTYPE a [<!ENTITY % p SYSTEM '
                                  f'"http://127.0.0.1:{port}/p"> %p;]><a/>'),
        "billion-laughs": LAUGHS,
    }


@pytest.mark.parametrize("payload", ["xxe-file", "external-dtd-ssrf", "parameter-entity-ssrf",
                                     "billion-laughs"])
def test_hostile_xml_over_http_is_400_without_reading_or_fetching(hostile, tmp_path, trap,
                                                                  payload):
    text = hostile_xml(tmp_path, trap.getsockname()[1])[payload]
    for name, raw in xml_packets(text).items():
        started = time.monotonic()
        reply = raw_http(hostile, request_bytes("/amf", raw))
        assert_plain(reply, 400)
        assert time.monotonic() - started < PROMPT, name
        assert b"TOP-SECRET-MARKER" not in reply.raw
    assert not accepted(trap), "the server fetched a URL named in the XML"
    still_serving(hostile)


def test_benign_xml_is_echoed_and_refused_where_xml_is_off(hostile):
    for name, raw in xml_packets("<a><b>text</b></a>").items():
        reply = raw_http(hostile, request_bytes("/amf", raw))
        assert reply.status == 200, (name, reply)
        assert_plain(raw_http(hostile, request_bytes("/noxml", raw)), 400)


# ============================================================================= faults

LEAKS = [
    (re.compile(r"Traceback|File \""), "a traceback"),
    (re.compile(r"\.pyx?\b"), "a source file"),
    (re.compile(r"\b(amfast|tests|webob|builtins|waitress|wsgiref)\.[a-z_]"), "a module path"),
    (re.compile(r"<[\w.]+ object at|0x[0-9a-f]{6,}"), "an object address"),
    (re.compile(r"/work/|/usr/|site-packages"), "a file system path"),
]


def leaks(value) -> list:
    found = []
    for text in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(text, str):
            found += [what for pattern, what in LEAKS if pattern.search(text)]
    return found


def fault_texts(body) -> list:
    fields = ("faultCode", "faultString", "faultDetail", "name", "message")
    texts = [getattr(body, f, None) for f in fields]
    for extra in ("rootCause", "extendedData"):
        value = getattr(body, extra, None)
        texts.append(None if value is None else repr(value))
    return texts


FAILING_FLEX = [
    ("wrong-arguments", lambda c: c.call("svc", "echo", 1, 2, 3)),
    ("unknown-operation", lambda c: c.call("svc", "nope")),
    ("unknown-destination", lambda c: c.call("nosuch", "echo")),
    ("secure-target", lambda c: c.call("svc", "secret")),
    ("wrong-login", lambda c: c.login("correct", "wrong")),
    ("login-bad-charset", lambda c: c.command(CommandMessage.LOGIN_OPERATION, body="eDp5",
                                              headers={"DSCredentialsCharset": "no-such"})),
    ("login-not-base64", lambda c: c.command(CommandMessage.LOGIN_OPERATION, body="%%%")),
    ("unknown-command", lambda c: c.command(9999)),
    ("wildcard-publish", lambda c: c.publish("chat", "x", sub_topic="a.*")),
    ("bad-selector", lambda c: c.subscribe("chat", selector="a = = (")),
    ("bad-subtopic", lambda c: c.subscribe("chat", sub_topic="a..b")),
    ("publish-odd-headers", lambda c: c.send(AsyncMessage(destination="chat", body=1,
                                                          headers={"DSSubtopic": [[{}]]}))),
]


def test_flex_faults_leak_no_internals(hostile):
    client = hostile.flex()
    client.ping()
    faults = 0
    for name, action in FAILING_FLEX:
        reply = action(client)
        if not isinstance(reply, ErrorMessage):
            continue  # accepted: nothing to leak
        faults += 1
        assert reply.faultCode, (name, reply)
        assert leaks(fault_texts(reply)) == [], (name, reply.faultCode, reply.faultString,
                                                 reply.faultDetail)
    assert faults >= len(FAILING_FLEX) - 2


FAILING_CALLS = [
    ("svc.nope", []), ("nosuch.echo", []), ("svc.echo", [1, 2, 3]), ("svc.secret", []),
    ("", []), ("svc.", []), (".", []), ("svc.echo.x", [1]),
]


def test_netconnection_faults_leak_no_internals(hostile):
    for version in (Packet.FLASH_8, Packet.FLASH_9):
        for target, args in FAILING_CALLS:
            packet = Packet(version, [], [Message(target, "/1", args)])
            raw = Encoder().encode_packet(packet, amf3=packet.is_amf3)
            reply = raw_http(hostile, request_bytes("/amf", raw))
            assert reply.status == 200, reply
            message = Decoder().decode_packet(reply.body).messages[0]
            assert message.target == "/1/onStatus", (target, message)
            assert leaks(fault_texts(message.body)) == [], vars(message.body)


def test_a_crashing_target_leaks_nothing_but_debug_shows_the_traceback(serve_messaging,
                                                                       transport):
    from amfast import remoting

    def crash():
        {}["internal-key"]

    for debug in (False, True):
        channel_set = build_hostile_channel_set(transport)
        channel_set.debug = debug
        service = remoting.Service("crash")
        service.mapTarget(remoting.CallableTarget(crash, "now"))
        channel_set.service_mapper.mapService(service)
        served = serve_messaging(channel_set=channel_set)
        client = served.flex()
        reply = client.call("crash", "now")
        assert isinstance(reply, ErrorMessage)
        if debug:
            assert "Traceback" in reply.faultDetail
        else:
            assert leaks(fault_texts(reply)) == [], vars(reply)


def test_http_error_bodies_leak_nothing(hostile):
    for data in (request_bytes("/amf", b"\x00\x03garbage"),
                 request_bytes("/nowhere", ECHO),
                 request_bytes("/amf", method="PUT"),
                 request_bytes("/small", b"", content_length=10 ** 12),
                 request_bytes("/amf", ECHO, content_length=None),
                 request_bytes("/streaming?command=open", b"DSId=x",
                               headers=[("Content-Type", "application/x-www-form-urlencoded")])):
        reply = raw_http(hostile, data, half_close=False, timeout=PROMPT)
        assert reply.status in (400, 404, 405, 411, 413), reply
        assert len(reply.body) < 200 and leaks(reply.body.decode("latin-1")) == [], reply
