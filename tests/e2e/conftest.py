"""End-to-end tests with real clients: run by `make e2e` (AMFAST_E2E=1), skipped otherwise.

`make e2e` installs what they need (Debian's haxe and chromium; Ruffle, playwright-core
and Royale from npm into tests/e2e/node_modules) and builds the clients into
tests/e2e/.build.  The session starts one test server (server.py) on a free 127.0.0.1 port;
each client page runs once in headless Chromium (driver.mjs) and its report is shared by
that client's tests.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"
E2E = os.environ.get("AMFAST_E2E") == "1"
#: Each client page gets this long to report (the driver's own limit).
CLIENT_TIMEOUT = float(os.environ.get("AMFAST_E2E_TIMEOUT", "120"))

#: client name -> (page, the built files it needs)
CLIENTS = {
    "haxe": ("haxe.html", [BUILD / "haxe" / "client.swf"]),
    "royale": ("royale/index.html", [BUILD / "royale" / "bin" / "js-release" / "index.html"]),
}

_timings: dict[str, float] = {}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: end-to-end test with real Flash/Flex clients in headless Chromium "
                   "(run by `make e2e`, which sets AMFAST_E2E=1)")


def pytest_collection_modifyitems(config, items):
    if E2E:
        return
    skip = pytest.mark.skip(reason="end-to-end: needs the real clients; run `make e2e` "
                                   "(AMFAST_E2E=1)")
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.write_sep("-", "e2e clients")
        for name, line in _timings.items():
            terminalreporter.write_line(f"{name}: {line}")


@dataclass
class ClientRun:
    client: str
    report: dict | None
    output: str
    returncode: int | None
    seconds: float
    received: dict = field(default_factory=dict)

    def items(self) -> dict:
        out: dict = {}
        for item in (self.report or {}).get("items") or []:
            out.setdefault(item.get("name"), item)
        return out

    def failure(self) -> str | None:
        if self.report is None:
            tail = "\n".join(self.output.splitlines()[-60:])
            return (f"the {self.client} client sent no report within {CLIENT_TIMEOUT:.0f}s "
                    f"(driver exit code {self.returncode}); the driver's last lines:\n{tail}")
        if "error" in self.report or "invalid" in self.report:
            return f"the {self.client} client reported an error: {self.report}"
        return None


class E2EServer:
    """The test server under one server kind: ``wsgiref`` (the WSGI channels on the
    development server) or ``uvicorn`` (the ASGI channels)."""

    def __init__(self, kind: str):
        from tests.e2e.server import Recorder, make_app
        from tests.support.servers import RunningServer, TRANSPORTS

        self.kind = kind
        captures = BUILD / "captures" / kind
        shutil.rmtree(captures, ignore_errors=True)
        self.recorder = Recorder(captures)
        self.app = make_app(self.recorder, transport=TRANSPORTS[kind])
        self.server = RunningServer(kind, self.app)
        self.port = self.server.port
        self.runs: dict[str, ClientRun] = {}
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def run(self, client: str) -> ClientRun:
        with self.lock:
            if client not in self.runs:
                self.runs[client] = self._run(client)
            return self.runs[client]

    def _run(self, client: str) -> ClientRun:
        page, needs = CLIENTS[client]
        missing = [str(p.relative_to(HERE)) for p in needs if not p.exists()]
        if not (HERE / "node_modules" / "playwright-core").is_dir():
            missing.append("node_modules/playwright-core")
        if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
            missing.append("/usr/bin/chromium")
        if missing:
            pytest.fail(f"{client}: not built or installed: {', '.join(missing)}; run `make e2e`",
                        pytrace=False)
        started = time.monotonic()
        command = ["node", str(HERE / "driver.mjs"), "--url", self.url(page), "--client", client,
                   "--timeout", str(int(CLIENT_TIMEOUT)),
                   "--screenshot", str(BUILD / f"{client}-timeout.png")]
        try:
            proc = subprocess.run(command, cwd=HERE, capture_output=True, text=True,
                                  timeout=CLIENT_TIMEOUT + 30, stdin=subprocess.DEVNULL)
            output, returncode = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            output = (exc.stdout or b"").decode(errors="replace") if isinstance(
                exc.stdout, bytes) else (exc.stdout or "")
            returncode = None
        seconds = time.monotonic() - started
        (BUILD / f"{client}-{self.kind}-driver.log").write_text(output)
        report = self.recorder.wait_report(client, timeout=2.0)
        with self.recorder.lock:
            received = {k: list(v) for k, v in self.recorder.received.get(client, {}).items()}
        run = ClientRun(client, report, output, returncode, seconds, received)
        count = len(run.items())
        _timings[f"{client} ({self.kind})"] = (
            f"{seconds:.1f}s in the browser, {count} items reported" if report
            else f"no report after {seconds:.1f}s")
        return run

    def close(self):
        self.server.stop()


@pytest.fixture(scope="session", params=["wsgiref", "uvicorn"])
def e2e_server(request):
    """The test server, once with the WSGI channels and once with the ASGI ones."""
    if not E2E:
        pytest.skip("end-to-end: run `make e2e`")
    server = E2EServer(request.param)
    yield server
    server.close()


@pytest.fixture(scope="session")
def haxe_run(e2e_server) -> ClientRun:
    return e2e_server.run("haxe")


@pytest.fixture(scope="session")
def royale_run(e2e_server) -> ClientRun:
    return e2e_server.run("royale")
