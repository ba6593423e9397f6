"""A transaction coordinator that dies (os._exit) at a named point of the protocol.

Run by test_coordinator_kill.py against the test session's Ray cluster:
    python -m tests.integration.coordinator_process ADDRESS NAMESPACE TABLE SOURCE TARGET POINT
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import grid

EXIT_CODE = 17


async def main(address: str, namespace: str, table: str, source: str, target: str, point: str) -> None:
    async with grid.connect(
        address, namespace=namespace, transaction_lease=1.0, logging_level=logging.WARNING
    ) as client:

        def die(reached: str) -> None:
            if reached == point:
                os._exit(EXIT_CODE)  # no cleanup at all, as if the process were killed

        client.dispatcher.fault_hook = die
        await client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"id": source},
                        "UpdateExpression": "SET balance = balance - :a",
                        "ExpressionAttributeValues": {":a": 5},
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"id": target},
                        "UpdateExpression": "SET balance = balance + :a",
                        "ExpressionAttributeValues": {":a": 5},
                    }
                },
            ]
        )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
