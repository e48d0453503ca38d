"""The console over HTTP, beside a messaging channel set, under every server kind: login,
the pages' data, the service browser through the real channel, changes, metrics."""
from __future__ import annotations

import re

from amfast.remoting.flex_messages import ErrorMessage
from tests.console.conftest import ADMIN, basic

HTML = {"Accept": "text/html,application/xhtml+xml"}


# ----------------------------------------------------------------------- login


def test_without_credentials_scripts_get_a_basic_challenge_and_browsers_the_login_page(console):
    for path in ("api/overview", "metrics", "api/clients"):
        reply = console.get(path, auth=None)
        assert reply.status == 401, (path, reply)
        assert reply.headers["www-authenticate"].startswith('Basic realm="amfast console"')
    page = console.get("", auth=None, headers=HTML)
    assert page.status == 401
    assert page.headers["www-authenticate"].startswith("Form ")  # no browser prompt
    assert '<form class="login-box" method="post" action="login">' in page.text
    # The pages' own requests get no Basic challenge either (no browser prompt).
    fetched = console.get("api/overview", auth=None,
                          headers={"X-Requested-With": "amfast-console"})
    assert fetched.status == 401 and fetched.headers["www-authenticate"].startswith("Form ")


def test_basic_credentials_are_checked_on_every_request(console):
    assert console.get("api/overview").json()["user"] == "admin"
    assert console.get("api/overview", auth=("admin", "wrong")).status == 401
    assert console.get("api/overview", auth=("nobody", "s3cret")).status == 401


def test_the_mount_point_without_its_slash_redirects(console):
    reply = console.get("/console", auth=None)
    assert reply.status == 308 and reply.headers["location"] == "/console/"


