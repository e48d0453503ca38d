"""The console served beside a messaging channel set, under every server kind.

``serve_console(**options)`` serves ``build_messaging_channel_set()`` (channels ``/amf``,
``/longpoll``, ``/streaming``; service ``svc``; login ``correct``/``correct``) with the
console of the server kind's transport (``ConsoleApp`` for WSGI, ``AsgiConsoleApp`` for
ASGI) at ``/console/``; the console's own login is ``ADMIN``.  ``ConsoleServer.request``
makes one bounded HTTP request.
"""
from __future__ import annotations

import base64
import http.client
import json
from typing import Any

import pytest

from amfast.console import AsgiConsoleApp, ConsoleApp, single_user
from tests.remoting.conftest import build_messaging_channel_set
from tests.support.flex import TIMEOUT, FlexClient
from tests.support.servers import ASGI

ADMIN = ("admin", "s3cret")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Reply:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


class ConsoleServer:
    def __init__(self, server, channel_set, console, path: str = "/console"):
        self.server = server
        self.channel_set = channel_set
        self.console = console
        self.path = path
        self.port = server.port
        self.base_url = server.base_url
        self.clients: list[FlexClient] = []

    def request(self, method: str, path: str, body: bytes | str | dict | None = None,
                auth: tuple | None = ADMIN, headers: dict | None = None) -> Reply:
        """``path`` below the console's mount point (``api/overview``); ``auth`` None sends
        no credentials; a dict body goes as JSON."""
        headers = dict(headers or {})
        if auth is not None:
            headers.setdefault("Authorization", basic(*auth))
        if isinstance(body, dict):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            target = path if path.startswith("/") else f"{self.path}/{path}"
            conn.request(method, target, body, headers)
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                         response.read())
        finally:
            conn.close()

    def get(self, path: str, **options: Any) -> Reply:
        return self.request("GET", path, **options)

    def post(self, path: str, body: Any = None, **options: Any) -> Reply:
        return self.request("POST", path, body, **options)

    def flex(self, channel: str = "amf") -> FlexClient:
        client = FlexClient(self.base_url, channel)
        self.clients.append(client)
        return client

    def channel(self, name: str) -> Any:
        return self.channel_set.getChannel(name)


@pytest.fixture
def serve_console(serve_app, transport):
    """``serve_console(read_only=False, debug=False, path="/console", **console_options)``."""
    served: list[ConsoleServer] = []

    def serve(read_only: bool = False, debug: bool = False, path: str = "/console",
              **options: Any) -> ConsoleServer:
        channel_set = build_messaging_channel_set(transport=transport)
        channel_set.debug = debug
        app_class = AsgiConsoleApp if transport is ASGI else ConsoleApp
        options.setdefault("authenticate", single_user(*ADMIN))
        console = app_class(channel_set, read_only=read_only, **options)
        served.append(ConsoleServer(serve_app(console.beside(channel_set, path)), channel_set,
                                    console, path))
        return served[-1]

    yield serve
    for console in served:
        for client in console.clients:
            client.close()


@pytest.fixture
def console(serve_console) -> ConsoleServer:
    """A console with calls enabled, under each server kind."""
    return serve_console()
