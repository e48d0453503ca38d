"""The channel set the remoting tests serve, in process and over HTTP.

``build_channel_set()`` maps:

* channels ``/amf`` (default body limit) and ``/small`` (``max_body_size=SMALL_MAX``);
* service ``svc``: ``echo``, ``args`` (returns its argument list), ``fail`` (ValueError),
  ``fault`` (a FaultError with its own code, detail and content), ``secret`` (secure),
  ``ext`` (an ExtCallableTarget reporting what it sees of the packet and message),
  ``unencodable`` (returns a function);
* service ``echo`` with target ``echo`` (what the real-client captures call);
* ``plain`` in the default service (targets without a dot);
* header targets ``Remember`` (stores its value on the packet and in ``recorder``) and
  ``Explode`` (raises);
* command target ``CommandMessage.TRIGGER_CONNECT_OPERATION`` (13), which records the
  command body and returns ``{"got": body}``.

Login accepts user ``correct`` with password ``correct``.  ``transport`` (tests.support.servers)
chooses the channel classes: WSGI unless told.
"""
from __future__ import annotations

import threading
from typing import Any

from amfast import remoting
from amfast.remoting.channel import SecurityError
from amfast.remoting.connection import SessionAttrError
from amfast.remoting.flex_messages import AbstractMessage, CommandMessage, FaultError
from tests.support.servers import WSGI, Transport

SMALL_MAX = 1024
GOOD_USER = ("correct", "correct")


class GoodUserLogin:
    """ChannelSet mixin: only ``GOOD_USER`` logs in."""

    def login(self, user, password):
        if (user, password) == GOOD_USER:
            return True
        raise SecurityError("Invalid credentials.")


#: The WSGI channel set with GoodUserLogin.
AuthChannelSet = WSGI.channel_set_class(GoodUserLogin)


class Recorder:
    """What header and command targets received (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.headers: list = []
        self.commands: list = []

    def add(self, kind: str, value: Any) -> None:
        with self._lock:
            getattr(self, kind).append(value)


def echo(value):
    return value


def args(*values):
    return list(values)


def fail(*_):
    raise ValueError("boom")


def fault():
    raise FaultError("custom fault", detail="some detail", content={"why": "because"},
                     faultCode="App.Custom")


def secret():
    return "secret value"


def plain(value):
    return f"plain:{value}"


def unencodable():
    return unencodable  # a function: the encoder refuses it


def ext(packet, message, *values):
    flex = message.body[0] if message.target == "null" else None
    return {
        "target": message.target,
        "response": message.response,
        "client_type": packet.client_type,
        "channel": packet.channel.name,
        "authenticated": bool(packet.authenticated),
        "remembered": getattr(packet, "remembered", None),
        "flex_class": type(flex).__name__ if flex is not None else None,
        "flex_operation": getattr(flex, "operation", None),
        "args": list(values),
    }


def build_channel_set(debug: bool = False, transport: Transport = WSGI) -> tuple:
    """``(channel_set, recorder)``."""
    recorder = Recorder()
    channel_set = transport.channel_set_class(GoodUserLogin)(debug=debug)
    channel_set.mapChannel(transport.Channel("amf"))
    channel_set.mapChannel(transport.Channel("small", max_body_size=SMALL_MAX))
    mapper = channel_set.service_mapper

    svc = remoting.Service("svc")
    for func in (echo, args, fail, fault, unencodable):
        svc.mapTarget(remoting.CallableTarget(func, func.__name__))
    svc.mapTarget(remoting.CallableTarget(secret, "secret", secure=True))
    svc.mapTarget(remoting.ExtCallableTarget(ext, "ext"))
    mapper.mapService(svc)

    echo_service = remoting.Service("echo")
    echo_service.mapTarget(remoting.CallableTarget(echo, "echo"))
    mapper.mapService(echo_service)

    mapper.default_service.mapTarget(remoting.CallableTarget(plain, "plain"))

    def remember(packet, header, value):
        packet.remembered = value
        recorder.add("headers", value)

    def explode(value):
        raise ValueError("header exploded")

    mapper.packet_header_service.mapTarget(remoting.ExtCallableTarget(remember, "Remember"))
    mapper.packet_header_service.mapTarget(remoting.CallableTarget(explode, "Explode"))

    def trigger_connect(body):
        recorder.add("commands", body)
        return {"got": body}

    mapper.command_service.mapTarget(
        remoting.CallableTarget(trigger_connect, CommandMessage.TRIGGER_CONNECT_OPERATION))
    return channel_set, recorder


def build_store_channel_set(transport: Transport, connection_manager: Any,
                            subscription_manager: Any, poll_interval: int | None = None) -> Any:
    """Messaging on shared-store managers: channels amf, longpoll (held 5 s) and streaming
    (heartbeat 300 ms), both re-checking the store every ``poll_interval`` ms when given;
    login correct/correct; service svc: remember, recall (session attributes), secret
    (secure)."""
    rechecked = {} if poll_interval is None else {"poll_interval": poll_interval}
    channel_set = transport.channel_set_class(GoodUserLogin)(
        connection_manager=connection_manager, subscription_manager=subscription_manager,
        max_held=None)
    channel_set.mapChannel(transport.Channel("amf"))
    channel_set.mapChannel(transport.Channel("longpoll", wait_interval=5000, **rechecked))
    channel_set.mapChannel(transport.StreamingChannel("streaming", heart_interval=300,
                                                      **rechecked))
    svc = remoting.Service("svc")

    def remember(packet, msg, name, value):
        msg.body[0].connection.setSessionAttr(name, value)
        return True

    def recall(packet, msg, name):
        try:
            return msg.body[0].connection.getSessionAttr(name)
        except SessionAttrError:
            return None

    svc.mapTarget(remoting.ExtCallableTarget(remember, "remember"))
    svc.mapTarget(remoting.ExtCallableTarget(recall, "recall"))
    svc.mapTarget(remoting.CallableTarget(secret, "secret", secure=True))
    channel_set.service_mapper.mapService(svc)
    return channel_set


def dsid(message: AbstractMessage) -> Any:
    headers = message.headers if isinstance(message.headers, dict) else {}
    return headers.get(AbstractMessage.FLEX_CLIENT_ID_HEADER)
