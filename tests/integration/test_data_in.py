"""Data in, end to end: no raw personal data in analytics, a gate that stops bad batches,
and a second lender's differently shaped data through the same pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect, select, text

from conftest import to_csv_bytes
from credit_risk.contract import load_contract
from credit_risk.data.gate import stored_report
from credit_risk.data.pseudonymise import pseudonym
from credit_risk.db import schema
from credit_risk.runtime import get_runtime, reset_runtime
from credit_risk_local.cloud import LocalCloud
from fixtures.other_lender.make_data import make_other_lender
from integration.helpers import only_execution

pytestmark = pytest.mark.integration

OTHER_LENDER = Path(__file__).resolve().parents[1] / "fixtures" / "other_lender"
FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"


def test_analytics_holds_no_raw_personal_data(cloud: LocalCloud, small_data) -> None:
    # GIVEN applications with names, emails, phones, national ids, addresses, birth dates
    apps = small_data.applications.head(500)
    cloud.upload("applications/pii.csv", to_csv_bytes(apps))
    cloud.upload("outcomes/pii.csv", to_csv_bytes(small_data.outcomes.head(500)))
    cloud.wait_for_idle()
    runtime = get_runtime()
    contract = runtime.contract
    personal = set()
    for column in contract.applications.pii_columns:
        personal |= {str(v) for v in apps[column].dropna()}
    personal |= {str(v)[:10] for v in apps["date_of_birth"].dropna()}

    # WHEN every text and date cell of every analytics table is scanned
    found = []
    with runtime.engine.connect() as conn:
        inspector = inspect(conn)
        for table in inspector.get_table_names(schema="analytics"):
            rows = conn.execute(text(f"SELECT * FROM analytics.{table}")).all()
            for row in rows:
                found += [(table, v) for v in row if v is not None and str(v) in personal]
            if table == "application_features":
                names = {c["name"] for c in inspector.get_columns(table, schema="analytics")}
                assert not names & set(contract.applications.pii_columns)

    # THEN none is there, and customers are known only by their keyed pseudonym
    assert found == []
    with runtime.engine.connect() as conn:
        keys = set(
            conn.execute(
                select(schema.features_table(contract, MetaData()).c.customer_key)
            ).scalars()
        )
    expected = {pseudonym(str(c), runtime.pseudonym_key) for c in apps["customer_id"]}
    assert keys == expected


def test_a_failed_critical_check_stops_the_batch_and_names_its_report(
    cloud: LocalCloud, small_data
) -> None:
    # GIVEN a batch whose bureau scores went missing upstream
    broken = small_data.applications.head(400).copy()
    broken["bureau_score"] = None
    cloud.upload("applications/no-bureau.csv", to_csv_bytes(broken))

    # THEN the gate fails the run with a named error that says where the report is
    execution = only_execution(cloud)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "QualityGateFailedError"
    assert "bureau_score" in execution["cause"]
    assert "s3://" in execution["cause"] and "quality/" in execution["cause"]
    # AND the report is stored, readable, and the staged rows were not thrown away
    batch = execution["name"]
    report = stored_report(get_runtime().engine, batch)
    assert not report.passed
    assert "bureau_score" in report.to_text()
    contract = get_runtime().contract
    with get_runtime().engine.connect() as conn:
        staged = conn.execute(
            text("SELECT count(*) FROM staging.applications WHERE _batch_id = :b"), {"b": batch}
        ).scalar_one()
    assert staged == 400
    assert contract.name  # the contract did not change under the run


def test_a_second_lenders_data_runs_through_the_same_pipeline(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a motor-finance lender's contract: other columns, keys, categories and window
    monkeypatch.setenv("CONTRACT_PATH", str(OTHER_LENDER / "contract.yaml"))
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(FAST_MODELS))
    monkeypatch.setenv("QUALITY_CONFIG_PATH", str(OTHER_LENDER / "quality.yaml"))
    contract = load_contract(OTHER_LENDER / "contract.yaml")
    applications, outcomes = make_other_lender(3000, seed=5)

    with LocalCloud(database_url=database_url, local_dir=tmp_path / "local") as cloud:
        reset_runtime()
        # WHEN its files land and training runs
        cloud.upload("applications/deals.csv", to_csv_bytes(applications))
        cloud.wait_for_idle()
        cloud.upload("outcomes/deals.csv", to_csv_bytes(outcomes))
        cloud.wait_for_idle()
        runs = [cloud.wait_for_execution(e["executionArn"]) for e in cloud.executions()]
        assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"], [
            r.get("cause") for r in runs
        ]
        training = cloud.wait_for_execution(cloud.start_training())

        # THEN features follow its contract and a champion is trained on its columns
        assert training["status"] == "SUCCEEDED", training.get("cause")
        engine = get_runtime().engine
        columns = {
            c["name"] for c in inspect(engine).get_columns("application_features", "analytics")
        }
        assert set(contract.features) <= columns
        assert "vehicle_age_months" in columns and "deal_ref" not in columns
        evaluation = json.loads(training["output"])["evaluation"]
        assert evaluation["promote"] is True
        assert evaluation["candidate_auc"] > 0.6
