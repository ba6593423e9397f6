"""Compact storage encoding of items: msgpack with extension types.

A partition holds items as these bytes, not as Python objects: the seed catalog
document costs about a quarter of the memory and the garbage collector never walks
millions of nested dicts. The client encodes before sending and decodes after
receiving, so a partition serves GetItem and PutItem without decoding at all.

Numbers are stored as their decimal text (extension type 1) so that every number
decodes to a ``Decimal`` without a second pass over the document; sets get their own
extension types because msgpack has none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgpack

__all__ = ["decode_item", "encode_item"]

_NUMBER = 1
_STRING_SET = 2
_NUMBER_SET = 3
_BINARY_SET = 4


def _encode_default(value: Any) -> msgpack.ExtType:
    if isinstance(value, Decimal):
        return msgpack.ExtType(_NUMBER, str(value).encode("ascii"))
    if isinstance(value, (set, frozenset)):
        element = next(iter(value))
        if isinstance(element, str):
            return msgpack.ExtType(_STRING_SET, msgpack.packb(sorted(value)))
        if isinstance(element, Decimal):
            return msgpack.ExtType(_NUMBER_SET, msgpack.packb([str(n) for n in value]))
        return msgpack.ExtType(_BINARY_SET, msgpack.packb(sorted(value)))
    raise TypeError(f"cannot encode {type(value).__name__}")


def _decode_ext(code: int, data: bytes) -> Any:
    if code == _NUMBER:
        return Decimal(data.decode("ascii"))
    if code == _STRING_SET:
        return set(msgpack.unpackb(data))
    if code == _NUMBER_SET:
        return {Decimal(n) for n in msgpack.unpackb(data)}
    if code == _BINARY_SET:
        return set(msgpack.unpackb(data))
    return msgpack.ExtType(code, data)


_packer_options = {"default": _encode_default, "use_bin_type": True, "datetime": False}


def encode_item(item: dict[str, Any]) -> bytes:
    """Encode a normalized item (see ``grid._types``) to storage bytes."""
    return msgpack.packb(item, **_packer_options)


def decode_item(data: bytes) -> dict[str, Any]:
    """Decode storage bytes to a fresh item of native values."""
    return msgpack.unpackb(data, ext_hook=_decode_ext, raw=False, strict_map_key=True)
