"""The embedded Ray of the tests (and of grid's default) listens on loopback only."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess

import pytest

import grid

pytestmark = pytest.mark.asyncio(loop_scope="session")


def is_loopback(host: str) -> bool:
    if host == "*":
        return False
    address = ipaddress.ip_address(host)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def ray_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ")
        except OSError:
            continue
        if b"ray" in cmdline or int(entry) == os.getpid():
            pids.add(int(entry))
    return pids


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs iproute2's ss")
async def test_every_ray_socket_listens_on_loopback(grid_client: grid.Grid) -> None:
    await grid_client.list_tables()  # Ray, the router and partitions are all up
    listing = subprocess.run(["ss", "-tlnpH"], capture_output=True, text=True, check=True).stdout
    ours = ray_pids()
    checked = 0
    for line in listing.splitlines():
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if not pids & ours:
            continue
        local = line.split()[3]
        host = local.rsplit(":", 1)[0].strip("[]").split("%")[0]
        checked += 1
        assert is_loopback(host), f"Ray listens beyond loopback: {line}"
    assert checked >= 3, "found too few Ray sockets to check"
