"""Fixtures shared by the whole suite (the pieces they use are in ``tests.support``).

``serve_app`` serves applications on free 127.0.0.1 ports, once under each server kind:
``wsgiref`` (amfast's threaded development server) and ``waitress`` for WSGI, ``uvicorn``
for ASGI; ``transport`` gives the channel classes the kind serves.  Every server is shut
down at teardown, and every wait is bounded.
"""
from __future__ import annotations

import pytest

from tests.support.servers import SERVER_KINDS, TRANSPORTS, Transport, serving
from tests.support.stores import (MemcachedProcess, RedisCluster, RedisProcess,
                                  memcached_binary, redis_binary, redis_cli_binary)


def pytest_collection_modifyitems(config, items):
    """py3amf's endpoint is a codec choice, not a transport's: the HTTP suites run it under
    the development server only (AmfEndpoint runs under every server kind)."""
    kept, dropped = [], []
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if params.get("endpoint_factory") == "pyamf" and \
                params.get("server_kind", "wsgiref") != "wsgiref":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request) -> str:
    if request.param != "wsgiref":
        pytest.importorskip(request.param)
    return request.param


@pytest.fixture
def transport(server_kind) -> Transport:
    """The channel classes (``ChannelSet``, ``Channel``, ``StreamingChannel``) of the kind."""
    return TRANSPORTS[server_kind]


@pytest.fixture
def serve_app(server_kind):
    """``serve_app(app) -> RunningServer``: serve ``app`` (built with ``transport``'s
    classes) on a free 127.0.0.1 port.

    Parametrised over the server kinds; may be called several times in one test.
    """
    with serving(server_kind) as serve:
        yield serve


# -- memcached ------------------------------------------------------------------------------


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


# -- Redis ---------------------------------------------------------------------------------


def _require_redis() -> str:
    pytest.importorskip("redis")
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server not found: `make test` installs it from Debian's packages "
                    "(apt-get install redis-server redis-tools)")
    return binary


@pytest.fixture(scope="session")
def redis_server():
    """A redis-server for the whole session (``.url``); tests keep apart by ``mc_prefix``.

    Do not stop or restart it: use ``redis_factory`` for a private one.
    """
    server = RedisProcess(_require_redis()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_factory():
    """``redis_factory() -> RedisProcess``: a private, started redis-server that the test may
    stop, pause and restart; stopped at teardown."""
    binary = _require_redis()
    started: list = []

    def start(**options) -> RedisProcess:
        server = RedisProcess(binary, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A local Redis Cluster of three masters for the session (``.url`` names one node)."""
    binary = _require_redis()
    if redis_cli_binary() is None:
        pytest.skip("redis-cli not found: `make test` installs it (apt-get install redis-tools)")
    cluster = RedisCluster(binary, str(tmp_path_factory.mktemp("redis-cluster"))).start()
    try:
        yield cluster
    finally:
        cluster.stop()


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


# -- PostgreSQL and SQLite (the SQL managers) ---------------------------------------------------


@pytest.fixture(scope="session")
def postgres_template():
    """One ``initdb`` for the session, copied for each cluster (``PostgresTemplate``)."""
    pytest.importorskip("psycopg")
    from tests.support.stores import PostgresTemplate, postgres_bindir, postgres_user

    bindir, user = postgres_bindir(), postgres_user()
    if bindir is None:
        pytest.skip("PostgreSQL not found: `make test` installs it from Debian's packages "
                    "(apt-get install postgresql)")
    if user is None:
        pytest.skip("running as root and no `postgres` user to run PostgreSQL as: Debian's "
                    "postgresql package creates it")
    template = PostgresTemplate(bindir, user)
    yield template
    template.remove()


@pytest.fixture(scope="session")
def postgresql(postgres_template):
    """A PostgreSQL cluster for the whole session (``.url``); tests keep apart by
    ``sql_prefix``.  Do not stop or freeze it: use ``postgresql_factory`` for a private one."""
    from tests.support.stores import PostgresProcess

    server = PostgresProcess(postgres_template).start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgresql_factory(postgres_template):
    """``postgresql_factory() -> PostgresProcess``: a private, started cluster that the test may
    stop, pause and restart; removed at teardown."""
    from tests.support.stores import PostgresProcess

    started: list = []

    def start() -> PostgresProcess:
        server = PostgresProcess(postgres_template)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.remove()


@pytest.fixture
def sql_prefix() -> str:
    """A table prefix no other test uses."""
    import uuid

    return f"t{uuid.uuid4().hex[:12]}_"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """The URL of a new SQLite database file."""
    pytest.importorskip("sqlalchemy")
    return f"sqlite:///{tmp_path / 'amfast.db'}"
