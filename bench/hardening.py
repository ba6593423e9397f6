"""``grid serve`` under abusive clients: its memory afterwards, and other requests' latency meanwhile.

Starts ``grid serve`` (embedded Ray, 127.0.0.1, short connection deadlines so the run
is quick) and measures, in one run:

(a) memory: the server process's resident set (``VmRSS`` in ``/proc/PID/status``) once
    warm, after each of a run of oversized and abusive requests (a 20 MB chunked body, a
    20 MB declared body, a gzip bomb, gzip garbage, a 15 MB JSON document of a million
    values, slow clients trickling headers and bodies, 200 idle connections), and at the
    end, when every connection is gone. Target: back within 10 MB of the start.
(b) latency: GetItem of the seed catalog document and ``GET /health``, from one client,
    alone (the baseline) and while another process sends the largest requests the
    limits allow as fast as the server takes them: a ProjectionExpression just under 4 KB,
    an UpdateExpression and a ConditionExpression of 300 operators (a new text each time,
    so no parse cache helps), a 400 KB item and a 10 MB BatchWriteItem. The abuser uses a
    table of its own, so its writes do not queue ahead of the GetItem at a partition: the
    figure is the endpoint's. Target: under 50 ms added at p99 and at worst.

    python -m bench.hardening --seconds 10                   # one abusive connection
    python -m bench.hardening --seconds 10 --concurrency 4   # four
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on loopback, should anything import it

import argparse
import asyncio
import functools
import json
import multiprocessing
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
from boto3.dynamodb.types import TypeSerializer

from bench._common import percentile
from bench.http import TABLE, free_port, server
from tests.seed import seed_item

DEADLINES = {"--header-timeout": 2.0, "--body-timeout": 2.0, "--idle-timeout": 3.0}
MB = 1024 * 1024
HEADERS = {"Content-Type": "application/x-amz-json-1.0"}


def status_mb(pid: int, field: str) -> float:
    """``field`` (VmRSS, VmHWM) of process ``pid``, in MB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith(field + ":"))


def dynamodb_json(document: dict[str, Any]) -> dict[str, Any]:
    serialize = TypeSerializer().serialize
    native = json.loads(json.dumps(document), parse_float=Decimal)
    return {name: serialize(value) for name, value in native.items()}


