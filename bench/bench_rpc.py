"""RPC benchmark: echo calls per second over HTTP, amfast beside py3amf's gateway and a bare app.

Run it with ``make bench-rpc`` (``BENCH_ARGS="--quick"`` for a short run), or::

    .venv/bin/python bench/bench_rpc.py [--quick] [--runs N] [--duration S] [--concurrency C]

Four WSGI applications, each served by waitress with the same settings (``threads=4``) in
its own subprocess (its own GIL), all started at once and measured in turn:

* ``amfast``: the hello example's channel set (``examples/hello/server.py``'s
  ``build_channel_set()``), NetConnection target ``ExampleService.echo``;
* ``amfast PyAmfEndpoint``: the same channel set, its channels' endpoint ``PyAmfEndpoint()``
  (py3amf's encoders and decoders), on the same py3amf install as ``py3amf`` below (it
  subclasses py3amf's pure-Python coders; of the Cython extension it uses the byte stream);
* ``py3amf``: ``pyamf.remoting.gateway.wsgi.WSGIGateway({'ExampleService.echo': echo})``,
  with py3amf's Cython extension when ``bench/.py3amf-cython`` holds it (``make bench-rpc``
  installs it there, as ``make bench`` does), otherwise pure Python; the table says which;
* ``bare WSGI``: reads the request body and answers the reply bytes amfast gives for that
  payload, computed once at start-up: the ceiling, what the HTTP server and the client cost.

The client is a light keep-alive HTTP/1.1 client on plain sockets (one connection per
worker thread) that sends PRE-ENCODED request bytes and reads each reply by its
Content-Length, so the figures are the servers'.  Every reply is checked once before the
timing (decoded and compared with the payload) and, while timed, by status and length.
Sequential = one connection, one call at a time; concurrent = ``--concurrency`` connections.

Payloads (NetConnection call, AMF3 packet, version 3): small = one string; large = 1,000
dict records of 10 fields.  Each cell is the median of ``--runs`` runs of ``--duration``
seconds; runs are interleaved across servers so drift hits them alike.  The default run
takes about two minutes.

``% of ceiling`` is the geometric mean, over the two small-payload columns, of the row's
figure over the bare app's: with nearly no work per call, that is the share of the HTTP
ceiling left after the remoting layer (target for amfast: >= 85%).  The ratio for every
column is printed under the table.  A second table gives the server process's CPU time per
call (from /proc), which other load on the machine moves less than calls per second:
its ``% of ceiling`` is the bare app's CPU per call over the row's.  Last, each WSGI app's
own time per call in process (no server, no socket) shows what the remoting layer itself
costs beside what the HTTP server costs.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, ServerProcess, cpu_seconds, free_port  # noqa: E402

PYAMF_CYTHON = ROOT / "bench" / ".py3amf-cython"
SERVERS = ("bare", "amfast", "amfast-pyamf", "py3amf")
LABELS = {"bare": "bare WSGI (ceiling)", "amfast": "amfast", "amfast-pyamf": "amfast PyAmfEndpoint",
          "py3amf": "py3amf"}
PATHS = {"bare": "/amf", "amfast": "/amf", "amfast-pyamf": "/amf", "py3amf": "/"}
TARGET = "ExampleService.echo"
THREADS = 4
TARGET_PCT = 85.0


# ============================================================================= payloads


def small_payload():
    return "hello, amfast"


def large_payload():
    cities = ["Paris", "Lyon", "Berlin", "Tokyo", "Lima", "Oslo", "Cairo", "Quito"]
    return [{
        "id": i,
        "name": f"user {i}",
        "email": f"user{i}@example.com",
        "active": i % 3 != 0,
        "age": 18 + i % 60,
        "score": i * 1.25,
        "city": cities[i % len(cities)],
        "tags": ["alpha", "beta"] if i % 2 else ["gamma"],
        "created": datetime.datetime(2020, 1, 1) + datetime.timedelta(hours=i),
        "balance": round(1000 - i * 0.5, 2),
    } for i in range(1000)]


PAYLOADS = {"small": small_payload, "large": large_payload}


def request_packet(value) -> bytes:
    """A NetConnection call of ExampleService.echo(value), as a Flash Player 9+ sends it."""
    from amfast.encoder import Encoder
    from amfast.remoting import Message, Packet

    packet = Packet(Packet.FLASH_9, [], [Message(TARGET, "/1", [value])])
    return bytes(Encoder().encode_packet(packet, amf3=True))


# ============================================================================= the servers


def hello_channel_set():
    spec = importlib.util.spec_from_file_location(
        "hello_server", ROOT / "examples" / "hello" / "server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_channel_set()


def amfast_replies() -> dict:
    """Request length -> the reply bytes amfast sends, for each payload."""
    channel = hello_channel_set().getChannel("amf")
    replies = {}
    for make in PAYLOADS.values():
        raw = request_packet(make())
        request = channel.decode(raw)
        replies[len(raw)] = bytes(channel.encode(channel.invoke(request), request))
    return replies


def bare_app():
    replies = amfast_replies()
    fallback = next(iter(replies.values()))

    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        body = replies.get(length, fallback)
        start_response("200 OK", [("Content-Type", "application/x-amf"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app


def hello_channel_set_pyamf():
    """The same example server, its channels using py3amf as the codec (PyAmfEndpoint)."""
    from amfast.remoting.pyamf_endpoint import PyAmfEndpoint

    channel_set = hello_channel_set()
    for channel in channel_set:
        channel.endpoint = PyAmfEndpoint()
    return channel_set


def pyamf_app():
    from pyamf.remoting.gateway.wsgi import WSGIGateway

    def echo(value):
        return value

    return WSGIGateway({TARGET: echo})


APPS = {"bare": bare_app, "amfast": hello_channel_set, "amfast-pyamf": hello_channel_set_pyamf,
        "py3amf": pyamf_app}


def serve(kind: str, port: int) -> None:
    import waitress

    app = APPS[kind]()
    waitress.serve(app, host="127.0.0.1", port=port, threads=THREADS, _quiet=True)


def inprocess_cost(kind: str, calls: int = 3000) -> None:
    """Print the app's own time per call (no HTTP server, no socket), small and large."""
    import io

    app = APPS[kind]()
    path = PATHS[kind]

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(status)

    out = []
    for name, make in PAYLOADS.items():
        raw = request_packet(make())
        n = calls if name == "small" else max(3, calls // 100)
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "",
                   "CONTENT_TYPE": "application/x-amf", "CONTENT_LENGTH": str(len(raw)),
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                   "wsgi.errors": sys.stderr}
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            for _ in range(n):
                env = dict(environ, **{"wsgi.input": io.BytesIO(raw)})
                b"".join(app(env, start_response))
            best = min(best, (time.perf_counter() - began) / n)
        out.append(f"{best * 1e6:.1f}")
    print(" ".join(out))


