"""The end-to-end test server: amfast's channels beside the clients' static files, one origin.

    /amf            polling channel (NetConnection, RemoteObject, AMFChannel polling)
    /amf-longpoll   long-polling channel (polls held up to LONGPOLL_WAIT ms)
    /report         POST: a client's JSON results; GET ?client=NAME: what it reported;
                    DELETE ?client=NAME: forget it (a new run)
    /log            POST: a line of client progress, printed with the server's output
    /console/       the channel set's console (amfast.console; login: the channel set's own)
    /django/        examples/django_project (its Django channel at /django/amf), on a SQLite
                    file of its own, with the Django user DJANGO_USER
    anything else   a static file from the web root (the built clients, Ruffle's files)

Every AMF request body is kept (``Recorder.requests``) with the client it came from (the
``client`` query parameter of the gateway URL), so a failing item can be replayed from the
exact bytes.  The channels are WSGI ones (``WsgiApp``, the development server) or ASGI ones
(``AsgiApp``, uvicorn).  Run it by hand to try a client in a browser:

    .venv/bin/python tests/e2e/server.py --port 8080 [--asgi]
    then open http://127.0.0.1:8080/haxe.html or /royale.html
"""
from __future__ import annotations

import argparse
import contextvars
import datetime
import decimal
import enum
import functools
import io
import json
import mimetypes
import os
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from amfast import remoting
from amfast.class_def import ClassDef, ClassDefMapper, DynamicClassDef
from amfast.console import AsgiConsoleApp, ConsoleApp
from amfast.class_def.as_types import AsByteArray, AsDictionary, AsVector, TypedObject
from amfast.remoting.channel import SecurityError
from amfast.remoting.wsgi_server import make_server
from tests.support.servers import ASGI, WSGI, Transport

HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"
PAGES = HERE / "pages"

USER, PASSWORD = "correct", "correct"
LONGPOLL_WAIT = 5000  # ms: short enough that a stopping test run is never held long
TOPIC = "e2e-chat"
MAX_REPORT = 8 * 1024 * 1024
CONSOLE = "/console"

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("application/x-shockwave-flash", ".swf")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")


# --------------------------------------------------------------- typed objects


class Point:
    """``e2e.Point`` (sealed x, y): the Haxe client's registered class."""

    def __init__(self, x: float = 0.0, y: float = 0.0):
        self.x = x
        self.y = y

    def __eq__(self, other: object) -> bool:
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    def __repr__(self) -> str:
        return f"Point({self.x!r}, {self.y!r})"


class Person:
    """``e2e.Person`` (sealed name, age, tags): the Royale client's registered class."""

    def __init__(self, name: str = "", age: float = 0, tags: Any = None):
        self.name = name
        self.age = age
        self.tags = tags

    def __eq__(self, other: object) -> bool:
        return type(other) is Person and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Person({vars(self)!r})"


class Tagged:
    """``e2e.Tagged``: a dynamic class (sealed ``kind``, the rest dynamic)."""

    def __init__(self, kind: str = ""):
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return type(other) is Tagged and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Tagged({vars(self)!r})"


CLASS_DEFS = (
    ClassDef(Point, "e2e.Point", ("x", "y")),
    ClassDef(Person, "e2e.Person", ("name", "age", "tags")),
    DynamicClassDef(Tagged, "e2e.Tagged", ("kind",)),
)


