"""The endpoint against abusive clients: deadlines, the connection cap, bounded bodies, routing, errors.

Most tests drive ``grid serve`` as users run it (with short deadlines set by its flags),
over raw sockets, since what matters is what a connection sees byte by byte. Times are
asserted only as deadlines being enforced, with generous slack.
"""

from __future__ import annotations

import gzip
import json
import select
import socket
import subprocess
import time
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
import pytest_asyncio
from aiohttp import web

import grid
from grid._http.server import EndpointSettings, EndpointSite, make_app
from grid.errors import InternalServerError, PartitionUnavailableError
from tests.integration.test_http_serve import free_port, run_serve, start_server, stop_server

# Deadlines of the strict server, in seconds. The idle one is the longest: aiohttp's own
# keep-alive timer, a backstop at idle + header seconds, must not be what closes a
# connection trickling its headers.
HEADER_DEADLINE = BODY_DEADLINE = 1.0
IDLE_DEADLINE = 6.0
SLACK = 4.0  # how late a deadline may be enforced on a busy 2-core machine
CAP = 10
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


@pytest.fixture(scope="module")
def strict_server(ray_instance: None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``grid serve`` with short deadlines."""
    deadlines = {"--header-timeout": HEADER_DEADLINE, "--body-timeout": BODY_DEADLINE, "--idle-timeout": IDLE_DEADLINE}
    process, url = start_server(ray_instance, "--allow-any-credentials", *(f"{k}={v}" for k, v in deadlines.items()))
    yield process, url
    stop_server(process)


@pytest.fixture(scope="module")
def capped_server(ray_instance: None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``grid serve`` serving at most ``CAP`` connections, with its default deadlines."""
    process, url = start_server(ray_instance, "--allow-any-credentials", "--max-connections", str(CAP))
    yield process, url
    stop_server(process)


@pytest.mark.parametrize("flag", ["--header-timeout", "--body-timeout", "--idle-timeout", "--max-connections"])
def test_grid_serve_refuses_a_limit_that_is_not_positive(flag: str) -> None:
    completed = run_serve("--allow-any-credentials", flag, "0")
    assert completed.returncode == 2 and "must be positive" in completed.stderr and "Traceback" not in completed.stderr


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def head(target: str = "DynamoDB_20120810.ListTables", **headers: str) -> bytes:
    """A request's line and headers, through the blank line."""
    lines = [
        "POST / HTTP/1.1",
        "Host: 127.0.0.1",
        f"X-Amz-Target: {target}",
        "Content-Type: application/x-amz-json-1.0",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request(body: bytes = b"{}", target: str = "DynamoDB_20120810.ListTables", **headers: str) -> bytes:
    return head(target, Content_Length=str(len(body)), **headers) + body


def answer(connection: socket.socket, timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the next response on ``connection``."""
    connection.settimeout(timeout)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"closed before an answer: {received!r}"
        received += chunk
    header, _, rest = received.partition(b"\r\n\r\n")
    lines = header.decode().split("\r\n")
    fields = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(fields.get("content-length", "0"))
    while len(rest) < length:
        chunk = connection.recv(65536)
        assert chunk, "closed within an answer"
        rest += chunk
    return int(lines[0].split()[1]), json.loads(rest[:length] or b"{}")


def send(url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """One request's bytes on a fresh connection, and its answer."""
    with socket.create_connection(address(url)) as connection:
        connection.sendall(data)
        return answer(connection)


def seconds_until_closed(connection: socket.socket, started: float, limit: float, trickle: bytes = b"") -> float:
    """Seconds from ``started`` until the server closes ``connection``, sending ``trickle`` meanwhile
    a byte every 100 ms.

    Fails if the server answers instead, or has not closed it ``limit`` seconds after ``started``.
    """
    pending = iter(trickle)
    while True:
        readable, _, _ = select.select([connection], [], [], 0.1)
        if readable:
            try:
                data = connection.recv(65536)
            except ConnectionResetError:
                data = b""
            assert data == b"", f"answered instead of closed: {data[:80]!r}"
            return time.monotonic() - started
        assert time.monotonic() - started < limit, "the connection is still open"
        byte = next(pending, None)
        if byte is not None:
            try:
                connection.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started


def test_a_client_trickling_its_headers_is_closed_at_the_header_deadline(strict_server: Any) -> None:
    _, url = strict_server
    started = time.monotonic()
    with socket.create_connection(address(url)) as connection:
        trickle = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 1000
        closed_after = seconds_until_closed(connection, started, HEADER_DEADLINE + SLACK, trickle)
    assert closed_after >= HEADER_DEADLINE - 0.1  # a total deadline: the bytes kept coming all along


def test_a_client_trickling_its_body_is_closed_at_the_body_deadline(strict_server: Any) -> None:
    _, url = strict_server
    with socket.create_connection(address(url)) as connection:
        connection.sendall(head(Content_Length="100000"))
        started = time.monotonic()
        closed_after = seconds_until_closed(connection, started, BODY_DEADLINE + SLACK, b"{" + b" " * 1000)
    assert closed_after >= BODY_DEADLINE - 0.1


def test_an_idle_keep_alive_connection_is_closed_at_the_idle_deadline(strict_server: Any) -> None:
    _, url = strict_server
    with socket.create_connection(address(url)) as connection:
        for _ in range(2):  # kept alive between requests that follow one another
            connection.sendall(request())
            assert answer(connection)[0] == 200
        started = time.monotonic()
        closed_after = seconds_until_closed(connection, started, IDLE_DEADLINE + SLACK)
    assert closed_after >= IDLE_DEADLINE - 0.1


def accepted_connections(port: int) -> int:
    """Connections to ``port`` that a process has accepted (queued ones have no socket inode yet)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.read().splitlines()[1:]]
    established = [row for row in rows if int(row[1].split(":")[1], 16) == port and row[3] == "01"]
    return sum(1 for row in established if row[9] != "0")


def test_the_connection_cap_holds_and_waiting_clients_are_served_later(capped_server: Any) -> None:
    _, url = capped_server
    port = address(url)[1]
    clients = [socket.create_connection(address(url)) for _ in range(5 * CAP)]  # the kernel queues the rest
    try:
        counts = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            counts.append(accepted_connections(port))
            time.sleep(0.02)
        assert max(counts) == CAP and counts[-1] == CAP
        # Every client asks; each answered one leaves, freeing its slot for a waiting one.
        for client in clients:
            client.sendall(request())
        waiting = set(clients)
        deadline = time.monotonic() + 60
        while waiting and time.monotonic() < deadline:
            readable, _, _ = select.select(list(waiting), [], [], 0.02)
            for client in readable:
                assert answer(client)[0] == 200
                client.close()
                waiting.discard(client)
            assert accepted_connections(port) <= CAP
        assert not waiting
    finally:
        for client in clients:
            client.close()


def test_health_answers_while_slow_clients_hang(capped_server: Any) -> None:
    _, url = capped_server
    slow = [socket.create_connection(address(url)) for _ in range(CAP // 2)]
    try:
        for client in slow:
            client.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for round_ in range(5):
            for client in slow:
                client.sendall(b"X-Slow-%d: 1\r\n" % round_)
            with urllib.request.urlopen(url + "/health", timeout=10) as health:
                assert health.status == 200 and json.loads(health.read()) == {"status": "ok"}
            time.sleep(0.1)
        for client in slow:  # still hanging: the server neither answered nor closed them
            assert select.select([client], [], [], 0)[0] == []
    finally:
        for client in slow:
            client.close()


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


LIST_TABLES = b'{"Limit": 1}'


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(LIST_TABLES)),
        ("gzip", gzip.compress(LIST_TABLES[:5]) + gzip.compress(LIST_TABLES[5:])),  # members one after another
        ("x-gzip", gzip.compress(LIST_TABLES)),
        ("deflate", zlib.compress(LIST_TABLES)),
        ("deflate", deflate_raw(LIST_TABLES)),  # raw deflate, as some clients send it
        ("identity", LIST_TABLES),
    ],
)
def test_compressed_bodies_are_decoded(strict_server: Any, encoding: str, body: bytes) -> None:
    status, answered = send(strict_server[1], request(body, Content_Encoding=encoding))
    assert status == 200 and "TableNames" in answered


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", LIST_TABLES),
        ("gzip", gzip.compress(LIST_TABLES)[:-4]),  # truncated
        ("gzip", gzip.compress(LIST_TABLES) + b"junk"),
        ("gzip", b""),
        ("deflate", b"\x78\x9cnot deflate"),
        ("deflate", b"garbage"),
        ("deflate", zlib.compress(LIST_TABLES) + b"junk"),
        ("br", LIST_TABLES),  # not a coding the endpoint takes
    ],
)
def test_bodies_that_do_not_decode_are_client_errors(strict_server: Any, encoding: str, body: bytes) -> None:
    status, answered = send(strict_server[1], request(body, Content_Encoding=encoding))
    assert status == 400 and answered["__type"] == ERROR_PREFIX + "SerializationException"
    assert "Error" not in answered["message"] and "zlib" not in answered["message"]  # no Python error text


def peak_rss_mb(process: subprocess.Popen[bytes]) -> float:
    with open(f"/proc/{process.pid}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))


def gzip_bomb(inflated_bytes: int) -> bytes:
    """Zeros, ``inflated_bytes`` of them once inflated, gzipped without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(inflated_bytes >> 20)]
    return b"".join(parts) + compressor.flush()


def test_a_gzip_bomb_is_refused_at_the_cap_without_being_inflated(strict_server: Any) -> None:
    process, url = strict_server
    bomb = gzip_bomb(1 << 30)  # 1 GB of zeros in about 1 MB
    before = peak_rss_mb(process)
    status, answered = send(url, request(bomb, Content_Encoding="gzip"))
    assert status == 413 and answered["__type"] == ERROR_PREFIX + "RequestEntityTooLarge"
    assert peak_rss_mb(process) - before < 64  # the 16 MB cap and change, never the gigabyte
    assert send(url, request())[0] == 200


def test_an_oversized_chunked_body_is_refused_and_its_connection_closed(strict_server: Any) -> None:
    _, url = strict_server
    with socket.create_connection(address(url)) as connection:
        connection.sendall(head(Transfer_Encoding="chunked"))
        chunk = b"%x\r\n" % (1 << 16) + b" " * (1 << 16) + b"\r\n"
        try:
            for _ in range(20 * 16):  # 20 MB, past the 16 MB cap
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, answered = answer(connection)
        assert status == 413 and answered["__type"] == ERROR_PREFIX + "RequestEntityTooLarge"
        seconds_until_closed(connection, time.monotonic(), SLACK + 10)  # fails if still open


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("DynamoDBStreams_20120810.PutItem", 400, "UnknownOperationException"),
        ("DynamoDBStreams_20120810.ListTables", 400, "UnknownOperationException"),
        ("DynamoDB_20120810.ListStreams", 400, "UnknownOperationException"),  # as DynamoDB answers it
        ("DynamoDB_20120810.GetRecords", 400, "UnknownOperationException"),
        ("DynamoDB_20120810", 400, "UnknownOperationException"),
        ("PutItem", 400, "UnknownOperationException"),
        ("DynamoDBStreams_20120810.ListStreams", 200, None),
        ("DynamoDB_20120810.ListTables", 200, None),
    ],
)
def test_each_api_routes_only_its_own_operations(strict_server: Any, target: str, status: int, code: str) -> None:
    answered_status, answered = send(strict_server[1], request(target=target))
    assert answered_status == status
    if code is not None:
        assert answered["__type"] == ERROR_PREFIX + code


