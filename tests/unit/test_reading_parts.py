"""A landed file read from disk a part at a time: the same frame and the same refusals as
read whole, and a refusal part-way names its row, never a value."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest

from credit_risk.adapters.aws import spool_chunks
from credit_risk.data.reading import read_raw, read_raw_parts
from credit_risk.errors import FileUnreadableError

PLANTED = "zqxj-planted"


def _csv(rows: int) -> bytes:
    lines = [b"application_id,note,amount"]
    lines += [b'A%d,"line one\nline two",%d' % (i, i) for i in range(rows)]
    return b"\n".join(lines) + b"\n"


def _parts(tmp_path: Path, body: bytes, key: str, rows: int) -> list[pd.DataFrame]:
    path = tmp_path / "landed"
    path.write_bytes(body)
    return list(read_raw_parts(path, key, rows=rows))


def _refusal(tmp_path: Path, body: bytes, key: str, rows: int = 100) -> str:
    with pytest.raises(FileUnreadableError) as refused:
        _parts(tmp_path, body, key, rows)
    return refused.value.message


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_parts_put_together_are_the_frame_read_whole(tmp_path: Path, fmt: str) -> None:
    # GIVEN 1,000 rows (a quoted newline in each, a byte order mark) in each format
    body = b"\xef\xbb\xbf" + _csv(1000)
    if fmt == "csv.gz":
        body = gzip.compress(body)
    elif fmt == "parquet":
        buffer = io.BytesIO()
        read_raw(body, "x.csv").to_parquet(buffer, row_group_size=300)
        body = buffer.getvalue()
    key = f"applications/file.{fmt}"

    # WHEN it is read in parts of 128 rows
    parts = _parts(tmp_path, body, key, rows=128)

    # THEN every part but the last has 128 rows, and together they are the whole frame
    assert [len(p) for p in parts] == [128] * 7 + [104]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), read_raw(body, key))


def test_an_unclosed_quote_far_into_a_file_is_refused_naming_its_row(tmp_path: Path) -> None:
    # GIVEN a file of about 4 MB (no quotes) whose data row 60,001 opens a quote that the
    # rest of the file never closes
    lines = [b"application_id,note,amount"]
    lines += [b"A%d,plain note,%d" % (i, i) for i in range(200_000)]
    lines[60_001] = b'A60000,"' + PLANTED.encode() + b",60000"
    body = b"\n".join(lines) + b"\n"
    assert len(body) > 4_000_000

    # WHEN it is read in parts
    reason = _refusal(tmp_path, body, "applications/file.csv", rows=10_000)

    # THEN the reason names the row and the likely cause, and quotes nothing
    assert reason.startswith("malformed CSV at data row 60,001: the row does not end within")
    assert "an unclosed quote" in reason
    assert PLANTED not in reason


@pytest.mark.parametrize(
    "case", ["stray delimiter", "not UTF-8", "empty", "header only", "binary", "truncated gzip"]
)
def test_a_bad_file_read_in_parts_gives_the_reason_it_gives_read_whole(
    tmp_path: Path, case: str
) -> None:
    # GIVEN a bad file, the bad row (if any) far past the reader's first block
    body, key = _csv(30_000), "applications/file.csv"
    if case == "stray delimiter":
        body = body.replace(b"A25000,", b"A25000," + PLANTED.encode() + b",")
    elif case == "not UTF-8":
        body = body.replace(b"A25000,", b"A25000\xe9,")
    elif case == "empty":
        body = b" \n"
    elif case == "header only":
        body = body.split(b"\n", 1)[0] + b"\n"
    elif case == "binary":
        body = b"\x89PNG\r\n\x1a\n\x00\x00binary"
    else:
        body, key = gzip.compress(body)[:-40], "applications/file.csv.gz"

    # WHEN it is read whole, and in parts
    with pytest.raises(FileUnreadableError) as whole:
        read_raw(body, key)
    in_parts = _refusal(tmp_path, body, key)

    # THEN both give the same reason, and no value from the file
    assert in_parts == whole.value.message
    assert PLANTED not in in_parts


def test_a_spooled_object_keeps_at_most_what_is_asked_and_hashes_all_of_it() -> None:
    # GIVEN an object of 5 MiB arriving a mebibyte at a time
    chunks = [bytes([i]) * (1 << 20) for i in range(5)]

    # WHEN it is spooled keeping at most 2.5 MiB, and keeping all of it
    with spool_chunks(iter(chunks), keep_at_most=5 << 19) as partial:
        kept = partial.path.stat().st_size
        partial_figures = (partial.size, partial.sha256, partial.complete)
    with spool_chunks(iter(chunks)) as whole:
        on_disk = whole.path.read_bytes()

    # THEN the partial copy holds its first 2.5 MiB only, the hash and size cover all of
    # it, and the temporary file is gone once the block ends
    digest = hashlib.sha256(b"".join(chunks)).hexdigest()
    assert kept == 5 << 19
    assert partial_figures == (5 << 20, digest, False)
    assert on_disk == b"".join(chunks)
    assert (whole.sha256, whole.complete) == (digest, True)
    assert not whole.path.exists()
