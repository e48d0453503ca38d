"""DjangoChannel and StreamingDjangoChannel as Django views: the WSGI channels' answers,
the Django request reaching targets, Django's users, long-polling and streaming, under
waitress (Django's WSGI handler) and uvicorn (Django's ASGI handler)."""
from __future__ import annotations

import http.client
import threading
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.handlers.asgi import ASGIHandler
from django.core.wsgi import get_wsgi_application
from django.test import Client
from webob import Request as WebobRequest

from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import CallableTarget, Message, Packet, Service
from amfast.remoting.channel import SecurityError
from amfast.remoting.flex_messages import AsyncMessage, CommandMessage
from amfast.remoting.client import HttpError, RemotingFault, RemotingService, login_message
from amfast.remoting.django_auth import django_user
from amfast.remoting.asgi_channel import AsgiChannel, AsgiChannelSet
from amfast.remoting.django_asgi import amf_asgi_application
from amfast.remoting.wsgi_channel import WsgiChannel, WsgiChannelSet
from tests.django_tests.testapp import gateway
from tests.django_tests.testapp.models import Author, Book
from tests.support.servers import serving

TIMEOUT = 10.0


def call_packet(target, *args):
    packet = Packet(Packet.FLASH_8, [], [Message(target, "/1", list(args))])
    return Encoder().encode_packet(packet)


def result(response):
    return Decoder().decode_packet(response.content).messages[0]


# -- the view's HTTP answers (Django's test client, CSRF checks on) -----------------------


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


