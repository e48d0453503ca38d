"""A target that owns its SQLAlchemy session: one session per call (AmFast's SaCallableTarget).

The callable gets the session first, then the client's arguments.  The session is
committed when the callable returns, rolled back when it raises (the client gets the
fault), and closed either way.  Nothing here imports SQLAlchemy: any ``sessionmaker``
will do.  See docs/sqlalchemy.md.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from amfast.remoting.services import CallableTarget

__all__ = ["SaCallableTarget"]


class SaCallableTarget(CallableTarget):
    """Calls ``callable(session, *args)`` in a session of its own.

    ``session_factory`` is a ``sqlalchemy.orm.sessionmaker`` (or any callable taking
    its keyword arguments).  Sessions are opened with ``expire_on_commit=False``: the
    result is encoded after the commit and the close, and an expired object would go to
    the client as nothing but its key.  Map every method of a controller object with
    ``SaCallableTarget.mapObject(service, controller, session_factory=Session)``.
    """

    def __init__(self, callable_: Callable, name: Any, secure: bool = False, *,
                 session_factory: Callable[..., Any]):
        if inspect.iscoroutinefunction(callable_):
            raise TypeError(f"{name!r}: SaCallableTarget runs synchronous callables "
                            "(its session is a synchronous Session)")
        CallableTarget.__init__(self, callable_, name, secure)
        self.session_factory = session_factory

    def invoke(self, packet: Any, msg: Any, args: Any) -> Any:
        session = self.session_factory(expire_on_commit=False)
        try:
            result = self.callable(session, *args)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        return result
