"""An object whose key names no dataset is recorded, kept and alerted, never silently
dropped (a wrong-case prefix, a path trick, another folder)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from conftest import to_csv_bytes
from credit_risk.db import schema
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud

pytestmark = pytest.mark.integration

KEYS = ["Applications/x.csv", "../applications/x.csv", "other/x.csv"]


def test_every_key_that_names_no_dataset_gets_a_rejected_ledger_row_and_an_alert(
    cloud: LocalCloud, small_data, alert_inbox: Callable[[], list[dict[str, str]]]
) -> None:
    # GIVEN valid application files uploaded under keys that name no dataset
    for n, key in enumerate(KEYS):
        cloud.upload(key, to_csv_bytes(small_data.applications.head(10 + n)))
    cloud.wait_for_idle()

    # THEN each has a ledger row: rejected, with a reason naming the key and the fix
    with get_runtime().engine.connect() as conn:
        ledger = {
            r.key: r
            for r in conn.execute(
                select(schema.objects.c.key, schema.objects.c.status, schema.objects.c.error)
            )
        }
        seen = set(conn.execute(select(schema.object_keys.c.key)).scalars())
    assert sorted(ledger) == sorted(KEYS)
    assert seen == set(KEYS)
    for key, row in ledger.items():
        assert row.status == "rejected"
        assert f"'{key}' is not under a dataset prefix" in row.error
        assert "upload to applications/ or outcomes/" in row.error
    assert "prefixes are lower case" in ledger["Applications/x.csv"].error
    # AND nothing was staged, each object is kept in quarantine
    s3 = cloud.client("s3")
    kept = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=cloud.raw_bucket, Prefix="quarantine/")["Contents"]
    ]
    assert len([k for k in kept if k.startswith("quarantine/unknown/")]) == len(KEYS)
    # AND each run failed with the error's own name, and operators were alerted per key
    runs = cloud.executions()
    assert len(runs) == len(KEYS)
    for run in runs:
        desc = cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])
        assert desc["status"] == "FAILED"
        assert desc["error"] == "UnknownDatasetError"
    alerts = alert_inbox()
    for key in KEYS:
        assert any(f"'{key}' is not under a dataset prefix" in a["message"] for a in alerts), key
    assert all("UnknownDatasetError" in a["subject"] for a in alerts)