def test_heavy_requests_are_served_like_any_other(strict_server: Any) -> None:
    """Large bodies and long expressions (served on the heavy lane's client) give DynamoDB's answers."""
    url = strict_server[1]
    table = {
        "TableName": "heavy",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    assert send(url, request(json.dumps(table).encode(), "DynamoDB_20120810.CreateTable"))[0] == 200
    names = {f"a{n}": {"N": str(n)} for n in range(300)}
    item = {"id": {"S": "big"}, "blob": {"S": "x" * 200_000}, **names}
    put = json.dumps({"TableName": "heavy", "Item": item}).encode()
    assert send(url, request(gzip.compress(put), "DynamoDB_20120810.PutItem", Content_Encoding="gzip"))[0] == 200
    projection = ", ".join(names)  # about 1.8 KB
    get = {"TableName": "heavy", "Key": {"id": {"S": "big"}}, "ProjectionExpression": projection}
    status, answered = send(url, request(json.dumps(get).encode(), "DynamoDB_20120810.GetItem"))
    assert status == 200 and answered["Item"] == names
    too_large = json.dumps({"TableName": "heavy", "Item": {**item, "blob": {"S": "x" * 500_000}}}).encode()
    status, answered = send(url, request(too_large, "DynamoDB_20120810.PutItem"))
    assert status == 400 and answered["__type"] == ERROR_PREFIX + "ValidationException"


class BrokenGrid:
    """A grid whose every call raises ``error``, with Python's own text in its message."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def list_tables(self, **params: Any) -> dict[str, Any]:
        raise self.error

    def Table(self, name: str) -> BrokenGrid:  # noqa: N802 (Grid's name)
        return self

    async def get_item(self, **params: Any) -> dict[str, Any]:
        raise self.error


@pytest_asyncio.fixture
async def broken_endpoint(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The endpoint in this process, serving a ``BrokenGrid`` raising ``request.param``."""
    app = make_app(cast(grid.Grid, BrokenGrid(request.param)), EndpointSettings(allow_any_credentials=True))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await EndpointSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


SECRET = "KeyError: 'secret detail' at /work/grid/_client.py:123"


@pytest.mark.parametrize(
    ("broken_endpoint", "status", "code", "message"),
    [
        (
            PartitionUnavailableError(f"Ray system error: {SECRET}"),
            503,
            "GridPartitionUnavailable",
            "Service unavailable",
        ),
        (
            InternalServerError(f"Internal error in actor: {SECRET}"),
            500,
            "InternalServerError",
            "Internal server error",
        ),
        (RuntimeError(SECRET), 500, "InternalServerError", "Internal server error"),  # a bug
    ],
    indirect=["broken_endpoint"],
)
async def test_server_faults_answer_without_their_cause(
    broken_endpoint: str, status: int, code: str, message: str
) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(broken_endpoint + "/health") as health:
            text = await health.text()
            assert health.status == 503 and json.loads(text) == {"status": "unavailable"}
        body = json.dumps({"TableName": "t", "Key": {"id": {"S": "a"}}})
        headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem"}
        async with session.post(broken_endpoint + "/", data=body, headers=headers) as answered:
            text = await answered.text()
            assert answered.status == status and "secret" not in text
            assert json.loads(text) == {"__type": ERROR_PREFIX + code, "message": message, "Message": message}
