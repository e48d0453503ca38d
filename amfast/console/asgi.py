"""The console as an ASGI application, for an ``AsgiChannelSet``.

    console = AsgiConsoleApp(channel_set, authenticate)        # read-only
    application = console.beside(channel_set)                  # /console/... and the channels

Mounted elsewhere, the console finds its mount point in ``root_path``.  What may block
(``authenticate``, the stores) runs in the channel set's worker threads; a service
browser call goes through the chosen channel's ``answerAmfAsync``, as a client's would.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from amfast.console.browser import Call
from amfast.console.core import MAX_BODY, Console, Request, Response
from amfast.remoting.asgi_channel import send_answer

__all__ = ["AsgiConsoleApp"]

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


async def _request(scope: dict, receive: Receive, root: str) -> Request | Response:
    headers: dict = {}
    for name, value in scope.get("headers", ()):
        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return Response(413, b"Request body too large.\n")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    path = scope.get("path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    client = scope.get("client") or ("", 0)
    return Request(scope.get("method", "GET"), path,
                   scope.get("query_string", b"").decode("latin-1"), headers, b"".join(chunks),
                   root.rstrip("/"), str(client[0]), scope.get("scheme") == "https")


class AsgiConsoleApp:
    """The console of an ``AsgiChannelSet``, an ASGI 3 application (see
    ``amfast.console.core.Console`` for the arguments)."""

    def __init__(self, channel_set: Any, authenticate: Callable[[str, str], bool] | None = None,
                 read_only: bool = True, secret: bytes | str | None = None,
                 session_lifetime: int = 8 * 3600 * 1000, max_scan: int = 10000):
        self.console = Console(channel_set, authenticate, read_only, secret, session_lifetime,
                               max_scan)
        self.channel_set = channel_set

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = await _request(scope, receive, scope.get("root_path", ""))
        if isinstance(request, Response):
            await send_answer(send, request)
            return
        answer = await self._blocking(self.console.handle, request)
        if isinstance(answer, Call):
            answer = self.console.answered(answer, await self._call(answer, scope, receive))
        await send_answer(send, answer)

    async def _blocking(self, func: Callable, *args: Any) -> Any:
        run = getattr(self.channel_set, "runBlocking", None)
        if run is None:
            return await asyncio.to_thread(func, *args)
        return await run(func, *args)

    async def _call(self, call: Call, scope: dict, receive: Receive) -> Any:
        if not self.channel_set.started:
            self.channel_set.start()
        channel = call.channel
        if hasattr(channel, "answerAmfAsync"):
            return await channel.answerAmfAsync(call.raw, scope, receive)
        return await self._blocking(channel.answerAmf, call.raw, scope)

    def beside(self, app: Callable | None = None, path: str = "/console") -> Callable:
        """An ASGI application that serves the console under ``path`` and passes every other
        request, and the lifespan events, to ``app`` (404 without one)."""
        return _Mounted(self, app, "/" + path.strip("/"))


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class _Mounted:
    def __init__(self, console: AsgiConsoleApp, app: Callable | None, path: str):
        self.console = console
        self.app = app
        self.path = path

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            path = scope.get("path", "")
            below = path[len(root):] if root and path.startswith(root) else path
            if below == self.path or below.startswith(self.path + "/"):
                scope = dict(scope, root_path=root + self.path, path=root + below)
                await self.console(scope, receive, send)
                return
        if self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await send_answer(send, Response(404, b"Not found.\n"))
