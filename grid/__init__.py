"""grid: a DynamoDB-class in-memory data grid on Ray.

>>> import grid
>>> async with grid.connect() as g:
...     table = await g.create_table(TableName="catalog", ...)
...     await table.put_item(Item={...})
"""

from typing import Any

from grid import conditions, errors
from grid._client import Grid, connect
from grid._table import Table
from grid.errors import ClientError

__all__ = ["ClientError", "Grid", "LocalTransport", "Table", "conditions", "connect", "errors"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Loaded on first use: the local transport imports the actors, which import grid's core.
    if name == "LocalTransport":
        from grid._local_transport import LocalTransport

        return LocalTransport
    raise AttributeError(f"module 'grid' has no attribute {name!r}")
