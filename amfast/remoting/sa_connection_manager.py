"""Connection state in a SQL database (SQLite or PostgreSQL), through SQLAlchemy 2.

A connection is a row of ``<prefix>connections``; each session attribute is a row of
``<prefix>session_attrs`` (its value pickled), so that setting one attribute
writes one row.  Connections, logins and sessions outlive a restart of the
server: a client keeps its ``DSId`` and what goes with it.  When no ``secret`` is
given, a random one is kept in ``<prefix>settings`` and shared by every process.
Deleting a connection tells the other processes (PostgreSQL ``NOTIFY``), so their
requests waiting for it end.  The schema is in docs/sqlalchemy.md.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Callable, Iterator

import sqlalchemy as sa

from amfast.remoting.connection import Connection
from amfast.remoting.connection_manager import ConnectionManager
from amfast.remoting.errors import NotConnectedError
from amfast.remoting.sa_manager import DEFAULT_RETRY_INTERVAL, DEFAULT_TIMEOUT, SaManager

__all__ = ["SaConnectionManager"]

#: The columns of a connection's row (every state field but the session).
FIELDS = ("channel_name", "timeout", "connected", "last_active", "last_polled",
          "authenticated", "flex_user", "small_messages")
SECRET_NAME = "id_secret"


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


class SaConnectionManager(SaManager, ConnectionManager):
    """Connections in SQL tables shared by every process that uses the same database and
    ``table_prefix``.

    AmFast's arguments come first, in AmFast's order; the others are best given by name:
    ``secret`` signs connection ids (default: a random one kept in the database),
    ``timeout`` (s) bounds each operation, ``retry_interval`` (s) is how long a process
    refuses a PostgreSQL server it found unreachable.
    """

    def __init__(self, engine: Any, metadata: sa.MetaData | None = None,
                 connection_class: type = Connection, connection_params: dict | None = None,
                 table_prefix: str = "", secret: bytes | str | None = None,
                 timeout: float = DEFAULT_TIMEOUT,
                 retry_interval: float = DEFAULT_RETRY_INTERVAL):
        ConnectionManager.__init__(self, connection_class, connection_params, secret)
        self._init_sa(engine, metadata, table_prefix, timeout, retry_interval)
        self.connections = self._table(
            "connections",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("channel_name", sa.Text, nullable=False, index=True),
            sa.Column("timeout", sa.Float, nullable=False),
            sa.Column("connected", sa.Boolean, nullable=False),
            sa.Column("last_active", sa.Float, nullable=False),
            sa.Column("last_polled", sa.Float, nullable=False),
            sa.Column("authenticated", sa.Boolean, nullable=False),
            sa.Column("flex_user", sa.Text),
            sa.Column("small_messages", sa.Boolean, nullable=False))
        self.session_attrs = self._table(
            "session_attrs",
            sa.Column("connection_id", sa.Text,
                      sa.ForeignKey(self.connections.c.id, ondelete="CASCADE"),
                      primary_key=True),
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("value", sa.LargeBinary, nullable=False))
        self.settings = self._table(
            "settings",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("value", sa.Text, nullable=False))

    # -- the id secret ------------------------------------------------------------------

    def getSecret(self) -> bytes:
        if self._secret is None:
            self._secret = bytes.fromhex(self._run(self._shared_secret, write=True))
        return self._secret

    def _shared_secret(self, conn: sa.Connection) -> str:
        settings = self.settings
        conn.execute(self._insert(settings).values(
            name=SECRET_NAME, value=os.urandom(32).hex()).on_conflict_do_nothing())
        return conn.execute(sa.select(settings.c.value).where(
            settings.c.name == SECRET_NAME)).scalar_one()

    # -- state ----------------------------------------------------------------------------

    def loadState(self, connection_id: str) -> dict | None:
        conns, attrs = self.connections, self.session_attrs

        def load(conn: sa.Connection) -> dict | None:
            rows = conn.execute(
                sa.select(*[conns.c[f] for f in FIELDS], attrs.c.name, attrs.c.value)
                .select_from(conns.outerjoin(attrs, attrs.c.connection_id == conns.c.id))
                .where(conns.c.id == connection_id)).all()
            if not rows:
                return None
            state = {f: rows[0][n] for n, f in enumerate(FIELDS)}
            state["session"] = {row.name: pickle.loads(row.value)
                                for row in rows if row.name is not None}
            return state
        return self._run(load)

    def getConnection(self, connection_id: str | None, touch: bool = True) -> Connection:
        """As ``ConnectionManager.getConnection``; finding and touching a live connection is
        one UPDATE (every request does it)."""
        if connection_id is None or not touch:
            return ConnectionManager.getConnection(self, connection_id, touch)
        conns, now = self.connections, self.now()
        row = self._run(lambda conn: conn.execute(
            sa.update(conns).where(conns.c.id == connection_id,
                                   conns.c.last_active + conns.c.timeout >= now)
            .values(last_active=now).returning(conns.c.channel_name, conns.c.timeout)).first(),
            write=True)
        if row is None:
            raise NotConnectedError(f"Connection '{connection_id}' is not connected or has "
                                    f"expired.")
        return self.connection_class(self, row.channel_name, connection_id, row.timeout)

    def getField(self, connection_id: str, name: str) -> Any:
        if name == "session":
            return self._run(lambda conn: self._read_session(conn, connection_id))
        if name not in FIELDS:
            return None
        column = self.connections.c[name]
        return self._run(lambda conn: conn.execute(sa.select(column).where(
            self.connections.c.id == connection_id)).scalar())

    def insertState(self, connection_id: str, state: dict) -> bool:
        row = {f: state[f] for f in FIELDS}

        def insert(conn: sa.Connection) -> bool:
            # (An INSERT's rowcount is not reliable: RETURNING says whether it inserted.)
            conns = self.connections
            if conn.execute(self._insert(conns).values(id=connection_id, **row)
                            .on_conflict_do_nothing().returning(conns.c.id)).first() is None:
                return False
            self._write_session(conn, connection_id, {}, state.get("session") or {})
            return True
        return self._run(insert, write=True)

    def setFields(self, connection_id: str, **fields: Any) -> None:
        """Write the fields at once (no read): one UPDATE."""
        session = fields.pop("session", None)
        conns = self.connections

        def update(conn: sa.Connection) -> None:
            query = sa.update(conns).where(conns.c.id == connection_id)
            if fields:
                found = conn.execute(query.values(**fields)).rowcount
            else:
                found = conn.execute(query.values(id=conns.c.id)).rowcount  # locks the row
            if not found:
                raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
            if session is not None:
                self._write_session(conn, connection_id, self._read_session(
                    conn, connection_id), session)
        self._run(update, write=True)

    def updateState(self, connection_id: str, change: Callable[[dict], None]) -> None:
        conns = self.connections

        def apply(conn: sa.Connection) -> None:
            row = conn.execute(sa.select(*[conns.c[f] for f in FIELDS]).where(
                conns.c.id == connection_id).with_for_update()).first()
            if row is None:
                raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
            old = self._read_session(conn, connection_id)
            state = dict(row._mapping, session=dict(old))
            change(state)
            changed = {f: state[f] for f in FIELDS if state[f] != row._mapping[f]}
            if changed:
                conn.execute(sa.update(conns).where(conns.c.id == connection_id)
                             .values(**changed))
            self._write_session(conn, connection_id, old, state.get("session") or {})
        self._run(apply, write=True)

    def updateSession(self, connection_id: str, change: Callable[[dict], None]) -> None:
        """Apply ``change`` to the session dict; only the attributes it changed are written."""
        conns = self.connections

        def apply(conn: sa.Connection) -> None:
            # The connection's row is the session's lock.
            if conn.execute(sa.select(conns.c.id).where(
                    conns.c.id == connection_id).with_for_update()).first() is None:
                raise NotConnectedError(f"Connection '{connection_id}' is not connected.")
            old = self._read_session(conn, connection_id)
            session = dict(old)
            change(session)
            self._write_session(conn, connection_id, old, session)
        self._run(apply, write=True)

    def _read_session(self, conn: sa.Connection, connection_id: str) -> dict:
        attrs = self.session_attrs
        return {row.name: pickle.loads(row.value) for row in conn.execute(
            sa.select(attrs.c.name, attrs.c.value).where(
                attrs.c.connection_id == connection_id))}

    def _write_session(self, conn: sa.Connection, connection_id: str, old: dict,
                       new: dict) -> None:
        """Write what differs between the session ``old`` and ``new``."""
        attrs = self.session_attrs
        gone = [name for name in old if name not in new]
        if gone:
            conn.execute(sa.delete(attrs).where(attrs.c.connection_id == connection_id,
                                                attrs.c.name.in_(gone)))
        rows = []
        for name, value in new.items():
            blob = _dumps(value)
            if name not in old or _dumps(old[name]) != blob:
                rows.append({"connection_id": connection_id, "name": str(name),
                             "value": blob})
        if rows:
            insert = self._insert(attrs)
            conn.execute(insert.on_conflict_do_update(
                index_elements=[attrs.c.connection_id, attrs.c.name],
                set_={"value": insert.excluded.value}), rows)

    def deleteState(self, connection_id: str) -> None:
        conns, attrs = self.connections, self.session_attrs

        def delete(conn: sa.Connection) -> None:
            conn.execute(sa.delete(attrs).where(attrs.c.connection_id == connection_id))
            if conn.execute(sa.delete(conns).where(conns.c.id == connection_id)).rowcount:
                # Requests of other processes waiting for it wake and find it gone.
                self._notify(conn, "c:" + connection_id)
        self._run(delete, write=True)

    # -- listing ------------------------------------------------------------------------------

    def iterConnectionIds(self) -> Iterator[str]:
        conns = self.connections
        return iter(self._run(lambda conn: conn.execute(sa.select(conns.c.id)).scalars().all()))

    def iterExpired(self, now: float | None = None) -> Iterator[Connection]:
        """The expired connections, found by one query."""
        now = self.now() if now is None else now
        conns = self.connections
        rows = self._run(lambda conn: conn.execute(
            sa.select(conns.c.id, conns.c.channel_name, conns.c.timeout).where(
                conns.c.last_active + conns.c.timeout < now)).all())
        return iter([self.connection_class(self, row.channel_name, row.id, row.timeout)
                     for row in rows])

    def getConnectionCount(self, channel_name: str) -> int:
        conns = self.connections
        return self._run(lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(conns).where(
                conns.c.channel_name == channel_name)).scalar_one())

    def reset(self) -> None:
        """Forget every connection (the id secret is kept)."""
        def delete(conn: sa.Connection) -> None:
            conn.execute(sa.delete(self.session_attrs))
            conn.execute(sa.delete(self.connections))
        self._run(delete, write=True)
        self.notifier.clear()
