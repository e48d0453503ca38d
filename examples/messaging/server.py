"""A chat server: Flex Producer/Consumer messaging over polling, long-polling and streaming.

Run:  python examples/messaging/server.py [port] [--console USER:PASSWORD]   (default 8001)
Channels (Flex endpoints):
  http://127.0.0.1:<port>/amf        AMFChannel, polling
  http://127.0.0.1:<port>/longpoll   AMFChannel, long-polling (held up to 20 s)
  http://127.0.0.1:<port>/streaming  StreamingAMFChannel
Destination 'chat' (subtopics welcome).  The RPC ChatService.announce(text)
publishes from server code.  Try it with examples/messaging/client.py.
With --console, the operator console (amfast.console) is at /console/, with calls enabled.
"""
import argparse

from amfast import remoting
from amfast.console import ConsoleApp, single_user
from amfast.remoting.wsgi_channel import StreamingWsgiChannel, WsgiChannel, WsgiChannelSet
from amfast.remoting.wsgi_server import make_server


def build_channel_set() -> WsgiChannelSet:
    # The development server gives every request a thread: held requests starve nothing.
    channel_set = WsgiChannelSet(max_held=1000)
    channel_set.mapChannel(WsgiChannel("amf"))
    channel_set.mapChannel(WsgiChannel("longpoll", wait_interval=20000))
    channel_set.mapChannel(StreamingWsgiChannel("streaming", heart_interval=5000))

    def announce(text):
        channel_set.publishObject({"user": "server", "text": text}, "chat")
        return True

    service = remoting.Service("ChatService")
    service.mapTarget(remoting.CallableTarget(announce, "announce"))
    channel_set.service_mapper.mapService(service)
    return channel_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int, nargs="?", default=8001)
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
    print(f"Chat on destination 'chat' at http://127.0.0.1:{server.server_port}/ "
          "(channels: amf = polling, longpoll, streaming)", flush=True)
    if args.console:
        print(f"Console at http://127.0.0.1:{server.server_port}/console/ "
              f"(user {user!r}, password {password!r})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C ends the example
        pass
