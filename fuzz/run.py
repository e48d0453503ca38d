#!/usr/bin/env python3
"""Run one fuzz target under atheris (libFuzzer):

    .venv/bin/python fuzz/run.py TARGET [libFuzzer options] [CORPUS_DIR ...]

TARGET is one of amf0, amf3, packet, differential, server (see fuzz/targets.py).  Any
libFuzzer option may follow, e.g. ``-max_total_time=1200 -timeout=10 -rss_limit_mb=2048
-max_len=16384 -artifact_prefix=fuzz/corpus/artifacts/amf0- fuzz/corpus/amf0``.
``make fuzz`` runs every target this way; see docs/security.md.

The Python code of amfast, of the targets and of py3amf is instrumented for coverage; the
Cython codec is not (it would need clang's -fsanitize=fuzzer), so the targets branch on
the kinds of values and errors they see to give the fuzzer some guidance there too.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

try:
    import atheris
except ImportError:  # pragma: no cover - reported to the user
    sys.exit("atheris is not installed: .venv/bin/pip install atheris "
             "(or install the test extra: pip install -e '.[test]')")

with atheris.instrument_imports(include=["amfast", "fuzz", "pyamf"]):
    from fuzz import targets


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(targets.TARGETS)}}} [libFuzzer args]")
    target = targets.TARGETS[sys.argv[1]]
    if sys.argv[1] == "differential":
        targets._py3amf()  # import py3amf (instrumented) before the clock starts
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
