"""Fuzzing harness for amfast: the targets (``fuzz.targets``), the seed corpus
(``fuzz/make_corpus.py``) and the atheris runner (``fuzz/run.py``).  See docs/security.md."""
