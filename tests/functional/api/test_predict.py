"""POST /api/predict and GET /api/risk-score: decisions with reasons, stored and found."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from credit_risk.contract import load_contract
from credit_risk.db import schema
from credit_risk.decisions.policy import decide, load_decision_policy, risk_grade, score_points
from credit_risk.runtime import get_runtime
from fixtures.portfolio import client_application
from functional.api.conftest import ApiWorld

POLICY = load_decision_policy(contract=load_contract())


def _customer(api: ApiWorld, i: int = 0) -> str:
    return str(api.models.data.applications["customer_id"].iloc[i])


def test_an_existing_customer_gets_a_decision_with_ranked_reasons(api: ApiWorld) -> None:
    # WHEN a scorer asks about a new loan for a customer on file
    answer = api.call(
        "POST",
        "/api/predict",
        role="scorer",
        body={"customer_id": _customer(api), "loan_amount": 50000, "loan_term_months": 60},
    )
    # THEN the answer holds a PD and everything the policy derives from it
    assert answer.status == 200, answer.body
    d = answer.body
    pd_ = d["probability_of_default"]
    assert 0 < pd_ < 1
    assert d["score"] == score_points(pd_, POLICY)
    assert d["grade"] == risk_grade(pd_, POLICY)
    assert d["decision"] == decide(pd_, POLICY)
    assert d["expected_loss"] == round(pd_ * POLICY.lgd * 50000, 2)
    assert d["policy_version"] == POLICY.version
    # AND the reasons: at most four features that raised the PD, strongest first, in words
    reasons = d["reasons"]
    assert 1 <= len(reasons) <= 4
    contributions = [r["contribution"] for r in reasons]
    assert contributions == sorted(contributions, reverse=True) and contributions[-1] > 0
    contract = get_runtime().contract
    assert all(r["text"] == contract.reason_text(r["feature"]) for r in reasons)
    # AND which model decided, and the request id it is audited under
    champion = api.registry.require_champion()
    assert (d["model_version"], d["artifact_sha256"]) == (
        champion.version,
        champion.artifact_sha256,
    )
    assert d["request_id"] == answer.headers["X-Request-Id"]


def test_the_new_loans_terms_change_the_answer(api: ApiWorld) -> None:
    small, large = (
        api.call(
            "POST",
            "/api/predict",
            body={"customer_id": _customer(api, 3), "loan_amount": amount},
        ).body
        for amount in (2_000, 400_000)
    )
    assert small["probability_of_default"] != large["probability_of_default"]
    assert large["expected_loss"] > small["expected_loss"]


def test_a_decision_is_stored_and_found_by_the_customers_id(api: ApiWorld) -> None:
    # GIVEN a decision for a customer
    customer = _customer(api, 7)
    decided = api.call("POST", "/api/predict", body={"customer_id": customer}).body
    # WHEN a viewer looks the customer up
    found = api.call("GET", f"/api/risk-score/{customer}", role="viewer")
    # THEN it is that decision, when and by which model
    assert found.status == 200, found.body
    score = found.body
    assert score["customer_id"] == customer
    assert score["application_id"] == decided["request_id"]
    assert score["source"] == "api"
    assert score["probability_of_default"] == decided["probability_of_default"]
    assert score["reasons"] == decided["reasons"]
    assert score["model_version"] == decided["model_version"]
    assert pd.Timestamp(score["scored_at"]) == pd.Timestamp(decided["scored_at"])
    # AND the score is kept under the pseudonym, never the raw id
    with get_runtime().engine.connect() as conn:
        raw = conn.execute(
            select(func.count())
            .select_from(schema.scores)
            .where(schema.scores.c.customer_key == customer)
        ).scalar_one()
    assert raw == 0


def test_a_new_applicant_is_scored_from_a_whole_application(api: ApiWorld) -> None:
    row = api.models.data.applications.iloc[11]
    body = client_application(row)
    body.pop("application_date", None)  # today's, as a real-time request is
    body["customer_id"] = "NEW-0001"
    answer = api.call("POST", "/api/predict", role="scorer", body={"application": body})
    assert answer.status == 200, answer.body
    assert answer.body["application_id"] == row["application_id"]
    assert math.isclose(
        answer.body["expected_loss"],
        round(answer.body["probability_of_default"] * POLICY.lgd * body["loan_amount"], 2),
    )
    found = api.call("GET", "/api/risk-score/NEW-0001", role="viewer")
    assert found.status == 200
    assert found.body["application_id"] == row["application_id"]


def test_an_unknown_customer_is_404_naming_the_field(api: ApiWorld) -> None:
    answer = api.call("POST", "/api/predict", body={"customer_id": "C9999999"})
    assert answer.status == 404
    assert answer.body["error"] == "NotFoundError"
    assert answer.body["errors"][0]["field"] == "customer_id"
    lookup = api.call("GET", "/api/risk-score/C9999999", role="viewer")
    assert lookup.status == 404


def test_without_a_champion_scoring_is_503_and_health_says_why(bare_api: ApiWorld) -> None:
    body: dict[str, Any] = {"customer_id": _customer(bare_api)}
    answer = bare_api.call("POST", "/api/predict", body=body)
    assert answer.status == 503
    assert answer.body["error"] == "NoChampionError"
    assert bare_api.call("GET", "/api/model-metrics").status == 503
    health = bare_api.call("GET", "/api/health")
    assert health.status == 503
    assert health.body["checks"]["database"]["ok"] is True
    assert health.body["checks"]["champion"] == {"ok": False, "error": "NoChampionError"}
    assert bare_api.call("GET", "/api/health?probe=live").status == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_health_is_ready_with_a_champion_and_a_database(api: ApiWorld) -> None:
    health = api.call("GET", "/api/health", role="viewer")
    assert health.status == 200
    assert health.body["ready"] is True
    assert health.body["checks"]["champion"]["version"] == api.registry.require_champion().version
