"""The messaging channel set of the tests with the SQL managers, served in a process of its own.

Run from the repository root (several processes on one database share everything)::

    python -m tests.remoting.sa_server --url postgresql+psycopg://... --prefix p_ \\
        --secret s --port 8001 --server wsgiref|uvicorn

Channels ``/amf``, ``/longpoll`` (held ``--wait`` ms), ``/streaming``; login
``correct``/``correct``; service ``svc`` (``echo``, ``secret`` (secure), ``whoami``,
``remember``): see ``tests.remoting.conftest.build_messaging_channel_set``.
``--poll-interval`` is how often held requests look at the database when they must
(SQLite; PostgreSQL while its listener is not listening).
"""
from __future__ import annotations

import argparse

from amfast.remoting.sa_connection_manager import SaConnectionManager
from amfast.remoting.sa_manager import make_engine
from amfast.remoting.sa_subscription_manager import SaSubscriptionManager
from tests.remoting.conftest import build_messaging_channel_set
from tests.support.servers import TRANSPORTS


def build(url: str, prefix: str, secret: str, server: str, wait: int, poll_interval: int):
    engine = make_engine(url)
    return build_messaging_channel_set(
        transport=TRANSPORTS[server], long_wait=wait, poll_interval=poll_interval,
        connection_manager=SaConnectionManager(engine, table_prefix=prefix, secret=secret),
        subscription_manager=SaSubscriptionManager(engine, table_prefix=prefix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=("wsgiref", "uvicorn"), default="wsgiref")
    parser.add_argument("--wait", type=int, default=5000)
    parser.add_argument("--poll-interval", type=int, default=500)
    args = parser.parse_args()
    channel_set = build(args.url, args.prefix, args.secret, args.server, args.wait,
                        args.poll_interval)
    if args.server == "uvicorn":
        import uvicorn

        uvicorn.run(channel_set, host="127.0.0.1", port=args.port, lifespan="on",
                    log_level="warning", timeout_graceful_shutdown=2)
    else:
        from amfast.remoting.wsgi_server import make_server

        channel_set.start()  # listen for the other processes' publishes from now on
        make_server(channel_set, "127.0.0.1", args.port).serve_forever()


if __name__ == "__main__":
    main()
