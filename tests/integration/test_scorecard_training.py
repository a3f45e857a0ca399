"""The WoE scorecard through the training state machine: fanned-out search, fit,
registration with its points table in the model card, and the re-scored book."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import to_csv_bytes
from credit_risk.models.lean import LeanModel
from credit_risk.models.registry import Registry
from credit_risk.runtime import get_runtime, reset_runtime
from credit_risk_local.cloud import LocalCloud
from fixtures.scorecard import SCORECARD_CONFIG

pytestmark = pytest.mark.integration


def test_a_scorecard_trains_through_the_state_machine_and_is_promoted(
    cloud: LocalCloud, small_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a training configuration whose only candidate is the scorecard (two
    # pre-bin sizes searched), and matured data in the database
    config = json.loads(json.dumps(SCORECARD_CONFIG))
    config["candidates"]["scorecard"]["search"] = {"min_prebin_size": [0.05, 0.1]}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(path))
    reset_runtime()
    cloud.upload("applications/history.csv", to_csv_bytes(small_data.applications))
    cloud.wait_for_idle()
    cloud.upload("outcomes/history.csv", to_csv_bytes(small_data.outcomes))
    cloud.wait_for_idle()

    # WHEN training runs
    run = cloud.wait_for_execution(cloud.start_training())

    # THEN it succeeds and the scorecard is champion, served as a points table
    assert run["status"] == "SUCCEEDED", run.get("cause")
    runtime = get_runtime()
    registry = Registry(
        engine=runtime.engine, store=runtime.store, bucket=runtime.settings.artifacts_bucket
    )
    champion = registry.require_champion()
    assert champion.candidate == "scorecard"
    lean = LeanModel.from_bytes(registry.load_artifact(champion))
    assert lean.kind == "scorecard" and lean.points_table is not None
    assert champion.metrics["auc"] > 0.7
    assert all(c["holds"] for c in champion.metrics["monotonicity"].values())
    # AND its model card, next to the artifact, shows the points table
    bucket = cloud.artifacts_bucket
    key = champion.artifact_uri.split("/", 3)[3].rsplit("/", 1)[0] + "/model_card.html"
    card = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert 'id="points-table"' in card
    assert card.count("<tr><th><code>") >= len(champion.metrics["points_table"]["rows"])
    # AND the book was re-scored with it
    rescore = cloud.executions("RescoreStateMachine")
    assert len(rescore) == 1
    rescored = cloud.wait_for_execution(rescore[0]["executionArn"])
    assert rescored["status"] == "SUCCEEDED", rescored.get("cause")
    assert json.loads(rescored["output"])["rows_scored"] == len(small_data.applications)