def samples() -> dict:
    """Values the server sends (``e2e.sample(kind)``): how the clients read our encoder."""
    xml_doc = __import__("xml.dom.minidom", fromlist=["parseString"]).parseString(
        "<sample kind=\"dom\"><item>\u00e9</item></sample>")
    etree = __import__("xml.etree.ElementTree", fromlist=["fromstring"]).fromstring(
        "<sample kind=\"etree\"/>")
    return {
        "int_small": 7,
        "int_amf3_max": 2 ** 28 - 1,
        "int_amf3_over": 2 ** 28,
        "int_big": 2 ** 40,
        "int_negative": -(2 ** 28),
        "float": 0.1,
        "float_neg_zero": -0.0,
        "float_nan": float("nan"),
        "float_inf": float("inf"),
        "decimal": decimal.Decimal("1.25"),
        "bool": True,
        "none": None,
        "string_unicode": "h\u00e9llo \u4e16\u754c \U0001F600",
        "string_long": "x" * 70000,
        "list": [1, "two", None, 3.5],
        "tuple": (1, 2),
        "set": {3},
        "dict": {"a": 1, "b": [True, False], "c": {"d": None}},
        "dict_int_keys": {1: "one", 2: "two"},
        "datetime_naive": datetime.datetime(2021, 6, 7, 8, 9, 10, 500000),
        "datetime_aware": datetime.datetime(2021, 6, 7, 10, 9, 10, 500000,
                                            datetime.timezone(datetime.timedelta(hours=2))),
        "date": datetime.date(2021, 6, 7),
        "xml_minidom": xml_doc,
        "xml_etree": etree,
        "bytes": AsByteArray(b"\x00\x01\x7f\x80\xff"),
        "shared_list": (lambda shared: [shared, shared])([1, 2]),
        "point": Point(1.5, -2.0),
        "person": Person("Ann", 41, ["a", "b"]),
        "tagged": (lambda t: (setattr(t, "extra", "dyn"), t)[1])(Tagged("k")),
        "typed_unmapped": TypedObject("e2e.Unmapped", (), True, {"a": 1, "b": "x"}),
        "vector_int": AsVector([1, -2, 3], type="int"),
        "vector_double": AsVector([1.5, -2.0], type="double"),
        "vector_object": AsVector(["a", "b"], type="object"),
        "dictionary": AsDictionary({"k": "v"}),
    }


# --------------------------------------------------------------- generated client classes


class Level(enum.IntEnum):
    """Travels as its value."""

    BASIC = 1
    GOLD = 2


@dataclass
class Address:
    """``e2e.codegen.Address``: typed by its class annotations."""

    street: str = ""
    number: int = 0
    lines: list[str] = field(default_factory=list)


@dataclass
class Customer:
    """``e2e.codegen.Customer``: an attribute of each kind the code generator types."""

    id: uuid.UUID | None = None  # a string on the wire (encode_types)
    name: str = ""
    score: float = 0.0
    vip: bool = False
    joined: datetime.datetime | None = None
    level: Level = Level.BASIC
    address: Address | None = None
    tags: list[str] = field(default_factory=list)
    ratings: dict[str, float] = field(default_factory=dict)
    avatar: bytes = b""
    nickname: str | None = None


class Badge:
    """``e2e.codegen.Badge``: dynamic, typed by its ``__init__`` annotations."""

    def __init__(self, label: str = "", weight: float = 0.0):
        self.label = label
        self.weight = weight

    def __eq__(self, other: object) -> bool:
        return type(other) is Badge and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Badge({vars(self)!r})"


GENERATED_CLASS_DEFS = (
    ClassDef(Address, "e2e.codegen.Address", ("street", "number", "lines")),
    ClassDef(Customer, "e2e.codegen.Customer",
             ("id", "name", "score", "vip", "joined", "level", "address", "tags", "ratings",
              "avatar", "nickname"),
             encode_types={"id": str}, decode_types={"id": uuid.UUID, "level": Level}),
    DynamicClassDef(Badge, "e2e.codegen.Badge", ("label", "weight")),
)


def codegen_mapper() -> ClassDefMapper:
    """The classes whose ActionScript the Royale client is compiled with: ``make e2e`` runs
    ``python -m amfast.codegen --lang as3 --royale tests.e2e.server:codegen_mapper``."""
    mapper = ClassDefMapper()
    for class_def in GENERATED_CLASS_DEFS:
        mapper.mapClass(class_def)
    return mapper


def map_generated_classes(channel_set: Any) -> None:
    for channel in channel_set:
        for class_def in GENERATED_CLASS_DEFS:
            channel.endpoint.decoder.class_def_mapper.mapClass(class_def)


# --------------------------------------------------------------- what the clients did


@dataclass
class Request:
    client: str
    path: str
    body: bytes
    at: float = field(default_factory=time.monotonic)
    seconds: float | None = None  # how long the server took to answer (a held long-poll: long)
    response: bytes = b""


