"""Encode/decode benchmark: amfast vs py3amf (pure Python and Cython) vs msgpack.

Run it with ``make bench`` (or ``make bench BENCH_ARGS="--quick --datasets a,b"``).  The
target builds amfast's extension into the checkout, then installs py3amf 0.9.1 built with its
Cython extension (cpyamf) into ``bench/.py3amf-cython`` with ``pip install --target``, and runs
this script with the project's .venv python and that folder first on PYTHONPATH.  The tests
keep comparing against the pure-Python py3amf that ``.venv`` installs from the test extra;
only the benchmark sees the Cython build.  By hand::

    PYTHONPATH=bench/.py3amf-cython .venv/bin/python bench/bench_codec.py [--quick] [--datasets a,c]

Without the Cython build on the path the "py3amf+cpyamf" rows are skipped.  The pure-Python
py3amf rows are measured in a subprocess of this script that blocks ``import cpyamf`` before
importing pyamf: pyamf picks cpyamf whenever it can (even ``use_ext=False`` still takes
``cpyamf.util.BufferedByteStream``), so blocking the import is the only way to get its pure
codec next to the Cython one in one run.

Datasets (seeded, so every process builds the same data):
  a  1,000 dynamic records: dicts of 10 fields (ints, floats, a bool, strings from a small
     vocabulary, a naive UTC datetime in whole milliseconds, a list of ints, a small dict)
  b  1,000 typed records: ``Record`` instances mapped as the sealed class "bench.Record"
     (amfast ClassDef; pyamf.register_class with ``__amf__`` made sealed and AMF3 inside AMF0
     like a ClassDef: the same sealed objects, pyamf just lists the sealed names sorted)
  c  10,000 short strings, half from a vocabulary of 200, half unique
  d  100,000 small ints (0..9999)

Each codec's round trip is checked before timing.  Timings are medians (time.perf_counter)
of up to 15 runs after a warm-up run; codecs whose warm-up shows they are slow get fewer runs
(at least 3), so that a full run stays within a few minutes on two cores.
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Callable

ALIAS = "bench.Record"
RECORD_FIELDS = ("id", "name", "category", "price", "quantity", "active", "created", "tags")
VOCAB = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
         "kappa", "lambda", "mu")
STATUSES = ("new", "open", "pending", "closed")
EPOCH = datetime(2015, 1, 1)
PURE_PY3AMF = "py3amf pure"
CYTHON_PY3AMF = "py3amf+cpyamf"
TABLE_ROWS = [f"{library} {fmt}" for fmt in ("AMF3", "AMF0")
              for library in ("amfast", CYTHON_PY3AMF, PURE_PY3AMF)] + ["msgpack"]


@dataclass
class Record:
    """The typed record of dataset b."""

    id: int
    name: str
    category: str
    price: float
    quantity: int
    active: bool
    created: datetime
    tags: list

    class __amf__:  # pyamf: sealed, static attributes, AMF3 inside AMF0 (as amfast's ClassDef)
        static = RECORD_FIELDS
        dynamic = False
        amf3 = True


def random_datetime(rng: random.Random) -> datetime:
    """A naive UTC datetime in whole milliseconds."""
    return EPOCH + timedelta(milliseconds=rng.randrange(10 ** 11))


def dynamic_records(rng: random.Random) -> list[dict]:
    return [{
        "id": i,
        "score": rng.random() * 100,
        "count": rng.randrange(1000),
        "balance": rng.uniform(-1e6, 1e6),
        "name": rng.choice(VOCAB),
        "status": rng.choice(STATUSES),
        "active": rng.random() < 0.5,
        "created": random_datetime(rng),
        "flags": [rng.randrange(100) for _ in range(rng.randint(2, 5))],
        "meta": {"source": rng.choice(VOCAB), "rank": rng.randrange(10)},
    } for i in range(1000)]


def typed_records(rng: random.Random) -> list[Record]:
    return [Record(i, rng.choice(VOCAB), rng.choice(STATUSES), round(rng.uniform(0, 500), 2),
                   rng.randrange(100), rng.random() < 0.5, random_datetime(rng),
                   rng.sample(VOCAB, 2)) for i in range(1000)]


def strings(rng: random.Random) -> list[str]:
    words = [f"{rng.choice(VOCAB)}-{k}" for k in range(200)]
    return [rng.choice(words) if rng.random() < 0.5 else f"item-{i}-{rng.randrange(10 ** 6)}"
            for i in range(10_000)]


def small_ints(rng: random.Random) -> list[int]:
    return [rng.randrange(10_000) for _ in range(100_000)]


DATASETS: dict[str, tuple[str, Callable[[random.Random], list]]] = {
    "a": ("1,000 dynamic records (dicts)", dynamic_records),
    "b": ("1,000 typed records (bench.Record)", typed_records),
    "c": ("10,000 short strings", strings),
    "d": ("100,000 small ints", small_ints),
}


def build_dataset(key: str) -> list:
    return DATASETS[key][1](random.Random(ord(key)))


@dataclass(frozen=True)
class Codec:
    label: str  # one of TABLE_ROWS
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    normalise: Callable[[Any], Any] = lambda value: value


@dataclass(frozen=True)
class Result:
    encode_ms: float
    decode_ms: float
    size: int
    runs: int


def amfast_codecs() -> list[Codec]:
    from amfast.class_def import ClassDef, ClassDefMapper
    from amfast.decoder import Decoder
    from amfast.encoder import Encoder

    mapper = ClassDefMapper()
    mapper.mapClass(ClassDef(Record, alias=ALIAS, static_attrs=RECORD_FIELDS))
    return [Codec(f"amfast {fmt}", Encoder(amf3=amf3, class_def_mapper=mapper).encode,
                  Decoder(amf3=amf3, class_def_mapper=mapper).decode)
            for fmt, amf3 in (("AMF3", True), ("AMF0", False))]


def py3amf_encode(value: Any, get_encoder: Callable[[], Any]) -> bytes:
    encoder = get_encoder()
    encoder.writeElement(value)
    return encoder.stream.getvalue()


def py3amf_decode(raw: bytes, get_decoder: Callable[[bytes], Any]) -> Any:
    return get_decoder(raw).readElement()


def py3amf_codecs(use_ext: bool) -> list[Codec]:
    import pyamf

    pyamf.register_class(Record, ALIAS)
    library = CYTHON_PY3AMF if use_ext else PURE_PY3AMF
    return [Codec(f"{library} {fmt}",
                  partial(py3amf_encode, get_encoder=partial(pyamf.get_encoder, encoding,
                                                             use_ext=use_ext)),
                  partial(py3amf_decode, get_decoder=partial(pyamf.get_decoder, encoding,
                                                             use_ext=use_ext)))
            for fmt, encoding in (("AMF3", pyamf.AMF3), ("AMF0", pyamf.AMF0))]


def cython_py3amf_available() -> bool:
    try:
        import cpyamf.amf0, cpyamf.amf3, cpyamf.util  # noqa: E401, F401
    except ImportError:
        return False
    return True


def plain(value: Any) -> Any:
    """What msgpack can give back: records as dicts, datetimes naive UTC."""
    if isinstance(value, Record):
        value = vars(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def msgpack_codec() -> Codec:
    import msgpack

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime):
            return msgpack.Timestamp.from_datetime(obj.replace(tzinfo=timezone.utc))
        return vars(obj)

    return Codec("msgpack", partial(msgpack.packb, default=default),
                 partial(msgpack.unpackb, timestamp=3), normalise=plain)


def check_round_trip(codec: Codec, data: list, raw: bytes) -> None:
    expected, decoded = codec.normalise(data), codec.normalise(codec.decode(raw))
    if decoded == expected:
        return
    pairs = enumerate(zip(expected, decoded if isinstance(decoded, list) else []))
    bad = next((i for i, (want, got) in pairs if want != got), None)
    detail = (f"item {bad}: {expected[bad]!r} came back as {decoded[bad]!r}" if bad is not None
              else f"got {repr(decoded)[:200]}")
    raise SystemExit(f"{codec.label}: decode(encode(x)) != x, {detail}")


def median_ms(fn: Callable[[Any], Any], arg: Any, max_runs: int,
              budget_s: float) -> tuple[float, int]:
    """Median wall time of ``fn(arg)`` in ms, after one warm-up call that sizes the run count."""
    start = time.perf_counter()
    fn(arg)
    warm_up = time.perf_counter() - start
    runs = max(3, min(max_runs, int(budget_s / warm_up)))
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, runs


def measure(codec: Codec, data: list, quick: bool) -> Result:
    raw = codec.encode(data)
    check_round_trip(codec, data, raw)
    max_runs, budget_s = (5, 0.3) if quick else (15, 1.5)
    encode_ms, encode_runs = median_ms(codec.encode, data, max_runs, budget_s)
    decode_ms, decode_runs = median_ms(codec.decode, raw, max_runs, budget_s)
    return Result(encode_ms, decode_ms, len(raw), min(encode_runs, decode_runs))


def run_codecs(codecs: list[Codec], keys: list[str], quick: bool) -> dict[str, dict[str, Result]]:
    results: dict[str, dict[str, Result]] = {}
    for key in keys:
        data = build_dataset(key)
        results[key] = {codec.label: measure(codec, data, quick) for codec in codecs}
    return results


def pure_py3amf_worker(keys: list[str], quick: bool) -> None:
    """Subprocess side: measure pyamf with cpyamf blocked, print the results as JSON."""
    sys.modules["cpyamf"] = None  # makes every ``import cpyamf...`` raise ImportError
    import pyamf.util

    assert pyamf.util.BufferedByteStream.__module__ == "pyamf.util.pure"
    results = run_codecs(py3amf_codecs(use_ext=False), keys, quick)
    json.dump({key: {label: vars(result) for label, result in rows.items()}
               for key, rows in results.items()}, sys.stdout)


def run_pure_py3amf(keys: list[str], quick: bool) -> dict[str, dict[str, Result]]:
    command = [sys.executable, __file__, "--pure-py3amf-worker", "--datasets", ",".join(keys)]
    output = subprocess.run(command + ["--quick"] * quick, check=True, capture_output=True,
                            text=True).stdout
    return {key: {label: Result(**fields) for label, fields in rows.items()}
            for key, rows in json.loads(output).items()}


def ratio(value: float, reference: float | None) -> str:
    return "-" if reference is None else f"{value / reference:.2f}x"


def print_table(key: str, results: dict[str, Result]) -> None:
    print(f"\n({key}) {DATASETS[key][0]}")
    header = ("codec", "encode ms", "decode ms", "size B", "enc/msgpack", "dec/msgpack",
              "enc/amfast", "dec/amfast", "runs")
    rows = [header]
    for label in TABLE_ROWS:
        if label not in results:
            continue
        result = results[label]
        msgpack = None if label == "msgpack" else results["msgpack"]
        amfast = None if label.startswith(("amfast", "msgpack")) else \
            results.get(f"amfast {label.split()[-1]}")
        rows.append((label, f"{result.encode_ms:.2f}", f"{result.decode_ms:.2f}",
                     f"{result.size:,}",
                     ratio(result.encode_ms, msgpack and msgpack.encode_ms),
                     ratio(result.decode_ms, msgpack and msgpack.decode_ms),
                     ratio(result.encode_ms, amfast and amfast.encode_ms),
                     ratio(result.decode_ms, amfast and amfast.decode_ms),
                     str(result.runs)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
        print("| " + " | ".join(cells) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def print_targets(results: dict[str, Result]) -> None:
    """The issue's targets: amfast AMF3 on dataset a vs msgpack."""
    amfast, msgpack = results["amfast AMF3"], results["msgpack"]
    for what, mine, theirs, limit in (("encode", amfast.encode_ms, msgpack.encode_ms, 2.0),
                                      ("decode", amfast.decode_ms, msgpack.decode_ms, 1.5)):
        verdict = "met" if mine <= limit * theirs else "MISSED"
        print(f"target: amfast AMF3 {what} <= {limit}x msgpack: {mine / theirs:.2f}x, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="at most 5 runs per measurement")
    parser.add_argument("--datasets", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
    parser.add_argument("--pure-py3amf-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    keys = args.datasets.split(",")
    unknown = set(keys) - set(DATASETS)
    if unknown:
        parser.error(f"unknown datasets: {', '.join(sorted(unknown))}")
    if args.pure_py3amf_worker:
        pure_py3amf_worker(keys, args.quick)
        return

    import amfast
    import msgpack
    import pyamf

    codecs = amfast_codecs()
    if cython_py3amf_available():
        codecs += py3amf_codecs(use_ext=True)
    else:
        print("cpyamf is not importable: no py3amf+cpyamf rows (see the docstring)")
    codecs.append(msgpack_codec())
    print(f"Python {platform.python_version()}, amfast {amfast.__version__}, "
          f"py3amf {pyamf.__version__}, msgpack {msgpack.version}; medians of the runs shown")
    results = run_codecs(codecs, keys, args.quick)
    for key, rows in run_pure_py3amf(keys, args.quick).items():
        results[key].update(rows)
    for key in keys:
        print_table(key, results[key])
        if key == "a":
            print_targets(results[key])
    print("\nx/y columns: time of this row / time of msgpack, or of amfast in the same AMF "
          "version;\nruns: timed runs (the fewer of encode's and decode's).\nmsgpack packs datetimes as msgpack Timestamps (default= hook, unpacked with "
          "timestamp=3)\nand typed records as their __dict__ (decoded as plain dicts, the class "
          "is not restored).")


if __name__ == "__main__":
    main()
