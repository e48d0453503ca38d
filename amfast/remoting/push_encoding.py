"""A message pushed to many subscribers is encoded once.

Each subscriber's copy of a published message differs only in ``clientId`` (and
its form, full or small, which the connection negotiated).  ``PushEncoder``
encodes the message once with a placeholder client id that occurs nowhere else,
splits the bytes around it, and makes each subscriber's bytes by putting that
subscriber's id between the two halves.  An AMF3 string (or the 16-byte
ByteArray of a small message's UUID id) written inline takes the same slot in
the reference tables whatever its content, so the rest of the bytes stay valid.

A message object seen once is encoded directly: stores that hand out a new
object per delivery (memcached) never pay for a template.
"""
from __future__ import annotations

import secrets
import threading
import uuid
from typing import Any, Callable

from amfast.remoting.flex_messages import uuid_bytes
from amfast.remoting.framing import frame

__all__ = ["PushEncoder"]

#: Templates kept (per endpoint); past it the cache starts again.
MAX_TEMPLATES = 512
#: Subscribers' client ids kept in their encoded form (per endpoint), likewise.
MAX_MIDDLES = 65536


def amf3_string(text: str) -> bytes:
    """``text`` as an inline AMF3 string value's bytes after the marker: U29 length, UTF-8."""
    raw = text.encode("utf-8")
    header = (len(raw) << 1) | 1
    if header < 0x80:
        return bytes((header,)) + raw
    if header < 0x4000:
        return bytes(((header >> 7) | 0x80, header & 0x7F)) + raw
    if header < 0x200000:
        return bytes(((header >> 14) | 0x80, ((header >> 7) & 0x7F) | 0x80,
                      header & 0x7F)) + raw
    return bytes(((header >> 22) | 0x80, ((header >> 15) & 0x7F) | 0x80,
                  ((header >> 8) & 0x7F) | 0x80, header & 0xFF)) + raw


class PushEncoder:
    """Frames personalised copies of published messages (see the module's docstring).

    ``encode(message)`` gives the AMF3 bytes of one message (the endpoint's).
    """

    def __init__(self, encode: Callable[[Any], bytes]):
        self._encode = encode
        self._lock = threading.Lock()
        # id(message) -> message (kept alive so the id stays its own), or a template dict
        self._seen: dict[int, Any] = {}
        self._templates: dict[tuple, tuple] = {}
        # client id -> its bytes in a template's slot: an AMF3 string, or a small
        # message's 16-byte UUID
        self._middles: dict[str, bytes] = {}
        self._uuid_middles: dict[str, bytes] = {}

    def frameFor(self, msg: Any, client_id: Any, small: bool = False) -> bytes:
        """The stream frame (``framing.frame``) of ``msg`` as the subscriber ``client_id``
        receives it."""
        if not isinstance(client_id, str) or not client_id:
            return frame(self._encode(msg.personalize(client_id, small)))
        as_bytes = small and uuid_bytes(client_id) is not None
        key = (id(msg), small, as_bytes)
        template = self._templates.get(key)
        if template is None or template[0] is not msg:
            template = self._template(msg, small, as_bytes, key)
            if template is None:
                return frame(self._encode(msg.personalize(client_id, small)))
        middle = (self._uuid_middles if as_bytes else self._middles).get(client_id)
        if middle is None:
            middle = self._middle(client_id, as_bytes)
        return frame(template[1], middle, template[2])

    def _middle(self, client_id: str, as_bytes: bool) -> bytes:
        """The bytes of ``client_id`` in a template's slot, kept: a subscriber gets many."""
        middles = self._uuid_middles if as_bytes else self._middles
        if len(middles) >= MAX_MIDDLES:
            middles.clear()
        middle = middles[client_id] = \
            uuid_bytes(client_id) if as_bytes else amf3_string(client_id)
        return middle

    def _template(self, msg: Any, small: bool, as_bytes: bool, key: tuple) -> tuple | None:
        with self._lock:
            if self._seen.get(key) is not msg:
                # First delivery of this object: a template would cost more than it saves.
                if len(self._seen) >= MAX_TEMPLATES:
                    self._seen.clear()
                self._seen[key] = msg
                return None
        placeholder = str(uuid.uuid4()).upper() if as_bytes else \
            "\u0001amfast-client:" + secrets.token_hex(16)
        raw = self._encode(msg.personalize(placeholder, small))
        needle = uuid_bytes(placeholder) if as_bytes else amf3_string(placeholder)
        if raw.count(needle) != 1:
            return None
        prefix, suffix = raw.split(needle)
        template = (msg, prefix, suffix)
        with self._lock:
            if len(self._templates) >= MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = template
        return template
