"""A DynamoDB endpoint that does nothing: every request gets ``200 {}`` at once.

``bench.http`` drives it with the same boto3 load as grid and moto to measure the
ceiling: the most operations a second this load generator can reach on this machine
with a server that costs (almost) nothing. A target ratio over moto above
``null / moto`` cannot be met by any server here.

It speaks just enough HTTP/1.1 for that load (keep-alive, ``Content-Length`` bodies,
no chunking) on a bare asyncio protocol, so that the server's own cost stays far
below any real endpoint's.

    python -m bench.null_endpoint --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import zlib
from typing import Any

import uvloop

_BODY = b"{}"
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
    + b"x-amz-crc32: %d\r\nx-amzn-RequestId: null\r\nContent-Length: %d\r\n\r\n%s"
    % (zlib.crc32(_BODY) & 0xFFFFFFFF, len(_BODY), _BODY)
)


class NullProtocol(asyncio.Protocol):
    """Answers each complete request in the buffer; reads ``Content-Length`` to find where it ends."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: Any = None  # uvloop's transport is no asyncio.Transport subclass

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        answers = 0
        while (head_end := self._buffer.find(b"\r\n\r\n")) >= 0:
            end = head_end + 4 + _content_length(self._buffer[:head_end])
            if len(self._buffer) < end:
                break
            self._buffer = self._buffer[end:]
            answers += 1
        if answers:
            self._transport.write(_RESPONSE * answers)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(NullProtocol, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