def test_the_login_page_sets_a_signed_session_cookie(console):
    assert console.get("login", auth=None).status == 200
    refused = console.post("login", "user=admin&password=nope", auth=None,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status == 401 and "Wrong user name or password." in refused.text
    assert "set-cookie" not in refused.headers
    reply = console.post("login", "user=admin&password=s3cret", auth=None,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 303 and reply.headers["location"] == "./"
    cookie = reply.headers["set-cookie"]
    assert re.match(r"amfast_console=[^;]+; Path=/console/; Max-Age=28800; HttpOnly; "
                    r"SameSite=Strict$", cookie), cookie
    session = {"Cookie": cookie.split(";")[0]}
    assert console.get("api/overview", auth=None, headers=session).json()["user"] == "admin"
    page = console.get("", auth=None, headers={**HTML, **session})
    assert page.status == 200 and 'src="static/console.js"' in page.text
    forged = {"Cookie": session["Cookie"][:-1] + ("0" if session["Cookie"][-1] != "0" else "1")}
    assert console.get("api/overview", auth=None, headers=forged).status == 401
    logout = console.post("logout", auth=None, headers=session)
    assert logout.status == 303 and "Max-Age=0" in logout.headers["set-cookie"]


def test_repeated_failed_logins_are_refused_for_a_while(serve_console):
    console = serve_console()
    for _ in range(10):
        assert console.get("api/overview", auth=("admin", "wrong")).status == 401
    assert console.get("api/overview", auth=ADMIN).status == 429
    form = console.post("login", "user=admin&password=s3cret", auth=None,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status == 429


def test_the_front_end_is_served_with_a_strict_policy(console):
    script = console.get("static/console.js", auth=None)
    assert script.status == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "script-src 'self'" in script.headers["content-security-policy"]
    assert console.get("static/console.css", auth=None).status == 200
    assert console.get("static/nope.js", auth=None).status == 404
    assert console.get("static/../core.py", auth=None).status == 404
    index = console.get("")
    assert index.status == 200 and index.headers["x-frame-options"] == "DENY"
    assert index.headers["cache-control"] == "no-store"


# ----------------------------------------------------------------------- the pages' data


def test_overview_services_and_channels(console):
    overview = console.get("api/overview").json()
    assert overview["read_only"] is False and overview["debug"] is False
    assert overview["metrics"] is True
    services = {s["name"]: s for s in console.get("api/services").json()}
    targets = {t["name"]: t for t in services["svc"]["targets"]}
    assert services["svc"]["prefix"] == "svc."
    assert targets["secret"]["secure"] is True and targets["echo"]["secure"] is False
    assert targets["echo"]["arguments"] == ["value"]
    assert targets["remember"]["arguments"] == ["name", "value"]  # packet, message skipped
    assert targets["remember"]["kind"] == "ExtCallableTarget"
    channels = {c["name"]: c for c in console.get("api/channels").json()}
    assert {c: channels[c]["kind"] for c in channels} == {
        "amf": "polling", "longpoll": "long-polling", "streaming": "streaming"}


def test_connections_destinations_and_disconnecting(console):
    flex = console.flex("longpoll")
    flex.ping()
    assert not isinstance(flex.login("correct", "correct"), ErrorMessage)
    flex.subscribe("chat", sub_topic="room")
    flex.subscribe("news")
    other = console.flex("amf")
    other.ping()
    other.subscribe("chat", sub_topic="room")
    assert not isinstance(other.publish("chat", "hi", sub_topic="room"), ErrorMessage)
    assert [m.body for m in flex.poll_messages()] == ["hi"]

    data = console.get("api/clients").json()
    assert data["total"] == 2 and data["skipped"] == 0
    shown = {c["id"]: c for c in data["connections"]}
    mine = shown[flex.dsid]
    assert (mine["channel"], mine["user"], mine["authenticated"]) == ("longpoll", "correct", True)
    assert sorted((s["destination"], s["subtopic"]) for s in mine["subscriptions"]) == [
        ("chat", "room"), ("news", None)]
    assert shown[other.dsid]["user"] is None
    destinations = {d["name"]: d for d in data["destinations"]}
    assert destinations["chat"]["subscribers"] == 2
    assert destinations["chat"]["subtopics"] == [{"subtopic": "room", "subscribers": 2}]
    assert (destinations["chat"]["published"], destinations["chat"]["delivered"]) == (1, 1)
    assert destinations["news"]["subscribers"] == 1

    assert console.post("api/disconnect", {"id": flex.dsid}).json() == {"ok": True}
    left = console.get("api/clients").json()
    assert [c["id"] for c in left["connections"]] == [other.dsid]
    assert console.post("api/disconnect", {"id": flex.dsid}).status == 404


def test_charts_show_the_traffic(console):
    flex = console.flex("amf")
    flex.ping()
    flex.subscribe("chat")
    for n in range(3):
        flex.publish("chat", n)
    assert len(flex.poll_messages()) == 3
    charts = console.get("api/charts?seconds=60").json()
    assert charts["seconds"] == 60
    assert all(len(charts[name]) == 60 for name in (
        "published", "delivered", "requests", "faults", "held_polls", "open_streams"))
    assert charts["totals"]["published"] == 3 and charts["totals"]["delivered"] == 3
    assert charts["totals"]["requests"] == 6
    assert console.get("api/charts?seconds=x").status == 400


def test_recent_faults_carry_no_traceback_outside_debug_mode(console):
    flex = console.flex("amf")
    reply = flex.call("svc", "nope")
    assert isinstance(reply, ErrorMessage)
    faults = console.get("api/faults").json()
    assert faults[0]["target"] == "null" and faults[0]["error"] == "FlexMessageError"
    assert faults[0]["message"] == "Operation 'svc.nope' not found."
    assert faults[0]["detail"] == "" and "Traceback" not in console.get("api/faults").text


def test_in_debug_mode_recent_faults_carry_the_traceback(serve_console):
    console = serve_console(debug=True)
    console.post("api/call", {"channel": "amf", "target": "svc.nope"})
    assert console.get("api/faults").json()[0]["detail"].startswith("Traceback")


# ----------------------------------------------------------------------- the service browser


def test_the_service_browser_calls_through_the_channel(console):
    requests = console.channel("amf").stats.requests.total
    shown = console.post("api/call", {"channel": "amf", "target": "svc.echo",
                                      "args": [{"a": [1, "x", None], "b": 1.5}]}).json()
    assert shown["ok"] is True, shown
    assert shown["result"] == {"a": [1, "x", None], "b": 1.5}
    assert shown["request_bytes"] > 0 and shown["reply_bytes"] > 0
    # It went through the channel: the channel counted the request.
    assert console.channel("amf").stats.requests.total == requests + 1


def test_a_secure_target_needs_the_credentials_of_the_channel_set(console):
    refused = console.post("api/call", {"channel": "amf", "target": "svc.secret"}).json()
    assert refused["ok"] is False
    assert refused["fault"]["code"] == "SecurityError"
    assert "Target requires authentication." in refused["fault"]["text"]
    assert "Traceback" not in str(refused)
    wrong = console.post("api/call", {"channel": "longpoll", "target": "svc.secret",
                                      "user": "correct", "password": "no"}).json()
    assert wrong["ok"] is False and wrong["fault"]["code"] == "SecurityError"
    shown = console.post("api/call", {"channel": "longpoll", "target": "svc.secret",
                                      "user": "correct", "password": "correct"}).json()
    assert shown == {**shown, "ok": True, "result": "secret value"}


def test_the_service_browser_refuses_what_it_cannot_call(console):
    assert console.post("api/call", {"channel": "nope", "target": "svc.echo"}).status == 400
    assert console.post("api/call", {"channel": "amf", "target": ""}).status == 400
    assert console.post("api/call", "[1", headers={
        "Content-Type": "application/json"}).status == 400
    assert console.post("api/call", "channel=amf", headers={
        "Content-Type": "application/x-www-form-urlencoded"}).status == 400
    unknown = console.post("api/call", {"channel": "amf", "target": "svc.nope"}).json()
    assert unknown["ok"] is False and unknown["fault"]["code"] == "RemotingError"
    big = console.post("api/call", {"channel": "amf", "target": "svc.echo",
                                    "args": ["x" * 70000]})
    assert big.status == 413


def test_another_sites_requests_are_refused(console):
    evil = {"Origin": "http://evil.example"}
    assert console.post("api/call", {"channel": "amf", "target": "svc.echo"},
                        headers=evil).status == 403
    assert console.post("logout", headers=evil).status == 403
    same = {"Origin": console.base_url}
    assert console.post("api/call", {"channel": "amf", "target": "svc.echo", "args": [1]},
                        headers=same).json()["ok"] is True


def test_a_read_only_console_changes_nothing(serve_console):
    console = serve_console(read_only=True)
    flex = console.flex("amf")
    flex.ping()
    assert console.get("api/overview").json()["read_only"] is True
    assert console.post("api/call", {"channel": "amf", "target": "svc.echo"}).status == 403
    assert console.post("api/disconnect", {"id": flex.dsid}).status == 403
    assert [c["id"] for c in console.get("api/clients").json()["connections"]] == [flex.dsid]


# ----------------------------------------------------------------------- metrics


def test_metrics_in_the_prometheus_text_format(console):
    from prometheus_client.parser import text_string_to_metric_families

    flex = console.flex("longpoll")
    flex.ping()
    flex.subscribe("chat")
    flex.publish("chat", "one")
    flex.poll_messages()
    flex.call("svc", "nope")
    reply = console.get("metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(reply.text)
               for s in family.samples}
    longpoll = (("channel", "longpoll"),)
    assert samples[("amfast_requests_total", longpoll)] == 5
    assert samples[("amfast_faults_total", longpoll)] == 1
    assert samples[("amfast_connections", longpoll)] == 1
    assert samples[("amfast_held_polls", longpoll)] == 0
    assert samples[("amfast_open_streams", (("channel", "streaming"),))] == 0
    assert samples[("amfast_holding", (("what", "held_polls"),))] == 0
    assert samples[("amfast_holding", (("what", "waiting_connections"),))] == 0
    assert samples[("amfast_request_duration_seconds_count", longpoll)] == 5
    assert samples[("amfast_request_duration_seconds_bucket",
                    (("channel", "longpoll"), ("le", "+Inf")))] == 5
    chat = (("destination", "chat"),)
    assert samples[("amfast_messages_published_total", chat)] == 1
    assert samples[("amfast_messages_delivered_total", chat)] == 1
    assert any(name.startswith("process_") for name, _ in samples)
    assert console.get("metrics", auth=None).status == 401
    assert console.get("metrics", headers={"Authorization": basic("admin", "x")}).status == 401


def test_mounted_under_a_deeper_path(serve_console):
    console = serve_console(path="/admin/console")
    assert console.get("/admin/console", auth=None).headers["location"] == "/admin/console/"
    assert console.get("api/overview").json()["user"] == "admin"
    reply = console.post("login", "user=admin&password=s3cret", auth=None,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "Path=/admin/console/;" in reply.headers["set-cookie"]
    # The channels still answer beside it.
    assert console.flex("amf").ping().headers["DSId"]
    assert console.get("/nothing", auth=None).status == 404
