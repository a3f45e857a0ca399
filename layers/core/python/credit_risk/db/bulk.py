"""Bulk loading and reading of frames: COPY on Postgres, executemany on SQLite."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, insert, select

_DATE_FORMAT = "%Y-%m-%d"


def _csv_frame(frame: pd.DataFrame, table: Table) -> str:
    """Serialise ``frame`` for COPY ... FORMAT csv: empty unquoted cells are NULL."""
    out = pd.DataFrame(index=frame.index)
    for column in table.columns:
        series = frame[column.name]
        if pd.api.types.is_datetime64_any_dtype(series):
            out[column.name] = series.dt.strftime(_DATE_FORMAT)
        elif pd.api.types.is_float_dtype(series):
            out[column.name] = series.astype("float64")
        else:
            out[column.name] = series
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, na_rep="", quoting=csv.QUOTE_MINIMAL)
    return buffer.getvalue()


def _records(frame: pd.DataFrame, table: Table) -> list[dict[str, Any]]:
    columns: dict[str, list[Any]] = {}
    for column in table.columns:
        series = frame[column.name]
        if pd.api.types.is_datetime64_any_dtype(series):
            values = [None if pd.isna(v) else v.date() for v in series]
        else:
            values = series.astype(object).where(series.notna(), None).tolist()
            values = [v.item() if isinstance(v, np.generic) else v for v in values]
        columns[column.name] = values
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def load_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Append ``frame``'s rows to ``table`` inside the caller's transaction."""
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{c.name}"' for c in table.columns)
        sql = f"COPY {table.schema}.{table.name} ({names}) FROM STDIN WITH (FORMAT csv)"
        stream = io.StringIO(_csv_frame(frame, table))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, stream=stream)
        finally:
            cursor.close()
    else:
        conn.execute(insert(table), _records(frame, table))
    return len(frame)


def read_frame(conn: Connection, query: Any) -> pd.DataFrame:
    """Run a SELECT and return the rows as a frame with the query's column names."""
    result = conn.execute(query)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def read_table(conn: Connection, table: Table, *where: Any) -> pd.DataFrame:
    """All rows of ``table`` matching ``where``."""
    return read_frame(conn, select(table).where(*where))
