"""The Django tests' settings: chosen here, so that pytest-django sets Django up only when
these tests are collected, and the rest of the suite runs without it."""
import os

import pytest

pytest.importorskip("django")
pytest.importorskip("pytest_django")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_tests.settings")

import django  # noqa: E402

django.setup()
