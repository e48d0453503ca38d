"""AmFast's low-level decoding calls: ``decode(context)``, ``decode_packet``; the errors."""
from amfast.decoder import (BadReferenceError, ClassMappingError, DecodeError, InvalidUTF8Error,
                            LimitExceededError, MalformedDataError, RefusedValueError,
                            TruncatedDataError, UnknownMarkerError, decode, decode_packet)

__all__ = ["BadReferenceError", "ClassMappingError", "DecodeError", "InvalidUTF8Error",
           "LimitExceededError", "MalformedDataError", "RefusedValueError", "TruncatedDataError",
           "UnknownMarkerError", "decode", "decode_packet"]
