"""Channels served by any WSGI server: mount a ``WsgiChannelSet`` as the application."""
from __future__ import annotations

from typing import Callable, Iterable

import amfast
from amfast import AmFastError
from amfast.remoting.channel import ChannelError, ChannelSet, HttpChannel
from webob import Request, Response

__all__ = ["WsgiChannelSet", "WsgiChannel"]


def _plain(status: int, text: str, **headers: str) -> Response:
    response = Response(text, status=status, content_type="text/plain", charset="utf-8")
    response.headers.update(headers)
    return response


class WsgiChannelSet(ChannelSet):
    """A WSGI application: the request path (``/<channel name>``) selects the channel."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        name = environ.get("PATH_INFO", "").strip("/")
        try:
            channel = self.getChannel(name)
        except ChannelError:
            return _plain(404, f"No AMF channel at '/{name}'.\n")(environ, start_response)
        return channel(environ, start_response)


class WsgiChannel(HttpChannel):
    """Answers AMF requests POSTed to it."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        """The HTTP response to one request; errors become 4xx/5xx, never tracebacks."""
        if request.method != "POST":
            return _plain(405, "AMF requests are POSTed.\n", Allow="POST")
        length = request.content_length
        if length is None:
            return _plain(411, "Content-Length is required.\n")
        if length > self.max_body_size:
            return _plain(413, f"Request body over {self.max_body_size} bytes.\n")
        raw = request.body_file_raw.read(length)
        if len(raw) != length:
            return _plain(400, "Request body is shorter than its Content-Length.\n")
        try:
            packet = self.decode(raw)
        except AmFastError as exc:
            amfast.logger.info("undecodable request on channel '%s': %s", self.name, exc)
            return _plain(400, "AMF packet could not be decoded.\n")
        try:
            body = self.encode(self.invoke(packet), packet)
        except Exception as exc:
            amfast.log_exc(exc)
            return _plain(500, "Server error.\n")
        return Response(body=body, content_type=self.CONTENT_TYPE, charset=None)

    def __repr__(self) -> str:
        return f"WsgiChannel({self.name!r})"

