"""``channel.endpoint = AmfEndpoint(encoder=Encoder(...), decoder=Decoder(...))`` over HTTP.

The Encoder/Decoder options of a channel's endpoint change the bytes the channel sends and
the values its targets receive: ``use_collections``, ``use_proxies``, ``use_legacy_xml``,
``include_private``, a ``ClassDefMapper`` shared by both, ``xml_type``.  A PyAmfEndpoint
with the same options sends the same bytes.  The README's "Configurable endpoints"
snippets run as printed and serve a channel.
"""
from __future__ import annotations

import contextlib
import http.client
import re
import xml.dom.minidom
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from amfast import remoting
from amfast.class_def import ClassDef, ClassDefMapper
from amfast.class_def.as_types import TypedObject
from amfast.decoder import Decoder
from amfast.encoder import Encoder
from amfast.remoting import Message, Packet
from amfast.remoting.endpoint import AmfEndpoint
from amfast.remoting.flex_messages import AbstractMessage, RemotingMessage
from amfast.remoting.wsgi_channel import WsgiChannelSet
from tests.support.servers import serving

README = Path(__file__).resolve().parents[2] / "README.md"
TIMEOUT = 10.0
ARRAY_COLLECTION = b"flex.messaging.io.ArrayCollection"
OBJECT_PROXY = b"flex.messaging.io.ObjectProxy"


class User:
    def __init__(self, name=None, email=None):
        self.name = name
        self.email = email


class Secretive:
    def __init__(self):
        self.shown = 1
        self._hidden = 2


USER_ALIAS = "com.example.options.User"


def user_mapper() -> ClassDefMapper:
    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(User, USER_ALIAS, ("name", "email")))
    return mapper


