"""Applications served by real HTTP servers on free 127.0.0.1 ports, in this process.

``RunningServer(kind, app)``: ``wsgiref`` (amfast's threaded development server) and
``waitress`` serve WSGI applications, ``uvicorn`` (uvloop, httptools, lifespan on)
ASGI ones.  ``TRANSPORTS[kind]`` says which channel classes a kind serves, so that a
suite builds the same channel set for every server.  Every start and stop is bounded.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from amfast.remoting.asgi_channel import AsgiChannel, AsgiChannelSet, StreamingAsgiChannel
from amfast.remoting.wsgi_channel import StreamingWsgiChannel, WsgiChannel, WsgiChannelSet
from amfast.remoting.wsgi_server import make_server

SERVER_KINDS = ("wsgiref", "waitress", "uvicorn")
#: The longest any start or stop may take.
WAIT = 10.0


@dataclass(frozen=True)
class Transport:
    """The channel classes of one kind of server."""

    name: str
    ChannelSet: type
    Channel: type
    StreamingChannel: type

    def channel_set_class(self, *mixins: type) -> type:
        """A ChannelSet class of this transport with ``mixins`` first (a login, say)."""
        if not mixins:
            return self.ChannelSet
        key = (self.name,) + mixins
        found = _classes.get(key)
        if found is None:
            name = "".join(m.__name__ for m in mixins) + self.ChannelSet.__name__
            found = _classes[key] = type(name, mixins + (self.ChannelSet,), {})
        return found


_classes: dict = {}
WSGI = Transport("wsgi", WsgiChannelSet, WsgiChannel, StreamingWsgiChannel)
ASGI = Transport("asgi", AsgiChannelSet, AsgiChannel, StreamingAsgiChannel)
TRANSPORTS = {"wsgiref": WSGI, "waitress": WSGI, "uvicorn": ASGI}


class RunningServer:
    """One server serving one application in a daemon thread.

    waitress: ``create_server(app, host, port=0, threads=threads)``, served by this class's own
    event loop (``wasyncore.loop(count=1)`` until a stop flag is set) rather than
    ``server.run()``.  ``run()`` only returns once its socket map is empty, and emptying the
    map from another thread means pulling the trigger with a thunk that closes the trigger
    itself: the loop may run that thunk (while answering a worker's earlier pull) before the
    pulling ``os.write`` happens, which then fails with EBADF or writes into a reused fd.
    Here the loop thread closes the listening socket and the connections, the worker threads
    are stopped next, and the trigger pipe is closed last, when nothing can pull it.

    uvicorn: ``uvicorn.Server`` on a socket bound here, stopped with ``should_exit``;
    held requests get ``GRACE`` seconds to end when it stops.
    """

    #: How often the waitress loop looks at the stop flag (bounds the stop latency).
    LOOP_TICK = 0.05
    #: uvicorn's --timeout-graceful-shutdown in the tests (s).
    GRACE = 2

    def __init__(self, kind: str, app: Callable, threads: int = 4):
        self.kind = kind
        self.threads = threads  # waitress's worker threads
        self.transport = TRANSPORTS[kind]
        self._stopping = threading.Event()
        if kind == "wsgiref":
            self._server = make_server(app, "127.0.0.1", 0)
            self.port = self._server.server_port
            # A short poll interval keeps shutdown() quick.
            target, kwargs = self._server.serve_forever, {"poll_interval": self.LOOP_TICK}
        elif kind == "waitress":
            import waitress

            self._server = waitress.create_server(app, host="127.0.0.1", port=0,
                                                  threads=threads, expose_tracebacks=False)
            self.port = int(self._server.effective_port)
            target, kwargs = self._run_waitress, {}
        elif kind == "uvicorn":
            import uvicorn

            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(1024)
            self.port = sock.getsockname()[1]
            self._server = uvicorn.Server(uvicorn.Config(
                app, loop="uvloop", http="httptools", lifespan="on", access_log=False,
                log_level="warning", timeout_graceful_shutdown=self.GRACE))
            target, kwargs = self._server.run, {"sockets": [sock]}
        else:
            raise ValueError(f"unknown server kind {kind!r}")
        self._thread = threading.Thread(target=target, kwargs=kwargs, daemon=True,
                                        name=f"{kind}-server-{self.port}")
        self._thread.start()
        if kind == "uvicorn":
            deadline = time.monotonic() + WAIT
            while not self._server.started:
                assert self._thread.is_alive() and time.monotonic() < deadline, \
                    "uvicorn did not start"
                time.sleep(0.01)

    def _run_waitress(self) -> None:
        from waitress import wasyncore

        server = self._server
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=self.LOOP_TICK, map=server._map, count=1,
                               use_poll=server.adj.asyncore_use_poll)
        finally:
            # Everything but the trigger, which worker threads may still pull.
            for obj in list(server._map.values()):
                if obj is server.trigger:
                    continue
                try:
                    # BaseWSGIServer.close would close the trigger too.
                    wasyncore.dispatcher.close(obj)
                except OSError:
                    pass
            server._map.clear()

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
        elif self.kind == "waitress":
            self._stopping.set()
            self._thread.join(WAIT)
            self._server.task_dispatcher.shutdown(timeout=WAIT)
            if not self._thread.is_alive():
                self._server.trigger.close()
        else:
            self._server.should_exit = True
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), f"{self.kind} server thread did not stop"


@contextlib.contextmanager
def serving(kind: str, threads: int = 4) -> Iterator[Callable[[Callable], RunningServer]]:
    """``serve(app) -> RunningServer`` for one server kind (waitress with ``threads`` worker
    threads); every server it started is stopped on leaving."""
    servers: list[RunningServer] = []

    def serve(app: Callable) -> RunningServer:
        server = RunningServer(kind, app, threads)
        servers.append(server)
        return server

    try:
        yield serve
    finally:
        errors = []
        for server in servers:
            try:
                server.stop()
            except Exception as exc:  # stop the others anyway
                errors.append(exc)
        if errors:
            raise errors[0]
