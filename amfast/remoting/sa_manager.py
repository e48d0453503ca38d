"""What the SQL managers share: the engine, tables created on demand, transactions, failures.

SQLite and PostgreSQL (with psycopg 3) are supported.  Every change is one
transaction: a write transaction takes its locks first (``BEGIN IMMEDIATE`` on
SQLite, ``SELECT ... FOR UPDATE`` or a row update on PostgreSQL), so that two
processes changing the same connection or topic take turns.  SQLite has one
writer at a time: the threads of a process queue for it on a lock of their own
(SQLite's busy wait would let some of them starve), and the database is put in
WAL mode, where readers never wait for the writer.

When the database cannot be reached, operations raise ``StoreUnavailableError``
(a fault or an HTTP 503 for clients) within about ``timeout`` seconds, and no
text of a database error reaches a client.  A database that stopped answering
(a frozen server, a lost network) would hold an operation forever, since
drivers have no client-side timeout for queries: a watchdog thread shuts the
socket of an operation that outlives its ``timeout``, which ends it with an
error.  A process that found PostgreSQL unreachable refuses it at once for
``retry_interval`` seconds, then tries it again.
"""
from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import math
import os
import socket
import threading
import time
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

import amfast
from amfast.remoting.errors import StoreUnavailableError

__all__ = ["SaManager", "make_engine", "StoreUnavailableError", "DEFAULT_TIMEOUT"]

#: How long (s) one operation may take before it fails as unavailable.
DEFAULT_TIMEOUT = 2.0
#: How long (s) a process refuses a PostgreSQL server it found unreachable.
DEFAULT_RETRY_INTERVAL = 1.0
#: ``make_engine``'s pool: connections kept, more made under load, and how long (s) a request
#: waits for one when all are busy (ones held by a frozen server are freed within ``timeout``).
POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT = 10, 20, 10.0
#: PostgreSQL's error classes worth trying again: serialization failure, deadlock.
TRANSIENT_SQLSTATES = ("40001", "40P01")
#: Attempts of one operation (a stale pooled connection, a deadlock).
ATTEMPTS = 3
DIALECTS = ("sqlite", "postgresql")


def make_engine(url: str | sa.URL, timeout: float = DEFAULT_TIMEOUT, **options: Any
                ) -> sa.Engine:
    """An engine with the options the managers want: a pool for servers with many threads
    (``POOL_SIZE``, ``MAX_OVERFLOW``, ``POOL_TIMEOUT``), and a new PostgreSQL connection
    waits at most ``timeout`` seconds for the server (libpq's minimum is 2).  ``options``
    are ``sqlalchemy.create_engine``'s."""
    url = sa.make_url(url)
    options.setdefault("pool_timeout", POOL_TIMEOUT)
    if url.get_backend_name() == "postgresql":
        options.setdefault("pool_size", POOL_SIZE)
        options.setdefault("max_overflow", MAX_OVERFLOW)
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", max(2, math.ceil(timeout)))
        options["connect_args"] = connect_args
    return sa.create_engine(url, **options)


def stable_key(*parts: Any) -> str:
    """A short hex digest of the parts, the same in every process."""
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


