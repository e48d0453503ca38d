"""A Starlette application: JSON routes beside the AMF channels of an ASGI channel set.

Run:  python examples/asgi/app.py [port]            (default 8002; uvicorn with uvloop)
 or:  uvicorn --app-dir examples/asgi app:app --port 8002 --timeout-graceful-shutdown 3

  GET  /api/status          {"connections": ..., "held": ...}: the channel set's state
  POST /api/announce        {"text": ...}: publishes to destination 'chat'
  /flex/amf                 AMFChannel, polling (RPC: ChatService.echo, ChatService.announce)
  /flex/longpoll            AMFChannel, long-polling (held up to 20 s)
  /flex/streaming           StreamingAMFChannel

A held poll or an open stream is a coroutine: thousands cost no threads.  Try it with
examples/messaging/client.py NAME --base http://127.0.0.1:8002/flex [--channel streaming].
"""
import contextlib
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from amfast import remoting
from amfast.remoting.asgi_channel import AsgiChannel, AsgiChannelSet, StreamingAsgiChannel


def build_channel_set() -> AsgiChannelSet:
    channel_set = AsgiChannelSet()
    channel_set.mapChannel(AsgiChannel("amf"))
    channel_set.mapChannel(AsgiChannel("longpoll", wait_interval=20000))
    channel_set.mapChannel(StreamingAsgiChannel("streaming", heart_interval=5000))

    async def announce(text):
        """A coroutine target: awaited on the event loop."""
        await channel_set.publishObjectAsync({"user": "server", "text": text}, "chat")
        return True

    service = remoting.Service("ChatService")
    service.mapTarget(remoting.CallableTarget(lambda value: value, "echo"))
    service.mapTarget(remoting.CallableTarget(announce, "announce"))
    channel_set.service_mapper.mapService(service)
    return channel_set


channel_set = build_channel_set()


async def status(request: Request) -> JSONResponse:
    return JSONResponse({"connections": channel_set.connection_manager.getConnectionCount("amf")
                         + channel_set.connection_manager.getConnectionCount("longpoll")
                         + channel_set.connection_manager.getConnectionCount("streaming"),
                         "held": channel_set.held})


async def announce(request: Request) -> JSONResponse:
    text = str((await request.json()).get("text", ""))
    message = await channel_set.publishObjectAsync({"user": "web", "text": text}, "chat")
    return JSONResponse({"published": message.messageId})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    # A Mount passes no lifespan events on: the channel set starts and stops with the app
    # (at shutdown held polls are answered and streams end with their DISCONNECT).
    await channel_set.startup()
    yield
    await channel_set.shutdown()


app = Starlette(routes=[Route("/api/status", status),
                        Route("/api/announce", announce, methods=["POST"]),
                        Mount("/flex", app=channel_set)],
                lifespan=lifespan)


def main() -> None:
    import uvicorn

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8002
    print(f"Chat on destination 'chat' at http://127.0.0.1:{port}/flex/ "
          f"(channels: amf, longpoll, streaming); JSON at http://127.0.0.1:{port}/api/status",
          flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning",
                timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()
