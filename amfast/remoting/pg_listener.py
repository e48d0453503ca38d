"""A PostgreSQL ``LISTEN`` in a thread: what other processes ``NOTIFY``, handed on.

One listener per subscription manager (so one per process): a connection of its
own, out of the pool, in autocommit mode, waiting for notifications.  A burst of
notifications is handed on as one batch.  When the connection breaks (the
server restarted, the network failed) the listener says so, connects again
(waiting longer each time, up to ``MAX_DELAY``) and says when it listens again:
notifications sent meanwhile were lost, so the caller looks at the store again.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import amfast

__all__ = ["PgListener"]

#: How often (s) the thread looks at its stop flag while nothing is heard.
TICK = 0.25
#: The first and the longest wait (s) between two attempts to connect.
MIN_DELAY, MAX_DELAY = 0.1, 2.0


class PgListener:
    """Listens on ``channel`` through connections made by ``connect()`` (psycopg 3).

    ``heard(connection, payloads)`` gets each batch (it may query on that connection);
    ``ready()`` is called once listening, ``lost()`` when the connection broke.
    """

    def __init__(self, connect: Callable[[], Any], channel: str,
                 heard: Callable[[Any, list], None], ready: Callable[[], None],
                 lost: Callable[[], None]):
        self._connect = connect
        self.channel = channel
        self._heard = heard
        self._ready = ready
        self._lost = lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: True while LISTEN is in force: every NOTIFY of the channel reaches this process.
        self.listening = False

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"amfast-listen-{self.channel}")
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def _run(self) -> None:
        from psycopg import sql

        delay = MIN_DELAY
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception as exc:
                amfast.logger.error("LISTEN %s: cannot connect: %s", self.channel,
                                    str(exc).splitlines()[0] if str(exc) else exc)
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            try:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                self.listening = True
                delay = MIN_DELAY
                self._ready()
                while not self._stop.is_set():
                    payloads = [n.payload for n in conn.notifies(timeout=TICK, stop_after=1)]
                    if payloads:
                        payloads += [n.payload for n in conn.notifies(timeout=0)]
                        self._heard(conn, payloads)
            except Exception as exc:
                if not self._stop.is_set():
                    amfast.logger.error("LISTEN %s: connection lost: %s", self.channel,
                                        str(exc).splitlines()[0] if str(exc) else exc)
            finally:
                was_listening, self.listening = self.listening, False
                try:
                    conn.close()
                except Exception:  # a broken connection may fail to close: it is gone
                    pass
            if was_listening and not self._stop.is_set():
                self._lost()
            self._stop.wait(delay)
