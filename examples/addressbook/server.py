"""The address book server: CRUD over RemoteObject, a Consumer told of every change.

Run:  python examples/addressbook/server.py [--port 8002] [--db URL]
The database is SQLite (addressbook.db in the current folder) unless --db gives another
SQLAlchemy URL, e.g. postgresql+psycopg://user:password@127.0.0.1/addressbook; its tables
are created, with two users, when missing.  Channels (Flex endpoints):
  http://127.0.0.1:<port>/amf        AMFChannel (RemoteObject calls, polling Consumers)
  http://127.0.0.1:<port>/longpoll   AMFChannel, long-polling (held up to 20 s)
RemoteObject destination 'AddressBook', messaging destination 'addressbook'; see
addressbook.py.  Try it with examples/addressbook/client.py.
"""
import argparse

from addressbook import add_address_book

from amfast.remoting.wsgi_channel import WsgiChannel, WsgiChannelSet
from amfast.remoting.wsgi_server import make_server


def build_channel_set(url: str) -> WsgiChannelSet:
    # The development server gives every request a thread: held polls starve nothing.
    channel_set = WsgiChannelSet(max_held=100)
    channel_set.mapChannel(WsgiChannel("amf"))
    channel_set.mapChannel(WsgiChannel("longpoll", wait_interval=20000))
    add_address_book(channel_set, url)
    return channel_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--db", default="sqlite:///addressbook.db", help="a SQLAlchemy URL")
    args = parser.parse_args()
    server = make_server(build_channel_set(args.db), "127.0.0.1", args.port)
    print(f"Address book at http://127.0.0.1:{server.server_port}/amf "
          "(RemoteObject 'AddressBook', messaging 'addressbook')", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C ends the example
        pass
