"""Hello world: echo, a failing method and a secure method over NetConnection and RemoteObject.

Run:  python examples/hello/server.py [port]   (serves http://127.0.0.1:8000/amf)
Then: python examples/hello/client.py [port]
"""
import sys

from amfast import remoting
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
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = make_server(build_channel_set(), "127.0.0.1", port)
    print(f"Serving ExampleService (echo, raiseException, secret) at "
          f"http://127.0.0.1:{server.server_port}/amf", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
