"""PutItem and GetItem through boto3 against grid's endpoint and moto's server, in one run.

Starts ``grid serve`` (embedded Ray) and moto's server, both on 127.0.0.1, then drives
each with boto3 from 1 and 32 client threads for a fixed time (the 32 threads once in
one process, and once spread over ``--processes`` processes, since one process of boto3
threads is held back by its own GIL), and with raw HTTP requests from one asyncio
client: operations per second and p99 latency, and grid's throughput as a multiple of
moto's.

The same load against ``bench.null_endpoint``, a server that answers ``{}`` at once,
gives the ceiling: what this load generator reaches on this machine when the server
costs nothing. ``ceiling_over_moto`` is then the highest ratio over moto that any
server could show here, and ``grid_share_of_ceiling`` how close grid comes to it.

    python -m bench.http --seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench._common import percentile

TABLE = {
    "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"}, {"AttributeName": "sku", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "customer_id", "AttributeType": "N"},
        {"AttributeName": "sku", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(command: list[str], health: str, timeout: float = 90.0) -> Iterator[None]:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.3)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=64),
    )


def drive(url: str, threads: int, seconds: float, processes: int = 1) -> dict[str, float]:
    """PutItem/GetItem 50/50 from ``threads`` threads in all, spread over ``processes`` processes.

    A boto3 call costs its client about 0.7 ms of CPU under the GIL, so one process of
    threads cannot offer more than about 1,400 calls a second however many threads it
    runs; more processes let the load generator offer what the server can take.
    """
    if processes == 1:
        latencies = _drive_threads(url, 0, threads, seconds)
    else:
        import multiprocessing

        share = [threads // processes + (1 if n < threads % processes else 0) for n in range(processes)]
        firsts = [sum(share[:n]) for n in range(processes)]
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            parts = pool.starmap(_drive_threads, [(url, f, c, seconds) for f, c in zip(firsts, share, strict=True)])
        latencies = [sample for part in parts for sample in part]
    return {"ops_per_second": len(latencies) / seconds, "p99_ms": percentile(latencies, 0.99) * 1000}


def _drive_threads(url: str, first: int, threads: int, seconds: float) -> list[float]:
    """Threads numbered ``first``.. each with its own boto3 client, for ``seconds``: the latencies."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    item = json.loads((Path(__file__).parents[1] / "examples" / "catalog-item.json").read_text())
    product = {
        "M": {
            "brand": {"S": item["product"]["brand"]},
            "binding": {"S": item["product"]["binding"]},
            "upc": {"S": item["product"]["upc"]},
        }
    }
    clients = [client(url) for _ in range(threads)]  # made first: a client takes a while to build
    deadline = time.perf_counter() + seconds

    def work(slot: int) -> None:
        number = first + slot
        dynamodb = clients[slot]
        count = 0
        while time.perf_counter() < deadline:
            key = {"customer_id": {"N": str(number)}, "sku": {"S": f"{number}/C{count % 100:08d}"}}
            started = time.perf_counter()
            if count % 2 == 0:
                dynamodb.put_item(TableName="catalog", Item={**key, "version": {"N": "1"}, "product": product})
            else:
                dynamodb.get_item(TableName="catalog", Key={**key, "sku": {"S": f"{number}/C{(count - 1) % 100:08d}"}})
            latencies[slot].append(time.perf_counter() - started)
            count += 1

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [sample for per_thread in latencies for sample in per_thread]


def drive_raw(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    """The same mix from one asyncio client sending pre-built unsigned bodies: the server's own
    capacity, which a boto3 load generator on the same two cores cannot reach."""
    import asyncio

    import aiohttp

    async def run() -> dict[str, float]:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        headers = {"Content-Type": "application/x-amz-json-1.0"}

        async def worker(number: int, session: aiohttp.ClientSession) -> None:
            count = 0
            while time.perf_counter() < deadline:
                key = {"customer_id": {"N": str(1000 + number)}, "sku": {"S": f"r/C{count % 100:08d}"}}
                if count % 2 == 0:
                    target, body = "PutItem", {"TableName": "catalog", "Item": {**key, "version": {"N": "1"}}}
                else:
                    target, body = "GetItem", {"TableName": "catalog", "Key": key}
                started = time.perf_counter()
                async with session.post(
                    url + "/", data=json.dumps(body), headers={**headers, "X-Amz-Target": f"DynamoDB_20120810.{target}"}
                ) as answer:
                    await answer.read()
                    assert answer.status == 200, answer.status
                latencies.append(time.perf_counter() - started)
                count += 1

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.perf_counter()
            await asyncio.gather(*(worker(n, session) for n in range(concurrency)))
            elapsed = time.perf_counter() - started
        return {"ops_per_second": len(latencies) / elapsed, "p99_ms": percentile(latencies, 0.99) * 1000}

    return asyncio.run(run())


def measure(url: str, seconds: float, processes: int) -> dict[str, Any]:
    client(url).create_table(TableName="catalog", **TABLE)
    drive(url, 4, 1.0)  # warm-up
    results: dict[str, Any] = {f"boto3_{threads}_threads": drive(url, threads, seconds) for threads in (1, 32)}
    results[f"boto3_32_threads_in_{processes}_processes"] = drive(url, 32, seconds, processes)
    results["raw_http_32_concurrent"] = drive_raw(url, 32, seconds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=4, help="processes for the 32 threads' second run")
    args = parser.parse_args()
    grid_port, moto_port = free_port(), free_port()
    grid_url, moto_url = f"http://127.0.0.1:{grid_port}", f"http://127.0.0.1:{moto_port}"
    results: dict[str, Any] = {}
    with server(
        [
            sys.executable,
            "-m",
            "grid._cli",
            "serve",
            "--port",
            str(grid_port),
            "--allow-any-credentials",
            "--namespace",
            f"bench-http-{grid_port}",
        ],
        grid_url + "/health",
    ):
        results["grid"] = measure(grid_url, args.seconds, args.processes)
    with server(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], moto_url + "/moto-api/"
    ):
        results["moto"] = measure(moto_url, args.seconds, args.processes)
    null_port = free_port()
    null_url = f"http://127.0.0.1:{null_port}"
    with server([sys.executable, "-m", "bench.null_endpoint", "--port", str(null_port)], null_url + "/health"):
        results["null"] = measure(null_url, args.seconds, args.processes)

    def ratio(over: str, under: str) -> dict[str, float]:
        return {
            name: results[over][name]["ops_per_second"] / results[under][name]["ops_per_second"]
            for name in results[over]
        }

    results["grid_over_moto"] = ratio("grid", "moto")
    results["ceiling_over_moto"] = ratio("null", "moto")
    results["grid_share_of_ceiling"] = ratio("grid", "null")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
