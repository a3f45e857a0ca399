"""Turning a landed file's bytes into a raw frame, or a one-line reason it cannot be read."""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import zlib

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_risk.errors import FileUnreadableError

FORMATS = (".csv.gz", ".csv", ".parquet")
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
"""The default limit on a file's uncompressed size (setting ``MAX_UNCOMPRESSED_BYTES``)."""
_INFLATE_CHUNK = 1 << 20


def file_format(key: str) -> str:
    """The format a key names by its ending: csv, csv.gz or parquet."""
    lowered = key.lower()
    for suffix in FORMATS:
        if lowered.endswith(suffix):
            return suffix[1:]
    raise FileUnreadableError(
        f"'{key}' is not a supported file type; use .csv, .csv.gz or .parquet"
    )


def _too_large(limit: int) -> FileUnreadableError:
    return FileUnreadableError(
        f"file is larger than {limit:,} bytes uncompressed, the limit ingest reads "
        "(setting MAX_UNCOMPRESSED_BYTES); split it into smaller files"
    )


def _decompress(body: bytes, limit: int) -> bytes:
    """Inflate gzip ``body``, refusing it as soon as it passes ``limit``.

    A first pass inflates a megabyte at a time and keeps nothing, only counting, so a
    gzip bomb is refused in constant memory; only a file under the limit is inflated."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            inflated = 0
            while chunk := stream.read(_INFLATE_CHUNK):
                inflated += len(chunk)
                if inflated > limit:
                    raise _too_large(limit)
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            shutil.copyfileobj(stream, out, _INFLATE_CHUNK)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise FileUnreadableError(
            f"gzip data is truncated or corrupt ({type(exc).__name__})"
        ) from exc
    return out.getvalue()


def _not_utf8(body: bytes) -> FileUnreadableError | None:
    """The reason ``body`` is not UTF-8 text, or None when it is."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return FileUnreadableError(
            f"file is not UTF-8 text (byte 0x{body[exc.start]:02x} at position {exc.start})"
        )
    return None


_COLUMN_COUNT = re.compile(r"Expected (\d+) columns, got (\d+): ", re.DOTALL)


def _parse_failure(body: bytes, exc: Exception) -> FileUnreadableError:
    """A value-free reason for a CSV Arrow refused.

    Arrow's message quotes the offending text (a whole row of names, e-mails and ids, or
    the rest of the file after an unclosed quote); that text is used only to find the line,
    and never passed on."""
    message = str(exc)
    match = _COLUMN_COUNT.search(message)
    if match is None:
        return FileUnreadableError(
            "malformed CSV: the parser refused the file (its message is withheld because "
            "it quotes the file's contents)"
        )
    expected, got = match.group(1), match.group(2)
    echoed = message[match.end() :].removesuffix(" ...").encode("utf-8", "replace")[:256]
    at = body.find(echoed) if echoed else -1
    where = f" at line {body.count(b'\n', 0, at) + 1}" if at >= 0 else ""
    return FileUnreadableError(
        f"malformed CSV{where}: a row has {got} columns where the header has {expected} "
        "(an unclosed quote or a stray delimiter)"
    )


def _read_csv(body: bytes) -> pd.DataFrame:
    if b"\x00" in body[:65536]:
        raise FileUnreadableError("file is binary (it contains NUL bytes), not CSV text")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if not body or body.isspace():
        raise FileUnreadableError("file is empty")
    try:
        header_line = body.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise _not_utf8(body) or FileUnreadableError("file is not UTF-8 text") from None
    names = next(csv.reader([header_line]))
    # Every cell is read as text (Arrow's multi-threaded parser, which also checks the
    # encoding); the contract decides what each column means, so one bad cell
    # quarantines a row, not the file.
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            convert_options=options,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # Only a file Arrow refused is decoded in Python, to say where it is not UTF-8.
        raise (_not_utf8(body) or _parse_failure(body, exc)) from None
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def _read_parquet(body: bytes, limit: int) -> pd.DataFrame:
    try:
        meta = pq.ParquetFile(pa.BufferReader(body)).metadata
        expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if expanded > limit:
            raise _too_large(limit)
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError) as exc:
        raise FileUnreadableError(f"not a readable Parquet file ({type(exc).__name__})") from None
    return table.to_pandas()


def read_raw(body: bytes, key: str, *, max_bytes: int = MAX_UNCOMPRESSED_BYTES) -> pd.DataFrame:
    """Parse a landed file into a frame of raw values (CSV cells stay text).

    Raises FileUnreadableError with a one-line reason when the file cannot be read at
    all: unsupported type, empty, not UTF-8, truncated gzip, malformed CSV or Parquet, or
    no data rows, or larger than ``max_bytes`` uncompressed.
    """
    fmt = file_format(key)
    if not body:
        raise FileUnreadableError("file is empty")
    if fmt != "csv.gz" and len(body) > max_bytes:
        raise _too_large(max_bytes)
    if fmt == "parquet":
        frame = _read_parquet(body, max_bytes)
    else:
        frame = _read_csv(_decompress(body, max_bytes) if fmt == "csv.gz" else body)
    frame.columns = [str(c).strip() for c in frame.columns]
    if any(c.startswith("Unnamed:") for c in frame.columns):
        raise FileUnreadableError("header has blank column names")
    if frame.empty:
        raise FileUnreadableError("file has a header but no data rows")
    return frame