class Recorder:
    """What every client sent and reported; waits are bounded by their callers."""

    def __init__(self, capture_dir: Path | None = None) -> None:
        self.capture_dir = capture_dir
        self.lock = threading.Condition()
        self.reports: dict[str, dict] = {}
        self.received: dict[str, dict[str, list]] = {}
        self.requests: list[Request] = []
        self.logs: dict[str, list[str]] = {}
        self.batch_sizes: dict[str, list[int]] = {}

    def current_client(self) -> str:
        return _current_client.get() or "unknown"

    def record(self, name: str, value: Any) -> None:
        with self.lock:
            self.received.setdefault(self.current_client(), {}).setdefault(
                str(name), []).append(value)

    def report(self, client: str, data: dict) -> None:
        with self.lock:
            self.reports[client] = data
            self.lock.notify_all()

    def log(self, client: str, line: str) -> None:
        with self.lock:
            self.logs.setdefault(client, []).append(line)

    def wait_report(self, client: str, timeout: float, alive: Callable[[], bool] = lambda: True
                    ) -> dict | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while client not in self.reports:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not alive():
                    return None
                self.lock.wait(min(remaining, 0.25))
            return self.reports[client]

    def add_request(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)
            number = len(self.requests)
        if self.capture_dir is not None:
            self.capture_dir.mkdir(parents=True, exist_ok=True)
            name = f"{number:04d}-{request.client}-{request.path.strip('/')}.bin"
            (self.capture_dir / name).write_bytes(request.body)

    def requests_of(self, client: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.client == client]


#: The client whose AMF request is being answered (targets record what they got for it).
_current_client: contextvars.ContextVar = contextvars.ContextVar("e2e_client", default=None)


# --------------------------------------------------------------- services


class E2ELogin:
    """ChannelSet mixin: one user, 'correct' with the password 'correct'."""

    def login(self, user: str, password: str) -> bool:
        if user == USER and password == PASSWORD:
            return True
        raise SecurityError("Invalid credentials.")


class E2EError(Exception):
    """The fault the clients provoke on purpose."""


def build_channel_set(recorder: Recorder, transport: Transport = WSGI) -> Any:
    # WSGI: served by the development server, a thread per request: no bound on held requests.
    channel_set = transport.channel_set_class(E2ELogin)(max_held=None)
    channel_set.mapChannel(transport.Channel("amf"))
    channel_set.mapChannel(transport.Channel("amf-longpoll", wait_interval=LONGPOLL_WAIT))
    for channel in channel_set:
        mapper = channel.endpoint.encoder.class_def_mapper
        assert mapper is channel.endpoint.decoder.class_def_mapper
        for class_def in CLASS_DEFS:
            mapper.mapClass(class_def)
    map_generated_classes(channel_set)

    def echo(name, value=None):
        """Record what the server decoded under the item's name, and send it back."""
        recorder.record(name, value)
        return value

    def echo_args(name, *args):
        recorder.record(name, list(args))
        return list(args)

    def batch_size(packet, msg, name):
        """How many calls came in the packet that carried this one."""
        size = len(packet.messages)
        recorder.record(name, size)
        return size

    def fail(message):
        raise E2EError(message)

    def secret():
        return "the secret"

    def whoami(packet, msg):
        """The Flex user of the calling connection (RemoteObject), else None."""
        flex = msg.body[0] if msg.is_flex_msg else None
        connection = getattr(flex, "connection", None)
        return None if connection is None else connection.flex_user

    def publish(subtopic, text):
        """Publish from server code, for the Consumers."""
        body = {"from": "server", "text": text}
        channel_set.publishObject(body, TOPIC, subtopic or None)
        return True

    def server_time():
        return datetime.datetime(2021, 6, 7, 8, 9, 10, 500000)

    sample_values = samples()

    def sample(kind):
        return sample_values[kind]

    service = remoting.Service("e2e")
    for func, name, secure in ((echo, "echo", False), (echo_args, "echoArgs", False),
                               (fail, "fail", False), (secret, "secret", True),
                               (publish, "publish", False), (server_time, "serverTime", False),
                               (sample, "sample", False)):
        service.mapTarget(remoting.CallableTarget(func, name, secure=secure))
    service.mapTarget(remoting.ExtCallableTarget(batch_size, "batchSize"))
    service.mapTarget(remoting.ExtCallableTarget(whoami, "whoami"))
    channel_set.service_mapper.mapService(service)
    add_address_book_services(channel_set)
    return channel_set


#: The examples' temporary folders, removed when the process ends.
_folders: list = []


def add_address_book_services(channel_set: Any) -> None:
    """examples/addressbook's RemoteObject destination ``AddressBook`` (the Royale client's
    addressbook items), on a SQLite file of its own: every server starts from its two users."""
    sys.path.insert(0, str(HERE.parents[1] / "examples" / "addressbook"))
    from addressbook import add_address_book

    folder = tempfile.TemporaryDirectory(prefix="amfast-e2e-addressbook-")
    _folders.append(folder)
    add_address_book(channel_set, f"sqlite:///{folder.name}/addressbook.db")


