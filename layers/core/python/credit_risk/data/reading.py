"""Turning a landed file's bytes into a raw frame, or a one-line reason it cannot be read."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import shutil
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

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


def too_large(limit: int) -> FileUnreadableError:
    """The refusal of a file over ``limit`` bytes uncompressed."""
    return FileUnreadableError(
        f"file is larger than {limit:,} bytes uncompressed, the limit ingest reads "
        "(setting MAX_UNCOMPRESSED_BYTES); split it into smaller files"
    )


_GZIP_BROKEN = (EOFError, gzip.BadGzipFile, zlib.error, OSError)


def _refuse_inflating_past(stream: io.BufferedIOBase, limit: int) -> None:
    """Inflate a gzip stream a megabyte at a time, keeping nothing, only counting, and
    refuse it as soon as it passes ``limit``: a gzip bomb is refused in constant memory."""
    inflated = 0
    while chunk := stream.read(_INFLATE_CHUNK):
        inflated += len(chunk)
        if inflated > limit:
            raise too_large(limit)


def _broken_gzip(exc: BaseException) -> FileUnreadableError:
    return FileUnreadableError(f"gzip data is truncated or corrupt ({type(exc).__name__})")


def _decompress(body: bytes, limit: int) -> bytes:
    """Inflate gzip ``body``, refusing it as soon as it passes ``limit`` (a counting pass
    first: only a file under the limit is inflated)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            _refuse_inflating_past(stream, limit)
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            shutil.copyfileobj(stream, out, _INFLATE_CHUNK)
    except _GZIP_BROKEN as exc:
        raise _broken_gzip(exc) from exc
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


def _line_in(body: bytes, echoed: bytes) -> int | None:
    """The 1-based line of ``body`` where ``echoed`` first starts, or None."""
    at = body.find(echoed)
    return body.count(b"\n", 0, at) + 1 if at >= 0 else None


def _parse_failure(
    body: bytes, exc: Exception, line_of: Callable[[bytes], int | None] | None = None
) -> FileUnreadableError:
    """A value-free reason for a CSV Arrow refused.

    Arrow's message quotes the offending text (a whole row of names, e-mails and ids, or
    the rest of the file after an unclosed quote); that text is used only to find the line
    (in ``body``, or by ``line_of`` for a file read as a stream), and never passed on."""
    message = str(exc)
    match = _COLUMN_COUNT.search(message)
    if match is None:
        return FileUnreadableError(
            "malformed CSV: the parser refused the file (its message is withheld because "
            "it quotes the file's contents)"
        )
    expected, got = match.group(1), match.group(2)
    echoed = message[match.end() :].removesuffix(" ...").encode("utf-8", "replace")[:256]
    line = (line_of or (lambda text: _line_in(body, text)))(echoed) if echoed else None
    where = f" at line {line}" if line is not None else ""
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


def _refuse_expanding_past(meta: pq.FileMetaData, limit: int) -> None:
    """Refuse a Parquet file whose row groups expand past ``limit`` (from its footer,
    before any data is read)."""
    expanded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if expanded > limit:
        raise too_large(limit)


def _read_parquet(body: bytes, limit: int) -> pd.DataFrame:
    try:
        _refuse_expanding_past(pq.ParquetFile(pa.BufferReader(body)).metadata, limit)
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
        raise too_large(max_bytes)
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


# --- Reading a landed file from disk, a part at a time -------------------------------

PART_ROWS = 10_000
"""Rows in each part :func:`read_raw_parts` yields, unless told otherwise."""
_BLOCK_BYTES = 256 * 1024
"""Arrow's CSV block: a row (quoted newlines and all) must fit in one. Arrow reads some
dozens of blocks ahead, so this sets most of the reader's memory."""
_HEAD_BYTES = 65536
_HEADER_MAX = 1024 * 1024


def _text_stream(path: Path, fmt: str) -> io.BufferedIOBase:
    """The file's CSV text as a Python stream (inflated as it is read for csv.gz)."""
    return gzip.open(path, "rb") if fmt == "csv.gz" else path.open("rb")


def _text_chunks(path: Path, fmt: str) -> Iterator[bytes]:
    """The file's CSV text a megabyte at a time (used only to explain a refusal)."""
    with _text_stream(path, fmt) as stream:
        while chunk := stream.read(_INFLATE_CHUNK):
            yield chunk


def _check_inflated_size(path: Path, limit: int) -> None:
    """Refuse a gzip file that inflates past ``limit``, counting and keeping nothing."""
    try:
        with gzip.open(path, "rb") as stream:
            _refuse_inflating_past(stream, limit)
    except _GZIP_BROKEN as exc:
        raise _broken_gzip(exc) from exc


