"""The API's shape: routes, template, roles, documentation, request rules and imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest
from app import ROUTES, app, bearer

from chalicelib.auth import authorize
from chalicelib.errors import field_errors
from chalicelib.openapi import build_document
from chalicelib.requests import RequestModels, read_json_object
from credit_risk.contract import load_contract
from credit_risk.errors import PayloadTooLargeError, ValidationError
from credit_risk.governance.auth import mint_token
from credit_risk_local.template import functions, load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
KEY = b"k" * 40
MODELS = RequestModels(load_contract())


def _app_routes() -> set[tuple[str, str]]:
    return {(path, method) for path, entries in app.routes.items() for method in entries}


def test_the_template_declares_exactly_the_apps_routes() -> None:
    # GIVEN the ApiFunction's events in template.yaml
    spec = next(s for s in functions(TEMPLATE) if s.logical_id == "ApiFunction")
    events = [e["Properties"] for e in spec.events.values() if e["Type"] == "Api"]
    # THEN they are one event per Chalice route, all on the authorised API
    assert {(e["Path"], e["Method"].upper()) for e in events} == _app_routes()
    assert len(events) == len(_app_routes())
    assert all(e["RestApiId"] == {"Ref": "RiskApi"} for e in events)


def test_the_template_puts_the_token_authorizer_in_front_of_every_route() -> None:
    api = TEMPLATE["Resources"]["RiskApi"]["Properties"]["Auth"]
    authorizer = api["Authorizers"][api["DefaultAuthorizer"]]
    function = authorizer["FunctionArn"]["Fn::GetAtt"][0]
    props = TEMPLATE["Resources"][function]["Properties"]
    assert (props["CodeUri"], props["Handler"]) == ("functions/api/", "app.bearer")
    assert authorizer["Identity"]["Header"] == "Authorization"


def test_every_route_is_behind_the_authorizer_and_has_a_role() -> None:
    for path, entries in app.routes.items():
        for method, entry in entries.items():
            assert entry.authorizer is bearer, (method, path)
            assert ROUTES.required(path, method) in ("viewer", "analyst", "scorer", "admin")


def test_the_openapi_document_describes_every_route() -> None:
    doc = build_document(ROUTES, MODELS)
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    assert documented == _app_routes()
    predict = doc["paths"]["/api/predict"]["post"]
    assert {"200", "400", "401", "403", "404", "413", "503"} <= set(predict["responses"])
    body = predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in body}
    assert names == {"ExistingCustomerRequest", "NewApplicantRequest"}
    json.dumps(doc)  # serialisable as served


def _allowed(role: str) -> set[tuple[str, str]]:
    header = f"Bearer {mint_token(KEY, 'someone', role)}"  # type: ignore[arg-type]
    policy = authorize(header, KEY, ROUTES).to_dict(
        type("Req", (), {"method_arn": "arn:aws:execute-api:r:1:api/dev/GET/x"})()  # type: ignore[arg-type]
    )
    resources = policy["policyDocument"]["Statement"][0]["Resource"]
    return {(r.split("/", 3)[2], "/" + r.split("/", 3)[3]) for r in resources}


def test_the_authorizer_policy_grows_with_the_role() -> None:
    viewer, scorer, admin = _allowed("viewer"), _allowed("scorer"), _allowed("admin")
    analyst = _allowed("analyst")
    assert all(method == "GET" for method, _ in viewer)
    assert analyst - viewer == {("POST", "/api/policy/simulate")}
    assert scorer - analyst == {("POST", "/api/predict")}
    assert admin - scorer == {
        ("POST", "/api/models/*/promote"),
        ("POST", "/api/models/rollback"),
        ("GET", "/api/customers/*/data"),
        ("DELETE", "/api/customers/*"),
        ("POST", "/api/policy/promote"),
    }
    assert ("GET", "/api/risk-score/*") in viewer  # path parameters as wildcards


def test_the_authorizer_raises_for_a_bad_token() -> None:
    with pytest.raises(Exception, match="Unauthorized"):
        authorize("Bearer forged", KEY, ROUTES)


# --- request rules -------------------------------------------------------------------------


def _problems(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        MODELS.parse_predict(body)
    return [(e["field"], e["rule"]) for e in field_errors(caught.value)]


GOOD_APPLICATION = {
    "employment_status": "employed",
    "annual_income": 52000,
    "monthly_debt_payments": 400,
    "housing_status": "rent",
    "region": "north",
    "open_accounts": 3,
    "revolving_balance": 1200,
    "revolving_limit": 5000,
    "delinquencies_24m": 0,
    "inquiries_6m": 1,
    "public_records": 0,
    "loan_amount": 15000,
    "loan_term_months": 36,
    "interest_rate": 0.09,
    "loan_purpose": "car",
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"customer_id": "C1", "loan_amount": 5}, ("loan_amount", "greater_than_equal")),
        ({"customer_id": "C1", "loan_amount": "lots"}, ("loan_amount", "float_type")),
        ({"customer_id": "C1", "loan_amount": True}, ("loan_amount", "float_type")),
        ({"customer_id": "C1", "loan_term_months": 12.5}, ("loan_term_months", "int_type")),
        ({"customer_id": "C1", "loan_purpose": "yacht"}, ("loan_purpose", "literal_error")),
        ({"customer_id": "C1", "loan_amont": 5000}, ("loan_amont", "extra_forbidden")),
        ({"customer_id": "C1", "bureau_score": 900}, ("bureau_score", "extra_forbidden")),
        (
            {"customer_id": "C1", "application_date": "31/12/2024"},
            ("application_date", "date_format"),
        ),
        (
            {"customer_id": "C1", "application_date": "2024-02-30"},
            ("application_date", "date_format"),
        ),
        ({"customer_id": "C1", "email": "a@b.c"}, ("body", "personal_data")),
        ({"customer_id": ""}, ("customer_id", "too_short")),
        ({"customer_id": None}, ("customer_id", "id_type")),
        ({"loan_amount": 5000}, ("customer_id", "missing")),
        (
            {"application": {**GOOD_APPLICATION, "annual_income": -1}},
            ("application.annual_income", "greater_than_equal"),
        ),
        (
            {"application": {**GOOD_APPLICATION, "region": "mars"}},
            ("application.region", "literal_error"),
        ),
        (
            {"application": {k: v for k, v in GOOD_APPLICATION.items() if k != "loan_amount"}},
            ("application.loan_amount", "missing"),
        ),
        (
            {"application": {**GOOD_APPLICATION, "full_name": "Ann Smith"}},
            ("application", "personal_data"),
        ),
        ({"application": "everything"}, ("application", "model_type")),
        # a protected attribute is never a model input: refused, not silently ignored
        (
            {"application": {**GOOD_APPLICATION, "applicant_group": "group_b"}},
            ("application", "personal_data"),
        ),
        ({"customer_id": "C1", "age_band": "40+"}, ("body", "personal_data")),
    ],
)
def test_bad_bodies_name_the_field_and_the_rule(
    body: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in _problems(body)


def test_good_bodies_of_both_kinds_validate() -> None:
    existing = MODELS.parse_predict({"customer_id": 42, "loan_amount": 50000})
    assert existing.customer_id == "42"  # type: ignore[attr-defined]
    new = MODELS.parse_predict({"application": {**GOOD_APPLICATION, "customer_id": "C9"}})
    assert new.application.loan_amount == 15000  # type: ignore[attr-defined]


def test_request_models_follow_another_lenders_contract() -> None:
    contract = load_contract(REPO / "tests/fixtures/other_lender/contract.yaml")
    models = RequestModels(contract)
    fields = set(models.application.model_fields)
    assert {"deal_ref", "borrower_no", "financed_amount", "dealer_channel"} <= fields
    assert "borrower_name" not in fields and "loan_amount" not in fields
    assert set(models.existing_customer.model_fields) == {"borrower_no", "contract_start"}


@pytest.mark.parametrize(
    ("raw", "error", "rule"),
    [
        (b"", ValidationError, None),
        (b"{not json", ValidationError, "json_invalid"),
        (b'{"loan_amount": NaN}', ValidationError, "json_invalid"),
        (b"[1, 2]", ValidationError, "object_type"),
        (b"\xff\xfe\x00", ValidationError, "json_invalid"),
        (b"[" * 5000 + b"]" * 5000, ValidationError, None),
        (b'{"a": "' + b"x" * 40_000 + b'"}', PayloadTooLargeError, "max_bytes"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(
    raw: bytes, error: type[Exception], rule: str | None
) -> None:
    with pytest.raises(error) as caught:
        read_json_object(raw)
    if rule:
        assert caught.value.details["rule"] == rule  # type: ignore[attr-defined]


def test_importing_the_api_loads_neither_pandas_nor_scikit_learn() -> None:
    # The API must fit a zip and start fast (DESIGN 6, 11): nothing on its import path may
    # pull the data-science stack in. xgboost loads only when a tree champion does.
    code = (
        "import sys, app; heavy = {'pandas', 'sklearn', 'scipy', 'xgboost', 'imblearn'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    env = {
        "PYTHONPATH": f"{REPO / 'functions/api'}{os.pathsep}{REPO / 'layers/core/python'}",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
