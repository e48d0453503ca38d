"""AmFast's low-level decoding calls: ``decode(context)``, ``decode_packet``."""
from amfast.decoder import DecodeError, decode, decode_packet

__all__ = ["DecodeError", "decode", "decode_packet"]
