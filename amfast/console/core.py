"""The console itself, for every transport: a request in, a response (or a call) out.

``Console.handle`` answers one request below the console's mount point.  The WSGI
and ASGI applications (``amfast.console.wsgi``, ``amfast.console.asgi``) turn their
requests into ``Request`` values and write the ``Response``; when the service browser
asks for a call, ``handle`` returns a ``Call`` that the application passes through the
channel its own way, and ``answered`` makes the response of the channel's answer.

Every page and every ``api/`` and ``metrics`` answer needs a login: HTTP Basic
credentials (scripts, ``curl -u``, Prometheus) or the session cookie of the login
page.  Without one the answer is 401: the login page for a browser, a Basic challenge
for the others.  Changes (calls, disconnecting a connection) need ``read_only=False``,
a JSON body, and no foreign ``Origin``.
"""
from __future__ import annotations

import functools
import html
import importlib.resources
import json
import posixpath
import urllib.parse
from typing import Any, Callable, NamedTuple

import amfast
from amfast.console import browser, views
from amfast.console.auth import COOKIE, Authenticator, basic_credentials
from amfast.console.errors import BadRequest, ConsoleError
from amfast.console.metrics import MetricsExporter
from amfast.remoting.channel import ChannelSet, HttpAnswer
from amfast.remoting.errors import NotConnectedError, StoreUnavailableError
from amfast.remoting.stats import HISTORY

__all__ = ["Console", "Request", "Response", "MAX_BODY"]

#: The largest request body the console reads (bytes).
MAX_BODY = 64 * 1024
REALM = 'realm="amfast console"'
#: The header the console's own pages send with every request (no Basic prompt for them).
PAGE_HEADER = "x-requested-with"
PAGE_MARK = "amfast-console"
SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),  # no-referrer would make forms send "Origin: null"
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
)
#: The front end's files, by extension.
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}


class Request(NamedTuple):
    """One request, as the transport read it.  ``path`` is below the mount point
    (``""`` for the mount point itself without its slash), ``root`` the mount point's
    path (``"/console"``), ``headers`` have lower-case names."""

    method: str
    path: str
    query: str
    headers: dict
    body: bytes
    root: str
    address: str = ""
    secure: bool = False


#: What a console page answers: an HttpAnswer, written by each transport as the channels'.
Response = HttpAnswer


def _json(data: Any, status: int = 200, headers: tuple = ()) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(status, body.encode("utf-8"), "application/json; charset=utf-8", headers)


def _error(status: int, message: str, headers: tuple = ()) -> Response:
    return _json({"error": message}, status, headers)


@functools.lru_cache(maxsize=32)
def _static(name: str) -> bytes | None:
    """A file of the front end (package data), or None."""
    if not name or "/" in name or name.startswith("."):
        return None
    resource = importlib.resources.files("amfast.console").joinpath("static", name)
    return resource.read_bytes() if resource.is_file() else None


def _default_authenticate(channel_set: ChannelSet) -> Callable[[str, str], bool]:
    cls = type(channel_set)
    if cls.login is ChannelSet.login and cls.checkCredentials is ChannelSet.checkCredentials:
        raise ConsoleError("The console needs a login: pass authenticate(user, password), or "
                           "give the channel set a login method.")

    def authenticate(user: str, password: str) -> bool:
        channel_set.checkCredentials(user, password)  # SecurityError when refused
        return True

    return authenticate


