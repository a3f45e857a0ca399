"""The in-process Lambda seam, pinned to the moto version it patches."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import boto3
import moto
import pytest
from moto import mock_aws

from credit_risk_local import dispatch
from credit_risk_local.dispatch import Dispatcher


@pytest.fixture
def lambda_client(tmp_path: Path):  # type: ignore[no-untyped-def]
    handler_dir = tmp_path / "fn"
    handler_dir.mkdir()
    (handler_dir / "app.py").write_text(
        "import helper\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise KeyError('no such customer')\n"
        "    return {'echo': event, 'function': context.function_name, 'n': helper.N}\n"
    )
    (handler_dir / "helper.py").write_text("N = 42\n")
    dispatcher = Dispatcher()
    dispatcher.register("EchoFunction", handler_dir, "app.handler")
    with mock_aws():
        dispatch.install(dispatcher)
        try:
            client = boto3.client("lambda", region_name="us-east-1")
            role = boto3.client("iam", region_name="us-east-1").create_role(
                RoleName="r", AssumeRolePolicyDocument="{}"
            )["Role"]["Arn"]
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as z:
                z.writestr("x.txt", "x")
            client.create_function(
                FunctionName="EchoFunction",
                Runtime="python3.13",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": archive.getvalue()},
            )
            yield client, dispatcher
        finally:
            dispatch.uninstall()


def test_an_invocation_runs_the_real_handler_in_process(lambda_client) -> None:  # type: ignore[no-untyped-def]
    client, dispatcher = lambda_client
    response = client.invoke(FunctionName="EchoFunction", Payload=json.dumps({"a": 1}).encode())
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {
        "echo": {"a": 1},
        "function": "EchoFunction",
        "n": 42,  # a sibling module of the handler imports, as in Lambda's task root
    }
    assert [i.function for i in dispatcher.invocations] == ["EchoFunction"]


def test_a_raised_error_is_reported_the_way_lambda_reports_it(lambda_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = lambda_client
    response = client.invoke(FunctionName="EchoFunction", Payload=b'{"fail": true}')
    assert response["FunctionError"] == "Handled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "KeyError"
    assert "no such customer" in payload["errorMessage"]
    assert payload["stackTrace"]


def test_an_override_stands_in_front_of_the_real_handler(lambda_client) -> None:  # type: ignore[no-untyped-def]
    client, dispatcher = lambda_client
    dispatcher.override("EchoFunction", lambda event, context: {"fake": True})
    response = client.invoke(FunctionName="EchoFunction", Payload=b"{}")
    assert json.loads(response["Payload"].read()) == {"fake": True}
    dispatcher.override("EchoFunction", None)
    response = client.invoke(FunctionName="EchoFunction", Payload=b"{}")
    assert json.loads(response["Payload"].read())["n"] == 42


def test_the_seam_refuses_a_moto_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "6.0.0")
    with pytest.raises(RuntimeError, match="written for moto"):
        dispatch.install(Dispatcher())


def test_uninstall_restores_motos_own_invocation_path() -> None:
    dispatch.install(Dispatcher())
    dispatch.uninstall()
    from moto.awslambda.models import LambdaFunction

    assert LambdaFunction._invoke_lambda is dispatch._original


def test_a_state_machine_starts_another_through_the_start_execution_integration() -> None:
    # GIVEN moto with the seam installed, and a parent machine that starts a child the way
    # the training machine starts the re-score (the optimised integration, ASL casing)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        dispatch.install(Dispatcher())
        try:
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            role = "arn:aws:iam::123456789012:role/r"
            child = sfn.create_state_machine(
                name="child",
                roleArn=role,
                definition=json.dumps(
                    {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
                ),
            )["stateMachineArn"]
            start = {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {
                    "StateMachineArn": child,
                    "Name.$": "States.Format('child-of-{}', $.version)",
                    "Input": {"model_version.$": "$.version"},
                },
                "ResultSelector": {"execution_arn.$": "$.ExecutionArn"},
                "End": True,
            }
            parent = sfn.create_state_machine(
                name="parent",
                roleArn=role,
                definition=json.dumps({"StartAt": "Start", "States": {"Start": start}}),
            )["stateMachineArn"]

            # WHEN the parent runs
            arn = sfn.start_execution(stateMachineArn=parent, name="p", input='{"version": "v1"}')[
                "executionArn"
            ]
            while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                pass

            # THEN the child started with the parent's name and input, and the parent read
            # the response in the casing AWS answers with
            assert described["status"] == "SUCCEEDED", described.get("cause")
            started = sfn.list_executions(stateMachineArn=child)["executions"]
            assert [e["name"] for e in started] == ["child-of-v1"]
            child_input = sfn.describe_execution(executionArn=started[0]["executionArn"])["input"]
            assert json.loads(child_input) == {"model_version": "v1"}
            assert json.loads(described["output"]) == {"execution_arn": started[0]["executionArn"]}
        finally:
            dispatch.uninstall()
