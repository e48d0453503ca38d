"""Real clients against amfast: a Haxe SWF in Ruffle and an Apache Royale app, in Chromium.

One test per reported item: it checks how the call ended, what came back to the client
and what the server decoded (see expect.py), and says which value failed and how.
"""
from __future__ import annotations

import pytest

from tests.e2e import items_haxe
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
