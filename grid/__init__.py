"""grid: a DynamoDB-class in-memory data grid on Ray.

>>> import grid
>>> async with grid.connect() as g:
...     table = await g.create_table(TableName="catalog", ...)
...     await table.put_item(Item={...})
"""

from grid import conditions, errors
from grid._client import Grid, connect
from grid._table import Table
from grid.errors import ClientError

__all__ = ["ClientError", "Grid", "Table", "conditions", "connect", "errors"]
__version__ = "0.1.0"
