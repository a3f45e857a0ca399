"""A landed file's bytes without one customer's rows, in the file's own format (CSV,
CSV.gz, Parquet); for a file that cannot be parsed, whether its bytes show the id."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from credit_risk.data.reading import MAX_UNCOMPRESSED_BYTES, file_format, read_raw
from credit_risk.errors import FileUnreadableError


@dataclass(frozen=True)
class Scan:
    """One version of an object read for the customer: how many of its rows name them,
    and (when some do) its bytes without them (None: nothing is left, or unreadable)."""

    rows: int
    kept: bytes | None = None
    unreadable: bool = False
    names_customer: bool = False


def _matches(values: Iterable[Any], customer_id: str) -> list[bool]:
    """Whether each cell is the customer id (trimmed; a quarantine copy's formula-escaping
    quote is ignored)."""
    out = []
    for value in values:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            out.append(False)
            continue
        text = str(value).strip()
        out.append(text == customer_id or (text.startswith("'") and text[1:] == customer_id))
    return out


def _id_pattern(customer_id: str) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![0-9A-Za-z])" + re.escape(customer_id.encode()) + rb"(?![0-9A-Za-z])")


def _shows_id(body: bytes, customer_id: str) -> bool:
    """Whether unparseable bytes show the id as a whole token (gzip inflated as far as it
    goes, a truncated one included)."""
    pattern = _id_pattern(customer_id)
    if pattern.search(body):
        return True
    if body[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(wbits=31)
        try:
            text = inflater.decompress(body, MAX_UNCOMPRESSED_BYTES)
        except zlib.error:
            return False
        return bool(pattern.search(text))
    return False


def _without_rows_parquet(body: bytes, columns: set[str], customer_id: str) -> Scan:
    table = pq.read_table(pa.BufferReader(body))
    present = [c for c in table.column_names if c in columns]
    if not present:
        return Scan(rows=0)
    hit = [False] * table.num_rows
    for name in present:
        cells = table.column(name).to_pylist()
        hit = [a or b for a, b in zip(hit, _matches(cells, customer_id), strict=True)]
    removed = sum(hit)
    if not removed:
        return Scan(rows=0)
    if removed == table.num_rows:
        return Scan(rows=removed, names_customer=True)
    kept = table.filter(pc.invert(pa.array(hit)))
    out = io.BytesIO()
    pq.write_table(kept, out)
    return Scan(rows=removed, kept=out.getvalue(), names_customer=True)


def _without_rows_csv(body: bytes, key: str, columns: set[str], customer_id: str) -> Scan:
    frame = read_raw(body, key)
    present = [c for c in frame.columns if c in columns]
    if not present:
        return Scan(rows=0)
    hit = pd.Series(False, index=frame.index)
    for name in present:
        hit |= pd.Series(_matches(frame[name].tolist(), customer_id), index=frame.index)
    removed = int(hit.sum())
    if not removed:
        return Scan(rows=0)
    if removed == len(frame):
        return Scan(rows=removed, names_customer=True)
    text = frame[~hit].to_csv(index=False, na_rep="").encode()
    kept = gzip.compress(text, mtime=0) if file_format(key) == "csv.gz" else text
    return Scan(rows=removed, kept=kept, names_customer=True)


def without_customer(body: bytes, key: str, columns: set[str], customer_id: str) -> Scan:
    """``body`` (the object at ``key``) without the rows whose customer-key ``columns``
    hold ``customer_id``, in the same format. An unparseable file is never rewritten:
    the scan says whether its bytes show the id."""
    try:
        if file_format(key) == "parquet":
            try:
                return _without_rows_parquet(body, columns, customer_id)
            except (pa.ArrowException, OSError):
                raise FileUnreadableError("not a readable Parquet file") from None
        return _without_rows_csv(body, key, columns, customer_id)
    except FileUnreadableError:
        shows = _shows_id(body, customer_id)
        return Scan(rows=0, unreadable=True, names_customer=shows)
