"""A threaded wsgiref server for development, examples and tests.

wsgiref's own server answers one request at a time, so one held long-poll or
stream would block everybody; this one gives each request a thread.  For
production, mount the ``WsgiChannelSet`` in gunicorn, waitress or uwsgi.
"""
from __future__ import annotations

import socketserver
from typing import Callable
from wsgiref import simple_server

__all__ = ["ThreadingWSGIServer", "make_server"]


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged to stderr."""


class ThreadingWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # wsgiref speaks HTTP/1.0, a connection per request: bursts need a deep accept queue.
    request_queue_size = 1024


def make_server(app: Callable, host: str = "127.0.0.1", port: int = 8000,
                quiet: bool = True) -> ThreadingWSGIServer:
    """A server for ``app`` bound to ``host:port`` (port 0: any free port)."""
    handler = _QuietHandler if quiet else simple_server.WSGIRequestHandler
    return simple_server.make_server(host, port, app, ThreadingWSGIServer, handler)
