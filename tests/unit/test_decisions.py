"""From PD to decision: scaling, grades, bands, expected loss, reasons and the policy file."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from pydantic import ValidationError as PydanticValidationError

from credit_risk.contract import Contract, load_contract
from credit_risk.decisions.policy import (
    DecisionPolicy,
    decide,
    expected_loss,
    exposure_at_default,
    load_decision_policy,
    make_decision,
    principal_reasons,
    risk_grade,
    score_points,
    validate_policy,
)
from credit_risk.errors import ConfigurationError

PDS = [i / 1000 for i in range(1, 1000)]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(scope="module")
def policy() -> DecisionPolicy:
    return load_decision_policy(contract=load_contract())


def pd_at_odds(odds: float) -> float:
    """The PD whose good:bad odds are ``odds``."""
    return 1.0 / (1.0 + odds)


def policy_dict(**changes) -> dict:
    raw = {
        "version": "test-1",
        "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20},
        "grades": [
            {"grade": "A", "max_pd": 0.02},
            {"grade": "B", "max_pd": 0.05},
            {"grade": "C", "max_pd": 0.10},
            {"grade": "D", "max_pd": 0.20},
            {"grade": "E", "max_pd": 1.0},
        ],
        "decisions": [
            {"decision": "approve", "max_pd": 0.08},
            {"decision": "review", "max_pd": 0.2},
            {"decision": "decline", "max_pd": 1.0},
        ],
        "lgd": 0.45,
        "ead_feature": "loan_amount",
        "max_reasons": 4,
        "min_reason_contribution": 0.01,
    }
    raw.update(changes)
    return raw


def write_policy(tmp_path, raw) -> str:
    path = tmp_path / "decisions.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


# --------------------------------------------------------------------------- points


def test_base_odds_give_the_base_score(policy):
    assert score_points(pd_at_odds(50), policy) == 600


def test_doubling_the_odds_adds_pdo_points(policy):
    assert score_points(pd_at_odds(100), policy) == 620
    assert score_points(pd_at_odds(200), policy) == 640
    assert score_points(pd_at_odds(25), policy) == 580


def test_points_follow_the_configured_scaling(tmp_path):
    raw = policy_dict(scaling={"base_score": 700, "base_odds": 20, "pdo": 40})
    policy = load_decision_policy(write_policy(tmp_path, raw))

    assert score_points(pd_at_odds(20), policy) == 700
    assert score_points(pd_at_odds(40), policy) == 740


def test_points_fall_as_pd_rises_and_stay_finite_at_the_extremes(policy):
    scores = [score_points(p, policy) for p in [0.0, *PDS, 1.0]]

    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s, int) for s in scores)


def test_points_respect_optional_bounds(tmp_path):
    scaling = {"base_score": 600, "base_odds": 50, "pdo": 20, "min_score": 300, "max_score": 850}
    policy = load_decision_policy(write_policy(tmp_path, policy_dict(scaling=scaling)))

    assert score_points(0.0, policy) == 850
    assert score_points(1.0, policy) == 300


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_a_pd_outside_zero_one_is_refused(policy, bad):
    with pytest.raises(ValueError, match="between 0 and 1"):
        score_points(bad, policy)


# --------------------------------------------------------------------------- grades, bands


def test_grades_are_monotone_in_pd(policy):
    grades = [risk_grade(p, policy) for p in PDS]

    order = [g.grade for g in policy.grades]
    ranks = [order.index(g) for g in grades]
    assert ranks == sorted(ranks)
    assert set(grades) == set(order)


def test_grade_bands_include_their_upper_bound(policy):
    assert risk_grade(0.02, policy) == "A"
    assert risk_grade(0.0201, policy) == "B"
    assert risk_grade(1.0, policy) == "E"


def test_decisions_are_monotone_in_pd(policy):
    decisions = [decide(p, policy) for p in PDS]

    ranks = [["approve", "review", "decline"].index(d) for d in decisions]
    assert ranks == sorted(ranks)
    assert set(decisions) == {"approve", "review", "decline"}


def test_default_policy_decides_by_grade(policy):
    assert decide(0.09, policy) == "approve"  # grade C
    assert decide(0.15, policy) == "review"  # grade D
    assert decide(0.35, policy) == "decline"  # grade E


def test_decision_bands_by_pd(tmp_path):
    policy = load_decision_policy(write_policy(tmp_path, policy_dict()))

    assert decide(0.08, policy) == "approve"
    assert decide(0.081, policy) == "review"
    assert decide(0.2, policy) == "review"
    assert decide(0.5, policy) == "decline"


# --------------------------------------------------------------------------- expected loss


def test_expected_loss_is_pd_times_lgd_times_ead(policy):
    assert expected_loss(0.1, 10_000, policy) == pytest.approx(0.1 * 0.45 * 10_000)
    assert expected_loss(0.0, 10_000, policy) == 0.0


def test_expected_loss_uses_the_configured_lgd(tmp_path):
    policy = load_decision_policy(write_policy(tmp_path, policy_dict(lgd=0.6)))

    assert expected_loss(0.2, 5_000, policy) == pytest.approx(600.0)


def test_negative_exposure_is_refused(policy):
    with pytest.raises(ValueError, match="exposure"):
        expected_loss(0.1, -5, policy)


def test_exposure_is_read_from_the_configured_feature(policy):
    assert exposure_at_default({"loan_amount": 12_000.0}, policy) == 12_000.0
    assert exposure_at_default({"loan_amount": None}, policy) is None
    assert exposure_at_default({}, policy) is None


# --------------------------------------------------------------------------- reasons


CONTRIBUTIONS = {
    "bureau_score": 0.42,
    "debt_to_income": 0.91,
    "utilisation": 0.15,
    "inquiries_6m": 0.30,
    "loan_purpose": 0.22,
    "annual_income": -0.50,
    "region": 0.005,  # below the minimum contribution
    "bias": 2.0,  # not a feature
}


def test_reasons_are_the_top_positive_contributions_ranked(contract, policy):
    reasons = principal_reasons(CONTRIBUTIONS, contract, policy)

    assert [r["feature"] for r in reasons] == [
        "debt_to_income",
        "bureau_score",
        "inquiries_6m",
        "loan_purpose",
    ]
    assert [r["contribution"] for r in reasons] == [0.91, 0.42, 0.30, 0.22]
    assert reasons[0]["text"] == "Existing debt payments are high relative to income"
    assert reasons[1]["text"] == "Credit bureau score is low"


def test_reasons_never_include_features_that_lowered_risk(contract, policy):
    reasons = principal_reasons({"annual_income": -0.5, "bureau_score": -0.2}, contract, policy)

    assert reasons == []


def test_reasons_respect_max_reasons_and_minimum(contract, tmp_path):
    raw = policy_dict(max_reasons=2, min_reason_contribution=0.25)
    policy = load_decision_policy(write_policy(tmp_path, raw))

    reasons = principal_reasons(CONTRIBUTIONS, contract, policy)

    assert [r["feature"] for r in reasons] == ["debt_to_income", "bureau_score"]


def test_a_feature_without_reason_text_gets_a_readable_one(contract, policy):
    reasons = principal_reasons(
        {"open_accounts": 0.3}, contract.model_copy(update={"reason_texts": {}}), policy
    )

    assert reasons[0]["text"] == "Open accounts"


# --------------------------------------------------------------------------- decision


def test_make_decision_puts_it_all_together(contract, policy):
    decision = make_decision(0.12, CONTRIBUTIONS, 10_000.0, contract, policy)

    assert decision.probability_of_default == 0.12
    assert decision.score == score_points(0.12, policy)
    assert decision.grade == "D"
    assert decision.decision == "review"
    assert decision.expected_loss == 540.0
    assert len(decision.reasons) == 4
    assert decision.policy_version == policy.version
    data = json.loads(json.dumps(decision.to_dict()))
    assert set(data) == {
        "probability_of_default",
        "score",
        "grade",
        "decision",
        "expected_loss",
        "reasons",
        "policy_version",
    }
    assert data["reasons"][0] == {
        "feature": "debt_to_income",
        "contribution": 0.91,
        "text": "Existing debt payments are high relative to income",
    }


def test_make_decision_without_exposure_has_no_expected_loss(contract, policy):
    assert make_decision(0.05, {}, None, contract, policy).expected_loss is None


# --------------------------------------------------------------------------- policy file


def test_packaged_policy_loads_and_fits_the_default_contract(contract, policy):
    assert policy.scaling.base_score == 600 and policy.scaling.pdo == 20
    assert policy.lgd == 0.45 and policy.ead_feature == "loan_amount"
    assert policy.max_reasons == 4
    validate_policy(policy, contract)


def test_a_numeric_version_is_kept_as_text(tmp_path):
    policy = load_decision_policy(write_policy(tmp_path, policy_dict(version=2.1)))

    assert policy.version == "2.1"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scaling": {"base_score": 600, "base_odds": 50, "pdo": 0}}, "scaling.pdo"),
        ({"lgd": 1.5}, "lgd"),
        ({"max_reasons": 6}, "max_reasons"),
        ({"unknown_setting": 1}, "unknown_setting"),
        (
            {"grades": [{"grade": "A", "max_pd": 0.5}, {"grade": "B", "max_pd": 0.2}]},
            "grades",
        ),
        ({"grades": [{"grade": "A", "max_pd": 0.5}]}, "grades"),
        (
            {
                "decisions": [
                    {"decision": "decline", "max_pd": 0.5},
                    {"decision": "approve", "max_pd": 1.0},
                ]
            },
            "decisions",
        ),
        ({"decisions": [{"decision": "aprove", "max_pd": 1.0}]}, "decisions.0.decision"),
        (
            {
                "decisions": [
                    {"decision": "approve", "grades": ["A", "B"]},
                    {"decision": "decline", "grades": ["D", "E"]},
                ]
            },
            "decisions",
        ),
    ],
)
def test_bad_policy_raises_configuration_error_naming_the_field(tmp_path, changes, field):
    path = write_policy(tmp_path, policy_dict(**changes))

    with pytest.raises(ConfigurationError) as caught:
        load_decision_policy(path)

    assert f": {field}:" in caught.value.message
    assert caught.value.details["field"] == field


def test_missing_policy_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read decision policy"):
        load_decision_policy(tmp_path / "absent.yaml")


def test_policy_whose_exposure_column_is_not_in_the_contract_is_refused(contract, tmp_path):
    policy = load_decision_policy(write_policy(tmp_path, policy_dict(ead_feature="limit")))

    with pytest.raises(ConfigurationError, match="ead_feature 'limit'"):
        validate_policy(policy, contract)


def test_the_exposure_column_comes_from_the_contract(contract, tmp_path):
    raw = contract.model_dump(mode="json", exclude_none=True)
    raw["applications"]["columns"]["amount_financed"] = raw["applications"]["columns"].pop(
        "loan_amount"
    )
    raw["applications"]["exposure"] = "amount_financed"
    raw["derived"] = {
        k: v for k, v in raw.get("derived", {}).items() if "loan_amount" not in json.dumps(v)
    }
    raw["loan_terms"] = [t for t in raw.get("loan_terms", []) if t != "loan_amount"]
    raw["actionable"].pop("loan_amount")
    other = Contract.model_validate(raw)
    assert load_decision_policy(contract=other).ead_feature == "amount_financed"
    raw["applications"].pop("exposure")
    assert load_decision_policy(contract=Contract.model_validate(raw)).ead_feature is None


def test_a_text_exposure_column_is_refused_when_the_contract_loads(contract):
    raw = contract.model_dump(mode="json", exclude_none=True)
    raw["applications"]["exposure"] = "application_id"
    with pytest.raises(PydanticValidationError, match="exposure 'application_id' must be"):
        Contract.model_validate(raw)


def test_a_policy_that_does_not_fit_the_contract_is_a_503_naming_the_setting(contract, tmp_path):
    policy = load_decision_policy(write_policy(tmp_path, policy_dict(ead_feature="limit")))
    with pytest.raises(ConfigurationError) as caught:
        validate_policy(policy, contract)
    assert caught.value.http_status == 503 and caught.value.details["field"] == "ead_feature"
