"""examples/messaging: the chat servers and two command-line clients, for each channel kind.

The server runs as a process on a free port; for each channel (``amf`` polling,
``longpoll``, ``streaming``) two clients run as processes, lines are piped to their
standard input, and each must print the other's lines.  Every wait is bounded; every
process is stopped at the end.
"""
from __future__ import annotations

import pytest

from tests.support.net import free_port, wait_for_port
from tests.support.processes import EXAMPLES, Process, chat_conversation


@pytest.fixture(scope="module")
def chat_server():
    port = free_port()
    server = Process([str(EXAMPLES / "messaging" / "server.py"), str(port)])
    try:
        wait_for_port(port, server.proc)
        yield port
    finally:
        err = server.stop()
        assert "Traceback" not in err, err


@pytest.mark.parametrize("channel", ["amf", "longpoll", "streaming"])
def test_two_chat_clients_see_each_others_lines(chat_server, channel):
    chat_conversation(chat_server, channel)


@pytest.fixture(scope="module")
def memcache_chat_server(memcached):
    port = free_port()
    server = Process([str(EXAMPLES / "messaging" / "memcache_server.py"), "--port", str(port),
                      "--mc", memcached.servers[0], "--prefix", f"chat{port}",
                      "--poll-interval", "50"])
    try:
        wait_for_port(port, server.proc)
        yield port
    finally:
        err = server.stop()
        assert "Traceback" not in err, err


@pytest.mark.parametrize("channel", ["longpoll", "streaming"])
def test_the_memcache_chat_server_carries_the_same_conversation(memcache_chat_server, channel):
    chat_conversation(memcache_chat_server, channel)
