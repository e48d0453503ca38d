"""Fixtures shared by the whole suite.

``serve_wsgi`` serves WSGI applications on free 127.0.0.1 ports in background threads, once
under each server kind: ``wsgiref`` (amfast's threaded development server) and ``waitress``.
Every server is shut down at teardown, and every wait is bounded.
"""
from __future__ import annotations

import threading
from typing import Callable

import pytest

from amfast.remoting.wsgi_server import make_server

SERVER_KINDS = ("wsgiref", "waitress")
#: The longest any start or stop may take.
WAIT = 10.0


class RunningServer:
    """A WSGI server serving one application in a daemon thread."""

    def __init__(self, kind: str, app: Callable):
        self.kind = kind
        if kind == "wsgiref":
            self._server = make_server(app, "127.0.0.1", 0)
            self.port = self._server.server_port
            # A short poll interval keeps shutdown() quick.
            target, kwargs = self._server.serve_forever, {"poll_interval": 0.05}
        elif kind == "waitress":
            waitress = pytest.importorskip("waitress")
            self._server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4,
                                                  expose_tracebacks=False)
            self.port = int(self._server.effective_port)
            target, kwargs = self._server.run, {}
        else:
            raise ValueError(f"unknown server kind {kind!r}")
        self._thread = threading.Thread(target=target, kwargs=kwargs, daemon=True,
                                        name=f"{kind}-server-{self.port}")
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/amf") -> str:
        return self.base_url + path

    def stop(self) -> None:
        if self.kind == "wsgiref":
            stopper = threading.Thread(target=self._server.shutdown, daemon=True)
            stopper.start()
            stopper.join(WAIT)
            self._server.server_close()
        else:
            from waitress import wasyncore

            server = self._server
            # Close every socket from inside the event loop (the trigger wakes it up),
            # so the loop finds its map empty and returns; then stop the worker threads.
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            self._thread.join(WAIT)
            if self._thread.is_alive():  # the loop did not wake: close from here
                server.close()
            server.task_dispatcher.shutdown(timeout=WAIT)
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), f"{self.kind} server thread did not stop"


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request) -> str:
    if request.param == "waitress":
        pytest.importorskip("waitress")
    return request.param


@pytest.fixture
def serve_wsgi(server_kind):
    """``serve_wsgi(app) -> RunningServer``: serve ``app`` on a free 127.0.0.1 port.

    Parametrised over the server kinds; may be called several times in one test.
    """
    servers: list[RunningServer] = []

    def serve(app: Callable) -> RunningServer:
        server = RunningServer(server_kind, app)
        servers.append(server)
        return server

    yield serve
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as exc:  # stop the others anyway
            errors.append(exc)
    if errors:
        raise errors[0]
