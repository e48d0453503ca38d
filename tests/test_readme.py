"""Every Python example in the README runs exactly as printed, in order.

Blocks that are scripts (``if __name__ == "__main__":``) also run as a server
process on a free port, given to the examples in ``PORT``.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for_port

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.fixture
def readme_servers(monkeypatch):
    port = free_port()
    monkeypatch.setenv("PORT", str(port))
    procs = [subprocess.Popen([sys.executable, "-c", block], env=os.environ.copy(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for block in BLOCKS if 'if __name__ == "__main__":' in block]
    try:
        if procs:
            wait_for_port(port, procs[0])
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def test_readme_examples_run_in_order(readme_servers, capsys):
    namespace = {"__name__": "readme_example"}
    for index, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f"{README.name} block {index}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"README block {index} failed: {exc!r}\n{block}")
    out = capsys.readouterr().out
    assert "hello\nhello\n" in out


def test_readme_asgi_example_serves_under_uvicorn():
    pytest.importorskip("uvicorn")
    from amfast.remoting.client import RemotingService
    from tests.support.servers import RunningServer

    [block] = [b for b in BLOCKS if "AsgiChannelSet()" in b]
    namespace = {"__name__": "asgi_server"}
    exec(compile(block, f"{README.name} ASGI block", "exec"), namespace)
    server = RunningServer("uvicorn", namespace["channel_set"])
    try:
        client = RemotingService(server.url("/amf"), timeout=10)
        assert client.call("ExampleService.echo", "hi") == "hi"
        assert client.remote_call("ExampleService", "echo", "hi") == "hi"
        client.close()
    finally:
        server.stop()
