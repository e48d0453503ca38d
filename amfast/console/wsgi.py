"""The console as a WSGI application.

    console = ConsoleApp(channel_set, authenticate)        # read-only
    application = console.beside(channel_set)              # /console/... and the channels

Mounted elsewhere, the console finds its mount point in ``SCRIPT_NAME``.  A service
browser call goes through the chosen channel's ``answerAmf``, in the request's thread.
"""
from __future__ import annotations

from typing import Callable, Iterable

from webob import Request as WebobRequest

from amfast.console.browser import Call
from amfast.console.core import MAX_BODY, Console, Request, Response
from amfast.remoting.channel import ChannelSet
from amfast.remoting.wsgi_channel import answer_response

__all__ = ["ConsoleApp"]

def _request(environ: dict) -> Request | Response:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return Response(400, b"Content-Length is not valid.\n")
    if length > MAX_BODY or length < 0:
        return Response(413, b"Request body too large.\n")
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
               if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return Request(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                   environ.get("QUERY_STRING", ""), headers, body,
                   environ.get("SCRIPT_NAME", "").rstrip("/"), environ.get("REMOTE_ADDR", ""),
                   environ.get("wsgi.url_scheme") == "https")


class ConsoleApp:
    """The console of ``channel_set``, a WSGI application (see ``amfast.console.core.Console``
    for the arguments)."""

    def __init__(self, channel_set: ChannelSet, authenticate: Callable[[str, str], bool] | None
                 = None, read_only: bool = True, secret: bytes | str | None = None,
                 session_lifetime: int = 8 * 3600 * 1000, max_scan: int = 10000):
        self.console = Console(channel_set, authenticate, read_only, secret, session_lifetime,
                               max_scan)
        self.channel_set = channel_set

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = _request(environ)
        if isinstance(request, Response):
            return answer_response(request)(environ, start_response)
        answer = self.console.handle(request)
        if isinstance(answer, Call):
            if not self.channel_set.started:
                self.channel_set.start()
            answer = self.console.answered(
                answer, answer.channel.answerAmf(answer.raw, WebobRequest(environ)))
        return answer_response(answer)(environ, start_response)

    def beside(self, app: Callable | None = None, path: str = "/console") -> Callable:
        """A WSGI application that serves the console under ``path`` and passes every other
        request to ``app`` (404 without one)."""
        return _Mounted(self, app, "/" + path.strip("/"))


class _Mounted:
    def __init__(self, console: ConsoleApp, app: Callable | None, path: str):
        self.console = console
        self.app = app
        self.path = path

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.path or path.startswith(self.path + "/"):
            environ = dict(environ, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + self.path,
                           PATH_INFO=path[len(self.path):])
            return self.console(environ, start_response)
        if self.app is None:
            return answer_response(Response(404, b"Not found.\n"))(environ, start_response)
        return self.app(environ, start_response)
