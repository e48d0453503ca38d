"""Django settings for the Django tests: an in-memory SQLite database, the auth and
session apps, and the test app's models and URLconf."""
import os
import tempfile

SECRET_KEY = "amfast-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "tests.django_tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.django_tests.testapp.urls"
# A file, not memory: the tests that serve Django over HTTP read the database from the
# server's threads.  One per process, so that runs side by side do not meet.
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:",
    "TEST": {"NAME": os.path.join(tempfile.gettempdir(),
                                  f"amfast-django-tests-{os.getpid()}.sqlite3")}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# The tests log users in and out many times: the fastest hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
