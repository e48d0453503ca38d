"""The chat server of server.py with its state in memcached: run several on one memcached.

Run (memcached listening on 127.0.0.1:11211), two processes sharing everything:
  python examples/messaging/memcache_server.py --port 8001 --secret s3cret
  python examples/messaging/memcache_server.py --port 8002 --secret s3cret --server waitress
or under gunicorn's threaded workers, from examples/messaging:
  gunicorn -k gthread --threads 8 -b 127.0.0.1:8003 \
      'memcache_server:build_channel_set(["127.0.0.1:11211"], "chat", "s3cret", max_held=6)'
Same channels (amf, longpoll, streaming), destination 'chat' and ChatService.announce(text)
as server.py, plus: login (any user, password --password), ChatService.whoami() (secure:
the logged-in user), SessionService.set(name, value) / SessionService.get(name) (session
attributes of the caller's connection; get answers None when unset).  See README.md.
"""
import argparse

from amfast.remoting.memcache_connection_manager import MemcacheConnectionManager
from amfast.remoting.memcache_subscription_manager import MemcacheSubscriptionManager
from amfast.remoting.wsgi_channel import StreamingWsgiChannel, WsgiChannel, WsgiChannelSet
from amfast.remoting.wsgi_server import make_server

from chat import SharedPasswordLogin, map_chat_services


class ChatChannelSet(SharedPasswordLogin, WsgiChannelSet):
    """Any user name logs in with the shared password."""


def build_channel_set(mc_servers, prefix: str, secret: str | None, password: str = "chat",
                      wait: int = 20000, poll_interval: int = 500,
                      max_held: int | None = WsgiChannelSet.DEFAULT_MAX_HELD) -> ChatChannelSet:
    """``max_held``: the long-polls and streams held at once, each taking a server thread."""
    channel_set = ChatChannelSet(
        connection_manager=MemcacheConnectionManager(mc_servers=mc_servers, key_prefix=prefix,
                                                     secret=secret),
        subscription_manager=MemcacheSubscriptionManager(mc_servers=mc_servers,
                                                         key_prefix=prefix),
        max_held=max_held)
    channel_set.password = password
    channel_set.mapChannel(WsgiChannel("amf"))
    # poll_interval: how often a held poll looks for messages other processes published.
    channel_set.mapChannel(WsgiChannel("longpoll", wait_interval=wait,
                                       poll_interval=poll_interval))
    channel_set.mapChannel(StreamingWsgiChannel("streaming", heart_interval=5000,
                                                poll_interval=poll_interval))

    map_chat_services(channel_set)
    return channel_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--mc", action="append", metavar="HOST:PORT",
                        help="a memcached server (repeatable; default 127.0.0.1:11211)")
    parser.add_argument("--prefix", default="chat", help="key prefix shared by the processes")
    parser.add_argument("--secret", help="signs connection ids: give every process the same")
    parser.add_argument("--password", default="chat", help="the login password")
    parser.add_argument("--wait", type=int, default=20000, help="long-poll hold (ms)")
    parser.add_argument("--poll-interval", type=int, default=500,
                        help="how often a held poll re-checks memcached (ms)")
    parser.add_argument("--server", choices=("dev", "waitress"), default="dev",
                        help="amfast's development server (a thread per request), or waitress")
    parser.add_argument("--threads", type=int, default=8, help="waitress's worker threads")
    parser.add_argument("--max-held", type=int,
                        help="long-polls and streams held at once, a thread each (default: "
                             "waitress's threads less two; unbounded on the development "
                             "server, which makes a thread per request)")
    args = parser.parse_args()

    # Held requests take a thread each: leave waitress two for RPC; the development
    # server makes a thread per request.
    max_held = args.max_held
    if max_held is None and args.server == "waitress":
        max_held = max(1, args.threads - 2)
    channel_set = build_channel_set(args.mc or ["127.0.0.1:11211"], args.prefix, args.secret,
                                    args.password, args.wait, args.poll_interval, max_held)
    print(f"Chat on destination 'chat' at http://127.0.0.1:{args.port}/ "
          f"(memcached {', '.join(channel_set.connection_manager.mc_servers)}, "
          f"prefix {args.prefix!r})", flush=True)
    if args.server == "waitress":
        import waitress

        waitress.serve(channel_set, host="127.0.0.1", port=args.port, threads=args.threads)
    else:
        make_server(channel_set, "127.0.0.1", args.port).serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C ends the example
        pass