class Served:
    """One channel set over HTTP; ``received`` holds what the ``svc.inspect`` target got."""

    def __init__(self, serve_app, transport):
        self.channel_set = transport.ChannelSet()
        self.channel = transport.Channel("amf")
        self.channel_set.mapChannel(self.channel)
        self.received: list = []
        service = remoting.Service("svc")
        service.mapTarget(remoting.CallableTarget(lambda value: value, "echo"))
        service.mapTarget(remoting.CallableTarget(lambda: Secretive(), "secretive"))

        def inspect(value):
            self.received.append(value)
            return value

        service.mapTarget(remoting.CallableTarget(inspect, "inspect"))
        self.channel_set.service_mapper.mapService(service)
        self.server = serve_app(self.channel_set)

    def post(self, raw: bytes) -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT)
        try:
            conn.request("POST", "/amf", raw, {"Content-Type": "application/x-amf"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def call(self, target: str, *args, amf3: bool = True, flex: bool = False,
             mapper: ClassDefMapper | None = None) -> bytes:
        """The reply body's bytes for one call (NetConnection, or RemoteObject with ``flex``)."""
        if flex:
            service, _, operation = target.partition(".")
            message = Message("null", "/1", [RemotingMessage(destination=service,
                                                             operation=operation,
                                                             body=list(args))])
        else:
            message = Message(target, "/1", list(args))
        packet = Packet(Packet.FLASH_9 if amf3 else Packet.FLASH_8, [], [message])
        raw = Encoder(class_def_mapper=mapper).encode_packet(packet, amf3=amf3)
        status, body = self.post(raw)
        assert status == 200, body[:300]
        return body


@pytest.fixture
def served(serve_app, transport):
    return Served(serve_app, transport)


def reply_value(raw: bytes, mapper: ClassDefMapper | None = None):
    message = Decoder(class_def_mapper=mapper).decode_packet(raw).messages[0]
    assert message.target.endswith("/onResult"), message
    body = message.body
    return body.body if isinstance(body, AbstractMessage) else body


def make(kind: str, **encoder_options):
    """The endpoint of ``kind`` with these Encoder options (and a shared class mapper)."""
    mapper = encoder_options.pop("class_def_mapper", None)
    if kind == "amf":
        mapper = ClassDefMapper() if mapper is None else mapper
        return AmfEndpoint(encoder=Encoder(class_def_mapper=mapper, **encoder_options),
                           decoder=Decoder(class_def_mapper=mapper))
    pytest.importorskip("pyamf")
    from amfast.remoting.pyamf_endpoint import PyAmfEndpoint

    return PyAmfEndpoint(class_def_mapper=mapper, **encoder_options)


KINDS = pytest.mark.parametrize("kind", ["amf", "pyamf"])


# ============================================================================ options


@KINDS
@pytest.mark.parametrize("flex", [False, True], ids=["netconnection", "remoteobject"])
def test_use_collections_sends_array_collections(served, kind, flex):
    value = [1, [2, "three"]]
    plain = served.call("svc.echo", value, flex=flex)
    assert ARRAY_COLLECTION not in plain
    served.channel.endpoint = make(kind, use_collections=True)
    wrapped = served.call("svc.echo", value, flex=flex)
    assert wrapped.count(ARRAY_COLLECTION) == 1  # the alias once, then a trait reference
    assert reply_value(wrapped) == reply_value(plain) == value
    served.channel.endpoint = make("amf", use_collections=True)
    again = served.call("svc.echo", value, flex=flex)
    if flex:  # the acknowledgement has a new messageId and timestamp each time
        assert len(again) == len(wrapped) and again.count(ARRAY_COLLECTION) == 1
    else:
        assert again == wrapped


@KINDS
def test_use_proxies_sends_object_proxies(served, kind):
    value = {"a": 1, "nested": {"b": [2]}}
    assert OBJECT_PROXY not in served.call("svc.echo", value)
    served.channel.endpoint = make(kind, use_proxies=True)
    wrapped = served.call("svc.echo", value)
    assert OBJECT_PROXY in wrapped and ARRAY_COLLECTION not in wrapped
    assert reply_value(wrapped) == value
    served.channel.endpoint = make("amf", use_proxies=True)
    assert served.call("svc.echo", value) == wrapped


@KINDS
def test_collections_and_proxies_are_amf3_only(served, kind):
    served.channel.endpoint = make(kind, use_collections=True, use_proxies=True)
    amf0 = served.call("svc.echo", [1, {"a": 2}], amf3=False)
    assert ARRAY_COLLECTION not in amf0 and OBJECT_PROXY not in amf0
    assert reply_value(amf0) == [1.0, {"a": 2.0}]


@KINDS
def test_use_legacy_xml_sends_xml_documents(served, kind):
    doc = xml.dom.minidom.parseString("<note><to>ann</to></note>")
    e4x = served.call("svc.echo", doc)
    assert b"\x11\x0b" in e4x and b"\x11\x07" not in e4x  # AMF3 switch, then XML (E4X)
    served.channel.endpoint = make(kind, use_legacy_xml=True)
    legacy = served.call("svc.echo", doc)
    assert b"\x11\x07" in legacy and b"\x11\x0b" not in legacy  # XMLDocument
    assert reply_value(legacy).toxml() == reply_value(e4x).toxml() == doc.toxml()
    served.channel.endpoint = make("amf", use_legacy_xml=True)
    assert served.call("svc.echo", doc) == legacy


@KINDS
def test_include_private_sends_private_attributes(served, kind):
    assert reply_value(served.call("svc.secretive")) == {"shown": 1}
    served.channel.endpoint = make(kind, include_private=True)
    assert reply_value(served.call("svc.secretive")) == {"shown": 1, "_hidden": 2}


@KINDS
@pytest.mark.parametrize("flex", [False, True], ids=["netconnection", "remoteobject"])
def test_a_shared_class_mapper_maps_both_ways(served, kind, flex):
    client = user_mapper()
    user = User("ann", "ann@example.com")
    # Without the mapping, the target gets a TypedObject (which goes back as it came).
    raw = served.call("svc.inspect", user, flex=flex, mapper=client)
    assert type(served.received[-1]) is TypedObject
    assert served.received[-1].alias == USER_ALIAS
    assert vars(reply_value(raw, client)) == vars(user)
    # With it, the target gets a User, and the reply carries the alias and sealed names.
    served.channel.endpoint = make(kind, class_def_mapper=user_mapper())
    mapped = served.call("svc.inspect", user, flex=flex, mapper=client)
    got = served.received[-1]
    assert type(got) is User and vars(got) == vars(user)
    assert USER_ALIAS.encode() in mapped
    back = reply_value(mapped, client)
    assert type(back) is User and vars(back) == vars(user)


def test_an_encoders_mapper_is_the_decoders_too(served):
    """AmfEndpoint(encoder=...) alone: its decoder shares the encoder's ClassDefMapper."""
    served.channel.endpoint = AmfEndpoint(encoder=Encoder(class_def_mapper=user_mapper()))
    served.call("svc.inspect", User("bob", "b@example.com"), mapper=user_mapper())
    assert type(served.received[-1]) is User


def test_encoder_amf3_does_not_change_what_amf0_clients_get(served):
    served.channel.endpoint = AmfEndpoint(encoder=Encoder(amf3=True), decoder=Decoder(amf3=True))
    raw = served.call("svc.echo", [1, "x"], amf3=False)
    assert b"\x11" not in raw
    assert reply_value(raw) == [1.0, "x"]


@pytest.mark.parametrize("xml_type,expected", [("minidom", xml.dom.minidom.Document),
                                               ("etree", ElementTree.Element)])
def test_decoder_xml_type_is_what_targets_receive(served, xml_type, expected):
    served.channel.endpoint = AmfEndpoint(decoder=Decoder(xml_type=xml_type))
    served.call("svc.inspect", ElementTree.fromstring("<a><b/></a>"))
    assert isinstance(served.received[-1], expected)


def test_a_decoder_refusing_xml_refuses_the_request(served):
    served.channel.endpoint = AmfEndpoint(decoder=Decoder(xml_type="refuse"))
    packet = Packet(Packet.FLASH_9, [], [Message("svc.inspect", "/1",
                                                 [ElementTree.fromstring("<a/>")])])
    status, body = served.post(Encoder().encode_packet(packet, amf3=True))
    assert status == 400 and not served.received


# ========================================================================= README snippets


def readme_endpoint_blocks() -> list:
    text = README.read_text()
    section = text.split("## Configurable endpoints", 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_endpoint_snippets_run_and_serve():
    """The README's snippets build WSGI channels: served by the development server."""
    pyamf = pytest.importorskip("pyamf")
    from amfast.remoting import pyamf_converter
    from amfast.remoting.pyamf_endpoint import PyAmfEndpoint

    blocks = readme_endpoint_blocks()
    assert len(blocks) == 3
    channel_set = WsgiChannelSet()
    received = []

    def inspect(*values):
        received.append(values)
        return list(values)

    service = remoting.Service("ExampleService")
    service.mapTarget(remoting.CallableTarget(inspect, "echo"))
    channel_set.service_mapper.mapService(service)
    namespace = {"__name__": "readme_endpoints", "channel_set": channel_set}
    stack = contextlib.ExitStack()
    try:
        for index, block in enumerate(blocks):
            exec(compile(block, f"README endpoints block {index}", "exec"), namespace)
            channel = namespace["channel"]
            assert channel_set.getChannel("amf") is channel
            if index == 0:
                assert isinstance(channel.endpoint, AmfEndpoint)
            if index == 1:
                assert channel.endpoint.encoder.use_collections
        assert isinstance(channel.endpoint, PyAmfEndpoint)
        server = stack.enter_context(serving("wsgiref"))(channel_set)
        served = Served.__new__(Served)
        served.server = server

        contact_class, address_class = namespace["Contact"], namespace["Address"]
        client = ClassDefMapper()
        client.mapClass(ClassDef(contact_class, "com.example.Contact", ("name", "email")))
        address = TypedObject("com.example.Address", (), True, street="Main St")
        raw = served.call("ExampleService.echo", contact_class("ann", "a@example.com"),
                          address, flex=True, mapper=client)
        # The class mapped through pyamf_converter and the one mapped with py3amf directly.
        contact, got_address = received[-1]
    finally:
        stack.close()
        pyamf_converter.unregister_class_mapper(namespace.get("class_mapper", ClassDefMapper()))
        if "com.example.Address" in pyamf.CLASS_CACHE:
            pyamf.unregister_class("com.example.Address")
    assert type(contact) is contact_class and contact.email == "a@example.com"
    assert type(got_address) is address_class and got_address.street == "Main St"
    back, back_address = reply_value(raw, client)
    assert type(back) is contact_class and back.name == "ann"
    assert type(back_address) is TypedObject and back_address.alias == "com.example.Address"
