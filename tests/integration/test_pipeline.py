"""The pipeline state machine on the local cloud: real ASL, real handlers, real database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import MetaData, func, select

from conftest import to_csv_bytes
from credit_risk.db import schema
from credit_risk.errors import TransientError
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud
from integration.helpers import entered_states, history, only_execution

pytestmark = pytest.mark.integration


def _count(table) -> int:  # type: ignore[no-untyped-def]
    with get_runtime().engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_upload_runs_every_state_and_does_real_work(cloud: LocalCloud, small_data) -> None:
    # GIVEN the stack on the local cloud
    # WHEN a lender uploads an applications file to the raw bucket
    cloud.upload("applications/2024-01.csv", to_csv_bytes(small_data.applications))

    # THEN one pipeline execution ran every named state and succeeded
    execution = only_execution(cloud)
    assert execution["status"] == "SUCCEEDED"
    states = entered_states(history(cloud, execution["executionArn"]))
    assert states == [
        "Was the file readable",
        "Build features",
        "Check data quality",
        "Are these applications",
        "Score new applications",
        "Monitor the portfolio",
        "Pipeline succeeded",
    ]
    # AND the handlers did the work: rows in staging and analytics, a report in S3
    contract = get_runtime().contract
    meta = MetaData()
    assert _count(schema.staging_table(contract, "applications", meta)) == 2000
    assert _count(schema.features_table(contract, meta)) == 2000
    output = json.loads(execution["output"])
    report_key = output["quality"]["report_uri"].split("/", 3)[3]
    report = json.loads(
        cloud.client("s3").get_object(Bucket=cloud.artifacts_bucket, Key=report_key)["Body"].read()
    )
    assert report["rows"] == 2000


def test_unreadable_file_fails_the_execution_with_a_named_error(cloud: LocalCloud) -> None:
    # WHEN a truncated gzip lands
    cloud.upload("applications/broken.csv.gz", b"\x1f\x8b\x08\x00garbage")

    # THEN the execution fails with the error name and a one-line cause in its history
    execution = only_execution(cloud)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "FileUnreadableError"
    assert "gzip" in execution["cause"]
    events = history(cloud, execution["executionArn"])
    failed = [e for e in events if e["type"] == "ExecutionFailed"][0]
    assert failed["executionFailedEventDetails"]["error"] == "FileUnreadableError"
    # AND the file is kept in quarantine and nothing was staged
    keys = [
        o["Key"]
        for o in cloud.client("s3").list_objects_v2(Bucket=cloud.raw_bucket, Prefix="quarantine/")[
            "Contents"
        ]
    ]
    assert any(k.endswith("broken.csv.gz") for k in keys)
    contract = get_runtime().contract
    assert _count(schema.staging_table(contract, "applications", MetaData())) == 0


def test_transient_errors_are_retried_as_the_asl_says(cloud: LocalCloud, small_data) -> None:
    # GIVEN an ETL function whose database blips twice before answering
    real = cloud.dispatcher.handler_for("EtlFunction")
    calls = {"n": 0}

    def flaky(event, context):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] <= 2:
            raise TransientError("connection reset by peer")
        return real(event, context)

    cloud.dispatcher.override("EtlFunction", flaky)

    # WHEN a file lands
    cloud.upload("applications/2024-02.csv", to_csv_bytes(small_data.applications.head(300)))

    # THEN the Retry on "Build features" absorbed both failures and the run succeeded
    execution = only_execution(cloud)
    assert execution["status"] == "SUCCEEDED"
    events = history(cloud, execution["executionArn"])
    failures = [e for e in events if e["type"] == "LambdaFunctionFailed"]
    assert len(failures) == 2
    assert all(e["lambdaFunctionFailedEventDetails"]["error"] == "TransientError" for e in failures)
    assert calls["n"] == 3


def test_a_non_transient_error_is_caught_alerted_and_fails_the_run(
    cloud: LocalCloud, small_data
) -> None:
    # GIVEN a quality function that breaks for a reason retrying cannot fix
    def broken(event, context):  # type: ignore[no-untyped-def]
        raise ValueError("report bucket policy denies writes")

    cloud.dispatcher.override("QualityFunction", broken)

    cloud.upload("applications/2024-03.csv", to_csv_bytes(small_data.applications.head(300)))

    # THEN it is not retried; the Catch routes to the alert and the run fails with the name
    execution = only_execution(cloud)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ValueError"
    assert "report bucket policy denies writes" in execution["cause"]
    events = history(cloud, execution["executionArn"])
    assert entered_states(events)[-2:] == ["Alert on failure", "Pipeline failed"]
    assert len([e for e in events if e["type"] == "LambdaFunctionFailed"]) == 1
    alerts = [i for i in cloud.dispatcher.invocations if i.function == "AlertFunction"]
    assert len(alerts) == 1 and alerts[0].error_type is None


def test_the_raw_bucket_is_built_as_the_template_says(cloud: LocalCloud) -> None:
    s3 = cloud.client("s3")
    assert s3.get_bucket_versioning(Bucket=cloud.raw_bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=cloud.raw_bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=cloud.raw_bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=cloud.raw_bucket)["Rules"][0]
    assert lifecycle["Expiration"]["Days"] == 30
