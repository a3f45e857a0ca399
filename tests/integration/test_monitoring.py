"""The monitor function on the local cloud: a scored book in the database, a champion in
the registry, the real handler invoked through Lambda, alerts through SNS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import MetaData, insert, inspect, select

from credit_risk.db import migrations, schema
from credit_risk.db.bulk import load_frame
from credit_risk.db.engine import get_engine
from credit_risk.errors import InsufficientDataError
from credit_risk.models.registry import Registry
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud
from portfolio_data import CHAMPION, Portfolio, synthetic_portfolio

pytestmark = pytest.mark.integration


def _put_book(portfolio: Portfolio) -> None:
    """The database as the pipeline and a scoring run would leave it, and a champion."""
    runtime = get_runtime()
    meta = MetaData()
    with runtime.engine.begin() as conn:
        load_frame(conn, schema.features_table(portfolio.contract, meta), portfolio.features)
        load_frame(conn, schema.labels_table(meta), portfolio.labels)
        conn.execute(insert(schema.scores), portfolio.scores.to_dict("records"))
    registry = Registry(
        engine=runtime.engine, store=runtime.store, bucket=runtime.settings.artifacts_bucket
    )
    registry.register(
        candidate="oracle",
        artifact=b"monitoring reads metrics only",
        extra_files={},
        data_snapshot_hash="0" * 64,
        code_version="test",
        params={},
        metrics=portfolio.metrics,
        version=CHAMPION,
    )
    registry.promote(CHAMPION, "the only model")


def _alert_inbox(cloud: LocalCloud) -> str:
    """An SQS queue subscribed to the alerts topic, as an on-call tool would be."""
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName="on-call")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    cloud.client("sns").subscribe(
        TopicArn=cloud.stack.topics["AlertsTopic"], Protocol="sqs", Endpoint=arn
    )
    return str(url)


def _received(cloud: LocalCloud, url: str) -> list[dict[str, Any]]:
    messages = cloud.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def _invoke(cloud: LocalCloud, event: dict[str, Any]) -> dict[str, Any]:
    response = cloud.client("lambda").invoke(
        FunctionName="MonitorFunction", Payload=json.dumps(event).encode()
    )
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return dict(payload)


def _stored() -> list[dict[str, Any]]:
    table = schema.monitoring_snapshots
    with get_runtime().engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings().all()]


def test_drift_is_stored_alerted_and_published_as_a_dashboard(cloud: LocalCloud) -> None:
    # GIVEN a book whose last two months of applicants are much riskier than the
    # champion's training population, and an on-call queue on the alerts topic
    _put_book(synthetic_portfolio(3000, seed=5, shift_months=2))
    inbox = _alert_inbox(cloud)

    # WHEN the scheduled monitor runs
    summary = _invoke(cloud, {"trigger": "schedule"})

    # THEN the run reports the shifted PD distribution as critical
    assert summary["status"] == "alert"
    assert summary["score_psi"] > 0.25
    assert "score_psi" in summary["alerts"] and "feature_psi" in summary["alerts"]
    # AND the snapshot is stored with its figures
    (row,) = _stored()
    assert row["snapshot_id"] == summary["snapshot_id"]
    assert row["model_version"] == CHAMPION and row["score_psi"] == summary["score_psi"]
    snapshot = json.loads(row["snapshot"])
    assert snapshot["reference"]["kind"] == "training_baseline"
    shifted = {f["feature"] for f in snapshot["drift"]["features"] if f["band"] == "shifted"}
    assert "bureau_score" in shifted and "region" not in shifted
    assert snapshot["performance"]["auc"] > 0.75
    # AND one alert reached the topic, saying what moved
    (message,) = _received(cloud, inbox)
    assert "monitoring" in message["Subject"] and "crossed" in message["Subject"]
    assert "score_psi" in message["Message"] and "bureau_score" in message["Message"]
    # AND the dashboard is in the artifacts bucket, latest and dated, with its charts
    s3 = cloud.client("s3")
    latest = s3.get_object(Bucket=cloud.artifacts_bucket, Key="dashboards/latest.html")
    page = latest["Body"].read().decode()
    assert latest["ContentType"] == "text/html"
    assert summary["snapshot_id"] in page and page.count("<svg") >= 10
    dated_key = summary["dashboard_uri"].split("/", 3)[3]
    assert dated_key.startswith("dashboards/") and dated_key.endswith(".html")
    assert s3.get_object(Bucket=cloud.artifacts_bucket, Key=dated_key)["Body"].read() == (
        page.encode()
    )
    # AND retraining was not started: the packaged configuration leaves that to people
    assert summary["retrain_execution_arn"] is None
    assert cloud.executions("TrainingStateMachine") == []


def test_a_steady_book_raises_no_alert(cloud: LocalCloud) -> None:
    # GIVEN a book whose applicants look like the champion's training population
    _put_book(synthetic_portfolio(3000, seed=5))
    inbox = _alert_inbox(cloud)

    # WHEN the monitor runs
    summary = _invoke(cloud, {"trigger": "schedule"})

    # THEN it stores a calm snapshot and nobody is paged
    assert summary["alerts"] == [] and summary["score_psi"] < 0.1
    assert summary["status"] in ("ok", "watch")
    assert len(_stored()) == 1
    assert _received(cloud, inbox) == []


def test_a_drift_run_asked_to_retrain_starts_the_training_state_machine(
    cloud: LocalCloud,
) -> None:
    # GIVEN a drifted book, and a training snapshot step that finds nothing to train on
    _put_book(synthetic_portfolio(3000, seed=5, shift_months=2))

    def no_data(event: Any, context: Any) -> Any:
        raise InsufficientDataError("no matured loans in this test")

    cloud.dispatcher.override("SnapshotFunction", no_data)

    # WHEN an operator runs the monitor with retraining allowed
    summary = _invoke(cloud, {"trigger": "operator", "retrain": True})

    # THEN the training state machine was started, named after the snapshot, with reasons
    (execution,) = cloud.executions("TrainingStateMachine")
    assert execution["name"] == f"monitoring-{summary['snapshot_id']}"
    assert summary["retrain_execution_arn"] == execution["executionArn"]
    started = cloud.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"]
    )
    assert json.loads(started["input"])["reasons"][0] == "score_psi"
    cloud.wait_for_execution(execution["executionArn"], timeout=60)


def test_the_viewers_dashboard_follows_the_latest_run(cloud: LocalCloud) -> None:
    # GIVEN a scored book and no monitoring run yet
    _put_book(synthetic_portfolio(1500, seed=9))

    # THEN the page says so, and still lists the champion
    before = get_runtime().monitor().render_latest()
    assert "No monitoring run yet" in before and CHAMPION in before

    # WHEN the monitor has run
    summary = _invoke(cloud, {"trigger": "schedule"})

    # THEN viewers see that run's snapshot, and the recent runs section
    after = get_runtime().monitor().render_latest()
    assert summary["snapshot_id"] in after
    assert 'id="feature-drift"' in after and 'id="executions"' in after


def test_migration_2_adds_the_snapshot_table_to_an_existing_database(database_url: str) -> None:
    # GIVEN a database migrated before monitoring existed
    engine = get_engine(database_url)
    assert migrations.migrate(engine, "0001") == [1]
    assert not inspect(engine).has_table("monitoring_snapshots", schema="ml")

    # WHEN it is migrated to the head revision
    applied = migrations.migrate(engine)

    # THEN the monitoring migration runs (and not the first again), and the table is there
    assert 2 in applied and 1 not in applied
    assert inspect(engine).has_table("monitoring_snapshots", schema="ml")


def test_live_decisions_are_tracked_per_protected_group(cloud: LocalCloud) -> None:
    # GIVEN a scored book whose live decisions declined about half of group_b's
    # applicants the policy would approve, and the groups ETL keeps as pseudonyms
    import numpy as np

    from credit_risk.data.etl import protected_attributes

    book = synthetic_portfolio(3000, seed=5)
    in_b = (book.applications["applicant_group"] == "group_b").to_numpy()
    rng = np.random.default_rng(1)
    turned = (
        in_b & (book.scores["decision"] == "approve").to_numpy() & (rng.random(len(in_b)) < 0.5)
    )
    book.scores.loc[turned, "decision"] = "decline"
    _put_book(book)
    runtime = get_runtime()
    stored = protected_attributes(book.contract, book.applications, runtime.pseudonym_key, "b")
    with runtime.engine.begin() as conn:
        load_frame(conn, schema.protected_table(book.contract, MetaData()), stored)

    # WHEN the monitor runs
    summary = _invoke(cloud, {"trigger": "schedule"})

    # THEN the adverse impact ratio of the live approvals raised an alert
    assert "adverse_impact_ratio" in summary["alerts"]
    snapshot = json.loads(_stored()[0]["snapshot"])
    group = snapshot["fairness"]["applicant_group"]
    assert group["min_air_group"] == "group_b" and group["reference"] == "group_a"
    window = snapshot["window"]["rows"]
    assert sum(g["rows"] for g in group["groups"].values()) == window
    assert group["min_air"] < 0.8
    # AND calibration and AUC per group come from the matured loans
    for figures in group["groups"].values():
        assert figures["outcomes"] > 100 and 0.5 < figures["auc"] < 1.0
        assert abs(figures["calibration_gap"]) < 0.05
    assert set(snapshot["fairness"]["age_band"]["groups"]) == {"18-39", "40+"}
    # AND the viewers' dashboard shows the panel
    s3 = cloud.client("s3")
    page = s3.get_object(Bucket=cloud.artifacts_bucket, Key="dashboards/latest.html")
    assert 'id="fairness"' in page["Body"].read().decode()