class SaManager:
    """Mixin: an engine, this manager's tables, and transactions that fail cleanly.

    ``engine`` is an SQLAlchemy ``Engine`` or a URL (the manager then makes its engine
    with ``make_engine``); ``metadata`` receives the tables (a new ``MetaData`` when None);
    ``table_prefix`` starts every table name (AmFast: a trailing ``_`` is added).
    """

    def _init_sa(self, engine: Any, metadata: sa.MetaData | None, table_prefix: str,
                 timeout: float, retry_interval: float) -> None:
        if not isinstance(engine, sa.Engine):
            engine = make_engine(engine, timeout)
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in DIALECTS:
            raise ValueError(f"the SQL managers run on SQLite and PostgreSQL, "
                             f"not {self.dialect}")
        self.metadata = sa.MetaData() if metadata is None else metadata
        self.table_prefix = table_prefix + "_" if table_prefix and \
            not table_prefix.endswith("_") else table_prefix
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._tables: list[sa.Table] = []
        self._created = False
        self._create_lock = threading.Lock()
        self._down_until = 0.0
        self._write_lock = _sqlite_write_lock(engine) if self.dialect == "sqlite" \
            else contextlib.nullcontext()

    # -- tables ------------------------------------------------------------------------

    def _table(self, name: str, *columns: Any) -> sa.Table:
        """This manager's table ``<prefix><name>`` in ``metadata`` (defined once)."""
        full = self.table_prefix + name
        table = self.metadata.tables.get(full)
        if table is None:
            table = sa.Table(full, self.metadata, *columns)
        self._tables.append(table)
        return table

    @property
    def notify_channel(self) -> str:
        """The PostgreSQL NOTIFY channel of the managers of this table prefix."""
        name = f"{self.table_prefix}amfast"
        if len(name.encode("utf-8")) > 63:  # PostgreSQL's identifier limit
            name = f"amfast_{stable_key(self.table_prefix)[:16]}"
        return name

    def createTables(self) -> None:
        """Create this manager's tables where they are missing (done on first use)."""
        if self.dialect == "sqlite":  # (outside a transaction, or it changes nothing)
            self._transaction(lambda conn: conn.exec_driver_sql("PRAGMA journal_mode=WAL"),
                              write=False)
        self._transaction(self._create, write=True)
        self._created = True

    def _create(self, conn: sa.Connection) -> None:
        if self.dialect == "postgresql":
            # Processes starting together take turns (CREATE TABLE IF NOT EXISTS is not
            # safe against a concurrent one).
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                int(stable_key("amfast", self.table_prefix)[:15], 16))))
        self.metadata.create_all(conn, tables=self._tables, checkfirst=True)

    def _ensure_tables(self) -> None:
        if not self._created:
            with self._create_lock:
                if not self._created:
                    self.createTables()

    # -- statements ---------------------------------------------------------------------

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT (it has ``on_conflict_do_nothing``/``_do_update``)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def _notify(self, conn: sa.Connection, payload: str) -> None:
        """Tell the other processes (PostgreSQL only), when the transaction commits."""
        if self.dialect == "postgresql":
            if len(payload.encode("utf-8")) > 7999:  # NOTIFY's payload limit
                payload = "*"
            conn.execute(sa.select(sa.func.pg_notify(self.notify_channel, payload)))

    # -- transactions --------------------------------------------------------------------

    def _run(self, work: Callable[[sa.Connection], Any], write: bool = False) -> Any:
        """``work(connection)`` in one transaction (committed), on this manager's tables."""
        self._ensure_tables()
        return self._transaction(work, write)

    def _check_down(self) -> None:
        if time.monotonic() < self._down_until:
            raise StoreUnavailableError("the SQL database is unreachable")

    def _transaction(self, work: Callable[[sa.Connection], Any], write: bool) -> Any:
        self._check_down()
        for attempt in range(ATTEMPTS):
            watch = None
            try:
                with self._write_lock if write else contextlib.nullcontext(), \
                        self.engine.connect() as conn, self._watch(conn) as watch:
                    self._check_down()  # found down while this request waited for the pool
                    if write and self.dialect == "sqlite":
                        # Take the write lock first: two deferred transactions that both
                        # read, then both write, would fail instead of taking turns.
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                    result = work(conn)
                    conn.commit()
                    return result
            except sa_exc.DBAPIError as exc:
                timed_out = watch is not None and watch.fired
                if not timed_out and attempt + 1 < ATTEMPTS and self._worth_retrying(
                        exc, attempt):
                    continue
                raise self._unavailable(exc, timed_out) from None
            except sa_exc.SQLAlchemyError as exc:  # pool timeout, a broken connection...
                raise self._unavailable(exc, False) from None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _worth_retrying(exc: sa_exc.DBAPIError, attempt: int) -> bool:
        """A pooled connection the server closed (it restarted), once; a deadlock or a
        serialization failure."""
        if exc.connection_invalidated and attempt == 0:
            return True
        return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES

    def _unavailable(self, exc: Exception, timed_out: bool) -> StoreUnavailableError:
        """The error clients see (the database's own text goes to the log only)."""
        if self.dialect == "postgresql" and (timed_out or isinstance(
                exc, (sa_exc.OperationalError, sa_exc.InterfaceError))):
            self._down_until = time.monotonic() + self.retry_interval
        reason = "did not answer in time" if timed_out else str(exc).splitlines()[0]
        amfast.logger.error("SQL database (%s): %s", self.dialect, reason)
        return StoreUnavailableError("the SQL database is unreachable")

    @contextlib.contextmanager
    def _watch(self, conn: sa.Connection) -> Iterator[Any]:
        fd = _socket_fd(conn.connection.dbapi_connection)
        if fd is None:
            yield None
            return
        with WATCHDOG.watch(fd, self.timeout) as watch:
            yield watch


_sqlite_locks: dict = {}
_sqlite_locks_lock = threading.Lock()


def _sqlite_write_lock(engine: sa.Engine) -> threading.Lock:
    """The lock of this process's writers to one SQLite database."""
    key = os.path.abspath(engine.url.database or ":memory:")
    with _sqlite_locks_lock:
        return _sqlite_locks.setdefault(key, threading.Lock())


def _socket_fd(dbapi_connection: Any) -> int | None:
    """The socket of a network connection (psycopg 3), else None (SQLite)."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    return None if pgconn is None else pgconn.socket


class _Watch:
    """One operation under watch: ``fired`` once its socket was shut down."""

    __slots__ = ("fd", "lock", "done", "fired")

    def __init__(self, fd: int):
        self.fd = fd
        self.lock = threading.Lock()
        self.done = False
        self.fired = False

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            # A shut-down socket reads as closed: the driver's wait returns with an error.
            sock = socket.socket(fileno=os.dup(self.fd))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.close()

    def finish(self) -> None:
        with self.lock:
            self.done = True


class Watchdog:
    """Shuts the socket of every watched operation that outlives its deadline; one thread
    for the process, started on first use."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, fd: int, seconds: float) -> Iterator[_Watch]:
        watch = _Watch(fd)
        entry = (time.monotonic() + seconds, next(self._order), watch)
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="amfast-sql-watchdog")
                self._thread.start()
            if self._heap[0] is entry:
                self._cond.notify()
        try:
            yield watch
        finally:
            watch.finish()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    heap = self._heap
                    while heap and heap[0][2].done:
                        heapq.heappop(heap)
                    if not heap:
                        self._cond.wait()
                        continue
                    delay = heap[0][0] - time.monotonic()
                    if delay <= 0:
                        watch = heapq.heappop(heap)[2]
                        break
                    self._cond.wait(delay)
            watch.expire()


WATCHDOG = Watchdog()
