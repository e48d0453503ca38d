"""The console's parts on their own: values as JSON, credentials and sessions, set-up."""
from __future__ import annotations

import base64
import datetime
import decimal
import sys
import time

import pytest

from amfast.class_def import ClassDef, ClassDefMapper
from amfast.class_def.as_types import AsByteArray, AsError, TypedObject
from amfast.console import Console, ConsoleApp, ConsoleError, single_user
from amfast.console.auth import Authenticator, LoginThrottle, basic_credentials
from amfast.console.core import Request
from amfast.console.values import to_json
from amfast.remoting.channel import ChannelSet, SecurityError
from amfast.remoting.wsgi_channel import WsgiChannelSet

# ----------------------------------------------------------------------- values


class Point:
    def __init__(self, x=0, y=0):
        self.x, self.y = x, y


def test_values_become_json():
    value = {"n": 1, "f": float("nan"), "inf": float("-inf"), "d": decimal.Decimal("1.5"),
             "when": datetime.datetime(2021, 6, 7, 8, 9, 10), "day": datetime.date(2021, 6, 7),
             "bytes": AsByteArray(b"\x00\xff"), "set": {3}, "tuple": (1, 2),
             "typed": TypedObject("com.example.Thing", (), True, {"a": 1}),
             "point": Point(1, 2), 7: "int key"}
    assert to_json(value) == {
        "n": 1, "f": "nan", "inf": "-inf", "d": "1.5", "when": "2021-06-07T08:09:10",
        "day": "2021-06-07", "bytes": {"$bytes": "00ff", "length": 2}, "set": [3],
        "tuple": [1, 2], "typed": {"$class": "com.example.Thing", "a": 1},
        "point": {"$class": f"{__name__}.Point", "x": 1, "y": 2}, "7": "int key"}


def test_mapped_classes_are_named_by_their_alias():
    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(Point, "com.example.Point", ("x", "y")))
    assert to_json(Point(1, 2), mapper=mapper) == {"$class": "com.example.Point", "x": 1, "y": 2}
    error = to_json(AsError(exc=ValueError("bad")), mapper=mapper)
    assert error == {"$class": "Error", "name": "ValueError", "message": "bad", "errorId": 5000}


def test_values_are_cut_past_their_budgets():
    deep: list = []
    node = deep
    for _ in range(100):
        node.append([])
        node = node[0]
    shown = to_json(deep, max_depth=5)
    assert str(shown).count("[") == 6 and "$cut" in str(shown)
    assert to_json(list(range(100)), max_items=10)[-1] == {"$cut": True}
    assert len(to_json(list(range(100)), max_items=10)) == 10
    looped: dict = {}
    looped["self"] = looped
    assert to_json(looped) == {"self": {"$ref": "(a value that contains itself)"}}
    big = to_json(b"x" * 10000)
    assert big["length"] == 10000 and big["$cut"] is True and len(big["$bytes"]) == 8192


# ----------------------------------------------------------------------- credentials


def test_basic_credentials_are_parsed_strictly():
    token = base64.b64encode(b"ann:pa:ss").decode()
    assert basic_credentials(f"Basic {token}") == ("ann", "pa:ss")
    assert basic_credentials(f"basic  {token}") == ("ann", "pa:ss")
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("Basic " + base64.b64encode(b"no colon").decode()) is None
    assert basic_credentials(None) is None


def test_single_user():
    check = single_user("ann", "pw")
    assert check("ann", "pw") and not check("ann", "pw ") and not check("bob", "pw")


def test_sessions_are_signed_and_expire():
    auth = Authenticator(single_user("ann", "pw"), lambda: b"k" * 32, lifetime=60)
    value = auth.session("ann é")
    assert auth.session_user(value) == "ann é"
    other = Authenticator(single_user("ann", "pw"), lambda: b"j" * 32, lifetime=60)
    assert other.session_user(value) is None
    name, expires, signature = value.split(".")
    assert auth.session_user(f"{name}.{int(expires) + 1000}.{signature}") is None
    expired = Authenticator(single_user("ann", "pw"), lambda: b"k" * 32, lifetime=-1)
    assert auth.session_user(expired.session("ann")) is None
    assert auth.session_user("garbage") is None and auth.session_user("") is None


def test_an_authenticate_that_raises_refuses_the_login():
    def authenticate(user, password):
        if password == "boom":
            raise RuntimeError("database down")
        raise SecurityError("no")

    auth = Authenticator(authenticate, lambda: b"k")
    assert auth.check("ann", "boom", "a") is False
    assert auth.check("ann", "x", "a") is False


def test_the_throttle_counts_per_address_in_bounded_memory():
    throttle = LoginThrottle(max_failures=2, window=60, max_addresses=3)
    throttle.failed("a")
    assert not throttle.refused("a")
    throttle.failed("a")
    assert throttle.refused("a") and not throttle.refused("b")
    for address in ("b", "c", "d", "e"):
        throttle.failed(address)
    assert len(throttle._failures) <= 3
    expiring = LoginThrottle(max_failures=1, window=0.05)
    expiring.failed("a")
    assert expiring.refused("a")
    time.sleep(0.1)
    assert not expiring.refused("a")


# ----------------------------------------------------------------------- set-up


def test_a_console_needs_a_way_to_check_logins():
    with pytest.raises(ConsoleError, match="needs a login"):
        ConsoleApp(WsgiChannelSet())

    class LoginChannelSet(ChannelSet):
        def login(self, user, password):
            if password == "right":
                return True
            raise SecurityError("Invalid credentials.")

    console = Console(LoginChannelSet())
    assert console.auth.check("ann", "right", "a") is True
    assert console.auth.check("ann", "wrong", "a") is False


def _get(console: Console, path: str) -> object:
    token = base64.b64encode(b"ann:pw").decode()
    return console.handle(Request("GET", path, "", {"authorization": f"Basic {token}"}, b"",
                                  "/console"))


def test_without_prometheus_client_metrics_answer_501(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    console = Console(ChannelSet(), single_user("ann", "pw"))
    reply = _get(console, "/metrics")
    assert reply.status == 501 and b"amfast[metrics]" in reply.body
    assert _get(console, "/api/overview").status == 200


def test_console_errors_never_reach_the_user_as_tracebacks(monkeypatch):
    console = Console(ChannelSet(), single_user("ann", "pw"))

    def broken(channel_set):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("amfast.console.views.channels", broken)
    reply = _get(console, "/api/channels")
    assert reply.status == 500 and b"secret" not in reply.body
