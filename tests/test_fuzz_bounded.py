"""A short, bounded fuzzing run of every target in fuzz/targets.py, inside ``make test``.

* With atheris (the ``test`` extra installs it): each target runs under libFuzzer in a
  child process for a fixed number of inputs from a fixed seed, starting from the seed
  corpus of fuzz/make_corpus.py; a crash, a hang (over ``-timeout`` seconds) or a memory
  blow-up (``-rss_limit_mb``) fails the test with the input in hex.
* Always: a deterministic loop in this process over mutated seeds (``random.Random`` with
  a fixed seed) calling the same target functions, so a failure names its input.

Long runs are ``make fuzz FUZZ_SECONDS=1200`` (docs/security.md).  Known amfast bugs are
let through by the targets (``fuzz.targets.KNOWN_BUGS``) and tracked as xfail tests in
tests/test_fuzz_regressions.py.
"""
from __future__ import annotations

import importlib.util
import random
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz import make_corpus
from fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "fuzz" / "run.py"
#: Inputs per target for the atheris run, and for the in-process mutation loop.
ATHERIS_RUNS = {"amf0": 4000, "amf3": 4000, "packet": 3000, "differential": 2000,
                "server": 2000}
LOOP_RUNS = {"amf0": 1500, "amf3": 1500, "packet": 1000, "differential": 600, "server": 600}
#: Wall-clock bound of one atheris run (it normally takes a few seconds).
ATHERIS_TIMEOUT = 90
MAX_LEN = 4096
SEED = 20261125

has_atheris = importlib.util.find_spec("atheris") is not None


@pytest.fixture(scope="module")
def seeds() -> dict:
    return {name: [raw for raw in raws if len(raw) <= MAX_LEN]
            for name, raws in make_corpus.seeds().items()}


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory, seeds) -> Path:
    out = tmp_path_factory.mktemp("seeds")
    make_corpus.write(out, max_len=MAX_LEN)
    return out


def test_seed_corpus_covers_every_target(seeds):
    assert set(seeds) == set(TARGETS)
    for name, raws in seeds.items():
        assert len(raws) >= 30, (name, len(raws))
    # The request captures are seeds of the packet decoder, when they are there.
    if make_corpus.DEFAULT_CAPTURES.is_dir():
        captured = make_corpus.captures(make_corpus.DEFAULT_CAPTURES)
        assert captured and set(captured) <= set(seeds["packet"]) | {
            raw for raw in captured if len(raw) > MAX_LEN}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_passes(name, seeds):
    """The seeds themselves are valid inputs of every invariant."""
    for raw in seeds[name]:
        try:
            TARGETS[name](raw)
        except Exception as exc:  # noqa: BLE001 - reported with the input
            pytest.fail(f"{name} fails on seed {raw.hex()}: {type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------------- atheris


@pytest.mark.skipif(not has_atheris, reason="atheris is not installed (pip install atheris)")
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_atheris_bounded_run(name, seed_dir, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    runs = ATHERIS_RUNS[name]
    cmd = [sys.executable, str(RUNNER), name, f"-runs={runs}", f"-seed={SEED}",
           "-timeout=10", "-rss_limit_mb=1024", f"-max_len={MAX_LEN}",
           f"-artifact_prefix={tmp_path}/", "-print_final_stats=1",
           str(corpus), str(seed_dir / name)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False,
                          timeout=ATHERIS_TIMEOUT)
    artifacts = sorted(p for p in tmp_path.iterdir() if p.is_file())
    if proc.returncode != 0 or artifacts:
        found = "\n".join(f"{p.name}: {p.read_bytes().hex()}" for p in artifacts)
        pytest.fail(f"atheris run of {name!r} failed (exit {proc.returncode}):\n{found}\n"
                    f"{proc.stderr[-3000:]}")
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    assert executed and int(executed.group(1)) >= runs, proc.stderr[-1000:]
    rss = re.search(r"stat::peak_rss_mb:\s*(\d+)", proc.stderr)
    assert rss and int(rss.group(1)) < 1024


# ----------------------------------------------------------------------------- mutation loop

INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x09, 0x0A, 0x0B, 0x10, 0x11,
                     0x7F, 0x80, 0x81, 0xFE, 0xFF]
INTERESTING_U16 = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF]
INTERESTING_U32 = [0, 1, 0x7F, 0x80, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def mutate(rng: random.Random, raw: bytes, pool: list) -> bytes:
    """One to four random edits of ``raw``: AFL-like byte, word and block mutations."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(10)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a bit
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # an interesting byte
            data[min(pos, len(data) - 1)] = rng.choice(INTERESTING_BYTES)
        elif op == 2:  # an interesting 16- or 32-bit length
            if rng.random() < 0.5:
                data[pos:pos + 2] = struct.pack(">H", rng.choice(INTERESTING_U16))
            else:
                data[pos:pos + 4] = struct.pack(">I", rng.choice(INTERESTING_U32))
        elif op == 3:  # insert a byte
            data[pos:pos] = bytes([rng.getrandbits(8)])
        elif op == 4 and data:  # delete a block
            del data[pos:pos + rng.randint(1, 8)]
        elif op == 5 and data:  # duplicate a block
            start = rng.randrange(len(data))
            data[pos:pos] = data[start:start + rng.randint(1, 16)]
        elif op == 6:  # splice with another seed
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            data = data[:pos] + bytearray(other[cut:])
        elif op == 7:  # truncate
            data = data[:pos]
        elif op == 8 and data:  # a random byte
            data[min(pos, len(data) - 1)] = rng.getrandbits(8)
        else:  # a U29 with the continuation bits set
            data[pos:pos] = bytes([0xFF, 0xFF, 0xFF, rng.getrandbits(8)])
    return bytes(data[:MAX_LEN])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutation_bounded_run(name, seeds):
    rng = random.Random(f"{SEED}-{name}")
    pool = seeds[name]
    target = TARGETS[name]
    deadline = time.monotonic() + 20
    done = 0
    for _ in range(LOOP_RUNS[name]):
        if time.monotonic() > deadline:
            break
        raw = mutate(rng, rng.choice(pool), pool)
        if name == "differential" and rng.random() < 0.5:  # keep the format byte sane
            raw = bytes([rng.randrange(2)]) + raw[1:]
        started = time.monotonic()
        try:
            target(raw)
        except Exception as exc:  # noqa: BLE001 - reported with the input
            pytest.fail(f"{name} fails on {raw.hex()}: {type(exc).__name__}: {exc}")
        assert time.monotonic() - started < 5, f"{name} took over 5 s on {raw.hex()}"
        done += 1
    assert done >= LOOP_RUNS[name] // 4, f"only {done} inputs within the time budget"
