"""Bulk loading and reading of frames and Arrow tables: COPY on Postgres, executemany
on SQLite."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Table, insert, select


def _arrow_column(series: pd.Series) -> pa.Array:
    if pd.api.types.is_datetime64_any_dtype(series):
        return pc.cast(pa.array(series, from_pandas=True), pa.date32())
    return pa.array(series, from_pandas=True)


def csv_for_copy(frame: pd.DataFrame, table: Table) -> bytes:
    """``frame`` as COPY ... FORMAT csv input: columns in ``table`` order, dates as ISO
    dates, missing values as unquoted empty cells (NULL). Written by Arrow's C++ writer."""
    return _arrow_csv(pa.table({c.name: _arrow_column(frame[c.name]) for c in table.columns}))


def _arrow_csv(rows: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(
        rows, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
    )
    return bytes(sink.getvalue().to_pybytes())


_CHUNK_ROWS = 25_000


def _copy_chunks(n_rows: int, serialise: Callable[[int, int], bytes]) -> Iterator[bytes]:
    """COPY input in chunks (``serialise(start, stop)`` writes rows ``start:stop``),
    serialised on a second thread while the first chunks are already on their way (Arrow's
    writer releases the GIL). pg8000 sends each chunk as one CopyData message."""
    if n_rows <= _CHUNK_ROWS:
        yield serialise(0, n_rows)
        return
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce() -> None:
        try:
            for start in range(0, n_rows, _CHUNK_ROWS):
                item: bytes | BaseException | None = serialise(start, start + _CHUNK_ROWS)
                while not stop.is_set():
                    try:
                        chunks.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            chunks.put(exc)
            return
        chunks.put(None)

    worker = threading.Thread(target=produce, name="copy-serialiser", daemon=True)
    worker.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


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


def _copy_in(conn: Connection, table: Table, stream: Iterator[bytes]) -> None:
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    sql = f"COPY {table.schema}.{table.name} ({names}) FROM STDIN WITH (FORMAT csv)"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, stream=stream)  # type: ignore[call-arg]  # pg8000's COPY
    finally:
        cursor.close()


def load_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Append ``frame``'s rows to ``table`` inside the caller's transaction."""
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        _copy_in(
            conn,
            table,
            _copy_chunks(len(frame), lambda a, b: csv_for_copy(frame.iloc[a:b], table)),
        )
    else:
        conn.execute(insert(table), _records(frame, table))
    return len(frame)


def load_arrow(conn: Connection, table: Table, rows: pa.Table) -> int:
    """Append an Arrow table's rows to ``table`` inside the caller's transaction; its
    columns are matched to the table's by name."""
    if rows.num_rows == 0:
        return 0
    ordered = rows.select([c.name for c in table.columns])
    if conn.dialect.name == "postgresql":
        stream = _copy_chunks(ordered.num_rows, lambda a, b: _arrow_csv(ordered.slice(a, b - a)))
        _copy_in(conn, table, stream)
    else:
        conn.execute(insert(table), ordered.to_pylist())
    return ordered.num_rows


def read_arrow(conn: Connection, query: Any, schema: pa.Schema) -> pa.Table:
    """Run a SELECT whose columns are ``schema``'s and return an Arrow table: COPY ... TO
    STDOUT parsed by Arrow's CSV reader on Postgres, fetched rows on SQLite."""
    if conn.dialect.name == "postgresql":
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        buffer = io.BytesIO()
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", stream=buffer)  # type: ignore[call-arg]
        finally:
            cursor.close()
        if not buffer.getvalue():
            return schema.empty_table()
        return pacsv.read_csv(
            pa.BufferReader(buffer.getvalue()),
            read_options=pacsv.ReadOptions(column_names=schema.names),
            convert_options=pacsv.ConvertOptions(
                column_types=schema,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    rows = conn.execute(query).fetchall()
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in schema.names]
    return pa.table(
        {f.name: pa.array(list(v), type=f.type) for f, v in zip(schema, columns, strict=True)}
    )


def read_frame(conn: Connection, query: Any) -> pd.DataFrame:
    """Run a SELECT and return the rows as a frame with the query's column names."""
    result = conn.execute(query)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def read_table(conn: Connection, table: Table, *where: Any) -> pd.DataFrame:
    """All rows of ``table`` matching ``where``."""
    return read_frame(conn, select(table).where(*where))
