"""AmFast's low-level encoding calls: ``encode(value, context)``, ``encode_packet``."""
from amfast.ext.encoder import EncodeError, encode, encode_packet

__all__ = ["EncodeError", "encode", "encode_packet"]
