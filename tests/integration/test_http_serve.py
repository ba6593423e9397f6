"""``grid serve`` as users run it: credentials, development mode, workers (its fuzz test: ``test_http_fuzz``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
import ray
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(ray_instance: None, *arguments: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    namespace = f"serve-{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grid._cli",
            "serve",
            "--port",
            str(port),
            "--namespace",
            namespace,
            "--address",
            ray.get_runtime_context().gcs_address,
            "--replicas",
            "1",  # the endpoint's tests are not about replication (test_replicas.py is)
            *arguments,
        ],
        cwd=ROOT,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    process.stderr.read().decode()[-2000:] if process.stderr else "did not start"
                ) from None
            time.sleep(0.3)


def dynamodb(url: str, key: str = "any", secret: str = "any") -> Any:
    """A boto3 DynamoDB client of the endpoint at ``url``, without retries."""
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def create_id_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def signed_server(ray_instance: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    credentials = tmp_path_factory.mktemp("creds") / "credentials"
    credentials.write_text("# grid serve --credentials FILE\nAKIDSERVE:serve-secret\n")
    process, url = start_server(ray_instance, "--credentials", str(credentials))
    yield url
    stop_server(process)


def test_grid_serve_with_a_credentials_file(signed_server: str) -> None:
    client = dynamodb(signed_server, "AKIDSERVE", "serve-secret")
    create_id_table(client, "served")
    client.put_item(TableName="served", Item={"id": {"S": "a"}, "n": {"N": "1"}})
    assert client.get_item(TableName="served", Key={"id": {"S": "a"}})["Item"]["n"] == {"N": "1"}
    stranger = dynamodb(signed_server, "AKIDSERVE", "not-it")
    with pytest.raises(botocore.exceptions.ClientError) as failure:
        stranger.get_item(TableName="served", Key={"id": {"S": "a"}})
    assert failure.value.response["Error"]["Code"] == "InvalidSignatureException"


def run_serve(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``grid serve`` with ``arguments``, expected to refuse them before it starts Ray."""
    command = [sys.executable, "-m", "grid._cli", "serve", *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_replica_count_out_of_range_is_refused() -> None:
    completed = run_serve("--replicas", "9", "--allow-any-credentials")
    assert completed.returncode == 2 and "--replicas" in completed.stderr


def test_development_mode_refuses_to_bind_beyond_loopback() -> None:
    completed = run_serve("--host", "0.0.0.0", "--allow-any-credentials")
    assert completed.returncode == 2 and "loopback" in completed.stderr


def test_an_unreadable_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    completed = run_serve("--credentials", str(tmp_path / "missing"))
    assert completed.returncode == 2
    assert completed.stderr.startswith("grid serve: ") and "missing" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_grid_serve_with_workers_shares_the_port_and_the_data(ray_instance: None) -> None:
    process, url = start_server(ray_instance, "--allow-any-credentials", "--workers", "2")
    try:
        port = url.rsplit(":", 1)[1]
        deadline = time.monotonic() + 60
        while len(serving(port)) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(serving(port)) == 2  # the server and one worker, both on the port
        client = dynamodb(url)
        create_id_table(client, "shared")
        for number in range(40):  # a new connection each: the kernel spreads them over both processes
            body = json.dumps({"TableName": "shared", "Item": {"id": {"S": str(number)}}}).encode()
            request = urllib.request.Request(
                url + "/",
                data=body,
                headers={"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200
        assert client.scan(TableName="shared", Select="COUNT")["Count"] == 40
    finally:
        stop_server(process)
    deadline = time.monotonic() + 30
    while serving(port) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert serving(port) == []  # stopping the server stops its workers


def serving(port: str) -> list[str]:
    """Process ids of ``grid serve`` processes on ``port``."""
    found = subprocess.run(["pgrep", "-f", f"grid._cli serve .*--port {port} "], capture_output=True, text=True)
    return found.stdout.split()
