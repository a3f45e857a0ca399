"""Every route × every kind of caller: 401 without a valid token, 403 below the route's
role, 200 at or above it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app import app

from credit_risk.decisions.policy import load_decision_policy
from credit_risk.governance.auth import mint_token
from credit_risk.runtime import get_runtime
from functional.api.conftest import ApiWorld

# The least role of each route, written out here so the test can disagree with the app.
LEAST_ROLE = {
    ("GET", "/api/health"): "viewer",
    ("GET", "/api/openapi.json"): "viewer",
    ("GET", "/api/risk-score/{customer_id}"): "viewer",
    ("GET", "/api/model-metrics"): "viewer",
    ("GET", "/api/models"): "viewer",
    ("GET", "/api/executions"): "viewer",
    ("GET", "/api/dashboard"): "viewer",
    ("POST", "/api/predict"): "scorer",
    ("POST", "/api/models/{version}/promote"): "admin",
    ("POST", "/api/models/rollback"): "admin",
    ("GET", "/api/customers/{customer_id}/data"): "admin",
    ("DELETE", "/api/customers/{customer_id}"): "admin",
    ("GET", "/api/policy"): "viewer",
    ("POST", "/api/policy/simulate"): "analyst",
    ("POST", "/api/policy/promote"): "admin",
}
RANK = {"viewer": 0, "analyst": 1, "scorer": 2, "admin": 3}


def _request(api: ApiWorld, method: str, route: str) -> tuple[str, Any]:
    """A concrete path and body that succeed for a caller who may call the route."""
    # Erasure takes another customer than the rest, who stay on file (an erased one is 410).
    row = 1 if (method, route) == ("DELETE", "/api/customers/{customer_id}") else 0
    customer = str(api.models.data.applications["customer_id"].iloc[row])
    champion = api.registry.require_champion().version
    path = route.replace("{customer_id}", customer).replace("{version}", champion)
    body = {"customer_id": customer, "loan_amount": 20000} if route == "/api/predict" else None
    if route in ("/api/policy/simulate", "/api/policy/promote"):
        # a new version each time: promoting the one in force again is a 409
        body = {"policy": {**load_decision_policy().model_dump(), "version": uuid.uuid4().hex}}
    return path, body


def test_every_route_answers_401_403_or_200_by_token_and_role(api: ApiWorld) -> None:
    # GIVEN a champion, a stored score, a previous champion to roll back to, an execution
    customer = str(api.models.data.applications["customer_id"].iloc[0])
    assert api.call("POST", "/api/predict", body={"customer_id": customer}).status == 200
    other = next(v for v in api.versions.values() if v.status != "champion")
    assert api.call("POST", f"/api/models/{other.version}/promote").status == 200
    api.cloud.start_training({"trigger": "roles-test"})
    key = get_runtime().api_token_key
    expired = mint_token(key, "old", "admin", 60, now=datetime.now(UTC) - timedelta(hours=2))
    forged = mint_token(b"x" * 40, "mallory", "admin")
    routes = {(m, p) for p, entries in app.routes.items() for m in entries}
    assert routes == set(LEAST_ROLE), "a route was added without deciding its role here"

    for (method, route), least in sorted(LEAST_ROLE.items()):
        path, body = _request(api, method, route)
        # WHEN there is no token, a forged one or an expired one: 401
        for headers in (
            {},
            {"Authorization": f"Bearer {forged}"},
            {"Authorization": f"Bearer {expired}"},
        ):
            answer = api.call(method, path, role=None, body=body, headers=headers)
            assert answer.status == 401, (method, route, headers, answer.body)
        # WHEN the role is below the route's: 403; at or above it: 200
        for role in ("viewer", "analyst", "scorer", "admin"):
            answer = api.call(method, path, role=role, body=body)
            expected = 200 if RANK[role] >= RANK[least] else 403
            assert answer.status == expected, (method, route, role, answer.body)


def test_a_request_that_skipped_the_authorizer_is_refused_by_the_view(api: ApiWorld) -> None:
    # GIVEN an event straight to the function, without the authorizer's context (a
    # misconfigured gateway), THEN the view itself refuses it
    event = {
        "resource": "/api/models",
        "path": "/api/models",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/api/models", "httpMethod": "GET", "requestId": "r1"},
        "body": None,
        "isBase64Encoded": False,
    }
    answer = app(event, None)
    assert answer["statusCode"] == 401
    assert '"AuthenticationError"' in answer["body"]
