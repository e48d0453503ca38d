"""Fixtures shared by the whole suite.

``serve_wsgi`` serves WSGI applications on free 127.0.0.1 ports in background threads, once
under each server kind: ``wsgiref`` (amfast's threaded development server) and ``waitress``.
Every server is shut down at teardown, and every wait is bounded.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import pytest

from amfast.remoting.wsgi_server import make_server

SERVER_KINDS = ("wsgiref", "waitress")
#: The longest any start or stop may take.
WAIT = 10.0


class RunningServer:
    """A WSGI server serving one application in a daemon thread.

    waitress: ``create_server(app, host, port=0, threads=threads)``, served by this class's own
    event loop (``wasyncore.loop(count=1)`` until a stop flag is set) rather than
    ``server.run()``.  ``run()`` only returns once its socket map is empty, and emptying the
    map from another thread means pulling the trigger with a thunk that closes the trigger
    itself: the loop may run that thunk (while answering a worker's earlier pull) before the
    pulling ``os.write`` happens, which then fails with EBADF or writes into a reused fd.
    Here the loop thread closes the listening socket and the connections, the worker threads
    are stopped next, and the trigger pipe is closed last, when nothing can pull it.
    """

    #: How often the waitress loop looks at the stop flag (bounds the stop latency).
    LOOP_TICK = 0.05

    def __init__(self, kind: str, app: Callable, threads: int = 4):
        self.kind = kind
        self.threads = threads  # waitress's worker threads
        self._stopping = threading.Event()
        if kind == "wsgiref":
            self._server = make_server(app, "127.0.0.1", 0)
            self.port = self._server.server_port
            # A short poll interval keeps shutdown() quick.
            target, kwargs = self._server.serve_forever, {"poll_interval": self.LOOP_TICK}
        elif kind == "waitress":
            waitress = pytest.importorskip("waitress")
            self._server = waitress.create_server(app, host="127.0.0.1", port=0,
                                                  threads=threads, expose_tracebacks=False)
            self.port = int(self._server.effective_port)
            target, kwargs = self._run_waitress, {}
        else:
            raise ValueError(f"unknown server kind {kind!r}")
        self._thread = threading.Thread(target=target, kwargs=kwargs, daemon=True,
                                        name=f"{kind}-server-{self.port}")
        self._thread.start()

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
        else:
            self._stopping.set()
            self._thread.join(WAIT)
            self._server.task_dispatcher.shutdown(timeout=WAIT)
            if not self._thread.is_alive():
                self._server.trigger.close()
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), f"{self.kind} server thread did not stop"


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request) -> str:
    if request.param == "waitress":
        pytest.importorskip("waitress")
    return request.param


@contextlib.contextmanager
def wsgi_servers(kind: str, threads: int = 4) -> Iterator[Callable[[Callable], RunningServer]]:
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


@pytest.fixture
def serve_wsgi(server_kind):
    """``serve_wsgi(app) -> RunningServer``: serve ``app`` on a free 127.0.0.1 port.

    Parametrised over the server kinds; may be called several times in one test.
    """
    with wsgi_servers(server_kind) as serve:
        yield serve


# -- memcached ------------------------------------------------------------------------------

class MemcachedProcess:
    """A memcached listening on 127.0.0.1:``port`` (TCP only), which tests may stop and restart.

    ``servers`` is the list the memcache managers take as ``mc_servers``.
    """

    def __init__(self, binary: str, port: int | None = None, memory_mb: int = 64):
        from tests.servers import free_port

        self.binary = binary
        self.port = free_port() if port is None else port
        self.memory_mb = memory_mb
        self.proc = None

    @property
    def servers(self) -> list:
        return [f"127.0.0.1:{self.port}"]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list:
        import os

        cmd = [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
               "-m", str(self.memory_mb)]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd += ["-u", "root"]  # memcached refuses to run as root otherwise
        return cmd

    def start(self) -> "MemcachedProcess":
        import subprocess

        from tests.servers import wait_for_port

        assert not self.running, "memcached is already running"
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port, self.proc, timeout=WAIT)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill memcached, as a crash would (everything it held is lost): with clients
        connected, SIGTERM takes memcached about a second to exit."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        if proc.stderr is not None:
            proc.stderr.close()

    def restart(self) -> None:
        """Stop, then start again on the same port: an empty memcached."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze memcached (SIGSTOP): it accepts connections but never answers.

        Returns once every thread of it has stopped: a signal takes effect asynchronously,
        and a busy machine may let memcached answer one more request first.
        """
        import signal
        import time
        from pathlib import Path

        self.proc.send_signal(signal.SIGSTOP)
        tasks = Path(f"/proc/{self.proc.pid}/task")
        deadline = time.monotonic() + WAIT
        while tasks.exists():  # (without /proc, best effort)
            states = set()
            for task in tasks.iterdir():
                try:
                    states.add((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
                except (OSError, IndexError):
                    pass  # a thread that ended meanwhile
            if states <= {"T", "t"}:
                return
            assert time.monotonic() < deadline, f"memcached is still running: {states}"
            time.sleep(0.005)

    def resume(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGCONT)


def memcached_binary() -> str | None:
    import shutil

    return shutil.which("memcached") or next(
        (p for p in ("/usr/bin/memcached", "/usr/local/bin/memcached", "/usr/sbin/memcached")
         if shutil.os.access(p, shutil.os.X_OK)), None)


def _require_memcached() -> str:
    binary = memcached_binary()
    if binary is None:
        pytest.skip("memcached binary not found: `make test` installs it from Debian's "
                    "packages (apt-get install memcached)")
    return binary


@pytest.fixture(scope="session")
def memcached():
    """A memcached for the whole session (``.servers``); tests keep apart by ``mc_prefix``.

    Do not stop or restart it: use ``memcached_factory`` for a private one.
    """
    server = MemcachedProcess(_require_memcached()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def memcached_factory():
    """``memcached_factory(**options) -> MemcachedProcess``: a private, started memcached that
    the test may stop, pause and restart; stopped at teardown."""
    binary = _require_memcached()
    started: list = []

    def start(**options) -> MemcachedProcess:
        server = MemcachedProcess(binary, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def mc_prefix(request) -> str:
    """A key prefix no other test uses."""
    import re
    import uuid

    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[-40:]
    return f"t{uuid.uuid4().hex[:12]}_{name}"


# ------------------------------------------------------------------------------ endpoints

#: The endpoints a channel can use: amfast's Cython codec and py3amf.
ENDPOINT_KINDS = ("amf", "pyamf")


def make_endpoint(kind: str, class_def_mapper=None, **decoder_options):
    """A fresh endpoint of ``kind``: ``AmfEndpoint`` ("amf") or ``PyAmfEndpoint`` ("pyamf").

    With ``class_def_mapper``, both map classes through it (the AmfEndpoint's encoder and
    decoder share it).  ``decoder_options`` are ``amfast.decoder.Decoder``'s (``xml_type``,
    ``aware_datetimes``, budgets such as ``max_depth``), which both endpoints take.
    """
    if kind == "amf":
        from amfast.class_def import ClassDefMapper
        from amfast.decoder import Decoder
        from amfast.encoder import Encoder
        from amfast.remoting.endpoint import AmfEndpoint

        mapper = ClassDefMapper() if class_def_mapper is None else class_def_mapper
        return AmfEndpoint(encoder=Encoder(class_def_mapper=mapper),
                           decoder=Decoder(class_def_mapper=mapper, **decoder_options))
    if kind == "pyamf":
        from amfast.remoting.pyamf_endpoint import PyAmfEndpoint

        return PyAmfEndpoint(class_def_mapper=class_def_mapper, **decoder_options)
    raise ValueError(f"unknown endpoint kind {kind!r}")


@pytest.fixture(params=ENDPOINT_KINDS)
def endpoint_factory(request):
    """``endpoint_factory(class_def_mapper=None, **decoder_options) -> Endpoint``: a fresh
    endpoint (see ``make_endpoint``), once per kind.

    Parametrised over ``ENDPOINT_KINDS`` (test ids ``amf``/``pyamf``); the callable's
    ``kind`` attribute says which.  "pyamf" is skipped when py3amf is not installed.
    Serve a channel set with it by setting every channel's endpoint::

        for channel in channel_set:
            channel.endpoint = endpoint_factory()
    """
    kind = request.param
    if kind == "pyamf":
        pytest.importorskip("pyamf")

    def factory(class_def_mapper=None, **decoder_options):
        return make_endpoint(kind, class_def_mapper, **decoder_options)

    factory.kind = kind
    return factory


def use_endpoints(channel_set, endpoint_factory) -> None:
    """Give the channels of ``channel_set`` endpoints of the factory's kind, with the mapper
    and the decoder options (XML refused, budgets) their AmfEndpoints have."""
    if endpoint_factory.kind == "amf":
        return
    for channel in channel_set:
        decoder = channel.endpoint.decoder
        channel.endpoint = endpoint_factory(
            decoder.class_def_mapper, xml_type=decoder.xml_type,
            aware_datetimes=decoder.aware_datetimes, **decoder.limits)
