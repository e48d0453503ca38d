"""A command-line chat client for examples/messaging/server.py.

    python examples/messaging/client.py NAME [--port 8001] [--channel longpoll|amf|streaming]
                                             [--base http://127.0.0.1:8002/flex]

Lines typed (or piped) on standard input are published to 'chat'; messages
from everybody are printed as they arrive.  End with Ctrl-D.
"""
import argparse
import sys
import threading
import time

from amfast.remoting.client import RemotingService


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--channel", default="longpoll", choices=("amf", "longpoll", "streaming"))
    parser.add_argument("--base", help="where the channels are (default http://127.0.0.1:PORT)")
    args = parser.parse_args()

    base = (args.base or f"http://127.0.0.1:{args.port}").rstrip("/")
    channel = "amf" if args.channel == "streaming" else args.channel
    sender = RemotingService(f"{base}/{channel}")
    client_id = sender.subscribe("chat")
    receiver = RemotingService(f"{base}/{channel}")
    receiver.client_id = sender.client_id
    done = threading.Event()

    def show(msg) -> None:
        print(f"[{msg.body.get('user')}] {msg.body.get('text')}", flush=True)

    def receive() -> None:
        if args.channel == "streaming":
            stream = receiver.stream(f"{base}/streaming")
            done_watch = threading.Thread(target=lambda: (done.wait(), stream.close()),
                                          daemon=True)
            done_watch.start()
            for msg in stream:
                show(msg)
            return
        while not done.is_set():
            for msg in receiver.poll():
                show(msg)
            if args.channel == "amf":
                time.sleep(0.5)

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    print(f"subscribed as {client_id} on {args.channel}", flush=True)
    for line in sys.stdin:
        sender.publish("chat", {"user": args.name, "text": line.rstrip("\n")})
    time.sleep(1.0)  # let the last messages arrive before leaving
    done.set()
    sender.disconnect()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C ends the example
        pass
