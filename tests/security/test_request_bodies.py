"""Finding 10 (API): request bodies are read strictly and every refusal has one shape.

Duplicate keys are refused (never last-wins); the JSON parser's internals (recursion and
digit limits) are never echoed; the gateway's 401/403, Chalice's 405/415 and our own
errors all answer ``{error, message, request_id}``.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from app import app
from chalice.config import Config
from functional.api.conftest import ApiWorld

from credit_risk_local.gateway import create_server
from credit_risk_local.template import load_template

ERROR_SHAPE = {"error", "message", "request_id"}


def _customer(api: ApiWorld) -> str:
    return str(api.models.data.applications["customer_id"].iloc[0])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"customer_id": "%s", "loan_amount": 1000, "loan_amount": 900000}',
        b'{"application": {"region": "north", "region": "south"}}',
    ],
)
def test_a_repeated_key_is_refused_not_last_wins(shared_api: ApiWorld, raw: bytes) -> None:
    # GIVEN a body that names the same key twice in one object
    body = raw.replace(b"%s", _customer(shared_api).encode())
    # WHEN it is posted THEN it is a 400 saying so, not scored on the last value
    answer = shared_api.call("POST", "/api/predict", role="scorer", raw=body)
    assert answer.status == 400, answer.body
    assert answer.body["errors"][0] == {
        "field": "body",
        "rule": "duplicate_key",
        "message": answer.body["message"],
    }


@pytest.mark.parametrize(
    ("raw", "rule", "internals"),
    [
        (b"[" * 30000, "json_too_deep", "recursion"),
        (b'{"loan_amount": ' + b"9" * 5000 + b"}", "json_invalid", "4300"),
    ],
    ids=["deep", "digits"],
)
def test_parser_internals_are_not_echoed(
    shared_api: ApiWorld, raw: bytes, rule: str, internals: str
) -> None:
    answer = shared_api.call("POST", "/api/predict", role="scorer", raw=raw)
    assert answer.status == 400, answer.body
    assert answer.body["errors"][0]["rule"] == rule
    text = str(answer.body)
    assert internals not in text and "exceed" not in text.lower()
    assert set(answer.body) >= ERROR_SHAPE


def _shaped(answer: object, status: int) -> None:
    assert answer.status == status
    body = answer.body
    assert isinstance(body, dict) and set(body) == ERROR_SHAPE, body
    assert body["request_id"] and body["message"]


def test_a_missing_or_bad_token_is_a_shaped_401(shared_api: ApiWorld) -> None:
    _shaped(shared_api.call("GET", "/api/models", role=None), 401)
    bad = {"Authorization": "Bearer forged"}
    answer = shared_api.call("GET", "/api/models", role=None, headers=bad)
    _shaped(answer, 401)
    assert answer.body["error"] == "AuthenticationError"


def test_a_route_outside_the_role_is_a_shaped_403(shared_api: ApiWorld) -> None:
    answer = shared_api.call("POST", "/api/models/rollback", role="viewer")
    _shaped(answer, 403)
    assert answer.body["error"] == "PermissionDeniedError"


def test_a_wrong_method_is_a_shaped_405(shared_api: ApiWorld) -> None:
    answer = shared_api.call("PUT", "/api/predict", role="scorer", body={})
    _shaped(answer, 405)


def test_a_form_body_is_a_shaped_415(shared_api: ApiWorld) -> None:
    answer = shared_api.call(
        "POST",
        "/api/predict",
        role="scorer",
        raw=b"customer_id=C1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _shaped(answer, 415)
    assert "application/json" in answer.body["message"]


def test_the_deployed_gateway_answers_in_the_same_shape() -> None:
    responses = load_template()["Resources"]["RiskApi"]["Properties"]["GatewayResponses"]
    for kind in ("UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX"):
        body = responses[kind]["ResponseTemplates"]["application/json"]
        assert all(f'"{key}"' in body for key in ERROR_SHAPE), kind
        assert "$context.requestId" in body


def test_the_readme_curl_example_sends_json() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    curls = [line for line in readme.splitlines() if line.startswith("curl ")]
    assert curls and all("Content-Type: application/json" in line for line in curls)


def test_the_served_local_api_answers_401_in_the_same_shape() -> None:
    # GIVEN the API served as `./run up` serves it (Chalice's server over template.yaml's
    # gateway responses)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server(app, Config.create(), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # WHEN a request comes without a token
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=10)
        # THEN the answer is a 401 in the API's error shape
        assert refused.value.code == 401
        body = json.loads(refused.value.read())
        assert set(body) == ERROR_SHAPE and body["error"] == "AuthenticationError"
    finally:
        server.shutdown()