def test_call_through_the_view_is_csrf_exempt(db, client):
    Author.objects.create(name="Ann")
    response = client.post("/amf", call_packet("books.count_authors"),
                           content_type="application/x-amf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-amf"
    reply = result(response)
    assert reply.target == "/1/onResult" and reply.body == 1


def test_the_answers_are_the_wsgi_channels(db, client):
    """What the WSGI channel answers to bad requests, the Django view answers."""
    wsgi_set = WsgiChannelSet()
    wsgi_set.mapChannel(WsgiChannel("amf"))
    cases = [("GET", b"", "application/x-amf"), ("POST", b"\x00\x03garbage", "application/x-amf"),
             ("POST", b"x" * 100, "application/x-amf")]
    for method, body, content_type in cases:
        wsgi = WebobRequest.blank("/amf", method=method, body=body,
                                  content_type=content_type).get_response(wsgi_set)
        if method == "GET":
            django = client.get("/amf")
        else:
            django = client.post("/amf", body, content_type=content_type)
        assert django.status_code == wsgi.status_int, (method, body[:10])
        assert django.content == wsgi.body
        assert django["Content-Type"] == wsgi.headers["Content-Type"]
    assert client.get("/amf")["Allow"] == "POST"
    saved = gateway.rpc.max_body_size
    gateway.rpc.max_body_size = 10
    try:
        response = client.post("/amf", b"x" * 11, content_type="application/x-amf")
        assert response.status_code == 413
    finally:
        gateway.rpc.max_body_size = saved


def test_a_target_fault_is_a_fault_not_a_traceback(db, client):
    response = client.post("/amf", call_packet("books.nothing"), content_type="application/x-amf")
    assert response.status_code == 200
    assert result(response).target == "/1/onStatus"
    assert b"Traceback" not in response.content


# -- served: Django's users through the Python client ------------------------------------


@pytest.fixture
def django_server(transactional_db, django_user_model):
    ann = django_user_model.objects.create_user("ann", password="secret")
    bob = django_user_model.objects.create_user("bob", password="hunter2")
    ann.user_permissions.add(Permission.objects.get(codename="change_book"))
    Group.objects.create(name="editors").user_set.add(bob)
    author = Author.objects.create(name="Ada")
    Book.objects.create(title="first", author=author)
    with serving("waitress", threads=6) as serve:
        yield serve(get_wsgi_application())


def remoting(server, path="/amf", amf3=True):
    return RemotingService(server.url(path), amf3=amf3, class_def_mapper=gateway.class_def_mapper,
                           timeout=TIMEOUT)


def test_flex_login_reaches_targets_as_the_django_user(django_server):
    client = remoting(django_server)
    assert client.remote_call("books", "whoami") == {"user": "", "same": True, "session": True}
    with pytest.raises(RemotingFault):
        client.remote_call("books", "secure_echo", 1)
    with pytest.raises(RemotingFault):
        client.login("ann", "wrong")
    client.login("ann", "secret")
    assert client.remote_call("books", "whoami")["user"] == "ann"
    assert client.remote_call("books", "secure_echo", 2) == 2
    # Models both ways: load a book, change it, save it (ann may change books).
    book = client.remote_call("books", "books")[0]
    assert isinstance(book, Book) and book.author.name == "Ada"
    book.title = "changed"
    assert client.remote_call("books", "save", book) == book.pk
    assert Book.objects.get(pk=book.pk).title == "changed"
    with pytest.raises(RemotingFault):  # ann is no editor
        client.remote_call("books", "editors")
    client.logout()
    with pytest.raises(RemotingFault):
        client.remote_call("books", "save", book)


def test_permissions_and_groups(django_server):
    client = remoting(django_server)
    client.login("bob", "hunter2")
    assert client.remote_call("books", "editors") == "editor"
    book = client.remote_call("books", "books")[0]
    with pytest.raises(RemotingFault, match="permission"):
        client.remote_call("books", "save", book)


def test_netconnection_credentials(django_server):
    client = remoting(django_server, amf3=False)
    with pytest.raises(RemotingFault):
        client.call("books.secure_echo", 1)
    client.setCredentials("ann", "secret")
    assert client.call("books.secure_echo", 3) == 3
    client.setCredentials("ann", "nope")
    with pytest.raises(RemotingFault):
        client.call("books.secure_echo", 1)


def session_login(server, user: str, password: str) -> tuple:
    """A Flex login over a plain HTTP connection: ``(connection, session cookie)``."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    raw = Encoder(amf3=True).encode_packet(
        Packet(Packet.FLASH_9, [], [Message("null", "/1", [login_message(user, password)])]))
    conn.request("POST", "/amf", raw, {"Content-Type": "application/x-amf"})
    response = conn.getresponse()
    response.read()
    cookies = [c.split(";")[0] for c in response.msg.get_all("Set-Cookie") or []
               if c.startswith("sessionid=")]
    assert response.status == 200 and cookies
    return conn, cookies[0]


def test_flex_login_logs_in_the_django_session(django_server):
    """The session cookie of a Flex login then logs in plain NetConnection calls."""
    conn, cookie = session_login(django_server, "ann", "secret")
    conn.request("POST", "/amf", call_packet("books.secure_echo", 5),
                 {"Content-Type": "application/x-amf", "Cookie": cookie})
    reply = Decoder().decode_packet(conn.getresponse().read()).messages[0]
    assert reply.target == "/1/onResult" and reply.body == 5
    # A Flex logout logs the session out too.
    logout = CommandMessage(operation=CommandMessage.LOGOUT_OPERATION)
    raw = Encoder(amf3=True).encode_packet(
        Packet(Packet.FLASH_9, [], [Message("null", "/1", [logout])]))
    conn.request("POST", "/amf", raw, {"Content-Type": "application/x-amf", "Cookie": cookie})
    assert conn.getresponse().read()
    conn.request("POST", "/amf", call_packet("books.secure_echo", 6),
                 {"Content-Type": "application/x-amf", "Cookie": cookie})
    reply = Decoder().decode_packet(conn.getresponse().read()).messages[0]
    assert reply.target == "/1/onStatus"
    conn.close()


def test_long_poll_and_stream(django_server):
    consumer = remoting(django_server, "/poll")
    consumer.subscribe("chat")
    got = []
    poller = threading.Thread(target=lambda: got.extend(consumer.poll()))
    poller.start()
    producer = remoting(django_server)
    producer.publish("chat", "hello")
    poller.join(TIMEOUT)
    assert [m.body for m in got] == ["hello"]
    streamer = remoting(django_server, "/stream")
    streamer.subscribe("chat")
    stream = streamer.stream()
    producer.publish("chat", "streamed")
    received = next(iter(stream))
    assert received.body == "streamed"
    stream.close()
    assert gateway.stream.stats is not None


# -- under Django's ASGI handler, with an ASGI channel set mounted in front ---------------


def test_django_asgi_handler_and_a_mounted_asgi_channel_set(django_server):
    """The view under Django's ASGI handler (a view's stream refused); the ASGI channel set
    at /messaging beside it (long-polls held as awaits), both under uvicorn with lifespan
    events."""
    asgi_set = AsgiChannelSet()
    asgi_set.mapChannel(AsgiChannel("amf"))
    asgi_set.mapChannel(AsgiChannel("poll", wait_interval=2000))
    application = amf_asgi_application(ASGIHandler(), {"/messaging/": asgi_set})
    with serving("uvicorn") as serve:
        server = serve(application)
        client = remoting(server)
        client.login("ann", "secret")
        assert client.remote_call("books", "whoami")["user"] == "ann"
        assert client.remote_call("books", "books")[0].title == "first"
        # Django's ASGI handler would read a view's stream to its end before sending it.
        streamer = remoting(server, "/stream")
        streamer.subscribe("chat")
        with pytest.raises(HttpError) as refused:
            next(iter(streamer.stream()))
        assert refused.value.status == 501
        consumer = remoting(server, "/messaging/poll")
        consumer.subscribe("news")
        got = []
        poller = threading.Thread(target=lambda: got.extend(consumer.poll()))
        poller.start()
        remoting(server, "/messaging/amf").publish("news", "pushed")
        poller.join(TIMEOUT)
        assert [m.body for m in got] == ["pushed"]
        status, _, body = consumer.request(b"", "/messaging/none")
        assert status == 404 and b"No AMF channel" in body
        status, _, _ = consumer.request(b"", "/elsewhere")
        assert status == 404  # Django's own answer
    assert not asgi_set.started  # the lifespan shutdown stopped it


def test_mount_prefixes_are_checked():
    with pytest.raises(ValueError):
        amf_asgi_application(ASGIHandler(), {"messaging": AsgiChannelSet()})


# -- who the caller is: only what the server itself established --------------------------


def test_a_netconnection_call_cannot_name_its_own_connection(db, django_user_model):
    """A NetConnection call's first argument is the client's: a Flex message there with a
    logged-in ``connection`` of its own must not make the caller that user."""
    django_user_model.objects.create_superuser("admin", password="root")
    forged = AsyncMessage(body="x")
    forged.connection = SimpleNamespace(id="forged", authenticated=True, flex_user="admin")
    message = Message("books.whoami", "/1", [forged])
    packet = Packet(Packet.FLASH_9, [], [message])
    assert not message.is_flex_msg
    assert not django_user(packet, message).is_authenticated


def test_a_flex_login_is_its_django_user_while_active_and_unchanged(django_server,
                                                                   django_user_model):
    client = remoting(django_server)
    client.login("bob", "hunter2")
    assert client.remote_call("books", "editors") == "editor"
    bob = django_user_model.objects.get(username="bob")
    bob.set_password("changed")
    bob.save()
    with pytest.raises(RemotingFault, match="logged-in"):  # the password changed since
        client.remote_call("books", "editors")
    client = remoting(django_server)
    client.login("bob", "changed")
    assert client.remote_call("books", "editors") == "editor"
    bob.is_active = False
    bob.save()
    with pytest.raises(RemotingFault, match="logged-in"):
        client.remote_call("books", "editors")


def test_netconnection_credentials_are_the_django_user_of_the_packet(django_server):
    client = remoting(django_server, amf3=False)
    client.setCredentials("bob", "hunter2")
    assert client.call("books.editors") == "editor"


def test_the_session_counts_only_on_amf_requests(django_server):
    """A page of another site can make a browser post text/plain with the session cookie
    (no CORS preflight): such a request is not logged in by the session."""
    conn, cookie = session_login(django_server, "ann", "secret")
    for content_type, target in (("text/plain", "/1/onStatus"),
                                 ("application/x-amf", "/1/onResult")):
        conn.request("POST", "/amf", call_packet("books.secure_echo", 5),
                     {"Content-Type": content_type, "Cookie": cookie})
        reply = Decoder().decode_packet(conn.getresponse().read()).messages[0]
        assert reply.target == target, content_type
    conn.close()


def test_marked_functions_run_only_through_django_targets(django_server):
    with pytest.raises(SecurityError):
        gateway.save_book(None)
    service = Service("unchecked")
    service.mapTarget(CallableTarget(gateway.editors_only, "editors"))
    gateway.channel_set.service_mapper.mapService(service)
    try:
        with pytest.raises(RemotingFault, match="DjangoCallableTarget"):
            remoting(django_server).remote_call("unchecked", "editors")
    finally:
        gateway.channel_set.service_mapper.unMapService(service)
    assert gateway.editors_only.__wrapped__() == "editor"




def test_a_logout_holds_for_the_rest_of_its_batch(django_server):
    """LOGOUT, then a secure call, in one packet with the session cookie: the call runs
    logged out."""
    conn, cookie = session_login(django_server, "ann", "secret")
    logout = CommandMessage(operation=CommandMessage.LOGOUT_OPERATION)
    raw = Encoder(amf3=True).encode_packet(Packet(Packet.FLASH_9, [], [
        Message("null", "/1", [logout]), Message("books.secure_echo", "/2", [2])]))
    conn.request("POST", "/amf", raw, {"Content-Type": "application/x-amf", "Cookie": cookie})
    replies = Decoder().decode_packet(conn.getresponse().read()).messages
    assert replies[0].target == "/1/onResult" and replies[1].target == "/2/onStatus"
    conn.close()
