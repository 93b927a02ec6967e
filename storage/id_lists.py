"""``column IN (ids)`` with thousands of ids as ONE bound parameter.

``column.in_(ids)`` compiles one parameter per id, and an expanding parameter still names and
processes each id at every execution: for the 2,000 readers of a digest batch, read from six
tables, that was a large share of the tick's CPU. Here the whole list is one value: a
PostgreSQL array (``= ANY(:ids)``), or on SQLite a JSON text unpacked by ``json_each``. Both
use an index on ``column`` as an ``IN`` list would.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import BigInteger, String, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement


def in_ids(connection: Connection, column: Any, name: str = "ids") -> ColumnElement[bool]:
    """``column`` is one of the ids passed as ``ids_value(connection, ids)`` under ``name``."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(BigInteger)))
    unpacked: Any = select(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=String))
    )
    return column.in_(unpacked)


def ids_value(connection: Connection, ids: Collection[int]) -> Any:
    """The parameter value for :func:`in_ids`: a list (an array) or a JSON text."""
    if connection.dialect.name == "postgresql":
        return list(ids)
    return json.dumps(list(ids))
