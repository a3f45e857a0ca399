"""Bad input over HTTP: 400 naming the field and rule, 413, 415, never a 500."""

from __future__ import annotations

import pytest

from functional.api.conftest import ApiWorld


def _customer(api: ApiWorld) -> str:
    return str(api.models.data.applications["customer_id"].iloc[0])


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"loan_amount": 5000}, "customer_id", "missing"),
        ({"customer_id": "C1", "loan_amount": 50}, "loan_amount", "greater_than_equal"),
        ({"customer_id": "C1", "loan_amount": 1e9}, "loan_amount", "less_than_equal"),
        ({"customer_id": "C1", "loan_purpose": "yacht"}, "loan_purpose", "literal_error"),
        ({"customer_id": "C1", "loan_term_months": "36"}, "loan_term_months", "int_type"),
        ({"customer_id": "C1", "national_id": "AB123"}, "body", "personal_data"),
        ({"application": {"loan_amount": 5000}}, "application.annual_income", "missing"),
    ],
)
def test_a_bad_body_is_400_naming_the_field_and_the_rule(
    shared_api: ApiWorld, body: dict, field: str, rule: str
) -> None:
    answer = shared_api.call("POST", "/api/predict", role="scorer", body=body)
    assert answer.status == 400
    assert answer.body["error"] == "ValidationError"
    assert {"field": field, "rule": rule} in [
        {"field": e["field"], "rule": e["rule"]} for e in answer.body["errors"]
    ]
    assert answer.body["message"].startswith(answer.body["errors"][0]["field"])
    assert answer.body["request_id"] == answer.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("raw", "status", "rule"),
    [
        (b"", 400, None),
        (b"{oops", 400, "json_invalid"),
        (b'{"customer_id": "C1", "loan_amount": Infinity}', 400, "json_invalid"),
        (b'["customer_id"]', 400, "object_type"),
        (b'{"customer_id": "' + b"C" * 40_000 + b'"}', 413, "max_bytes"),
    ],
)
def test_a_body_that_is_not_a_small_json_object_is_refused(
    shared_api: ApiWorld, raw: bytes, status: int, rule: str | None
) -> None:
    answer = shared_api.call("POST", "/api/predict", role="scorer", raw=raw)
    assert answer.status == status
    assert answer.body["errors"][0]["field"] == "body"
    if rule:
        assert answer.body["errors"][0]["rule"] == rule


def test_a_body_that_is_not_json_by_content_type_is_415(shared_api: ApiWorld) -> None:
    answer = shared_api.call(
        "POST",
        "/api/predict",
        raw=b"customer_id=C1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 415


def test_an_overlong_customer_id_in_the_path_is_400(shared_api: ApiWorld) -> None:
    answer = shared_api.call("GET", "/api/risk-score/" + "C" * 201, role="viewer")
    assert (answer.status, answer.body["errors"][0]["field"]) == (400, "customer_id")


def test_a_valid_request_still_succeeds_after_all_that(shared_api: ApiWorld) -> None:
    answer = shared_api.call("POST", "/api/predict", body={"customer_id": _customer(shared_api)})
    assert answer.status == 200
