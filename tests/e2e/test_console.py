"""The console in a real browser: headless Chromium drives /console/ (console.mjs) while the
Royale client, in its console mode (royale/src/e2e/ConsoleFeed.as), is connected on the
long-polling channel, logged in and publishing to e2e-chat.

The browser logs in through the login page, sees the Royale client in the connection list,
calls e2e.echo through the service browser and sees the answer, watches the delivery chart
move, and saves a screenshot of each page in .build/console/<server kind>/.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import BUILD, HERE
from tests.e2e.server import PASSWORD, TOPIC, USER

pytestmark = pytest.mark.e2e

TIMEOUT = 150
PAGES = ("login", "overview", "connections", "services", "destinations", "channels", "faults")


@pytest.fixture(scope="session")
def console_run(e2e_server) -> dict:
    """What the browser saw (console.mjs's RESULT), once per server kind."""
    royale = BUILD / "royale" / "bin" / "js-release" / "index.html"
    if not royale.exists() or not (HERE / "node_modules" / "playwright-core").is_dir() or \
            not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        pytest.fail("the Royale client, playwright-core or chromium is missing: run `make e2e`",
                    pytrace=False)
    out = BUILD / "console" / e2e_server.kind
    command = ["node", str(HERE / "console.mjs"), "--base", e2e_server.url("").rstrip("/"),
               "--out", str(out), "--user", USER, "--password", PASSWORD,
               "--timeout", str(TIMEOUT - 30)]
    proc = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    (BUILD / f"console-{e2e_server.kind}-driver.log").write_text(output)
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT "):]) if lines else {}
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-40:])
        pytest.fail(f"the console driver failed (exit {proc.returncode}): "
                    f"{result.get('error')}\n{tail}", pytrace=False)
    return {**result, "out": out}


def test_the_login_page_answers_401_and_the_login_works(console_run):
    assert console_run["unauthenticatedStatus"] == 401
    assert console_run["user"] == USER


def test_the_royale_client_is_in_the_connection_list(console_run, e2e_server):
    dsid = console_run["feed"]["dsid"]
    assert dsid, console_run["feed"]
    row = console_run["connection"]
    assert dsid in row and "amf-longpoll" in row and USER in row, row
    assert f"{TOPIC} / console" in row, row
    # The server agrees: that connection is live, logged in, on the long-polling channel.
    connection = e2e_server.app.channel_set.getConnection(dsid, touch=False)
    assert (connection.channel_name, connection.flex_user) == ("amf-longpoll", USER)


def test_echo_through_the_service_browser(console_run, e2e_server):
    assert console_run["echo"] == {"from": "the console", "n": [1, 2.5]}
    # e2e.echo recorded what it decoded: the call went through the channel.
    with e2e_server.recorder.lock:
        received = [v for client in e2e_server.recorder.received.values()
                    for v in client.get("console", [])]
    assert {"from": "the console", "n": [1, 2.5]} in received


def test_the_delivery_chart_moves_while_messages_flow(console_run):
    first, second = console_run["delivered"]
    assert second > first >= 0, console_run["delivered"]
    assert console_run["feed"]["received"] > 0


def test_a_fault_through_the_service_browser_and_among_the_recent_faults(console_run):
    assert console_run["fault"] == "Fault E2EError: failed on purpose"
    recent = console_run["faults"][0]
    assert "E2EError" in recent and "e2e.fail" in recent and "failed on purpose" in recent
    assert "Traceback" not in recent  # the channel set is not in debug mode


def test_the_other_pages_show_the_channels_and_the_destination(console_run):
    assert set(console_run["channels"]) == {"amf", "amf-longpoll"}
    assert console_run["destination"].startswith(TOPIC), console_run["destination"]


def test_a_screenshot_of_each_page(console_run):
    missing = [page for page in PAGES if not (console_run["out"] / f"{page}.png").is_file()]
    assert not missing, f"no screenshot of {missing} in {console_run['out']}"
