"""Statements over many keys, sent in chunks that stay under the drivers' parameter
limits (SQLite's 32,766 and pg8000's 32,767 bind parameters)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, delete, select

T = TypeVar("T")
CHUNK = 5000


def in_chunks[T](values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def delete_in(conn: Connection, key: Column[Any], values: Sequence[Any]) -> None:
    """Delete the rows of ``key``'s table whose ``key`` is one of ``values``."""
    for part in in_chunks(values):
        conn.execute(delete(key.table).where(key.in_(part)))


def rows_in(
    conn: Connection, columns: Sequence[Column[Any]], key: Column[Any], values: Sequence[Any]
) -> list[Any]:
    """``columns`` of the rows whose ``key`` is one of ``values``."""
    return [
        row
        for part in in_chunks(values)
        for row in conn.execute(select(*columns).where(key.in_(part)))
    ]
