"""The ``grid`` command: ``grid serve`` runs the DynamoDB-compatible HTTP endpoint."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

import uvloop

from grid._http.server import EndpointSettings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grid", description="grid: a DynamoDB-class data grid on Ray")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve DynamoDB's HTTP protocol (JSON 1.0) for any AWS SDK")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--address", default=None, help='Ray cluster to join ("auto" in a Ray job); default: embedded')
    serve.add_argument("--namespace", default="grid", help="grid namespace (default grid)")
    serve.add_argument(
        "--credentials", default=None, help="file of ACCESS_KEY_ID:SECRET_ACCESS_KEY lines that requests must sign with"
    )
    serve.add_argument(
        "--allow-any-credentials",
        action="store_true",
        help="development mode: accept any access key, unsigned requests too (loopback only)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (SO_REUSEPORT), each a client of the same grid (default 1)",
    )
    serve.add_argument(
        "--replicas",
        type=int,
        choices=range(1, 8),
        metavar="{1..7}",
        default=None,
        help="replicas of each partition of the tables the endpoint creates (default: grid's, 3)",
    )
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for workers
    limits = serve.add_argument_group("connection limits (each server process)")
    defaults = EndpointSettings()
    for name, text in _LIMITS.items():
        default = getattr(defaults, name)
        limits.add_argument(_flag(name), type=type(default), default=default, help=f"{text} (default {default})")
    return parser


# EndpointSettings' connection limits that ``grid serve`` takes as flags (--header-timeout, ...).
_LIMITS = {
    "header_timeout": "seconds a client has to send a request's line and headers",
    "body_timeout": "seconds a client has to send a request's body after its headers",
    "idle_timeout": "seconds an idle keep-alive connection stays open",
    "max_connections": "connections served at once; more wait in the listen queue",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    import grid
    from grid._http.bodies import return_large_frees_at_once
    from grid._http.server import EndpointSite, make_app
    from grid._http.sigv4 import credentials_from_env, load_credentials
    from grid._ray_transport import RayTransport

    credentials = load_credentials(args.credentials) if args.credentials else credentials_from_env(os.environ)
    limits = {name: getattr(args, name) for name in _LIMITS}
    settings = EndpointSettings(credentials=credentials, allow_any_credentials=args.allow_any_credentials, **limits)
    settings.check_binding(args.host)
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    return_large_frees_at_once()  # a refused 16 MB body must not stay resident
    # Heavy requests run on a thread of their own (HeavyLane); when the event loop wakes
    # it waits up to a switch interval for the GIL, so a short one keeps other requests
    # fast (bench.hardening, one run each: p99 added by the largest requests 46 ms with
    # the default 5 ms, 34 ms with 1 ms).
    sys.setswitchinterval(0.001)
    stop = asyncio.Event()
    transport = RayTransport(args.address, args.namespace, {})
    table_defaults = {"Replicas": args.replicas} if args.replicas is not None else None
    async with grid.Grid(transport=transport, default_grid_settings=table_defaults) as client:
        # After connecting: Ray installs its own SIGTERM handler then, which would end
        # the process without stopping the server (and its workers) in order.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if args.reuse_port:
            loop.create_task(_stop_with_parent(stop))
        workers = _start_workers(args, transport.gcs_address) if args.workers > 1 else []
        # Heavy requests are served by a second client on a thread of its own (see HeavyLane).
        app = make_app(client, settings, lane=lambda: grid.connect(namespace=args.namespace))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = EndpointSite(runner, args.host, args.port, reuse_port=args.reuse_port or args.workers > 1)
        await site.start()
        # What lives now (Ray, aiohttp, grid) lives as long as the process: out of the
        # collector's sight, a full collection no longer scans it (about 100,000 objects,
        # 45 ms of a paused event loop every time).
        gc.freeze()
        role = "worker" if args.reuse_port else f"{args.workers} process(es)"
        print(f"grid endpoint listening on http://{args.host}:{args.port} ({role})", flush=True)
        await stop.wait()
        await runner.cleanup()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()


async def _stop_with_parent(stop: asyncio.Event) -> None:
    """A worker stops when the server that started it is gone, however it went."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    stop.set()


def _start_workers(args: argparse.Namespace, ray_address: str) -> list[subprocess.Popen[bytes]]:
    """The other server processes: each joins this grid's Ray cluster and binds the same port.

    The kernel spreads connections over the processes; each has its own client, so
    each coalesces its own requests.
    """
    command = [sys.executable, "-m", "grid._cli", "serve", "--host", args.host, "--port", str(args.port)]
    command += ["--namespace", args.namespace, "--address", ray_address, "--reuse-port"]
    if args.credentials:
        command += ["--credentials", args.credentials]
    if args.allow_any_credentials:
        command.append("--allow-any-credentials")
    if args.replicas is not None:
        command += ["--replicas", str(args.replicas)]
    for name in _LIMITS:
        command += [_flag(name), str(getattr(args, name))]
    return [subprocess.Popen(command) for _ in range(args.workers - 1)]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        try:
            uvloop.run(serve(args))
        except (ValueError, OSError) as error:  # bad arguments, an unreadable file, a port in use
            print(f"grid serve: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
