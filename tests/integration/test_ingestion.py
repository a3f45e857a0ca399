"""Ingestion through the real handler on the local cloud: exactly once, nothing half-loaded."""

from __future__ import annotations

import gzip
import io
import json

import pandas as pd
import pytest
from sqlalchemy import MetaData, func, select

from conftest import to_csv_bytes
from credit_risk.db import schema
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud
from integration.helpers import only_execution

pytestmark = pytest.mark.integration


def _rows(table) -> int:  # type: ignore[no-untyped-def]
    with get_runtime().engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _staged() -> int:
    return _rows(schema.staging_table(get_runtime().contract, "applications", MetaData()))


def _s3_event(cloud: LocalCloud, key: str) -> dict:
    head = cloud.client("s3").head_object(Bucket=cloud.raw_bucket, Key=key)
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": cloud.raw_bucket},
                    "object": {"key": key, "eTag": head["ETag"].strip('"'), "size": 1},
                },
            }
        ]
    }


def _invoke_ingest(cloud: LocalCloud, event: dict) -> list[dict]:
    response = cloud.client("lambda").invoke(
        FunctionName="IngestFunction", Payload=json.dumps(event).encode()
    )
    return json.loads(response["Payload"].read())


def test_the_same_event_three_times_loads_once(cloud: LocalCloud, small_data) -> None:
    # GIVEN a file that was uploaded (its notification already ingested it once)
    cloud.upload("applications/jan.csv", to_csv_bytes(small_data.applications.head(500)))
    event = _s3_event(cloud, "applications/jan.csv")

    # WHEN S3 delivers the same event twice more
    results = [_invoke_ingest(cloud, event)[0] for _ in range(2)]

    # THEN nothing is loaded twice and only one pipeline run exists
    assert [r["status"] for r in results] == ["duplicate", "duplicate"]
    assert _staged() == 500
    cloud.wait_for_idle()
    assert len(cloud.executions()) == 1


def test_the_same_bytes_under_a_new_key_load_nothing(cloud: LocalCloud, small_data) -> None:
    body = to_csv_bytes(small_data.applications.head(400))
    cloud.upload("applications/feb.csv", body)
    cloud.upload("applications/feb-copy.csv", body)
    cloud.wait_for_idle()
    assert _staged() == 400
    assert len(cloud.executions()) == 1
    with get_runtime().engine.connect() as conn:
        keys = conn.execute(select(schema.object_keys.c.key)).scalars().all()
    assert sorted(keys) == ["applications/feb-copy.csv", "applications/feb.csv"]


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_load(
    cloud: LocalCloud, small_data
) -> None:
    # GIVEN a file with three broken rows among 300
    frame = small_data.applications.head(300).copy()
    frame["annual_income"] = frame["annual_income"].astype(object)
    frame.loc[3, "annual_income"] = "lots"
    frame.loc[10, "housing_status"] = "castle"
    frame.loc[20, "loan_amount"] = -5
    cloud.upload("applications/mar.csv", to_csv_bytes(frame))
    cloud.wait_for_idle()

    # THEN 297 rows load and each bad cell is recorded with its row, column and rule
    assert _staged() == 297
    with get_runtime().engine.connect() as conn:
        rows = conn.execute(
            select(
                schema.quarantine.c.row_number,
                schema.quarantine.c.column_name,
                schema.quarantine.c.value,
                schema.quarantine.c.rule,
            ).order_by(schema.quarantine.c.row_number)
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (4, "annual_income", "lots"),
        (11, "housing_status", "castle"),
        (21, "loan_amount", "-5.0"),
    ]
    assert rows[0][3] == "not a number"
    assert rows[2][3].startswith("below minimum")
    # AND the bad rows, with their reasons, are in the quarantine prefix for the team
    listing = cloud.client("s3").list_objects_v2(Bucket=cloud.raw_bucket, Prefix="quarantine/")
    key = next(o["Key"] for o in listing["Contents"] if o["Key"].endswith("rows.csv"))
    body = cloud.client("s3").get_object(Bucket=cloud.raw_bucket, Key=key)["Body"].read()
    quarantined = pd.read_csv(io.BytesIO(body))
    assert list(quarantined["_row_number"]) == [4, 11, 21]
    assert "housing_status: not one of" in quarantined["_reasons"][1]


UNREADABLE = {
    "wrong header": (b"id,name\n1,x\n", "missing contract columns"),
    "not csv": (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary"),
    "truncated gzip": (None, "gzip"),
    "empty": (b"", "empty"),
    "wrong encoding": (None, "not UTF-8"),
    "header only": (None, "no data rows"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_file_is_rejected_whole_and_kept(
    cloud: LocalCloud, small_data, case: str
) -> None:
    body, reason = UNREADABLE[case]
    key = "applications/bad.csv"
    good = to_csv_bytes(small_data.applications.head(50))
    if case == "truncated gzip":
        body, key = gzip.compress(good)[:-40], "applications/bad.csv.gz"
    elif case == "wrong encoding":
        body = good.decode().replace("a", "é", 5).encode("latin-1")
    elif case == "header only":
        body = good.splitlines(keepends=True)[0]

    cloud.upload(key, body)
    cloud.wait_for_idle()

    run = cloud.executions()[0]
    desc = cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])
    assert desc["status"] == "FAILED"
    assert desc["error"] == "FileUnreadableError"
    assert reason in desc["cause"]
    assert _staged() == 0
    listing = cloud.client("s3").list_objects_v2(Bucket=cloud.raw_bucket, Prefix="quarantine/")
    assert any(o["Key"].endswith(key.rsplit("/", 1)[1]) for o in listing["Contents"])


def test_file_columns_the_contract_does_not_declare_are_named_not_silently_dropped(
    cloud: LocalCloud, small_data, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a file with two columns the contract does not know
    frame = small_data.applications.head(300).assign(branch_code="B7", channel="web")
    with caplog.at_level("WARNING"):
        cloud.upload("applications/extra-columns.csv", to_csv_bytes(frame))
    execution = only_execution(cloud)
    # THEN it loads, and the pipeline's input and the log name the ignored columns
    assert execution["status"] == "SUCCEEDED"
    started = json.loads(execution["input"])
    assert started["ignored_columns"] == ["branch_code", "channel"]
    assert "file columns not in the contract are ignored" in caplog.text
