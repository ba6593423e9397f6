"""The ``grid`` command: ``grid serve`` runs the DynamoDB-compatible HTTP endpoint."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
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
    return parser


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    import grid
    from grid._http.server import EndpointSettings, make_app
    from grid._http.sigv4 import credentials_from_env, load_credentials

    credentials = load_credentials(args.credentials) if args.credentials else credentials_from_env(os.environ)
    settings = EndpointSettings(credentials=credentials, allow_any_credentials=args.allow_any_credentials)
    settings.check_binding(args.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with grid.connect(args.address, namespace=args.namespace) as client:
        runner = web.AppRunner(make_app(client, settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        print(f"grid endpoint listening on http://{args.host}:{args.port}", flush=True)
        await stop.wait()
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        try:
            uvloop.run(serve(args))
        except ValueError as error:
            print(f"grid serve: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
