"""Model metrics, versions, promotion and rollback, and pipeline executions."""

from __future__ import annotations

import json
import re
import uuid

from credit_risk.governance.audit import AuditTrail
from credit_risk.runtime import get_runtime
from functional.api.conftest import ApiWorld


def test_metrics_are_the_champions_or_a_named_versions(api: ApiWorld) -> None:
    champion = api.registry.require_champion()
    answer = api.call("GET", "/api/model-metrics", role="viewer")
    assert answer.status == 200
    body = answer.body
    assert (body["version"], body["status"]) == (champion.version, "champion")
    fitted = api.models.candidates[champion.candidate]
    for name in ("auc", "gini", "ks", "brier", "precision", "recall", "f1"):
        assert body["metrics"][name] == fitted.metrics[name]
    assert body["metrics"]["confusion_matrix"] == fitted.metrics["confusion_matrix"]
    other = next(v for v in api.versions.values() if v.version != champion.version)
    named = api.call("GET", f"/api/model-metrics?version={other.version}", role="viewer")
    assert (named.status, named.body["version"], named.body["status"]) == (
        200,
        other.version,
        "candidate",
    )
    assert api.call("GET", "/api/model-metrics?version=v0").status == 404
    bad = api.call("GET", "/api/model-metrics?version=../../etc", role="viewer")
    assert (bad.status, bad.body["errors"][0]["field"]) == (400, "version")
    assert api.call("GET", "/api/model-metrics?versoin=x").status == 400


def test_versions_are_listed_newest_first_with_the_champion(api: ApiWorld) -> None:
    answer = api.call("GET", "/api/models", role="viewer")
    assert answer.status == 200
    versions = answer.body["versions"]
    assert [v["version"] for v in versions] == sorted(
        (v.version for v in api.versions.values()), reverse=True
    )
    assert answer.body["champion"] == api.registry.require_champion().version
    assert {v["candidate"] for v in versions} == set(api.models.artifacts)


def test_an_admin_promotes_and_rolls_back_and_scoring_follows(api: ApiWorld) -> None:
    # GIVEN the champion and another version
    first = api.registry.require_champion()
    other = next(v for v in api.versions.values() if v.version != first.version)
    customer = str(api.models.data.applications["customer_id"].iloc[2])

    # WHEN an admin promotes the other version
    promoted = api.call(
        "POST", f"/api/models/{other.version}/promote", body={"reason": "better on Q3"}
    )
    # THEN it is champion, the very next decision uses it, and the change is audited
    assert promoted.status == 200, promoted.body
    assert promoted.body["champion"]["version"] == other.version
    assert promoted.body["previous_champion"] == first.version
    assert "better on Q3 (by admin@tests)" in promoted.body["champion"]["reason"]
    decision = api.call("POST", "/api/predict", body={"customer_id": customer}).body
    assert decision["model_version"] == other.version

    # WHEN the admin rolls back
    rolled = api.call("POST", "/api/models/rollback")
    assert rolled.status == 200
    assert rolled.body["champion"]["version"] == first.version
    decision = api.call("POST", "/api/predict", body={"customer_id": customer}).body
    assert decision["model_version"] == first.version
    actions = [r["action"] for r in AuditTrail(get_runtime().engine).rows()]
    assert actions == ["promote", "predict", "rollback", "predict"]

    # AND unknown versions and bad bodies are refused
    assert api.call("POST", "/api/models/v19990101T000000000000/promote").status == 404
    bad = api.call("POST", f"/api/models/{other.version}/promote", body={"reason": 5})
    assert (bad.status, bad.body["errors"][0]["field"]) == (400, "reason")


def test_rollback_without_a_previous_champion_is_404(api: ApiWorld) -> None:
    answer = api.call("POST", "/api/models/rollback")
    assert answer.status == 404
    assert answer.body["error"] == "NotFoundError"


def test_executions_of_both_machines_are_listed_and_filtered(api: ApiWorld) -> None:
    # GIVEN a training run and a pipeline run (whose batch does not exist, so it fails)
    training = api.cloud.start_training({"trigger": "api-test"})
    sfn = api.cloud.client("stepfunctions")
    pipeline = sfn.start_execution(
        stateMachineArn=api.cloud.stack.state_machines["PipelineStateMachine"],
        name=f"missing-batch-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"batch_id": "nope", "dataset": "applications"}),
    )["executionArn"]
    api.cloud.wait_for_execution(pipeline)
    api.cloud.wait_for_execution(training)

    listed = api.call("GET", "/api/executions", role="viewer")
    assert listed.status == 200
    arns = {e["execution_arn"]: e for e in listed.body["executions"]}
    assert {training, pipeline} <= set(arns)
    assert arns[pipeline]["machine"] == "pipeline" and arns[pipeline]["status"] == "FAILED"
    assert arns[training]["machine"] == "training"

    only = api.call("GET", "/api/executions?machine=pipeline&status=FAILED&limit=5").body
    assert only["executions"][0]["execution_arn"] == pipeline  # newest first
    assert {(e["machine"], e["status"]) for e in only["executions"]} == {("pipeline", "FAILED")}
    assert len(only["executions"]) <= 5
    for query in ("machine=batch", "status=DONE", "limit=0", "limit=abc", "colour=red"):
        answer = api.call("GET", f"/api/executions?{query}", role="viewer")
        assert answer.status == 400, query


def test_viewers_get_the_dashboard_as_one_html_page(api: ApiWorld) -> None:
    answer = api.call("GET", "/api/dashboard", role="viewer")
    assert answer.status == 200
    content_type = {k.lower(): v for k, v in answer.headers.items()}["content-type"]
    assert content_type.startswith("text/html")
    page = answer.body if isinstance(answer.body, str) else answer.body.decode()
    assert "<title>Credit risk dashboard</title>" in page
    assert api.registry.require_champion().version in page
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?https?://""", page)  # works offline