def _not_utf8_stream(chunks: Iterable[bytes]) -> FileUnreadableError | None:
    """:func:`_not_utf8` for text read a chunk at a time (same reason, same position)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes of the text before the decoder's pending ones
    for chunk in _then_empty(chunks):
        pending = decoder.getstate()[0]
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            data = pending + chunk
            return FileUnreadableError(
                f"file is not UTF-8 text (byte 0x{data[exc.start]:02x} at position "
                f"{offset - len(pending) + exc.start})"
            )
        offset += len(chunk)
    return None


def _then_empty(chunks: Iterable[bytes]) -> Iterator[bytes]:
    yield from chunks
    yield b""


def _line_in_stream(chunks: Iterable[bytes], echoed: bytes) -> int | None:
    """:func:`_line_in` for text read a chunk at a time: the tail of each chunk is kept
    so a match across two chunks is found, and lines are counted as they go by."""
    lines, tail = 0, b""
    keep = max(len(echoed) - 1, 0)
    for chunk in chunks:
        text = tail + chunk
        at = text.find(echoed)
        if at >= 0:
            return lines + text.count(b"\n", 0, at) + 1
        cut = max(len(text) - keep, 0)
        lines += text.count(b"\n", 0, cut)
        tail = text[cut:]
    return None


def _stream_failure(path: Path, fmt: str, exc: Exception, rows_read: int) -> FileUnreadableError:
    """A value-free reason for a CSV Arrow refused part-way through, found by reading the
    file again as a stream (memory stays bounded on the error path too)."""
    utf8 = _not_utf8_stream(_text_chunks(path, fmt))
    if utf8 is not None:
        return utf8
    if "straddl" in str(exc):
        # Arrow found no row end in a whole block: the first row after those it
        # delivered starts a quoted value that runs on, or is longer than a block.
        return FileUnreadableError(
            f"malformed CSV at data row {rows_read + 1:,}: the row does not end within "
            f"{_BLOCK_BYTES:,} bytes (an unclosed quote, or a row longer than that)"
        )
    return _parse_failure(b"", exc, lambda echoed: _line_in_stream(_text_chunks(path, fmt), echoed))


def _csv_head(path: Path, fmt: str) -> list[str]:
    """Check the start of a CSV file (not binary, not empty, UTF-8) and return its
    header's column names."""
    with _text_stream(path, fmt) as stream:
        head = stream.read(_HEAD_BYTES)
        if b"\x00" in head:
            raise FileUnreadableError("file is binary (it contains NUL bytes), not CSV text")
        stream.seek(0)
        header = stream.readline(_HEADER_MAX)
    if len(head) < _HEAD_BYTES and (not head.removeprefix(b"\xef\xbb\xbf").strip()):
        raise FileUnreadableError("file is empty")
    if len(header) >= _HEADER_MAX and not header.endswith(b"\n"):
        raise FileUnreadableError(
            f"the header line is longer than {_HEADER_MAX:,} bytes; is this a CSV file?"
        )
    try:
        line = header.removeprefix(b"\xef\xbb\xbf").decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise (
            _not_utf8_stream(_text_chunks(path, fmt))
            or FileUnreadableError("file is not UTF-8 text")
        ) from None
    return next(csv.reader([line]), [])


def _framed(table: pa.Table, text: bool) -> pd.DataFrame:
    frame = (
        table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
        if text
        else table.to_pandas()
    )
    frame.columns = [str(c).strip() for c in frame.columns]
    if any(c.startswith("Unnamed:") for c in frame.columns):
        raise FileUnreadableError("header has blank column names")
    return frame


def _in_parts(batches: Iterator[pa.RecordBatch], rows: int, text: bool) -> Iterator[pd.DataFrame]:
    """Arrow's batches regrouped into frames of exactly ``rows`` rows (the last fewer)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield _framed(table.slice(0, rows), text)
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield _framed(pa.Table.from_batches(held), text)


def _csv_batches(path: Path, fmt: str, names: list[str]) -> Iterator[pa.RecordBatch]:
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    source: Any = pa.OSFile(str(path))
    if fmt == "csv.gz":
        source = pa.CompressedInputStream(source, "gzip")
    rows_read = 0
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES),
            convert_options=options,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            rows_read += batch.num_rows
            yield batch
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _stream_failure(path, fmt, exc, rows_read) from None
    except (pa.ArrowException, OSError) as exc:
        raise FileUnreadableError(
            f"file could not be read to the end ({type(exc).__name__})"
        ) from None
    finally:
        source.close()


def _parquet_batches(path: Path, limit: int, rows: int) -> Iterator[pa.RecordBatch]:
    try:
        with pq.ParquetFile(path) as parquet:
            _refuse_expanding_past(parquet.metadata, limit)
            yield from parquet.iter_batches(batch_size=rows)
    except (pa.ArrowException, OSError) as exc:
        raise FileUnreadableError(f"not a readable Parquet file ({type(exc).__name__})") from None


def kept_bytes(max_bytes: int) -> int:
    """How much of a landed object is worth keeping on disk to read it: a file longer
    than this is refused as over ``max_bytes`` uncompressed whatever its format (gzip and
    Parquet compression never make real data longer by this margin)."""
    return max_bytes + max_bytes // 64 + 1024 * 1024


def read_raw_parts(
    path: Path | str,
    key: str,
    *,
    max_bytes: int = MAX_UNCOMPRESSED_BYTES,
    rows: int = PART_ROWS,
) -> Iterator[pd.DataFrame]:
    """:func:`read_raw` for a landed file on disk, as frames of ``rows`` rows each, so
    memory stays bounded whatever the file's size (CSV cells stay text).

    The same refusals as :func:`read_raw`, with the same reasons: the checks that need
    only the start of the file (type, size, the gzip inflated size, empty, binary, the
    header) raise before the first part; a row Arrow refuses further on raises
    FileUnreadableError naming its row or line (never a value) when its part is reached,
    so a caller loading parts must be able to undo the ones it took. A file without data
    rows raises before any part.
    """
    path = Path(path)
    fmt = file_format(key)
    size = path.stat().st_size
    if size == 0:
        raise FileUnreadableError("file is empty")
    if fmt != "csv.gz" and size > max_bytes:
        raise too_large(max_bytes)
    if fmt == "parquet":
        batches = _parquet_batches(path, max_bytes, rows)
    else:
        if fmt == "csv.gz":
            _check_inflated_size(path, max_bytes)
        batches = _csv_batches(path, fmt, _csv_head(path, fmt))
    any_rows = False
    for part in _in_parts(batches, rows, text=fmt != "parquet"):
        if part.empty:
            continue
        any_rows = True
        yield part
    if not any_rows:
        raise FileUnreadableError("file has a header but no data rows")
