"""Request bodies with bounded memory: read and decompressed with a cap, and their memory given back.

A body is refused (``RequestEntityTooLarge``) as soon as it passes its limit, as sent or
as decompressed, so a 20 MB upload or a gzip bomb never costs more than the limit and
one chunk. Once freed, large bodies' memory goes back to the system: glibc would keep
it (``MemoryReleaser``, ``return_large_frees_at_once``).
"""

from __future__ import annotations

import asyncio
import ctypes
import zlib
from collections.abc import Callable

from aiohttp import web

from grid.errors import RequestEntityTooLarge, SerializationException

__all__ = ["LARGE_BODY_BYTES", "MemoryReleaser", "decode_body", "read_body", "return_large_frees_at_once"]

# Bodies from this size on leave enough freed memory behind to give it back.
LARGE_BODY_BYTES = 1024 * 1024
# Bodies are decompressed a step at a time, other requests served between steps (a
# megabyte takes zlib about a millisecond). Not in a thread: glibc gives each thread a
# heap of its own, and one that held a bomb's 16 MB kept them resident afterwards.
_INFLATE_STEP_BYTES = 1024 * 1024


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"Request body exceeds {limit} bytes")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body as sent, refused as soon as it passes ``limit`` bytes.

    aiohttp holds at most its read buffer (128 KB) of a body this has not taken yet, so
    a refused body costs at most ``limit`` plus one chunk, freed with the request.
    Raises ``RequestEntityTooLarge``, or ``SerializationException`` for broken chunked
    framing.
    """
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                chunks.clear()  # not kept alive by the exception's traceback
                raise _too_large(limit)
            chunks.append(chunk)
    except web.RequestPayloadError:
        raise SerializationException("The request body could not be read") from None
    return b"".join(chunks)


async def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """``body`` without its ``Content-Encoding`` (gzip or deflate), at most ``limit`` bytes.

    Raises ``SerializationException`` for another coding or a body that does not decode
    (DynamoDB itself answers those with a 500, which clients would retry), and
    ``RequestEntityTooLarge`` as soon as the output passes ``limit``: a bomb is never
    inflated beyond it.
    """
    coding = content_encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        # RFC 9110's deflate is zlib-wrapped; some clients send the raw stream.
        wbits = zlib.MAX_WBITS if body[:1] and body[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        raise SerializationException(f"Unsupported Content-Encoding: {coding[:40]}")
    return await _inflate(body, wbits, limit, coding)


async def _inflate(body: bytes, wbits: int, limit: int, coding: str) -> bytes:
    gzip = wbits > zlib.MAX_WBITS
    pieces: list[bytes] = []
    size = 0
    pending = body
    decompressor = zlib.decompressobj(wbits)
    try:
        while True:
            # A step at a time: no piece is ever much past the limit (one more byte than
            # the room left tells "exactly full" from "too large").
            piece = decompressor.decompress(pending, min(limit - size + 1, _INFLATE_STEP_BYTES))
            size += len(piece)
            if size > limit:
                pieces.clear()  # not kept alive by the exception's traceback
                raise _too_large(limit)
            pieces.append(piece)
            if decompressor.eof:
                pending = decompressor.unused_data
                if not pending:
                    return b"".join(pieces)
                if not gzip:  # data after a deflate stream
                    raise zlib.error("trailing data")
                decompressor = zlib.decompressobj(wbits)  # gzip allows members one after another
                continue
            pending = decompressor.unconsumed_tail
            if not pending and not piece:  # input used up, stream unfinished
                raise zlib.error("truncated")
            await asyncio.sleep(0)
    except zlib.error:
        pieces.clear()
        raise SerializationException(f"The request body is not valid {coding} data") from None


class MemoryReleaser:
    """Gives the memory a large request freed back to the system, soon after it.

    glibc's malloc keeps freed memory for reuse: a 16 MB body read in chunks and freed
    leaves holes in its heaps that stay resident, and mostly unused, after the request.
    ``malloc_trim(0)`` returns the free pages of every heap. It walks the heaps, so it
    runs at most once every ``interval`` seconds, ``delay`` after a large body, a
    compressed one or a refused one. Elsewhere than glibc it does nothing.
    """

    def __init__(self, delay: float = 0.2, interval: float = 1.0) -> None:
        self._delay = delay
        self._interval = interval
        self._trim = _malloc_trim()
        self._due: asyncio.TimerHandle | None = None
        self._last = float("-inf")

    def release_soon(self) -> None:
        if self._trim is None or self._due is not None:
            return
        loop = asyncio.get_running_loop()
        at = max(loop.time() + self._delay, self._last + self._interval)
        self._due = loop.call_at(at, self._release)

    def _release(self) -> None:
        self._due = None
        self._last = asyncio.get_running_loop().time()
        if self._trim is not None:
            self._trim(0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def return_large_frees_at_once() -> bool:
    """Make glibc give large freed blocks back to the system when they are freed (False elsewhere).

    By default glibc raises its mmap threshold to the size of the largest block freed so
    far (up to 32 MB), and its trim threshold to twice that: after one 16 MB body, blocks
    that size come from heaps, and tens of megabytes stay resident once freed, in every
    thread's heap. Fixed thresholds (glibc's own defaults) keep blocks of 128 KB or more
    out of the heaps and trim a heap's free top past 128 KB. For a server process
    (``grid serve``), not for a library: it applies to the whole process.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 128 * 1024) and mallopt(m_trim_threshold, 128 * 1024))
