"""A chat server: Flex Producer/Consumer messaging over polling, long-polling and streaming.

Run:  python examples/messaging/server.py [port]      (default 8001)
Channels (Flex endpoints):
  http://127.0.0.1:<port>/amf        AMFChannel, polling
  http://127.0.0.1:<port>/longpoll   AMFChannel, long-polling (held up to 20 s)
  http://127.0.0.1:<port>/streaming  StreamingAMFChannel
Destination 'chat' (subtopics welcome).  The RPC ChatService.announce(text)
publishes from server code.  Try it with examples/messaging/client.py.
"""
import sys

from amfast import remoting
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
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8001
    server = make_server(build_channel_set(), "127.0.0.1", port)
    print(f"Chat on destination 'chat' at http://127.0.0.1:{server.server_port}/ "
          "(channels: amf = polling, longpoll, streaming)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
