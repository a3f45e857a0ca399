"""Counterfactuals: a declined or referred applicant is told the smallest change to the
loan's actionable terms that would be approved, and every option, re-scored, is approved."""

from __future__ import annotations

from typing import Any

import pytest

from credit_risk.contract import Actionable, Contract, load_contract
from credit_risk.decisions.counterfactuals import candidate_values, find_counterfactuals
from functional.api.conftest import ApiWorld


def _declined(api: ApiWorld, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Customers whose large, short loan is not approved, with the answer."""
    found = []
    for i in range(len(api.models.data.applications)):
        customer = str(api.models.data.applications["customer_id"].iloc[i])
        body = {"customer_id": customer, "loan_amount": 40000, "loan_term_months": 12}
        answer = api.call("POST", "/api/predict", role="scorer", body=body)
        if answer.status == 200 and answer.body["decision"] != "approve":
            found.append((customer, answer.body))
        if len(found) == count:
            break
    assert found, "no declined application to explain"
    return found


def test_every_counterfactual_re_scored_through_the_api_is_approved(api: ApiWorld) -> None:
    explained = 0
    for customer, answer in _declined(api, 6):
        counterfactuals = answer["counterfactuals"]
        assert counterfactuals["searched"] > 0
        if not counterfactuals["found"]:
            assert "no change within the allowed ranges" in counterfactuals["message"]
            continue
        for option in counterfactuals["options"]:
            body: dict[str, Any] = {
                "customer_id": customer,
                "loan_amount": 40000,
                "loan_term_months": 12,
            }
            body.update({c["field"]: c["to"] for c in option["changes"]})
            again = api.call("POST", "/api/predict", role="scorer", body=body)
            assert again.status == 200
            assert again.body["decision"] == "approve"
            assert again.body["probability_of_default"] == pytest.approx(
                option["probability_of_default"], abs=1e-12
            )
            assert "counterfactuals" not in again.body
            explained += 1
            for change in option["changes"]:
                if change["field"] == "loan_amount":
                    assert change["to"] < change["from"] and change["to"] >= 1000
    assert explained > 0


def test_an_approved_answer_carries_no_counterfactuals(api: ApiWorld) -> None:
    for i in range(40):
        customer = str(api.models.data.applications["customer_id"].iloc[i])
        body = {"customer_id": customer, "loan_amount": 1500, "loan_term_months": 36}
        answer = api.call("POST", "/api/predict", role="scorer", body=body)
        if answer.body.get("decision") == "approve":
            assert "counterfactuals" not in answer.body
            return
    pytest.fail("no approved application among 40 small loans")


def _fake_scorer(application: dict[str, Any], approve_when: Any) -> Any:
    def score_many(changes: Any) -> list[dict[str, Any]]:
        return [
            {
                "decision": "approve" if approve_when(a) else "decline",
                "probability_of_default": 0.05,
                "score": 700,
                "grade": "A",
            }
            for a in ({**application, **c} for c in changes)
        ]

    return score_many


def test_a_single_change_is_preferred_and_pairs_are_tried_only_without_one() -> None:
    contract = load_contract()
    application = {"loan_amount": 20000, "loan_term_months": 12}
    single = find_counterfactuals(
        application, contract, _fake_scorer(application, lambda a: a["loan_amount"] <= 15000)
    )
    assert single["found"]
    assert single["options"][0]["changes"] == [{"field": "loan_amount", "from": 20000, "to": 15000}]
    pair = find_counterfactuals(
        application,
        contract,
        _fake_scorer(
            application, lambda a: a["loan_amount"] <= 18000 and a["loan_term_months"] >= 36
        ),
    )
    assert pair["found"] and len(pair["options"][0]["changes"]) == 2
    none = find_counterfactuals(application, contract, _fake_scorer(application, lambda a: False))
    assert not none["found"] and "loan_amount, loan_term_months" in none["message"]


def test_candidates_go_the_allowed_way_nearest_first_within_bounds() -> None:
    rule = Actionable(direction="decrease", step=500, min=1000)
    assert candidate_values(2600, rule)[:4] == [2100, 1600, 1100]
    terms = Actionable(values=[12, 24, 36, 48])
    assert candidate_values(36, terms) == [24, 48, 12]


def test_an_actionable_term_must_be_a_numeric_loan_term() -> None:
    raw = load_contract().model_dump(mode="json", exclude_none=True)
    raw["actionable"] = {"loan_purpose": {"values": [1]}}
    with pytest.raises(ValueError, match="actionable 'loan_purpose' must be a numeric column"):
        Contract.model_validate(raw)
    with pytest.raises(ValueError, match="exactly one of 'step' or 'values'"):
        Actionable(direction="decrease")