def inprocess_costs(env: dict, kind: str) -> list[str]:
    try:
        done = subprocess.run([sys.executable, __file__, "--inprocess", kind], env=env,
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        return done.stdout.split() if done.returncode == 0 else ["error", "error"]
    except (OSError, subprocess.SubprocessError):
        return ["error", "error"]


def pyamf_flavour(env: dict) -> str:
    probe = ("import sys, pyamf; "
             "sys.stdout.write('Cython' if type(pyamf.get_decoder(pyamf.AMF3)).__module__"
             ".startswith('cpyamf') else 'pure Python')")
    try:
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def start_server(kind: str) -> ServerProcess:
    """This script serving ``kind`` in a subprocess (``--serve``), on a free port."""
    env = dict(os.environ)
    if kind in ("py3amf", "amfast-pyamf") and (PYAMF_CYTHON / "cpyamf").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PYAMF_CYTHON)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    port = free_port()
    server = ServerProcess([__file__, "--serve", kind, port], port, kind, timeout=30.0,
                           env=env)
    server.kind, server.path, server.env = kind, PATHS[kind], env
    return server


# ============================================================================= the client


class HttpConn:
    """A keep-alive HTTP/1.1 connection sending pre-built requests (reopened if closed)."""

    def __init__(self, port: int):
        self.port = port
        self.sock = None
        self.buf = bytearray()

    def _open(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request`` (a whole HTTP request); the reply's status and body."""
        if self.sock is None:
            self._open()
        self.sock.sendall(request)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buf[:end]).lower()
        del self.buf[:end + 4]
        status = int(head[9:12])
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            raise ValueError(f"reply without Content-Length: {head[:300]!r}")
        line_end = head.find(b"\r\n", start + 2)
        length = int(head[start + 17:line_end if line_end >= 0 else len(head)])
        while len(self.buf) < length:
            self._fill()
        body = bytes(self.buf[:length])
        del self.buf[:length]
        if b"\r\nconnection: close" in head:
            self.close()
        return status, body