#: The Django user of examples/django_project that the Royale client logs in as.
DJANGO_USER, DJANGO_PASSWORD = "royale", "royale-password"
DJANGO = "/django"


@functools.cache
def _set_up_django() -> None:
    """Django with examples/django_project's settings (a process runs one Django project),
    on a SQLite file of its own, with the user DJANGO_USER."""
    project = HERE.parents[1] / "examples" / "django_project"
    sys.path.insert(0, str(project))
    folder = tempfile.TemporaryDirectory(prefix="amfast-e2e-django-")
    _folders.append(folder)
    os.environ["DJANGO_SETTINGS_MODULE"] = "notes_site.settings"
    os.environ["NOTES_DB"] = f"{folder.name}/notes.sqlite3"
    os.environ["NOTES_USER"] = f"{DJANGO_USER}:{DJANGO_PASSWORD}"
    from serve import prepare

    prepare()


def build_django(transport: Transport) -> Callable:
    """examples/django_project as a WSGI or ASGI application (the Royale client's django
    items)."""
    _set_up_django()
    if transport is ASGI:
        from notes_site.asgi import application
    else:
        from notes_site.wsgi import application
    return application


def is_django(path: str) -> bool:
    return path.startswith(DJANGO + "/")


def build_console(channel_set: Any, transport: Transport) -> Callable:
    """The channel set's console at CONSOLE, calls enabled; its login is the channel set's."""
    console_class = AsgiConsoleApp if transport is ASGI else ConsoleApp
    return console_class(channel_set, read_only=False).beside(None, CONSOLE)


def is_console(path: str) -> bool:
    return path == CONSOLE or path.startswith(CONSOLE + "/")


# --------------------------------------------------------------- the application


class App:
    """Routes a request: an AMF channel's path, /report, /log, or a static file.

    ``transport`` (tests.support.servers) chooses the channel classes; ``WsgiApp`` and
    ``AsgiApp`` serve it.
    """

    def __init__(self, recorder: Recorder, www: Path = PAGES, extra_static: dict | None = None,
                 verbose: bool = False, transport: Transport = WSGI):
        self.recorder = recorder
        self.channel_set = build_channel_set(recorder, transport)
        self.console = build_console(self.channel_set, transport)
        self.django = build_django(transport)
        self.channel_names = {channel.name for channel in self.channel_set}
        self.www = www.resolve()
        # URL prefix -> folder, for files served from outside the web root.
        self.extra_static = {k: Path(v).resolve() for k, v in (extra_static or {}).items()}
        self.verbose = verbose

    def is_amf(self, path: str) -> bool:
        return path.strip("/") in self.channel_names

    def amf_request(self, client: str, path: str, body: bytes) -> Request:
        """Record an AMF request; the client is the current one until ``amf_done``."""
        request = Request(client or "unknown", path, body)
        self.recorder.add_request(request)
        if self.verbose:
            print(f"[amf] {client} {path} {len(body)} bytes", flush=True)
        _current_client.set(client)
        return request

    @staticmethod
    def amf_done(request: Request, response: bytes) -> None:
        _current_client.set(None)
        request.seconds = time.monotonic() - request.at
        request.response = response

    def other(self, method: str, path: str, client: str, body: bytes) -> tuple:
        """``(status, body, content type)`` for /report, /log and static files."""
        if path == "/report":
            return self.report(method, client, body)
        if path == "/log":
            line = body.decode("utf-8", "replace")
            self.recorder.log(client or "unknown", line)
            if self.verbose:
                print(f"[log] {client}: {line}", flush=True)
            return 200, b"ok", "text/plain"
        return self.static(method, path)

    def report(self, method: str, client: str, raw: bytes) -> tuple:
        if method == "DELETE":  # a new run of the client (driver.mjs)
            with self.recorder.lock:
                self.recorder.reports.pop(client, None)
                self.recorder.received.pop(client, None)
            return 200, b"ok", "text/plain"
        if method == "GET":
            with self.recorder.lock:
                data = self.recorder.reports.get(client)
            return 200 if data else 404, json.dumps(data).encode(), "application/json"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            data = {"invalid": f"{type(exc).__name__}: {exc}", "raw": raw[:2000].decode(
                "utf-8", "replace")}
        if not isinstance(data, dict):
            data = {"invalid": "not a JSON object", "raw": data}
        name = client or str(data.get("client") or "unknown")
        if self.verbose:
            print(f"[report] {name}: {len(data.get('items') or [])} items", flush=True)
        self.recorder.report(name, data)
        return 200, b"ok", "text/plain"

    def static(self, method: str, path: str) -> tuple:
        if method not in ("GET", "HEAD"):
            return 405, b"static files are read-only\n", "text/plain"
        rel = urllib.parse.unquote(path).lstrip("/") or "index.html"
        root = self.www
        for prefix, folder in self.extra_static.items():
            if rel == prefix or rel.startswith(prefix + "/"):
                root, rel = folder, rel[len(prefix):].lstrip("/")
                break
        target = (root / rel).resolve()
        if target.is_dir():
            target = target / "index.html"
        if root not in target.parents or not target.is_file():
            return 404, f"not found: {path}\n".encode(), "text/plain"
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return 200, target.read_bytes(), content_type


