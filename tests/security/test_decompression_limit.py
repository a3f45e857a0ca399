"""A gzip bomb (a small file that inflates to far more than ingest should read) is refused
with a reason while it is being inflated, never expanded whole."""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Iterator

import pytest
from sqlalchemy import MetaData, func, select

from credit_risk.data.reading import read_raw
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
