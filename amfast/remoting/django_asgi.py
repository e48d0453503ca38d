"""ASGI channel sets in front of Django's ASGI application, for push at scale.

In a Django view a held long-poll or stream holds a thread (under Django's ASGI
handler, the one thread every sync view shares).  The ASGI channel set holds them as
awaits instead; this mounts it beside Django, in the project's ``asgi.py``::

    django_app = get_asgi_application()
    application = amf_asgi_application(django_app, {"/messaging": channel_set})

Requests under a prefix go to its channel set (``/messaging/<channel name>``); all
else goes to Django.  Lifespan events start and stop the channel sets (Django's
handler takes none).  See docs/django.md.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from amfast.remoting.asgi_channel import AsgiChannelSet

__all__ = ["amf_asgi_application"]

AsgiApp = Callable[[dict, Callable, Callable], Awaitable[None]]


def amf_asgi_application(django_app: AsgiApp, mounts: Mapping[str, AsgiChannelSet]) -> AsgiApp:
    """An ASGI application: each ``mounts`` prefix (``"/messaging"``) to its channel set,
    every other request to ``django_app``."""
    prefixes = sorted(((prefix.rstrip("/"), channel_set) for prefix, channel_set
                       in mounts.items()), key=lambda item: -len(item[0]))
    if any(not prefix.startswith("/") for prefix, _ in prefixes):
        raise ValueError("mount prefixes start with '/'")

    async def lifespan(receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for _, channel_set in prefixes:
                    await channel_set.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for _, channel_set in prefixes:
                    await channel_set.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def application(scope: dict, receive: Callable, send: Callable) -> Any:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        root = scope.get("root_path", "")
        path = scope.get("path", "")
        local = path[len(root):] if root and path.startswith(root) else path
        for prefix, channel_set in prefixes:
            if local == prefix or local.startswith(prefix + "/"):
                return await channel_set(dict(scope, root_path=root + prefix), receive, send)
        return await django_app(scope, receive, send)

    return application
