"""Ingestion a part at a time: the same rows as one part, duplicates found across parts,
and a file refused part-way leaves nothing half-loaded."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import MetaData, select

from conftest import to_csv_bytes
from credit_risk.data import ingestion
from credit_risk.data.ingestion import Ingestor, IngestResult, LandedObject
from credit_risk.db import schema
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud

pytestmark = pytest.mark.integration


def _ingest(cloud: LocalCloud, key: str, body: bytes, part_rows: int) -> IngestResult:
    """Ingest ``body`` with parts of ``part_rows`` rows. It is put in the artifacts
    bucket, whose uploads start no ingestion of their own beside this one."""
    rt = get_runtime()
    bucket = cloud.artifacts_bucket
    rt.store.put(bucket, key, body, "text/csv")
    ingestor = Ingestor(engine=rt.engine, contract=rt.contract, store=rt.store, part_rows=part_rows)
    return ingestor.ingest(LandedObject(bucket=bucket, key=key, etag=key))


def _staged(batch_id: str) -> pd.DataFrame:
    rt = get_runtime()
    table = schema.staging_table(rt.contract, "applications", MetaData())
    query = select(table).where(table.c._batch_id == batch_id).order_by(table.c._row_number)
    with rt.engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(query).mappings().all())
    return rows.drop(columns=["_batch_id"]) if not rows.empty else rows


def _quarantined(batch_id: str) -> list[tuple[Any, ...]]:
    q = schema.quarantine
    query = (
        select(q.c.row_number, q.c.column_name, q.c.rule, q.c.value, q.c.customer_id)
        .where(q.c.batch_id == batch_id)
        .order_by(q.c.row_number, q.c.column_name)
    )
    with get_runtime().engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def _with_bad_rows(small_data) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = small_data.applications.head(300).copy().astype(object)
    frame.loc[3, "annual_income"] = "lots"
    frame.loc[120, "housing_status"] = "castle"
    frame.loc[299, "loan_amount"] = -5
    return frame


def test_a_file_in_many_parts_loads_the_same_rows_as_in_one(cloud: LocalCloud, small_data) -> None:
    # GIVEN 300 applications with three bad rows, in two files that differ only by a
    # column the contract ignores (so their bytes, and batches, differ)
    frame = _with_bad_rows(small_data)
    one = to_csv_bytes(frame)
    many = to_csv_bytes(frame.assign(note="x"))

    # WHEN one is ingested in a single part and the other in parts of 37 rows
    whole = _ingest(cloud, "applications/whole.csv", one, part_rows=10_000)
    parts = _ingest(cloud, "applications/parts.csv", many, part_rows=37)

    # THEN both load the same 297 rows, numbered alike, and quarantine the same cells
    # with the same customers
    assert (whole.status, whole.rows_total, whole.rows_loaded) == ("loaded", 300, 297)
    assert (parts.status, parts.rows_total, parts.rows_loaded) == ("loaded", 300, 297)
    pd.testing.assert_frame_equal(_staged(parts.batch_id), _staged(whole.batch_id))
    assert _quarantined(parts.batch_id) == _quarantined(whole.batch_id)
    assert [r[0] for r in _quarantined(parts.batch_id)] == [4, 121, 300]
    # AND its ledger row counts every row of every part
    with get_runtime().engine.connect() as conn:
        ledger = conn.execute(
            select(schema.objects).where(schema.objects.c.batch_id == parts.batch_id)
        ).one()
    assert (ledger.rows_total, ledger.rows_loaded, ledger.rows_quarantined) == (300, 297, 3)
    assert ledger.size_bytes == len(many)


def test_an_id_repeated_in_a_later_part_is_quarantined_as_a_duplicate(
    cloud: LocalCloud, small_data
) -> None:
    # GIVEN 200 applications whose row 150 repeats the id of row 10
    frame = small_data.applications.head(200).copy()
    frame.loc[149, "application_id"] = frame.loc[9, "application_id"]

    # WHEN it is ingested in parts of 50 rows (rows 10 and 150 in different parts)
    result = _ingest(cloud, "applications/repeat.csv", to_csv_bytes(frame), part_rows=50)

    # THEN row 150 is quarantined for the duplicate id, and only that row
    assert (result.rows_loaded, result.rows_quarantined) == (199, 1)
    duplicate = [(r[0], r[1], r[2]) for r in _quarantined(result.batch_id)]
    assert duplicate == [(150, "application_id", "duplicate value in file")]


def test_a_row_refused_in_a_late_part_rejects_the_file_whole(
    cloud: LocalCloud, small_data, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 6,000 applications (over a megabyte: the reader's first blocks parse fine)
    # with a bad cell early on and a stray delimiter on line 5,502
    frame = pd.concat(
        [
            small_data.applications.assign(
                application_id=f"P{copy}-" + small_data.applications["application_id"]
            )
            for copy in range(3)
        ],
        ignore_index=True,
    ).astype(object)
    frame.loc[3, "annual_income"] = "lots"
    lines = to_csv_bytes(frame).split(b"\n")
    lines[5501] += b",zqxj-planted"
    body = b"\n".join(lines)
    assert len(body) > 1024 * 1024
    loaded_parts: list[int] = []
    real_load = ingestion.load_frame

    def counting_load(*args: Any) -> int:
        loaded_parts.append(len(args[2]))
        return real_load(*args)

    monkeypatch.setattr(ingestion, "load_frame", counting_load)

    # WHEN it is ingested in parts of 500 rows
    result = _ingest(cloud, "applications/late-error.csv", body, part_rows=500)

    # THEN parts were loaded before the bad row was reached ...
    assert len(loaded_parts) >= 2
    # ... and yet the file is rejected with the line named (no value), nothing is staged
    # or quarantined row by row, the ledger says rejected, and the file is in quarantine
    assert result.status == "rejected"
    assert result.error_name == "FileUnreadableError"
    assert "line 5502" in (result.error or "")
    assert "zqxj" not in (result.error or "")
    assert _staged(result.batch_id).empty
    assert _quarantined(result.batch_id) == []
    with get_runtime().engine.connect() as conn:
        ledger = conn.execute(
            select(schema.objects).where(schema.objects.c.batch_id == result.batch_id)
        ).one()
    assert (ledger.status, ledger.rows_loaded, ledger.rows_quarantined) == ("rejected", 0, 0)
    keys = [o["Key"] for o in get_runtime().store.keys(cloud.artifacts_bucket, "quarantine/")]
    assert keys == [f"quarantine/applications/{result.batch_id}/late-error.csv"]
