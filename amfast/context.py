"""Encoding and decoding contexts: buffers, options and reference tables."""
from amfast.ext.decoder import DecoderContext
from amfast.ext.encoder import EncoderContext

__all__ = ["DecoderContext", "EncoderContext"]
