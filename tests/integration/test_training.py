"""The training state machine on the local cloud: real ASL, real models, real registry."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import to_csv_bytes
from credit_risk.data.features import build_features
from credit_risk.models.lean import LeanModel, StackedLeanModel
from credit_risk.models.registry import Registry
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud
from integration.helpers import entered_states, history

pytestmark = pytest.mark.integration

FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"


@pytest.fixture
def loaded_cloud(cloud: LocalCloud, small_data, monkeypatch: pytest.MonkeyPatch) -> LocalCloud:
    """A cloud whose database holds 2,000 applications and their outcomes."""
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(FAST_MODELS))
    from credit_risk.runtime import reset_runtime

    reset_runtime()
    cloud.upload("applications/history.csv", to_csv_bytes(small_data.applications))
    cloud.wait_for_idle()
    cloud.upload("outcomes/history.csv", to_csv_bytes(small_data.outcomes))
    cloud.wait_for_idle()
    return cloud


def _registry() -> Registry:
    runtime = get_runtime()
    return Registry(
        engine=runtime.engine, store=runtime.store, bucket=runtime.settings.artifacts_bucket
    )


def test_first_run_promotes_and_an_equal_rerun_is_rejected(loaded_cloud: LocalCloud) -> None:
    # WHEN training runs on matured data with no champion yet
    first = loaded_cloud.wait_for_execution(loaded_cloud.start_training())

    # THEN every state ran: the search fanned out over two Distributed Maps (one item per
    # candidate, configuration and fold), each candidate fitted, a champion promoted and
    # the book re-scored with it
    assert first["status"] == "SUCCEEDED", first.get("cause")
    states = entered_states(history(loaded_cloud, first["executionArn"]))
    assert states == [
        "Snapshot training data",
        "Check training data",
        "Plan the search grid",
        "Cross-validate the grid",
        "Plan the imbalance options",
        "Cross-validate the imbalance options",
        "Fit the chosen candidates",
        *["Fit a candidate"] * 3,
        "Evaluate and compare",
        "Is the candidate better",
        "Promote champion",
        "Read the re-score setting",
        "Re-score after promotion?",
        "Re-score the portfolio",
        "Notify",
        "Training finished",
    ]
    sfn = loaded_cloud.client("stepfunctions")
    items = [
        sfn.describe_map_run(mapRunArn=r["mapRunArn"])["itemCounts"]
        for r in sfn.list_map_runs(executionArn=first["executionArn"])["mapRuns"]
    ]
    # fast_models.yaml, two folds: three candidates x one combination; then the logistic
    # regression's second imbalance option
    assert sorted((c["total"], c["succeeded"]) for c in items) == [(2, 2), (6, 6)]
    registry = _registry()
    champion = registry.require_champion()
    assert champion.metrics["auc"] > 0.75
    assert registry.load_artifact(champion)  # hash verified on load
    s3 = loaded_cloud.client("s3")
    prefix = champion.artifact_uri.split("/", 3)[3].rsplit("/", 1)[0]
    names = {
        o["Key"].rsplit("/", 1)[1]
        for o in s3.list_objects_v2(Bucket=loaded_cloud.artifacts_bucket, Prefix=prefix)["Contents"]
    }
    assert {"model.bin", "metrics.json", "feature_schema.json", "model_card.html"} <= names
    # the fairness figures per protected group, measured on the holdout's decisions, are
    # in the metrics and the model card; no raw group value is in the training snapshot
    fairness = champion.metrics["fairness"]
    assert set(fairness) == {"age_band", "applicant_group"}
    assert set(fairness["applicant_group"]["groups"]) == {"group_a", "group_b"}
    assert fairness["applicant_group"]["min_air"] >= 0.8
    card = s3.get_object(Bucket=loaded_cloud.artifacts_bucket, Key=f"{prefix}/model_card.html")
    assert 'data-attribute="applicant_group"' in card["Body"].read().decode()
    snapshot_key = next(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=loaded_cloud.artifacts_bucket, Prefix="runs/")[
            "Contents"
        ]
        if o["Key"].endswith("training.parquet")
    )
    snapshot_body = s3.get_object(Bucket=loaded_cloud.artifacts_bucket, Key=snapshot_key)
    snapshot = pd.read_parquet(io.BytesIO(snapshot_body["Body"].read()))
    assert not {"group_a", "group_b"} & set(snapshot["_protected_applicant_group"])

    rescore = loaded_cloud.executions("RescoreStateMachine")
    assert "rescore_error" not in json.loads(first["output"]), json.loads(first["output"])[
        "rescore_error"
    ]
    assert [r["name"] for r in rescore] == [f"rescore-promotion-{champion.version}"]
    rescored = loaded_cloud.wait_for_execution(rescore[0]["executionArn"])
    assert rescored["status"] == "SUCCEEDED", rescored.get("cause")
    assert json.loads(rescored["output"])["rows_scored"] == 2000

    # WHEN the same data trains again (a candidate no better than the champion)
    second = loaded_cloud.wait_for_execution(loaded_cloud.start_training())

    # THEN it is registered but rejected with its reason, and the champion is unchanged
    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert "Record rejection" in entered_states(history(loaded_cloud, second["executionArn"]))
    assert registry.require_champion().version == champion.version
    assert len(loaded_cloud.executions("RescoreStateMachine")) == 1  # no promotion, no re-score
    rejected = [v for v in registry.versions() if v.status == "rejected"]
    assert len(rejected) == 1 and "does not beat the champion" in (rejected[0].reason or "")


def test_a_failed_training_leaves_the_champion_and_registry_untouched(
    loaded_cloud: LocalCloud,
) -> None:
    # GIVEN a champion
    assert loaded_cloud.wait_for_execution(loaded_cloud.start_training())["status"] == "SUCCEEDED"
    registry = _registry()
    before = [(v.version, v.status) for v in registry.versions()]

    # WHEN a candidate's training crashes
    def out_of_memory(event, context):  # type: ignore[no-untyped-def]
        raise MemoryError("Runtime exited with error: signal: killed")

    loaded_cloud.dispatcher.override("TrainFunction", out_of_memory)
    failed = loaded_cloud.wait_for_execution(loaded_cloud.start_training())

    # THEN the run fails with the error named, and nothing in the registry changed
    assert failed["status"] == "FAILED"
    assert failed["error"] == "MemoryError"
    assert entered_states(history(loaded_cloud, failed["executionArn"]))[-2:] == [
        "Alert on training failure",
        "Training failed",
    ]
    assert [(v.version, v.status) for v in registry.versions()] == before


def test_too_little_matured_data_stops_before_training(cloud: LocalCloud, small_data) -> None:
    # GIVEN applications but no outcomes yet
    cloud.upload("applications/history.csv", to_csv_bytes(small_data.applications))
    cloud.wait_for_idle()

    # WHEN the schedule fires
    run = cloud.wait_for_execution(cloud.fire_schedule())

    # THEN the run started from the schedule and failed in the snapshot, saying why
    assert json.loads(run["input"]) == {"trigger": "schedule"}
    assert run["status"] == "FAILED"
    assert run["error"] == "InsufficientDataError"
    assert "matured" in run["cause"]
    assert not [i for i in cloud.dispatcher.invocations if i.function == "TrainFunction"]


def test_the_evaluate_step_fits_the_stack_and_selects_by_cv_auc(
    cloud: LocalCloud, small_data, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the fast candidates with a stack configured
    config = yaml.safe_load(FAST_MODELS.read_text())
    config["stack"] = {"complexity": 4}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(path))
    from credit_risk.runtime import reset_runtime

    reset_runtime()
    cloud.upload("applications/history.csv", to_csv_bytes(small_data.applications))
    cloud.wait_for_idle()
    cloud.upload("outcomes/history.csv", to_csv_bytes(small_data.outcomes))
    cloud.wait_for_idle()

    # WHEN training runs through the state machine
    run = cloud.wait_for_execution(cloud.start_training())

    # THEN "Evaluate and compare" fitted the stack from the candidates' out-of-fold margins,
    # offered it to the selection with the others, and the champion's metrics say how it
    # was chosen
    assert run["status"] == "SUCCEEDED", run.get("cause")
    champion = _registry().require_champion()
    selection = champion.metrics["selection"]
    assert selection["champion"] == champion.candidate
    ranked = [r["candidate"] for r in selection["ranking"]]
    assert set(ranked) == {"logistic_regression", "random_forest", "xgboost", "stack"}
    step = next(s for s in selection["steps"] if s["candidate"] == "stack")
    assert step["chosen"] == (champion.candidate == "stack")
    # AND the stack was tested on the CV folds against each opponent, which needs the
    # per-fold AUCs the fanned-out candidates and the stack stored in their metrics
    assert step["tests"] and all(t["cv"] is not None for t in step["tests"].values())
    assert all(t["cv"]["df"] == t["cv"]["n"] - 1 >= 1 for t in step["tests"].values())
    s3 = cloud.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=cloud.artifacts_bucket, Prefix="runs/")["Contents"]
    ]
    body = s3.get_object(
        Bucket=cloud.artifacts_bucket, Key=next(k for k in keys if k.endswith("stack/model.bin"))
    )["Body"].read()
    stack = LeanModel.from_bytes(body)
    assert isinstance(stack, StackedLeanModel)
    assert stack.member_names == ["logistic_regression", "random_forest", "xgboost"]
    assert all(w >= 0 for w in stack.weights)
    # AND the stack scores the snapshot's features as its members' weighted margins do
    rows = small_data.applications.head(50)
    features = build_features(get_runtime().contract, rows)
    columns = {f: features[f].to_numpy() for f in stack.features}
    design = stack.encode_columns(columns)
    margins = stack.member_margins(design)
    expected = 1.0 / (1.0 + np.exp(-(margins @ np.asarray(stack.weights) + stack.calibration.b)))
    assert np.max(np.abs(stack.predict_columns(columns) - expected)) < 1e-12
