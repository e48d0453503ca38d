"""The codec knows nothing of remoting: importing it loads no amfast.remoting module.

The import contracts in pyproject.toml check the layers statically (``make test`` runs
``lint-imports``); these tests check what a fresh interpreter really loads.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

CODEC_MODULES = ("amfast.encoder", "amfast.decoder", "amfast.class_def", "amfast.encode",
                 "amfast.decode", "amfast.context")


def loaded_after(code: str) -> list:
    script = code + "\nimport sys\nprint(sorted(m for m in sys.modules " \
                    "if m.startswith('amfast.remoting')))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return eval(out)


@pytest.mark.parametrize("module", CODEC_MODULES)
def test_importing_the_codec_loads_no_remoting_module(module):
    assert loaded_after(f"import {module}") == []


def test_encoding_and_decoding_values_loads_no_remoting_module():
    assert loaded_after("from amfast.encoder import Encoder\nfrom amfast.decoder import Decoder\n"
                        "raw = Encoder(amf3=True).encode({'a': [1, 'x']})\n"
                        "assert Decoder(amf3=True).decode(raw) == {'a': [1, 'x']}") == []


def test_decode_packet_still_returns_amfast_remoting_packet():
    code = """
from amfast.encoder import Encoder
from amfast.decoder import Decoder
from types import SimpleNamespace as Plain
call = Plain(target="svc.echo", response="/1", body=["hi"], is_request=True)
raw = Encoder().encode_packet(Plain(client_type=0, headers=[], messages=[call]))
packet = Decoder().decode_packet(raw)
import amfast.remoting
assert type(packet) is amfast.remoting.Packet, type(packet)
assert packet.messages[0].target == "svc.echo" and packet.messages[0].body == ["hi"]
assert Encoder().encode_packet(packet) == raw
"""
    assert "amfast.remoting.packet" in loaded_after(code)


def test_flex_messages_are_known_to_mappers_made_before_remoting_was_imported():
    code = """
from amfast.class_def import ClassDefMapper
from amfast.decoder import Decoder
from amfast.encoder import Encoder
mapper = ClassDefMapper()
from amfast.remoting.flex_messages import AsyncMessage
raw = Encoder(amf3=True, class_def_mapper=mapper).encode(AsyncMessage(body=1, messageId="m"))
assert raw[1:2] == b"\\x0a" or b"flex.messaging.messages.AsyncMessage" in raw
msg = Decoder(amf3=True, class_def_mapper=mapper).decode(raw)
assert type(msg) is AsyncMessage and msg.body == 1 and msg.messageId == "m", msg
"""
    loaded_after(code)
