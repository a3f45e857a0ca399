"""A gzip bomb (a small file that inflates to far more than ingest should read) is refused
with a reason while it is being inflated, never expanded whole."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import MetaData, func, select

from credit_risk.adapters.aws import Downloaded, ObjectStore, spool_chunks
from credit_risk.data.ingestion import Ingestor, LandedObject
from credit_risk.data.reading import kept_bytes, read_raw, read_raw_parts
from credit_risk.db import schema
from credit_risk.errors import FileUnreadableError
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud

LIMIT = 8 * 1024 * 1024


def _bomb(expanded: int) -> bytes:
    """A header, then ``expanded`` bytes of one repeated row, gzipped (about 1,000:1)."""
    row = b"A1,C1,2024-01-01\n"
    return gzip.compress(
        b"application_id,customer_id,application_date\n" + row * (expanded // len(row)), 9
    )


def test_a_gzip_bomb_is_refused_at_the_limit_without_being_expanded() -> None:
    # GIVEN a 100 MB gzip bomb (about 100 KB on the wire) and an 8 MiB limit
    body = _bomb(100 * 1024 * 1024)
    assert len(body) < 1024 * 1024

    # WHEN it is read
    tracemalloc.start()
    try:
        with pytest.raises(FileUnreadableError) as refused:
            read_raw(body, "applications/bomb.csv.gz", max_bytes=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # THEN it is refused with a reason naming the limit and the setting, and the reader
    # never held even half the limit (it counts while inflating, keeping nothing)
    assert "larger than 8,388,608 bytes uncompressed" in refused.value.message
    assert "MAX_UNCOMPRESSED_BYTES" in refused.value.message
    assert peak < LIMIT // 2


def test_a_gzip_bomb_landed_on_disk_is_refused_before_its_first_part(tmp_path: Path) -> None:
    # GIVEN the same bomb, streamed to a file as ingestion lands it
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(_bomb(100 * 1024 * 1024))

    # WHEN it is read a part at a time
    tracemalloc.start()
    try:
        with pytest.raises(FileUnreadableError) as refused:
            next(read_raw_parts(path, "applications/bomb.csv.gz", max_bytes=LIMIT))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # THEN it is refused before any part, with the same reason, in bounded memory
    assert "larger than 8,388,608 bytes uncompressed" in refused.value.message
    assert peak < LIMIT // 2


@pytest.mark.integration
def test_an_object_too_long_to_be_under_the_limit_is_refused_without_being_kept(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # GIVEN a .csv.gz object of incompressible bytes longer than any file under the limit
    body = gzip.compress(b"application_id\n" + os.urandom(kept_bytes(LIMIT)), 0)
    source = tmp_path / "raw" / "applications" / "long.csv.gz"
    source.parent.mkdir(parents=True)
    source.write_bytes(body)

    # WHEN it is ingested with that limit
    rt = get_runtime()
    result = Ingestor(
        engine=rt.engine,
        contract=rt.contract,
        store=cast(ObjectStore, _FolderStore(tmp_path)),
        max_uncompressed_bytes=LIMIT,
    ).ingest(LandedObject(bucket="raw", key="applications/long.csv.gz", etag="e1"))

    # THEN it is rejected for its size, only the limit's worth was kept on disk, and its
    # ledger row has the hash and size of all of it
    assert result.status == "rejected"
    assert "larger than 8,388,608 bytes uncompressed" in (result.error or "")
    assert _FolderStore.kept == [kept_bytes(LIMIT)]
    with rt.engine.connect() as conn:
        row = conn.execute(select(schema.objects.c.sha256, schema.objects.c.size_bytes)).one()
    assert (row.sha256, row.size_bytes) == (hashlib.sha256(body).hexdigest(), len(body))


class _FolderStore:
    """An object store over a local folder (bucket/key is a file path), streaming as S3."""

    kept: list[int] = []

    def __init__(self, root: Path) -> None:
        self.root = root
        _FolderStore.kept = []

    @contextmanager
    def download(
        self, bucket: str, key: str, version_id: str | None = None, *, keep_at_most: int | None
    ) -> Iterator[Downloaded]:
        with (self.root / bucket / key).open("rb") as source:
            chunks = iter(lambda: source.read(1 << 20), b"")
            with spool_chunks(chunks, keep_at_most=keep_at_most) as landed:
                _FolderStore.kept.append(landed.path.stat().st_size)
                yield landed

    def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> str:
        dest = self.root / dest_bucket / dest_key
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / bucket / key, dest)
        return f"s3://{dest_bucket}/{dest_key}"


def test_a_plain_file_over_the_limit_is_refused() -> None:
    body = b"application_id\n" + b"A1\n" * (LIMIT // 3 + 1)
    with pytest.raises(FileUnreadableError, match="larger than"):
        read_raw(body, "applications/big.csv", max_bytes=LIMIT)


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MAX_UNCOMPRESSED_BYTES", str(LIMIT))
    yield


@pytest.mark.integration
def test_an_uploaded_bomb_is_rejected_with_the_reason_and_nothing_staged(
    small_limit: None, cloud: LocalCloud
) -> None:
    # WHEN a gzip bomb lands under the configured limit
    cloud.upload("applications/bomb.csv.gz", _bomb(100 * 1024 * 1024))
    cloud.wait_for_idle()

    # THEN its ledger row says rejected, why, and the execution failed with that reason
    with get_runtime().engine.connect() as conn:
        row = conn.execute(select(schema.objects.c.status, schema.objects.c.error)).one()
        staged = conn.execute(
            select(func.count()).select_from(
                schema.staging_table(get_runtime().contract, "applications", MetaData())
            )
        ).scalar_one()
    assert row.status == "rejected"
    assert "larger than 8,388,608 bytes uncompressed" in row.error
    assert staged == 0
    run = cloud.executions()[0]
    desc = cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])
    assert desc["error"] == "FileUnreadableError"
    assert "MAX_UNCOMPRESSED_BYTES" in desc["cause"]