def head(target: str, **headers: str) -> bytes:
    lines = ["POST / HTTP/1.1", "Host: 127.0.0.1", f"X-Amz-Target: DynamoDB_20120810.{target}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def exchange(port: int, data: bytes, chunks: int = 0, chunk: bytes = b"") -> str:
    """Send ``data`` (then ``chunks`` copies of ``chunk``) on a new connection: the answer's status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        for _ in range(chunks):
            writer.write(chunk)
            await writer.drain()
        await writer.drain()
    except ConnectionError:
        pass  # refused part way: the answer is waiting
    try:
        line = await asyncio.wait_for(reader.readline(), 60)
        return line.split(b" ")[1].decode() if line else "closed"
    except ConnectionError:
        return "reset"
    finally:
        writer.close()


async def trickle(port: int, first: bytes, then: bytes) -> None:
    """Send ``first``, then ``then`` a byte every 100 ms, until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(first)
        for byte in then:
            writer.write(bytes([byte]))
            await writer.drain()
            if reader.at_eof():
                return
            try:
                if await asyncio.wait_for(reader.read(1024), 0.1) == b"":
                    return
            except asyncio.TimeoutError:
                pass
        raise RuntimeError("a trickling connection outlived its deadline")
    except ConnectionError:
        return
    finally:
        writer.close()


async def idle(port: int) -> None:
    """One request, then nothing until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head("ListTables", Content_Length="2") + b"{}")
        await reader.readuntil(b"\r\n\r\n")
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    finally:
        writer.close()


def gzip_bomb(inflated: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MB)
    return b"".join(compressor.compress(block) for _ in range(inflated // MB)) + compressor.flush()


def abuses(port: int) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
    """The abusive steps, in order: (name, run) where run returns what the server answered."""
    chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
    bomb = gzip_bomb(1024 * MB)
    values = b",".join([b'{"N":"1"}'] * 1_500_000)
    huge = b'{"TableName":"abuse","Item":{"customer_id":{"N":"1"},"sku":{"S":"x"},"l":{"L":[' + values + b"]}}}"
    slow_head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "

    async def gathered(count: int, make: Callable[[], Awaitable[None]]) -> str:
        await asyncio.gather(*(make() for _ in range(count)))
        return f"{count} closed"

    return [
        ("20 MB chunked body", lambda: exchange(port, head("PutItem", Transfer_Encoding="chunked"), 320, chunk)),
        ("20 MB declared body", lambda: exchange(port, head("PutItem", Content_Length=str(20 * MB)), 320, b" " * 65536)),
        ("gzip bomb (1 GB of zeros)", lambda: exchange(port, head("PutItem", Content_Encoding="gzip", Content_Length=str(len(bomb))) + bomb)),
        ("gzip garbage", lambda: exchange(port, head("PutItem", Content_Encoding="gzip", Content_Length="9") + b"not gzip!")),
        ("15 MB JSON, 1.5 M values", lambda: exchange(port, head("PutItem", Content_Length=str(len(huge))) + huge)),
        ("50 slow headers", lambda: gathered(50, lambda: trickle(port, slow_head, b"a" * 10_000))),
        ("50 slow bodies", lambda: gathered(50, lambda: trickle(port, head("PutItem", Content_Length="100000"), b" " * 100_000))),
        ("200 idle connections", lambda: gathered(200, lambda: idle(port))),
    ]  # fmt: skip


async def measure_memory(port: int, pid: int) -> list[tuple[str, str, float, float]]:
    """(step, answer, RSS, peak RSS so far, in MB) for the warm server, each abusive step, and the end."""

    async def settled() -> tuple[float, float]:
        await asyncio.sleep(1.0)  # connections closed, handlers done, the allocator's frees in
        return status_mb(pid, "VmRSS"), status_mb(pid, "VmHWM")

    rows = [("start (warm)", "", *await settled())]
    for name, run in abuses(port):
        answered = await run()
        rows.append((name, answered, *await settled()))
    await asyncio.sleep(max(DEADLINES.values()))
    rows.append(("end: every connection gone", "", *await settled()))
    return rows


def largest_requests(round_: int) -> list[tuple[str, dict[str, Any] | bytes]]:
    """The largest requests the limits allow, with new expression texts every round."""
    tag = f"r{round_}x"
    key = {"customer_id": {"N": "1"}, "sku": {"S": "largest"}}
    names = [f"{tag}{n}" for n in range(700)]
    projection = ""
    for name in names:  # just under 4 KB
        if len(projection) + len(name) + 1 >= 4096:
            break
        projection += ("," if projection else "") + name
    # The tag makes each text new (the parse cache never helps); the rest keeps it under 4 KB.
    update = f"SET {tag} = :v, " + ", ".join(f"a{n} = :v" for n in range(299))  # 300 operators (=)
    condition = f"{tag} = :v OR " + " OR ".join(f"a{n} = :v" for n in range(149))  # 150 = and 149 OR
    values = {":v": {"N": "1"}}
    return [
        ("GetItem", {"TableName": "abuse", "Key": key, "ProjectionExpression": projection}),
        ("UpdateItem", {"TableName": "abuse", "Key": key, "UpdateExpression": update, "ExpressionAttributeValues": values}),
        ("Scan", {"TableName": "abuse", "Limit": 1, "FilterExpression": condition, "ExpressionAttributeValues": values}),
        *_large_items(),
    ]  # fmt: skip


@functools.cache
def _large_items() -> list[tuple[str, bytes]]:
    """A 400 KB item (DynamoDB's largest) and 25 of them in one BatchWriteItem (10 MB), encoded once."""
    item = {"customer_id": {"N": "2"}, "sku": {"S": "large"}, "blob": {"S": "x" * 399_000}}
    batch = [{"PutRequest": {"Item": {**item, "sku": {"S": f"batch-{n}"}}}} for n in range(25)]
    return [
        ("PutItem", json.dumps({"TableName": "abuse", "Item": item}).encode()),
        ("BatchWriteItem", json.dumps({"RequestItems": {"abuse": batch}}).encode()),
    ]


def _abuse(url: str, seconds: float, concurrency: int, served: Any) -> None:
    """Another process: the largest requests, ``concurrency`` at a time, for ``seconds``; counts them in ``served``."""

    async def run() -> None:
        deadline = time.monotonic() + seconds
        round_ = 0
        async with aiohttp.ClientSession() as session:

            async def worker() -> None:
                nonlocal round_
                while time.monotonic() < deadline:
                    round_ += 1
                    for target, body in largest_requests(round_):
                        headers = {**HEADERS, "X-Amz-Target": f"DynamoDB_20120810.{target}"}
                        data = body if isinstance(body, bytes) else json.dumps(body)
                        async with session.post(url + "/", data=data, headers=headers) as answer:
                            await answer.read()
                            assert answer.status < 500, (target, answer.status)
                        served.value += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())


async def probe(url: str, seconds: float) -> dict[str, list[float]]:
    """Latencies of GetItem (one after another) and of /health (every 50 ms), for ``seconds``."""
    key = {"customer_id": {"N": str(seed_item()["customer_id"])}, "sku": {"S": seed_item()["sku"]}}
    body = json.dumps({"TableName": "catalog", "Key": key})
    samples: dict[str, list[float]] = {"GetItem": [], "/health": []}
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:

        async def get_items() -> None:
            headers = {**HEADERS, "X-Amz-Target": "DynamoDB_20120810.GetItem"}
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.post(url + "/", data=body, headers=headers) as answer:
                    assert answer.status == 200 and "Item" in await answer.json(content_type=None)
                samples["GetItem"].append(time.perf_counter() - started)

        async def healths() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.get(url + "/health") as answer:
                    assert answer.status == 200
                samples["/health"].append(time.perf_counter() - started)
                await asyncio.sleep(0.05)

        await asyncio.gather(get_items(), healths())
    return samples


async def prepare(url: str) -> None:
    """The catalog table, the seed document, and a warm server (every request kind served once)."""
    async with aiohttp.ClientSession() as session:

        async def call(target: str, body: dict[str, Any]) -> None:
            headers = {**HEADERS, "X-Amz-Target": f"DynamoDB_20120810.{target}"}
            async with session.post(url + "/", data=json.dumps(body), headers=headers) as answer:
                await answer.read()

        await call("CreateTable", {"TableName": "catalog", **TABLE})
        await call("CreateTable", {"TableName": "abuse", **TABLE})  # the abuser's partitions are not the probe's
        await call("PutItem", {"TableName": "catalog", "Item": dynamodb_json(seed_item())})
        for round_ in range(3):
            for target, body in largest_requests(-1 - round_):
                await call(target, body if isinstance(body, dict) else json.loads(body))
        item = dynamodb_json(seed_item())
        for number in range(300):
            key = {"customer_id": item["customer_id"], "sku": item["sku"]}
            await call(
                "GetItem" if number % 2 else "PutItem",
                {"TableName": "catalog", **({"Key": key} if number % 2 else {"Item": item})},
            )


def summary(samples: list[float]) -> tuple[float, float, float]:
    return percentile(samples, 0.5) * 1000, percentile(samples, 0.99) * 1000, max(samples) * 1000


def report(memory: list[tuple[str, str, float, float]], latency: dict[str, Any]) -> None:
    start = memory[0][2]
    print("\nmemory of grid serve (MB)")
    print(f"  {'after':<28} {'answer':<10} {'VmRSS':>7} {'vs start':>9} {'VmHWM':>7}")
    for step, answered, rss, peak in memory:
        print(f"  {step:<28} {answered:<10} {rss:7.1f} {rss - start:+9.1f} {peak:7.1f}")
    added = memory[-1][2] - start
    verdict = "met" if abs(added) < 10 else "MISSED"
    print(f"  back within {added:+.1f} MB of the start (target: within 10 MB): {verdict}")
    print(f"\nlatency (ms), while {latency['served']} of the largest requests were served")
    print(f"  {'request':<10} {'load':<26} {'p50':>7} {'p99':>7} {'max':>7} {'count':>6}")
    for kind in ("GetItem", "/health"):
        base = summary(latency["baseline"][kind])
        loaded = summary(latency["loaded"][kind])
        for load, figures, count in (
            ("none (baseline)", base, len(latency["baseline"][kind])),
            ("largest requests", loaded, len(latency["loaded"][kind])),
        ):
            print(f"  {kind:<10} {load:<26} {figures[0]:7.1f} {figures[1]:7.1f} {figures[2]:7.1f} {count:6d}")
        p99, worst = loaded[1] - base[1], loaded[2] - base[2]
        verdict = "met" if p99 < 50 and worst < 50 else "MISSED"
        print(f"  {kind:<10} {'added':<26} {'':>7} {p99:+7.1f} {worst:+7.1f}   target < 50: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="of each latency measurement")
    parser.add_argument("--concurrency", type=int, default=1, help="connections sending the largest requests")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    namespace = f"bench-hardening-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "grid._cli", "serve", "--port", str(port), "--allow-any-credentials"]
    command += ["--namespace", namespace, *(f"{flag}={value}" for flag, value in DEADLINES.items())]
    with server(command, url + "/health"):
        found = subprocess.run(["pgrep", "-f", namespace], capture_output=True, text=True)
        pid = int(found.stdout.split()[0])
        asyncio.run(prepare(url))
        memory = asyncio.run(measure_memory(port, pid))
        latency: dict[str, Any] = {"baseline": asyncio.run(probe(url, args.seconds))}
        context = multiprocessing.get_context("spawn")
        served = context.Value("i", 0)
        abuser = context.Process(target=_abuse, args=(url, args.seconds + 3, args.concurrency, served))
        abuser.start()
        time.sleep(2.0)  # the abuser running at full rate
        start = served.value
        latency["loaded"] = asyncio.run(probe(url, args.seconds))
        latency["served"] = served.value - start
        abuser.join(timeout=60)
        if abuser.is_alive():
            abuser.kill()
        if abuser.exitcode != 0:
            raise RuntimeError(f"the abusive client failed (exit code {abuser.exitcode})")
    report(memory, latency)


if __name__ == "__main__":
    main()
