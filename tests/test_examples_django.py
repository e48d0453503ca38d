"""examples/django_project: the Django project runs as a process under waitress (WSGI) and
uvicorn (ASGI, the chat's ASGI channel set mounted in front of Django); a Django user logs
in, loads and saves notes, chats over long-polling, and the admin answers.  Every wait is
bounded."""
from __future__ import annotations

import os
import threading
import urllib.request

import pytest

pytest.importorskip("django")

from amfast.class_def import ClassDefMapper  # noqa: E402
from amfast.class_def.as_types import TypedObject  # noqa: E402
from amfast.remoting.client import RemotingFault, RemotingService  # noqa: E402
from tests.support.net import free_port, wait_for_port  # noqa: E402
from tests.support.processes import EXAMPLES, Process  # noqa: E402

PROJECT = EXAMPLES / "django_project"
WAIT = 20.0
#: Where each server serves the chat's long-poll.
LONG_POLL = {"waitress": "/longpoll", "uvicorn": "/messaging/longpoll"}


@pytest.fixture(params=["waitress", "uvicorn"])
def project(request, tmp_path):
    pytest.importorskip(request.param)
    port = free_port()
    env = dict(os.environ, NOTES_DB=str(tmp_path / "notes.sqlite3"), NOTES_USER="ann:pw1")
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the project's own, not the tests'
    server = Process([str(PROJECT / "serve.py"), request.param, str(port)], env=env)
    try:
        wait_for_port(port, server.proc, timeout=WAIT)
        yield request.param, f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def note(title: str, body: str = "") -> TypedObject:
    sent = TypedObject("notes.Note")
    sent.update(id=None, title=title, body=body, author_id=None, author=None)
    return sent


def test_notes_chat_and_admin(project):
    server, base = project
    client = RemotingService(f"{base}/amf", amf3=True, class_def_mapper=ClassDefMapper(),
                             timeout=WAIT)
    assert client.remote_call("NoteService", "whoami") == ""
    with pytest.raises(RemotingFault):
        client.remote_call("NoteService", "list")
    with pytest.raises(RemotingFault):
        client.login("ann", "wrong")
    client.login("ann", "pw1")
    assert client.remote_call("NoteService", "whoami") == "ann"
    note_id = client.remote_call("NoteService", "save", note("first", "hello"))
    with pytest.raises(RemotingFault, match="title"):  # full_clean refuses it
        client.remote_call("NoteService", "save", note(""))
    loaded = client.remote_call("NoteService", "load", note_id)
    assert loaded.alias == "notes.Note" and loaded["title"] == "first"
    assert loaded["author"]["username"] == "ann" and "password" not in loaded["author"]
    loaded["title"] = "changed"
    assert client.remote_call("NoteService", "save", loaded) == note_id
    assert [n["title"] for n in client.remote_call("NoteService", "list")] == ["changed"]

    consumer = RemotingService(base + LONG_POLL[server], timeout=WAIT)
    consumer.subscribe("chat")
    held: list = []
    poller = threading.Thread(target=lambda: held.extend(consumer.poll()), daemon=True)
    poller.start()
    producer = RemotingService(base + LONG_POLL[server], timeout=WAIT)
    producer.publish("chat", {"user": "ann", "text": "hi"})
    poller.join(WAIT)
    assert [m.body["text"] for m in held] == ["hi"]

    with urllib.request.urlopen(f"{base}/admin/login/", timeout=WAIT) as response:
        assert response.status == 200 and b"Django" in response.read()
