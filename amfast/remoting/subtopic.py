"""Flex subtopics: the ``DSSubtopic`` header, as BlazeDS's ``Subtopic`` defines it.

A subtopic is a string of tokens joined by a separator (``"."`` unless the
destination configures another), such as ``"chatrooms.us.ca"``.  Consumers
may subscribe to a pattern where a token is the wildcard ``"*"``:

* a ``"*"`` token matches exactly one token: ``"chatrooms.*.ca"`` matches
  ``"chatrooms.us.ca"`` but not ``"chatrooms.us.ma"``;
* a trailing ``"*"`` matches one or more remaining tokens: ``"chatrooms.*"``
  matches ``"chatrooms.lobby"`` and ``"chatrooms.us.ca"`` but not
  ``"chatrooms"``;
* so ``"*"`` alone matches every subtopic.

A subtopic is invalid when it is empty, has an empty token (a leading or
trailing separator, or two in a row) or has a token mixing ``"*"`` with other
characters (``"chat.f*"``).  Producers may not send to a subtopic with a
wildcard; callers check that with ``is_wildcard``.
"""
from __future__ import annotations

import functools

from amfast.remoting.errors import RemotingError

#: The wildcard token.
WILDCARD = "*"


class _Any:
    """Stands for every subtopic or selector in an unsubscribe."""

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()


class SubtopicError(RemotingError):
    """A subtopic or a separator is not valid."""


def validate_subtopic(subtopic: str, separator: str = ".") -> None:
    """Raise ``SubtopicError`` unless ``subtopic`` is a valid subtopic (wildcards allowed)."""
    _tokens(subtopic, separator)


def is_wildcard(subtopic: str, separator: str = ".") -> bool:
    """True if the valid ``subtopic`` has a wildcard token; ``SubtopicError`` if invalid."""
    return WILDCARD in _tokens(subtopic, separator)


def subtopic_matches(pattern: str, subtopic: str, separator: str = ".") -> bool:
    """True if a message sent to ``subtopic`` reaches a subscription to ``pattern``.

    ``pattern`` may have wildcards, ``subtopic`` may not.  Raises
    ``SubtopicError`` if either is invalid or ``subtopic`` has a wildcard.
    """
    wanted = _tokens(pattern, separator)
    given = _tokens(subtopic, separator)
    if WILDCARD in given:
        raise SubtopicError(f"A message cannot be sent to the wildcard subtopic {subtopic!r}.")
    if wanted[-1] == WILDCARD:
        if len(given) < len(wanted):
            return False
    elif len(given) != len(wanted):
        return False
    return all(token == WILDCARD or token == other for token, other in zip(wanted, given))


def _tokens(subtopic: str, separator: str) -> tuple[str, ...]:
    """The tokens of a valid subtopic; raises ``SubtopicError`` if it is not valid."""
    if not isinstance(subtopic, str):
        raise SubtopicError(f"A subtopic must be a string, not {type(subtopic).__name__}.")
    if not isinstance(separator, str):
        raise SubtopicError(f"A subtopic separator must be a string, "
                            f"not {type(separator).__name__}.")
    return _split(subtopic, separator)


@functools.lru_cache(maxsize=4096)
def _split(subtopic: str, separator: str) -> tuple[str, ...]:
    """``_tokens`` for strings, cached: patterns are matched once per message."""
    if not separator or WILDCARD in separator:
        raise SubtopicError(f"Invalid subtopic separator {separator!r}: it must be non-empty "
                            f"and must not contain {WILDCARD!r}.")
    tokens = tuple(subtopic.split(separator))
    for token in tokens:
        if not token:
            raise SubtopicError(f"Invalid subtopic {subtopic!r}: empty token.")
        if WILDCARD in token and token != WILDCARD:
            raise SubtopicError(f"Invalid subtopic {subtopic!r}: {WILDCARD!r} must be a whole "
                                f"token, not part of {token!r}.")
    return tokens
