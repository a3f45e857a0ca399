"""Thousands of generated requests, none answered with a 5xx.

schemathesis reads the OpenAPI document the API serves and generates requests for every
operation: valid ones (which must get documented answers matching their schemas) and
invalid ones (wrong types, out-of-range values, missing or extra fields, bodies that are
not JSON). hypothesis adds raw bodies of every shape. All go through API Gateway's local
stand-in with a valid admin token, so every route's own code runs.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import openapi
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from functional.api.conftest import Answer, ApiWorld

EXAMPLES = {GenerationMode.POSITIVE: 100, GenerationMode.NEGATIVE: 100}
RAW_EXAMPLES = 400


def fuzz(examples: int) -> settings:
    """Settings for a fuzz run: reproducible, no deadline (the first call loads the model)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )


def _send(api: ApiWorld, case: Any) -> tuple[Answer, schemathesis.Response]:
    """Send a generated case through the Chalice test client; return both views of the
    answer (ours, and the one schemathesis checks)."""
    path = case.formatted_path
    if case.query:
        path = f"{path}?{urlencode(case.query, doseq=True)}"
    headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    headers["Content-Type"] = case.media_type or "application/json"
    if isinstance(case.body, NotSet):
        raw = b""
    elif isinstance(case.body, bytes):
        raw = case.body
    else:
        raw = json.dumps(case.body).encode()
    answer = api.call(case.method, path, headers=headers, raw=raw)
    content = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
    prepared = requests.Request(
        case.method, f"http://api.local{path}", headers=headers, data=raw
    ).prepare()
    response = schemathesis.Response(
        status_code=answer.status,
        headers={"content-type": ["application/json"]}
        | {k.lower(): [v] for k, v in answer.headers.items()},
        content=content,
        request=prepared,
        elapsed=0.001,
        verify=False,
    )
    return answer, response


@pytest.fixture(scope="module")
def served_schema(shared_api: ApiWorld) -> Any:
    document = shared_api.call("GET", "/api/openapi.json", role="viewer")
    assert document.status == 200
    return openapi.from_dict(document.body)


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_no_generated_request_gets_a_server_error(
    shared_api: ApiWorld, served_schema: Any, mode: GenerationMode
) -> None:
    sent = 0
    statuses: dict[int, int] = {}

    for result in served_schema.get_all_operations():
        operation = result.ok()

        @fuzz(EXAMPLES[mode])
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            answer, response = _send(shared_api, case)
            nonlocal sent
            sent += 1
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            assert answer.status < 500, (case.method, case.formatted_path, answer.body)
            checks = [not_a_server_error, status_code_conformance]
            if mode is GenerationMode.POSITIVE:
                checks += [content_type_conformance, response_schema_conformance]
            case.validate_response(response, checks=checks)

        check()
    # Enough requests went out, and they reached the views, not only the gateway
    assert sent >= 500
    assert statuses.get(200, 0) > 0  # the views ran, not only the gateway
    if mode is GenerationMode.NEGATIVE:
        assert statuses.get(400, 0) > 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
_PREDICT_KEYS = st.sampled_from(
    [
        "customer_id",
        "application",
        "loan_amount",
        "loan_term_months",
        "interest_rate",
        "loan_purpose",
        "application_date",
        "email",
        "bureau_score",
    ]
)


@fuzz(RAW_EXAMPLES)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        _JSON.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(_PREDICT_KEYS, _JSON, max_size=6).map(lambda v: json.dumps(v).encode()),
    ),
    route=st.sampled_from(
        [("POST", "/api/predict"), ("POST", "/api/models/v1/promote"), ("GET", "/api/health")]
    ),
)
def test_raw_bodies_of_any_shape_are_4xx_never_5xx(
    shared_api: ApiWorld, body: bytes, route: tuple[str, str]
) -> None:
    method, path = route
    answer = shared_api.call(method, path, raw=body)
    assert answer.status < 500, (body[:200], answer.body)
    if answer.status >= 400:
        assert answer.body["request_id"] or answer.status in (401, 403)
