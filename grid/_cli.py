"""The ``grid`` command: ``grid serve`` runs the DynamoDB-compatible HTTP endpoint."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

import uvloop

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
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for workers
    return parser


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    import grid
    from grid._http.server import EndpointSettings, make_app
    from grid._http.sigv4 import credentials_from_env, load_credentials

    credentials = load_credentials(args.credentials) if args.credentials else credentials_from_env(os.environ)
    settings = EndpointSettings(credentials=credentials, allow_any_credentials=args.allow_any_credentials)
    settings.check_binding(args.host)
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    stop = asyncio.Event()
    async with grid.connect(args.address, namespace=args.namespace) as client:
        # After connecting: Ray installs its own SIGTERM handler then, which would end
        # the process without stopping the server (and its workers) in order.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if args.reuse_port:
            loop.create_task(_stop_with_parent(stop))
        workers = _start_workers(args) if args.workers > 1 else []
        runner = web.AppRunner(make_app(client, settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port, reuse_port=args.reuse_port or args.workers > 1)
        await site.start()
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


def _start_workers(args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    """The other server processes: each joins this grid's Ray cluster and binds the same port.

    The kernel spreads connections over the processes; each has its own client, so
    each coalesces its own requests.
    """
    import ray

    command = [sys.executable, "-m", "grid._cli", "serve", "--host", args.host, "--port", str(args.port)]
    command += ["--namespace", args.namespace, "--address", ray.get_runtime_context().gcs_address, "--reuse-port"]
    if args.credentials:
        command += ["--credentials", args.credentials]
    if args.allow_any_credentials:
        command.append("--allow-any-credentials")
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
