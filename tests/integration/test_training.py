"""The training state machine on the local cloud: real ASL, real models, real registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import to_csv_bytes
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

    # THEN every state ran, candidates in parallel branches, and a champion was promoted
    assert first["status"] == "SUCCEEDED", first.get("cause")
    states = entered_states(history(loaded_cloud, first["executionArn"]))
    assert states[:3] == ["Snapshot training data", "Check training data", "Train candidates"]
    assert states.count("Train candidate") == 3
    assert states[-4:] == [
        "Is the candidate better",
        "Promote champion",
        "Notify",
        "Training finished",
    ]
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

    # WHEN the same data trains again (a candidate no better than the champion)
    second = loaded_cloud.wait_for_execution(loaded_cloud.start_training())

    # THEN it is registered but rejected with its reason, and the champion is unchanged
    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert "Record rejection" in entered_states(history(loaded_cloud, second["executionArn"]))
    assert registry.require_champion().version == champion.version
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