def http_request(port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/x-amf\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def measure(port: int, request: bytes, reply_len: int, concurrency: int,
            duration: float) -> tuple[float, int]:
    """Completed calls per second over ``duration`` s with ``concurrency`` connections,
    and how many calls completed."""
    counts = [0] * concurrency
    errors: list = []
    ends = [0.0] * concurrency
    start_barrier = threading.Barrier(concurrency + 1)
    state = {"deadline": 0.0}

    def worker(index: int) -> None:
        conn = HttpConn(port)
        try:
            conn._open()
            start_barrier.wait()
            deadline = state["deadline"]
            done = 0
            while time.perf_counter() < deadline:
                status, body = conn.roundtrip(request)
                if status != 200 or len(body) != reply_len:
                    raise RuntimeError(f"bad reply: HTTP {status}, {len(body)} bytes")
                done += 1
            counts[index] = done
            ends[index] = time.perf_counter()
        except Exception as exc:  # reported by the caller
            errors.append(exc)
            try:
                start_barrier.abort()
            except threading.BrokenBarrierError:
                pass
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(concurrency)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    state["deadline"] = started + duration
    try:
        start_barrier.wait(timeout=30)
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join(duration + 60)
    if errors:
        raise errors[0]
    elapsed = max(ends) - started
    return sum(counts) / elapsed, sum(counts)


# ============================================================================= checks


def _loose(value):
    """Numbers as floats, tuples as lists: py3amf and amfast type numbers differently."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_loose(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _loose(v) for k, v in value.items()}
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    return value


def check_reply(kind: str, port: int, path: str, payload_name: str, request: bytes) -> int:
    """One call, decoded and compared with what was sent; the reply's length."""
    from amfast.decoder import Decoder

    conn = HttpConn(port)
    try:
        status, body = conn.roundtrip(http_request(port, path, request))
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"{kind}: HTTP {status} for the {payload_name} payload: {body[:300]!r}")
    reply = Decoder().decode_packet(body)
    message = reply.messages[0]
    expected = _loose(PAYLOADS[payload_name]())
    if len(reply.messages) != 1 or message.target != "/1/onResult" or \
            _loose(message.body) != expected:
        raise RuntimeError(f"{kind}: wrong reply for the {payload_name} payload: "
                           f"{message.target} {str(message.body)[:300]}")
    return len(body)


