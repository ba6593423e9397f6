"""Request values quoted in error messages: bounded in length, built without recursion.

DynamoDB quotes a refused value (``Value 'x' at 'tableName' failed to satisfy
constraint``). A value from a request can be anything the caller sent, a list nested
a thousand deep or a megabyte of text, so messages never ``repr`` it whole: strings
and numbers are cut short, containers are named by their type and size.
"""

from __future__ import annotations

from typing import Any

__all__ = ["describe_value", "type_label"]

MAX_QUOTED_CHARS = 200


def describe_value(value: Any) -> str:
    """``value`` as an error message may quote it (at most about ``MAX_QUOTED_CHARS`` characters)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value) if not isinstance(value, int) or value.bit_length() < 700 else "<a very long number>"
    elif isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    elif isinstance(value, (dict, list, tuple, set, frozenset)):
        return f"<{type_label(value)} of {len(value)} elements>"
    else:
        text = f"<{type_label(value)}>"
    return text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "..."


def type_label(value: Any) -> str:
    """The name of ``value``'s type as a message shows it (``str``, ``dict``, ...)."""
    return type(value).__name__