def _headers(body: bytes, content_type: str) -> list:
    return [("Content-Type", content_type), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store")]


class WsgiApp(App):
    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if is_console(path):
            return self.console(environ, start_response)
        if is_django(path):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + DJANGO
            environ["PATH_INFO"] = path[len(DJANGO):]
            return self.django(environ, start_response)
        client = (urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("client")
                  or [""])[0]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        amf = self.is_amf(path)
        if not amf:
            length = min(length, MAX_REPORT)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        if not amf:
            status, data, content_type = self.other(environ["REQUEST_METHOD"], path, client,
                                                    body)
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "")
            start_response(f"{status} {reason}", _headers(data, content_type))
            return [data]
        environ["wsgi.input"] = io.BytesIO(body)
        request = self.amf_request(client, path, body)
        response: list = []
        try:
            # WsgiChannel answers with a complete body: the call below is the whole request.
            response = list(self.channel_set(environ, start_response))
        finally:
            self.amf_done(request, b"".join(response))
        return response


class AsgiApp(App):
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.channel_set(scope, receive, send)  # lifespan
            return
        path = scope["path"]
        if is_console(path):
            await self.console(scope, receive, send)
            return
        if is_django(path):
            await self.django(dict(scope, root_path=scope.get("root_path", "") + DJANGO),
                              receive, send)
            return
        client = (urllib.parse.parse_qs(scope.get("query_string", b"").decode())
                  .get("client") or [""])[0]
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(chunks)
        if not self.is_amf(path):
            status, data, content_type = self.other(scope["method"], path, client, body)
            await send({"type": "http.response.start", "status": status, "headers": [
                (k.lower().encode(), v.encode()) for k, v in _headers(data, content_type)]})
            await send({"type": "http.response.body", "body": data})
            return
        request = self.amf_request(client, path, body)
        sent: list = []
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def keep(message: dict) -> None:
            if message["type"] == "http.response.body":
                sent.append(message.get("body", b""))
            await send(message)

        try:
            await self.channel_set(scope, replay, keep)
        finally:
            self.amf_done(request, b"".join(sent))


def static_folders() -> dict:
    """URL prefix -> folder: the built clients and Ruffle's files."""
    return {"ruffle": HERE / "node_modules" / "@ruffle-rs" / "ruffle",
            "haxe": BUILD / "haxe",
            "royale": BUILD / "royale" / "bin" / "js-release"}


def make_app(recorder: Recorder | None = None, verbose: bool = False,
             transport: Transport = WSGI) -> App:
    """The WSGI application, or with ``transport`` ASGI the ASGI one."""
    app_class = AsgiApp if transport is ASGI else WsgiApp
    return app_class(recorder or Recorder(), PAGES, static_folders(), verbose, transport)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--asgi", action="store_true", help="the ASGI channels, under uvicorn")
    parser.add_argument("--capture-dir", type=Path, default=None,
                        help="write every AMF request body to a file in this folder")
    args = parser.parse_args()
    app = make_app(Recorder(args.capture_dir), verbose=True,
                   transport=ASGI if args.asgi else WSGI)
    print(f"e2e server on http://127.0.0.1:{args.port}/", flush=True)
    if args.asgi:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning",
                    timeout_graceful_shutdown=2)
        return
    server = make_server(app, "127.0.0.1", args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