class Console:
    """The console of ``channel_set``.

    ``authenticate(user, password) -> bool`` checks logins (default: the channel set's
    own ``login``); ``read_only`` refuses calls and disconnections; sessions are signed
    with ``secret`` (default: the connection manager's) and last ``session_lifetime``
    milliseconds; at most ``max_scan`` connections are read per look at the connections.
    """

    def __init__(self, channel_set: ChannelSet, authenticate: Callable[[str, str], bool] | None
                 = None, read_only: bool = True, secret: bytes | str | None = None,
                 session_lifetime: int = 8 * 3600 * 1000, max_scan: int = 10000):
        self.channel_set = channel_set
        self.read_only = read_only
        self.max_scan = max_scan
        if authenticate is None:
            authenticate = _default_authenticate(channel_set)
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        self.auth = Authenticator(
            authenticate,
            (lambda: secret) if secret else channel_set.connection_manager.getSecret,
            session_lifetime // 1000)
        try:
            self.metrics: MetricsExporter | None = MetricsExporter(channel_set)
        except ConsoleError:
            self.metrics = None

    # -- requests ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response | browser.Call:
        """The response to ``request``, or the call the service browser asks for."""
        try:
            answer = self._route(request)
        except BadRequest as exc:
            answer = _error(400, str(exc))
        except StoreUnavailableError as exc:
            amfast.logger.error("console: %s", exc)
            answer = _error(503, "The store is unreachable.")
        except Exception as exc:
            amfast.log_exc(exc)
            answer = _error(500, "Console error.")
        if isinstance(answer, Response):
            answer = answer._replace(headers=answer.headers + SECURITY_HEADERS)
        return answer

    def answered(self, call: browser.Call, answer: HttpAnswer | None) -> Response:
        """The service browser's response to the channel's ``answer`` to ``call``."""
        try:
            shown = browser.outcome(call, answer)
        except Exception as exc:
            amfast.log_exc(exc)
            shown = {"ok": False, "error": "The reply could not be read."}
        return _json(shown)._replace(headers=SECURITY_HEADERS)

    def _route(self, request: Request) -> Response | browser.Call:
        path, method = request.path, request.method
        if path == "":
            location = request.root + "/" + (f"?{request.query}" if request.query else "")
            return Response(308, b"", headers=(("Location", location),))
        if path.startswith("/static/"):
            content_type = STATIC_TYPES.get(posixpath.splitext(path)[1])
            body = None if content_type is None else _static(path[len("/static/"):])
            if body is None:
                return Response(404, b"Not found.\n")
            return Response(200, body, content_type)
        if method == "POST" and not self._same_origin(request):
            return _error(403, "Requests from other sites are refused.")
        if path == "/login":
            return self._login(request)
        if path == "/logout":
            if method != "POST":
                return _error(405, "POST to log out.", (("Allow", "POST"),))
            return Response(303, b"", headers=(("Location", "login"),
                                               ("Set-Cookie", self._cookie(request, "", 0))))
        user = self._user(request)
        if not isinstance(user, str):
            return user
        if path == "/":
            return Response(200, _static("index.html"), "text/html; charset=utf-8")
        if path == "/metrics":
            if self.metrics is None:
                return Response(501, b"Metrics need prometheus-client: "
                                     b"pip install 'amfast[metrics]'\n")
            return Response(200, self.metrics.render(), self.metrics.content_type)
        if path.startswith("/api/"):
            return self._api(path[len("/api/"):], request, user)
        return Response(404, b"Not found.\n")

    # -- login ------------------------------------------------------------------------

    def _user(self, request: Request) -> str | Response:
        """The logged-in user, or the response refusing the request."""
        credentials = basic_credentials(request.headers.get("authorization"))
        if credentials is None:
            user = self.auth.session_user(_cookie_value(request))
            return self._unauthorized(request) if user is None else user
        accepted = self.auth.check(credentials[0], credentials[1], request.address)
        if accepted is None:
            return _error(429, "Too many failed logins: try again later.")
        return credentials[0] if accepted else self._unauthorized(request)

    def _unauthorized(self, request: Request, message: str = "") -> Response:
        if _wants_page(request):
            return Response(401, self._login_page(message), "text/html; charset=utf-8",
                            (("WWW-Authenticate", f"Form {REALM}"),))
        scheme = "Form" if request.headers.get(PAGE_HEADER) == PAGE_MARK else "Basic"
        return _error(401, "Log in: HTTP Basic credentials or the login page.",
                      (("WWW-Authenticate", f'{scheme} {REALM}, charset="UTF-8"'),))

    def _login(self, request: Request) -> Response:
        if request.method == "GET":
            return Response(200, self._login_page(), "text/html; charset=utf-8")
        if request.method != "POST":
            return _error(405, "GET the login page, POST the login.", (("Allow", "GET, POST"),))
        form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"),
                                     max_num_fields=8)
        user = (form.get("user") or [""])[0]
        password = (form.get("password") or [""])[0]
        accepted = self.auth.check(user, password, request.address)
        if accepted is None:
            return Response(429, self._login_page("Too many failed logins: try again later."),
                            "text/html; charset=utf-8")
        if not accepted:
            return Response(401, self._login_page("Wrong user name or password."),
                            "text/html; charset=utf-8",
                            (("WWW-Authenticate", f"Form {REALM}"),))
        cookie = self._cookie(request, self.auth.session(user), self.auth.lifetime)
        return Response(303, b"", headers=(("Location", "./"), ("Set-Cookie", cookie)))

    def _login_page(self, message: str = "") -> bytes:
        shown = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        return _static("login.html").replace(b"<!--message-->", shown.encode("utf-8"))

    @staticmethod
    def _cookie(request: Request, value: str, max_age: int) -> str:
        cookie = (f"{COOKIE}={value}; Path={request.root or ''}/; Max-Age={max_age}; "
                  "HttpOnly; SameSite=Strict")
        return cookie + "; Secure" if request.secure else cookie

    @staticmethod
    def _same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if not origin:
            return True  # not a browser's cross-site request (curl, scripts)
        return urllib.parse.urlsplit(origin).netloc == request.headers.get("host")

    # -- api --------------------------------------------------------------------------

    def _api(self, name: str, request: Request, user: str) -> Response | browser.Call:
        channel_set = self.channel_set
        query = urllib.parse.parse_qs(request.query, max_num_fields=16)
        if request.method == "GET":
            if name == "overview":
                return _json(self.overview(user))
            if name == "services":
                return _json(views.services(channel_set))
            if name == "channels":
                return _json(views.channels(channel_set))
            if name == "clients":
                limit = _number(query, "limit", 200, 1, 1000)
                return _json(views.clients(channel_set, limit, self.max_scan))
            if name == "charts":
                return _json(views.charts(channel_set, _number(query, "seconds", 300, 1,
                                                               HISTORY - 1)))
            if name == "faults":
                return _json(views.faults(channel_set))
            return _error(404, f"No console API '{name}'.")
        if request.method != "POST":
            return _error(405, "GET or POST.", (("Allow", "GET, POST"),))
        if name not in ("call", "disconnect"):
            return _error(404, f"No console API '{name}'.")
        if self.read_only:
            return _error(403, "The console is read-only: ConsoleApp(..., read_only=False) "
                               "enables calls and disconnections.")
        data = _json_body(request)
        if name == "call":
            amfast.logger.info("console: %s calls %r", user, data.get("target"))
            return browser.prepare(channel_set, data)
        return self._disconnect(str(data.get("id")), user)

    def _disconnect(self, connection_id: str, user: str) -> Response:
        try:
            connection = self.channel_set.getConnection(connection_id, touch=False)
        except NotConnectedError:
            return _error(404, "No such connection.")
        amfast.logger.info("console: %s disconnects %r", user, connection)
        self.channel_set.disconnect(connection)
        return _json({"ok": True})

    def overview(self, user: str) -> dict:
        channel_set = self.channel_set
        return {"user": user, "read_only": self.read_only, "debug": bool(channel_set.debug),
                "version": amfast.__version__, "channel_set": type(channel_set).__name__,
                "connection_manager": type(channel_set.connection_manager).__name__,
                "subscription_manager": type(channel_set.subscription_manager).__name__,
                "secure_messaging": bool(channel_set.subscription_manager.secure),
                "held": channel_set.held, "max_held": channel_set.max_held,
                "holding": channel_set.holding(),
                "history": HISTORY - 1, "metrics": self.metrics is not None}


def _number(query: dict, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int((query.get(name) or [default])[0])
    except ValueError:
        raise BadRequest(f"'{name}' is a number.") from None
    return max(low, min(high, value))


def _json_body(request: Request) -> dict:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest("Send JSON (Content-Type: application/json).")
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"The body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object.")
    return data


def _cookie_value(request: Request) -> str | None:
    for part in request.headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def _wants_page(request: Request) -> bool:
    """A browser navigating (it shows the login page), not a script or the pages' fetches."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "") and \
        request.headers.get(PAGE_HEADER) != PAGE_MARK
