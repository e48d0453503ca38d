"""amfast: AMF0/AMF3 encoding and Flash/Flex remoting and messaging.

Logging goes through AmFast's logger, ``logging.getLogger("AmFast")`` (also
``amfast.logger``), silent by default: it has a ``NullHandler`` and its level is
DEBUG, so the recipe of AmFast works as it did: add a handler to
``amfast.logger`` and set ``amfast.log_debug = True`` for debug messages about
requests and replies (``amfast.log_raw = True`` adds the raw bytes of packets).
Without ``log_debug`` only warnings and errors are logged, and the odd
informational line (an undecodable request).
"""
from __future__ import annotations

import calendar
import datetime
import logging

__version__ = "1.0.0.dev0"
version = __version__

logger = logging.getLogger("AmFast")
logger.addHandler(logging.NullHandler())
logger.setLevel(logging.DEBUG)

#: Log what requests and replies contain (AmFast switch).
log_debug = False
#: Also log the raw bytes of packets (AmFast switch).
log_raw = False


class AmFastError(Exception):
    """Base class of every error raised by amfast."""


def log_exc(exc: BaseException) -> None:
    """Log an exception with its traceback at error level."""
    logger.error("%s: %s", type(exc).__name__, exc, exc_info=exc)


def epoch_from_date(d: datetime.date) -> int:
    """Milliseconds since the Unix epoch, UTC.

    Naive datetimes are taken as UTC; aware ones are converted.  Unlike
    AmFast, milliseconds are kept.
    """
    if not isinstance(d, datetime.datetime):
        return calendar.timegm(d.timetuple()) * 1000
    offset = d.utcoffset()
    if offset is not None:
        d = d.replace(tzinfo=None) - offset
    return calendar.timegm(d.timetuple()) * 1000 + d.microsecond // 1000


def date_from_epoch(ms: float) -> datetime.datetime:
    """Naive UTC datetime from milliseconds since the Unix epoch."""
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)


def format_byte_string(raw: bytes) -> str:
    """Hex dump of raw bytes, for debug logs."""
    return " ".join(f"{b:02X}" for b in raw)
