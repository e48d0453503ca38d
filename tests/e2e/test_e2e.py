"""Real clients against amfast: a Haxe SWF in Ruffle and an Apache Royale app, in Chromium.

One test per reported item: it checks how the call ended, what came back to the client
and what the server decoded (see expect.py), and says which value failed and how.
"""
from __future__ import annotations

import pytest

from tests.e2e import items_haxe, items_royale
from tests.e2e.server import LONGPOLL_WAIT
from tests.e2e.expect import check_item

pytestmark = pytest.mark.e2e


def params(expectations: dict) -> list:
    """One parameter per item; items a known amfast bug breaks are xfail(strict=True)."""
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=e.bug))
            if e.bug else name for name, e in expectations.items()]


def _check(run, expectations: dict, name: str) -> None:
    failure = run.failure()
    if failure:
        pytest.fail(failure, pytrace=False)
    problems = check_item(expectations[name], run.items().get(name), run.received.get(name))
    if problems:
        pytest.fail(f"{run.client} item {name!r}:\n  " + "\n  ".join(problems), pytrace=False)


def _unexpected(run, expectations: dict) -> None:
    failure = run.failure()
    if failure:
        pytest.fail(failure, pytrace=False)
    names = [item.get("name") for item in run.report.get("items") or []]
    unknown = sorted(set(names) - set(expectations))
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not unknown, f"{run.client} reported items no test expects: {unknown}"
    assert not twice, f"{run.client} reported items more than once: {twice}"


# ----------------------------------------------------------------- Haxe SWF in Ruffle (AMF0)


@pytest.mark.parametrize("name", params(items_haxe.ITEMS))
def test_haxe(haxe_run, name):
    _check(haxe_run, items_haxe.ITEMS, name)


def test_haxe_reports_only_known_items(haxe_run):
    _unexpected(haxe_run, items_haxe.ITEMS)


def test_haxe_sends_amf0(haxe_run, e2e_server):
    """Ruffle sends AMF0 packets (version 0) even with objectEncoding 3."""
    requests = e2e_server.recorder.requests_of("haxe")
    assert requests, "no AMF request from the haxe client"
    versions = {r.body[:2] for r in requests}
    assert versions == {b"\x00\x00"}, f"packet versions seen: {versions}"


# ----------------------------------------------------------------- Apache Royale app (AMF3)


@pytest.mark.parametrize("name", params(items_royale.ITEMS))
def test_royale(royale_run, name):
    _check(royale_run, items_royale.ITEMS, name)


def test_royale_reports_only_known_items(royale_run):
    _unexpected(royale_run, items_royale.ITEMS)


def test_royale_netconnection_sends_amf3_with_body_length_1(royale_run, e2e_server):
    """AMFNetConnection: packet version 3, and 1 in every body's length field."""
    requests = [r for r in e2e_server.recorder.requests_of("royale") if b"e2e." in r.body[:40]]
    assert requests, "no AMFNetConnection call from the royale client"
    for request in requests:
        raw = request.body
        assert raw[:2] == b"\x00\x03", raw[:40]
        assert raw[2:6] == b"\x00\x00\x00\x01", "expected no header and one body"
        at = 6
        for _ in ("target", "response"):
            at += 2 + int.from_bytes(raw[at:at + 2], "big")
        assert raw[at:at + 4] == b"\x00\x00\x00\x01", raw[:60]


def _flex_requests(e2e_server, kind):
    requests = e2e_server.recorder.requests_of(f"royale-{kind}")
    assert requests, f"no request on the royale client's {kind} channel"
    return requests


@pytest.mark.parametrize("kind", ["polling", "longpoll"])
def test_royale_messaging_negotiates_small_messages(royale_run, e2e_server, kind):
    """The ping carries DSMessagingVersion; after its ack, polls go as DSC, publishes as DSA."""
    requests = _flex_requests(e2e_server, kind)
    ping = requests[0]
    assert b"DSMessagingVersion" in ping.body, "the first request is not the ping"
    assert b"DSMessagingVersion" in ping.response, "the ping ack does not offer small messages"
    later = b"".join(r.body for r in requests[1:])
    assert b"DSC" in later, f"{kind}: no small CommandMessage (DSC) was sent"
    assert b"DSA" in later, f"{kind}: no small AsyncMessage (DSA) was sent"


def test_royale_long_polling_holds_polls(royale_run, e2e_server):
    """On the long-polling channel a poll waits for a message; on the polling one it does not."""
    held = [r.seconds for r in _flex_requests(e2e_server, "longpoll")
            if b"DSC" in r.body and r.seconds is not None]
    assert held and max(held) >= 0.2, f"no long-poll was held: poll times {held}"
    quick = [r.seconds for r in _flex_requests(e2e_server, "polling")
             if b"DSC" in r.body and r.seconds is not None]
    assert quick and max(quick) < LONGPOLL_WAIT / 1000 / 2, f"polls were held: {quick}"
