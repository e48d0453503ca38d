"""The chat server of server.py with its state in Redis: several worker processes, one chat.

Run (redis-server listening on 127.0.0.1:6379), four uvicorn workers on one port:
  python examples/messaging/redis_server.py --port 8001 --workers 4 --secret s3cret
and more processes, on this host or others, with the same --url, --prefix and --secret:
  python examples/messaging/redis_server.py --port 8002 --workers 2 --secret s3cret
A message published through any worker reaches the held polls and open streams of every
other worker within milliseconds: each worker's listener hears it on Redis pub/sub.
Same channels (amf, longpoll, streaming), destination 'chat' and ChatService.announce(text)
as server.py, plus: login (any user, password --password), ChatService.whoami() (secure:
the logged-in user), ChatService.worker() (the id of the process that answers),
SessionService.set(name, value) / SessionService.get(name).  See README.md.
"""
import argparse
import os
from pathlib import Path

from amfast import remoting
from amfast.remoting.asgi_channel import AsgiChannel, AsgiChannelSet, StreamingAsgiChannel
from amfast.remoting.redis_connection_manager import RedisConnectionManager
from amfast.remoting.redis_subscription_manager import RedisSubscriptionManager

from chat import SharedPasswordLogin, map_chat_services

#: How the worker processes get their settings from the process that starts them.
ENVIRONMENT = {"url": "AMFAST_CHAT_URL", "prefix": "AMFAST_CHAT_PREFIX",
               "secret": "AMFAST_CHAT_SECRET", "password": "AMFAST_CHAT_PASSWORD",
               "wait": "AMFAST_CHAT_WAIT"}


class ChatChannelSet(SharedPasswordLogin, AsgiChannelSet):
    """Any user name logs in with the shared password."""


def build_channel_set(url: str, prefix: str, secret: str | None, password: str = "chat",
                      wait: int = 20000) -> ChatChannelSet:
    channel_set = ChatChannelSet(
        connection_manager=RedisConnectionManager(url=url, key_prefix=prefix, secret=secret),
        subscription_manager=RedisSubscriptionManager(url=url, key_prefix=prefix))
    channel_set.password = password
    channel_set.mapChannel(AsgiChannel("amf"))
    channel_set.mapChannel(AsgiChannel("longpoll", wait_interval=wait))
    channel_set.mapChannel(StreamingAsgiChannel("streaming", heart_interval=5000))

    map_chat_services(channel_set, remoting.CallableTarget(os.getpid, "worker"))
    return channel_set


def app() -> ChatChannelSet:
    """The application of one worker process, from the settings ``main`` put in the
    environment (uvicorn's ``--factory``)."""
    return build_channel_set(os.environ[ENVIRONMENT["url"]], os.environ[ENVIRONMENT["prefix"]],
                             os.environ.get(ENVIRONMENT["secret"]) or None,
                             os.environ[ENVIRONMENT["password"]],
                             int(os.environ[ENVIRONMENT["wait"]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0", help="the Redis server")
    parser.add_argument("--prefix", default="chat", help="key prefix shared by the processes")
    parser.add_argument("--secret", help="signs connection ids: give every process the same")
    parser.add_argument("--password", default="chat", help="the login password")
    parser.add_argument("--wait", type=int, default=20000, help="long-poll hold (ms)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes")
    args = parser.parse_args()
    for name, variable in ENVIRONMENT.items():
        os.environ[variable] = str(getattr(args, name) or "")
    print(f"Chat on destination 'chat' at http://127.0.0.1:{args.port}/ "
          f"({args.workers} workers, Redis {args.url}, prefix {args.prefix!r})", flush=True)

    import uvicorn

    uvicorn.run("redis_server:app", factory=True, host="127.0.0.1", port=args.port,
                workers=args.workers, app_dir=str(Path(__file__).parent), lifespan="on",
                log_level="warning", timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
