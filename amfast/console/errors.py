"""The console's errors."""
from __future__ import annotations

from amfast import AmFastError

__all__ = ["ConsoleError", "BadRequest"]


class ConsoleError(AmFastError):
    """The console cannot be set up as asked (no way to check logins, say)."""


class BadRequest(ConsoleError):
    """A request the console cannot answer as asked; the message says why, to its user."""
