"""Every AWS call each function makes in the whole flow is allowed by its role, and a role
missing one permission is caught, naming the function, the action and the resource."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import to_csv_bytes
from credit_risk.data.generator import SyntheticData
from credit_risk_local.cloud import LocalCloud
from credit_risk_local.iam import Call, recording, sam_statements, violations
from credit_risk_local.template import TEMPLATE_PATH
from credit_risk_local.tokens import demo_token
from deploy_check import ensure_sam

FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def statements() -> dict[str, list[dict[str, Any]]]:
    """The roles `sam deploy` would create, from the SAM translator itself."""
    sam = ensure_sam()
    return sam_statements(TEMPLATE_PATH, sam.parent / "python")


@pytest.fixture
def flow_calls(
    cloud: LocalCloud, small_data: SyntheticData, monkeypatch: pytest.MonkeyPatch
) -> list[Call]:
    """Every call of the whole flow: ingest, pipeline, training with promotion and the
    book re-scored, monitoring, the API's decisions and reads."""
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(FAST_MODELS))
    from credit_risk.runtime import reset_runtime

    reset_runtime()
    cloud.dispatcher.cold_start_each = True
    with recording() as recorder:
        cloud.upload("applications/history.csv", to_csv_bytes(small_data.applications))
        cloud.wait_for_idle()
        cloud.upload("outcomes/history.csv", to_csv_bytes(small_data.outcomes))
        cloud.wait_for_idle()
        training = cloud.wait_for_execution(cloud.start_training())
        assert training["status"] == "SUCCEEDED", training.get("cause")
        cloud.wait_for_idle()
        cloud.client("lambda").invoke(FunctionName="MonitorFunction", Payload=b'{"trigger": "x"}')
        token = demo_token(cloud, role="admin")
        granted = json.loads(
            cloud.client("lambda")
            .invoke(
                FunctionName="ApiAuthorizerFunction",
                Payload=json.dumps(
                    {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": "x"}
                ).encode(),
            )["Payload"]
            .read()
        )
        authorizer = {"principalId": granted["principalId"], **granted["context"]}
        customer = str(small_data.applications["customer_id"].iloc[0])
        for method, path, body in [
            ("POST", "/api/predict", f'{{"customer_id": {customer}}}'),
            ("GET", f"/api/risk-score/{customer}", None),
            ("GET", "/api/models", None),
            ("GET", "/api/executions", None),
            # erasure rewrites the landed file without the customer, deletes its versions
            ("DELETE", f"/api/customers/{customer}", None),
        ]:
            cloud.client("lambda").invoke(
                FunctionName="ApiFunction",
                Payload=_api_event(method, path, body, token, authorizer).encode(),
            )
    return recorder.calls


def _api_event(
    method: str, path: str, body: str | None, token: str, authorizer: dict[str, Any]
) -> str:
    resource = path
    params = None
    if path.startswith("/api/risk-score/"):
        resource, params = "/api/risk-score/{customer_id}", {"customer_id": path.rsplit("/", 1)[1]}
    elif path.startswith("/api/customers/"):
        resource, params = "/api/customers/{customer_id}", {"customer_id": path.rsplit("/", 1)[1]}
    return json.dumps(
        {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": params,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "requestId": "iam",
                "authorizer": authorizer,
            },
            "body": body,
            "isBase64Encoded": False,
        }
    )


def test_every_call_of_the_flow_is_allowed_by_its_role_and_one_missing_permission_is_named(
    cloud: LocalCloud, flow_calls: list[Call], statements: dict[str, list[dict[str, Any]]]
) -> None:
    callers = {c.function for c in flow_calls}
    assert {"IngestFunction", "QualityFunction", "TrainFunction", "ApiFunction"} <= callers
    assert len(flow_calls) > 100
    assert violations(flow_calls, statements, cloud.context) == []
    actions = {(c.function, c.service, c.operation) for c in flow_calls}
    # the erasure's rewrite, checked as IAM sees it (a versioned delete, a version read)
    assert {
        ("ApiFunction", "s3", op)
        for op in ("ListObjectVersions", "GetObject", "PutObject", "DeleteObject")
    } <= actions
    print(f"IAM: {len(flow_calls)} calls by {len(callers)} functions, {len(actions)} kinds")

    # AND a role missing one permission fails, naming the action (checked on the same
    # recorded flow: recording it takes some 18 s)
    narrowed = copy.deepcopy(statements)
    narrowed["QualityFunction"] = [
        s for s in narrowed["QualityFunction"] if s.get("Sid") != "WriteArtifacts"
    ]
    found = violations(flow_calls, narrowed, cloud.context)
    assert found and all(
        f.startswith("QualityFunction: s3:PutObject on arn:aws:s3:::") for f in found
    )

    no_erasure = copy.deepcopy(statements)
    no_erasure["ApiFunction"] = [
        s for s in no_erasure["ApiFunction"] if s.get("Sid") != "RewriteRawFiles"
    ]
    found = violations(flow_calls, no_erasure, cloud.context)
    assert {f.split(" on ")[0] for f in found} == {
        "ApiFunction: s3:GetObject",
        "ApiFunction: s3:GetObjectVersion",
        "ApiFunction: s3:PutObject",
        "ApiFunction: s3:DeleteObjectVersion",
    }

    no_data_key = copy.deepcopy(statements)
    no_data_key["QualityFunction"] = [
        s for s in no_data_key["QualityFunction"] if s.get("Sid") != "UseTheDataKey"
    ]
    found = violations(flow_calls, no_data_key, cloud.context)
    # the reports it writes need a data key; the secrets it reads, Decrypt
    assert {f.split(" on ")[0] for f in found} == {
        "QualityFunction: kms:GenerateDataKey",
        "QualityFunction: kms:Decrypt",
    }
