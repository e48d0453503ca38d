"""Hello world: echo, a failing method and a secure method over NetConnection and RemoteObject.

Run:  python examples/hello/server.py [port] [--console USER:PASSWORD]
      (serves http://127.0.0.1:8000/amf; with --console, the operator console at /console/)
Then: python examples/hello/client.py [port]
"""
import argparse

from amfast import remoting
from amfast.console import ConsoleApp, single_user
from amfast.remoting.channel import SecurityError
from amfast.remoting.wsgi_channel import WsgiChannel, WsgiChannelSet
from amfast.remoting.wsgi_server import make_server


class AuthChannelSet(WsgiChannelSet):
    """Accepts one user: 'correct' with the password 'correct'."""

    def login(self, user, password):
        if user == "correct" and password == "correct":
            return True
        raise SecurityError("Invalid credentials.")


def echo(value):
    return value


def raise_exception():
    raise ValueError("Example error.")


def secret():
    return "only for logged-in users"


def build_channel_set() -> AuthChannelSet:
    channel_set = AuthChannelSet()
    channel_set.mapChannel(WsgiChannel("amf"))
    service = remoting.Service("ExampleService")
    service.mapTarget(remoting.CallableTarget(echo, "echo"))
    service.mapTarget(remoting.CallableTarget(raise_exception, "raiseException"))
    service.mapTarget(remoting.CallableTarget(secret, "secret", secure=True))
    channel_set.service_mapper.mapService(service)
    return channel_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int, nargs="?", default=8000)
    parser.add_argument("--console", metavar="USER:PASSWORD",
                        help="serve the console at /console/ with this login")
    args = parser.parse_args()
    channel_set = build_channel_set()
    app = channel_set
    if args.console:
        user, _, password = args.console.partition(":")
        app = ConsoleApp(channel_set, single_user(user, password),
                         read_only=False).beside(channel_set)
    server = make_server(app, "127.0.0.1", args.port)
    print(f"Serving ExampleService (echo, raiseException, secret) at "
          f"http://127.0.0.1:{server.server_port}/amf", flush=True)
    if args.console:
        print(f"Console at http://127.0.0.1:{server.server_port}/console/ "
              f"(user {user!r}, password {password!r})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C ends the example
        pass
