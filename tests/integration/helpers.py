"""Reading executions the way an operator does in the console."""

from __future__ import annotations

from typing import Any

from credit_risk_local.cloud import LocalCloud


def history(cloud: LocalCloud, arn: str) -> list[dict[str, Any]]:
    """Every event of an execution, oldest first."""
    sfn = cloud.client("stepfunctions")
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
    return [e for page in pages for e in page["events"]]


def entered_states(events: list[dict[str, Any]]) -> list[str]:
    """Names of the states an execution entered, in order."""
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def only_execution(cloud: LocalCloud, machine: str = "PipelineStateMachine") -> dict[str, Any]:
    """The single execution of a machine, waited for."""
    executions = cloud.executions(machine)
    assert len(executions) == 1, [e["name"] for e in executions]
    return cloud.wait_for_execution(executions[0]["executionArn"])
