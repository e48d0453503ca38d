"""AmFast's low-level decoding calls: ``decode(context)``, ``decode_packet``."""
from amfast.ext.decoder import DecodeError, decode, decode_packet

__all__ = ["DecodeError", "decode", "decode_packet"]
