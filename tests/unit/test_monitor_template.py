"""The monitor function in template.yaml: scheduled, and allowed only what it does."""

from __future__ import annotations

from credit_risk_local.template import load_template

MONITOR = load_template()["Resources"]["MonitorFunction"]["Properties"]


def _statements() -> list[dict]:
    return [s for p in MONITOR["Policies"] if "Statement" in p for s in p["Statement"]]


def test_the_monitor_runs_on_an_eventbridge_schedule() -> None:
    (event,) = MONITOR["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == {"Ref": "MonitorSchedule"}
    assert event["Properties"]["Input"] == '{"trigger": "schedule"}'


def test_the_monitor_writes_dashboards_only() -> None:
    writes = [s for s in _statements() if any(a.startswith("s3:") for a in s["Action"])]
    assert [s["Action"] for s in writes] == [["s3:PutObject"]]
    assert writes[0]["Resource"] == {"Fn::Sub": "${ArtifactsBucket.Arn}/dashboards/*"}
    assert not any("S3CrudPolicy" in p or "S3WritePolicy" in p for p in MONITOR["Policies"])


def test_the_monitor_can_alert_and_start_training_but_not_the_pipeline() -> None:
    policies = {next(iter(p)): p[next(iter(p))] for p in MONITOR["Policies"]}
    assert policies["SNSPublishMessagePolicy"] == {
        "TopicName": {"Fn::GetAtt": ["AlertsTopic", "TopicName"]}
    }
    assert policies["StepFunctionsExecutionPolicy"] == {
        "StateMachineName": {"Fn::GetAtt": ["TrainingStateMachine", "Name"]}
    }
    listing = [s for s in _statements() if "states:ListExecutions" in s["Action"]]
    assert listing and all(a.startswith("states:List") for s in listing for a in s["Action"])
