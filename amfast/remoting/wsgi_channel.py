"""Channels served by any WSGI server: mount a ``WsgiChannelSet`` as the application.

Each request holds its server thread: a held long-poll and an open stream wait
in it (see ``HttpChannel.max_waiting_polls`` and
``StreamingWsgiChannel.max_streams`` for the bounds).
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Callable, Iterable, Iterator

from webob import Request, Response

from amfast.remoting.channel import ChannelError, ChannelSet, HttpAnswer, HttpChannel, plain
from amfast.remoting.connection import Connection
from amfast.remoting.notifier import ThreadWaiter
from amfast.remoting.streaming import StreamingHttpChannel
from amfast.remoting.waiting import iterate

__all__ = ["WsgiChannelSet", "WsgiChannel", "StreamingWsgiChannel"]


WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def answer_response(answer: HttpAnswer) -> WsgiApp:
    """An HttpAnswer as a WSGI application.

    Written as given: a relative ``Location`` stays relative (rebuilding it from the
    request's Host would send a client behind a TLS proxy to plain HTTP).
    """
    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        headers = [("Content-Type", answer.content_type),
                   ("Content-Length", str(len(answer.body)))]
        headers += answer.headers
        start_response(_status_line(answer.status), headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [answer.body]
    return app


class WsgiChannelSet(ChannelSet):
    """A WSGI application: the request path (``/<channel name>``) selects the channel.

    A held long-poll or an open stream holds one of the server's threads, so at most
    ``max_held`` (default ``DEFAULT_MAX_HELD``) are held at once, leaving threads to
    RPC: waitress starts 4 threads, gunicorn's threaded workers as many as told.
    Raise it to what the server can spare (``amfast.remoting.wsgi_server``, a thread
    per request, can hold many); for thousands of push clients use the ASGI
    channel set.
    """

    DEFAULT_MAX_HELD = 2

    def __init__(self, service_mapper=None, connection_manager=None, subscription_manager=None,
                 notify_connections: bool = True, clean_freq: int = 300000,
                 debug: bool = False, max_held: int | None = DEFAULT_MAX_HELD):
        ChannelSet.__init__(self, service_mapper, connection_manager, subscription_manager,
                            notify_connections, clean_freq, debug, max_held)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not self.started:
            self.start()
        name = environ.get("PATH_INFO", "").strip("/")
        try:
            channel = self.getChannel(name)
        except ChannelError:
            answer = answer_response(plain(404, f"No AMF channel at '/{name}'.\n"))
            return answer(environ, start_response)
        return channel(environ, start_response)


class WsgiChannel(HttpChannel):
    """Answers AMF requests POSTed to it; see HttpChannel for polling and long-polling."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> WsgiApp:
        """The HTTP response to one request; errors become 4xx/5xx, never tracebacks."""
        raw = self.read_body(request)
        if isinstance(raw, HttpAnswer):
            return answer_response(raw)
        return answer_response(self.answerAmf(raw, request))

    def read_body(self, request: Request) -> bytes | HttpAnswer:
        """The request body, or the answer that refuses it (checked before reading)."""
        refused = self.checkRequest(request.method, request.content_length)
        if refused is not None:
            return refused
        length = request.content_length
        try:
            raw = request.body_file_raw.read(length)
        except OSError:
            raw = b""
        return self.checkBody(raw, length) or raw

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class StreamingWsgiChannel(WsgiChannel, StreamingHttpChannel):
    """A Flex ``StreamingAMFChannel`` endpoint served by WSGI (see ``StreamingHttpChannel``).

    Each open stream holds a server thread.
    """

    def __init__(self, name: str, max_connections: int = -1, endpoint=None,
                 wait_interval: int = 0, heart_interval: int = 30000, poll_interval: int = 500,
                 max_body_size: int = HttpChannel.DEFAULT_MAX_BODY_SIZE, max_streams: int = 100,
                 idle_timeout: int = 0):
        StreamingHttpChannel.__init__(self, name, max_connections, endpoint, wait_interval,
                                      heart_interval, poll_interval, max_body_size, max_streams,
                                      idle_timeout)

    def respond(self, request: Request) -> WsgiApp:
        command = request.GET.get("command")
        if request.method != "POST" or command is None:
            return WsgiChannel.respond(self, request)
        raw = self.read_body(request)
        if isinstance(raw, HttpAnswer):
            return answer_response(raw)
        opened = self.streamCommand(command, raw)
        if isinstance(opened, HttpAnswer):
            return answer_response(opened)
        response = Response(app_iter=_OpenStream(self, opened),
                            content_type=self.CONTENT_TYPE, charset=None)
        response.cache_control = "no-cache"
        return response


class _OpenStream:
    """A stream's WSGI body: the server's ``close()`` frees its slot even if never iterated."""

    def __init__(self, channel: StreamingWsgiChannel, connection: Connection):
        self._channel = channel
        self._connection = connection
        self._frames = self._write()

    def _write(self) -> Iterator[bytes]:
        waiter = ThreadWaiter()
        with self._channel.channel_set.notifier.listening((self._connection.id,), waiter):
            yield from iterate(self._channel.stream(self._connection), waiter)

    def __iter__(self) -> Iterator[bytes]:
        return self._frames

    def close(self) -> None:
        self._frames.close()
        self._channel.releaseStream(self._connection)
