"""Who may use the console: HTTP Basic credentials, or the session cookie its login page sets.

Sessions are signed cookies (HMAC-SHA256), valid for ``lifetime`` seconds: every
process that shares the signing secret accepts them.  Failed logins are counted per
client address, and past ``max_failures`` within ``window`` seconds that address is
refused without asking ``authenticate`` until the window passes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from typing import Callable

import amfast
from amfast.remoting.errors import SecurityError

__all__ = ["Authenticator", "LoginThrottle", "single_user", "basic_credentials"]

#: The cookie that carries a console session.
COOKIE = "amfast_console"


def single_user(user: str, password: str) -> Callable[[str, str], bool]:
    """An ``authenticate`` function that accepts one user name and password."""
    expected = f"{user}\0{password}".encode("utf-8")

    def authenticate(given_user: str, given_password: str) -> bool:
        given = f"{given_user}\0{given_password}".encode("utf-8")
        return hmac.compare_digest(given, expected)

    return authenticate


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token or len(token) > 4096:
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, password = text.partition(":")
    return (user, password) if separator else None


class LoginThrottle:
    """Counts failed logins per client address, in bounded memory."""

    def __init__(self, max_failures: int = 10, window: float = 60.0, max_addresses: int = 10000):
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(address, ()) if now - t < self.window]
        if times:
            self._failures[address] = times
        else:
            self._failures.pop(address, None)
        return times

    def refused(self, address: str) -> bool:
        """Whether ``address`` failed too often lately."""
        with self._lock:
            return len(self._recent(address, time.monotonic())) >= self.max_failures

    def failed(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if address not in self._failures and len(self._failures) >= self.max_addresses:
                # Forget the addresses whose failures are all old, else the oldest one.
                for known in list(self._failures):
                    self._recent(known, now)
                if len(self._failures) >= self.max_addresses:
                    self._failures.pop(next(iter(self._failures)))
            times = self._failures.setdefault(address, [])
            times.append(now)
            del times[:-self.max_failures]


class Authenticator:
    """Checks credentials with ``authenticate(user, password) -> bool`` and signs sessions
    with ``secret()`` (called once, when first needed)."""

    def __init__(self, authenticate: Callable[[str, str], bool], secret: Callable[[], bytes],
                 lifetime: int = 8 * 3600, throttle: LoginThrottle | None = None):
        self._authenticate = authenticate
        self._secret = secret
        self._key: bytes | None = None
        self.lifetime = lifetime
        self.throttle = LoginThrottle() if throttle is None else throttle

    def check(self, user: str, password: str, address: str) -> bool | None:
        """True for good credentials, False for bad ones, None when ``address`` failed
        too often lately (``authenticate`` is not asked then)."""
        if self.throttle.refused(address):
            return None
        try:
            accepted = bool(self._authenticate(user, password))
        except SecurityError:
            accepted = False
        except Exception as exc:
            amfast.log_exc(exc)
            accepted = False
        if not accepted:
            amfast.logger.warning("console: login of %r from %s refused", user, address)
            self.throttle.failed(address)
        return accepted

    # -- sessions --------------------------------------------------------------------

    def _signature(self, payload: str) -> str:
        if self._key is None:
            self._key = hmac.new(self._secret(), b"amfast console sessions",
                                 hashlib.sha256).digest()
        return hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).hexdigest()[:40]

    def session(self, user: str) -> str:
        """A cookie value naming ``user`` until ``lifetime`` seconds from now."""
        name = base64.urlsafe_b64encode(user.encode("utf-8")).decode("ascii").rstrip("=")
        payload = f"{name}.{int(time.time()) + self.lifetime}"
        return f"{payload}.{self._signature(payload)}"

    def session_user(self, value: str | None) -> str | None:
        """The user of a session cookie that is genuine and not expired, else None."""
        if not value or len(value) > 1024:
            return None
        payload, _, signature = value.rpartition(".")
        name, _, expires = payload.partition(".")
        if not payload.isascii() or not expires.isdigit() or int(expires) < time.time():
            return None
        if not hmac.compare_digest(signature, self._signature(payload)):
            return None
        try:
            return base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