# ============================================================================= the report


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run of 1 s per cell")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--inprocess", metavar="KIND", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    if args.inprocess:
        inprocess_cost(args.inprocess)
        return
    if args.quick:
        args.runs, args.duration = 1, 1.0

    import amfast
    import waitress  # noqa: F401  (fail early when it is missing)

    began = time.monotonic()
    servers: dict = {}
    try:
        for kind in SERVERS:
            servers[kind] = start_server(kind)
        flavour = pyamf_flavour(servers["py3amf"].env)
        LABELS["py3amf"] = f"py3amf ({flavour})"

        requests, reply_lens, sizes = {}, {}, {}
        for name, make in PAYLOADS.items():
            requests[name] = request_packet(make())
            for kind, server in servers.items():
                reply_lens[kind, name] = check_reply(kind, server.port, server.path, name,
                                                     requests[name])
            sizes[name] = (len(requests[name]), reply_lens["amfast", name])

        load = " ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"Python {platform.python_version()}, amfast {amfast.__version__}, "
              f"{os.cpu_count()} CPUs, {platform.platform()}, load average {load}")
        print(f"waitress threads={THREADS} per server (subprocesses); client: pre-encoded "
              f"requests, 1 keep-alive connection (seq) / {args.concurrency} (concurrent); "
              f"median of {args.runs} run(s) of {args.duration:g} s")
        for name, (req, rep) in sizes.items():
            print(f"  {name}: request {req:,} B, amfast reply {rep:,} B")

        cells = [(payload, conc) for payload in PAYLOADS for conc in (1, args.concurrency)]
        samples = {(kind, cell): [] for kind in SERVERS for cell in cells}
        cpu = {(kind, cell): [] for kind in SERVERS for cell in cells}
        for run in range(args.runs):
            for payload, conc in cells:
                for kind in SERVERS:
                    server = servers[kind]
                    request = http_request(server.port, server.path, requests[payload])
                    if run == 0:  # warm-up
                        measure(server.port, request, reply_lens[kind, payload], conc,
                                min(0.3, args.duration))
                    cpu_before = cpu_seconds(server.pid)
                    try:
                        rate, calls = measure(server.port, request, reply_lens[kind, payload],
                                              conc, args.duration)
                    except Exception as exc:
                        raise RuntimeError(f"{kind}, {payload} payload, {conc} connection(s): "
                                           f"{exc!r}") from exc
                    samples[kind, (payload, conc)].append(rate)
                    if calls:
                        cpu[kind, (payload, conc)].append(
                            (cpu_seconds(server.pid) - cpu_before) / calls * 1e6)
            print(f"  run {run + 1}/{args.runs} done ({time.monotonic() - began:.0f} s)",
                  flush=True)
    finally:
        for server in servers.values():
            server.stop()

    medians = {key: statistics.median(values) for key, values in samples.items()}
    headers = ["server", "small seq req/s", "small concurrent req/s", "large seq req/s",
               "large concurrent req/s", "% of ceiling"]
    rows = []
    ratios = {}
    for kind in SERVERS:
        values = [medians[kind, cell] for cell in cells]
        ratios[kind] = [100.0 * medians[kind, cell] / medians["bare", cell] for cell in cells]
        small = geomean(ratios[kind][:2])
        rows.append([LABELS[kind]] + [f"{v:,.0f}" for v in values] + [f"{small:.0f}%"])
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]

    def line(cols):
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                         for i, c in enumerate(cols))

    print()
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    print()
    for kind in SERVERS[1:]:
        print(f"{LABELS[kind]}: % of ceiling per column: "
              + ", ".join(f"{r:.0f}%" for r in ratios[kind]))
    cpu_share = {}
    print()
    print("server CPU per call, microseconds (user + system time of the server process over "
          "the calls it answered; less moved than req/s by other load on the machine, though "
          "still moved)")
    print(line(["server", "small seq", "small concurrent", "large seq", "large concurrent",
                "% of ceiling"]))
    for kind in SERVERS:
        per_call = [statistics.median(cpu[kind, cell]) if cpu[kind, cell] else float("nan")
                    for cell in cells]
        base = [statistics.median(cpu["bare", cell]) if cpu["bare", cell] else float("nan")
                for cell in cells]
        share = [100.0 * b / c for b, c in zip(base[:2], per_call[:2]) if c > 0 and b > 0]
        cpu_share[kind] = geomean(share) if share else float("nan")
        print(line([LABELS[kind]] + [f"{v:,.0f}" for v in per_call]
                   + [f"{geomean(share):.0f}%" if share else "n/a"]))
    print()
    print("the WSGI app's own time per call, in process (no server, no socket; best of 3), "
          "microseconds:")
    for kind in SERVERS:
        small_us, large_us = (inprocess_costs(servers[kind].env, kind) + ["?", "?"])[:2]
        print(f"  {LABELS[kind]}: small {small_us}, large {large_us}")
    print()
    amf, pya = SERVERS[1], SERVERS[2]
    speedups = [medians[amf, cell] / medians[pya, cell] for cell in cells]
    print("amfast / py3amf: " + ", ".join(f"{s:.1f}x" for s in speedups)
          + "  (small seq, small conc, large seq, large conc)")
    small = geomean(ratios[amf][:2])
    by_cpu = cpu_share[amf]
    print(f"target: amfast >= {TARGET_PCT:.0f}% of the ceiling (small payload): "
          f"{small:.0f}% by req/s -> {'met' if small >= TARGET_PCT else 'MISSED'}, "
          f"{by_cpu:.0f}% by server CPU per call -> "
          f"{'met' if by_cpu >= TARGET_PCT else 'MISSED'}; "
          f"beats py3amf in every column: {'yes' if min(speedups) > 1 else 'NO'}")
    print(f"total {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
