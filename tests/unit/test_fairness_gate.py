"""The fairness gate: protected attributes in the contract, figures per group, and the
promotion policy refusing a biased candidate while accepting a fair one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_risk.contract import Contract, load_contract
from credit_risk.data.etl import application_features, protected_attributes
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.data.pseudonymise import pseudonym
from credit_risk.data.validation import validate_frame
from credit_risk.decisions.approval import approvals
from credit_risk.decisions.policy import load_decision_policy
from credit_risk.errors import ContractError
from credit_risk.models.card import render_model_card
from credit_risk.models.fairness import (
    fairness_refusals,
    fairness_verdict,
    group_figures,
    shortfall_z,
)
from credit_risk.models.training.export import to_lean
from credit_risk.models.training.orchestration import (
    PROTECTED_PREFIX,
    Comparison,
    PromotionPolicy,
    compare,
    protected_groups,
)
from credit_risk.models.training.trainer import split_holdout, train_candidates

DEFAULT_CONTRACT = (
    Path(__file__).resolve().parents[2] / "layers/core/python/credit_risk/defaults/contract.yaml"
)
LOGISTIC_ONLY: dict[str, Any] = {
    "defaults": {"cv": {"folds": 2, "repeats": 1}, "importance_rows": 200},
    "candidates": {
        "logistic_regression": {
            "estimator": "logistic_regression",
            "params": {"C": 1.0, "max_iter": 2000},
            "imbalance": ["none"],
            "calibration": "sigmoid",
        }
    },
}
KEY = b"test-pseudonym-key"


def _variant(tmp_path: Path, change: Any) -> Path:
    raw = yaml.safe_load(DEFAULT_CONTRACT.read_text())
    change(raw)
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# --------------------------------------------------------------------------- contract


def test_the_default_contract_declares_protected_attributes_that_no_model_reads() -> None:
    contract = load_contract()
    assert contract.applications.protected_columns == ["age_band", "applicant_group"]
    for name in contract.applications.protected_columns:
        assert name not in contract.features
        assert name not in contract.input_columns


def test_a_protected_column_declared_a_feature_is_refused(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["applications"]["columns"]["applicant_group"]["feature"] = True

    with pytest.raises(
        ContractError, match=r"'applicant_group' is protected and cannot be a feature"
    ):
        load_contract(_variant(tmp_path, change))


def test_a_derived_feature_reading_a_protected_column_is_refused(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["applications"]["columns"]["band_number"] = {
            "type": "integer",
            "protected": True,
        }
        raw["derived"]["age_proxy"] = {"expr": "band_number * 2"}

    with pytest.raises(ContractError, match=r"'band_number' is protected but a integer"):
        load_contract(_variant(tmp_path, change))

    def reads_category(raw: dict[str, Any]) -> None:
        raw["derived"]["group_proxy"] = {"expr": "applicant_group * 2"}

    with pytest.raises(
        ContractError,
        match=r"'applicant_group' is protected and cannot be read by derived features "
        r"\['group_proxy'\]",
    ):
        load_contract(_variant(tmp_path, reads_category))


def test_a_protected_loan_term_is_refused(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["loan_terms"].append("age_band")

    with pytest.raises(ContractError, match=r"'age_band' is protected and cannot be a key"):
        load_contract(_variant(tmp_path, change))


# --------------------------------------------------------------------------- storage


def test_analytics_holds_protected_attributes_only_as_keyed_pseudonyms() -> None:
    contract = load_contract()
    staged = generate(300, seed=2).applications
    features = application_features(contract, staged, KEY, "b1")
    assert not set(contract.applications.protected_columns) & set(features.columns)

    stored = protected_attributes(contract, staged, KEY, "b1")
    raw_values = {"18-39", "40+", "group_a", "group_b"}
    for name in contract.applications.protected_columns:
        assert not set(stored[name]) & raw_values
        assert set(stored[name]) <= {pseudonym(v, KEY) for v in raw_values}
    # The contract's categories under the key name the groups back, for aggregates only.
    frame = stored.rename(
        columns={n: PROTECTED_PREFIX + n for n in ("age_band", "applicant_group")}
    )
    groups = protected_groups(frame, contract, KEY)
    assert list(groups["applicant_group"]) == staged["applicant_group"].tolist()
    assert protected_groups(frame, contract, b"another-key")["age_band"].tolist() == [None] * 300


def test_a_bad_protected_value_is_refused_without_showing_it() -> None:
    # GIVEN an application whose protected group is not one of the contract's
    contract = load_contract()
    raw = generate(3, seed=2).applications.astype(str)
    raw.loc[1, "applicant_group"] = "group_z"

    # WHEN it is validated
    result = validate_frame(contract.applications, raw)

    # THEN the row is refused naming the column and rule, never the value
    (violation,) = result.violations
    assert (violation.row_number, violation.column) == (2, "applicant_group")
    assert violation.value is None and "group_z" not in violation.rule


# --------------------------------------------------------------------------- figures


def test_adverse_impact_ratio_is_each_groups_approval_rate_over_the_best() -> None:
    groups = np.array(["a"] * 100 + ["b"] * 100 + [None] * 10, dtype=object)
    approved = np.array([True] * 60 + [False] * 40 + [True] * 42 + [False] * 58 + [True] * 10)
    pd_ = np.where(approved, 0.05, 0.3)
    y = np.array([0, 1] * 105, dtype=float)
    figures = group_figures(groups, ["a", "b"], pd_, approved, y)
    assert figures["reference"] == "a"
    assert figures["groups"]["b"]["approval_rate"] == pytest.approx(0.42)
    assert figures["min_air"] == pytest.approx(0.42 / 0.60)
    assert figures["min_air_group"] == "b"
    assert figures["groups"]["a"]["default_rate"] == pytest.approx(0.5)
    refusals = fairness_refusals({"g": figures}, None, min_air=0.8, max_air_drop=0.05)
    assert refusals == ["adverse impact ratio 0.700 of g b against a is below 0.8"]
    # a shortfall of 0.95 standard errors (100 rows a group) is within sampling noise
    assert shortfall_z(figures["groups"]["b"], figures["groups"]["a"], 0.8) == pytest.approx(
        (0.8 * 0.6 - 0.42) / np.sqrt(0.64 * 0.6 * 0.4 / 100 + 0.42 * 0.58 / 100)
    )
    assert fairness_refusals({"g": figures}, None, min_air=0.8, max_air_drop=0.05, air_z=1.96) == []
    assert fairness_refusals({"g": figures}, None, min_air=0.8, max_air_drop=0.05, air_z=0.5) == [
        "adverse impact ratio 0.700 of g b against a is below 0.8 (1.0 standard errors, limit 0.5)"
    ]
    # a promoted candidate's reason says so when a ratio was low but within the noise
    assert fairness_verdict({"g": figures}, min_air=0.8, air_z=1.96) == (
        "adverse impact ratio below 0.8 only within 1.96 standard errors (g b 0.700)"
    )
    assert fairness_verdict({"g": figures}, min_air=0.6, air_z=1.96) == (
        "fair by the adverse impact ratio"
    )
    champion = {"g": {**figures, "min_air": 0.76}}
    assert fairness_refusals({"g": figures}, champion, min_air=0.6, max_air_drop=0.05) == [
        "adverse impact ratio of g falls from the champion's 0.760 to 0.700 (b), more than 0.05"
    ]
    assert fairness_refusals({"g": figures}, champion, min_air=0.6, max_air_drop=0.1) == []


# --------------------------------------------------------------------------- the gate


def _biased(
    contract: Contract, data: pd.DataFrame, y: np.ndarray
) -> tuple[Contract, pd.DataFrame, np.ndarray]:
    """Historical labels that wrongly marked a share of group_b's good loans as defaults,
    and a postcode sector that is the group 90% of the time: the model never sees the
    group, but learns it through the proxy."""
    raw = contract.model_dump()
    raw["applications"]["columns"]["postcode_sector"] = {
        "type": "category",
        "categories": ["s1", "s2"],
        "feature": True,
        "nullable": False,
    }
    proxied = Contract.model_validate(raw)
    rng = np.random.default_rng(0)
    in_b = (data["applicant_group"] == "group_b").to_numpy()
    agrees = rng.random(len(in_b)) < 0.9
    data = data.assign(postcode_sector=np.where(agrees == in_b, "s2", "s1"))
    biased = y.copy()
    biased[in_b & (y == 0) & (rng.random(len(in_b)) < 0.15)] = 1
    return proxied, data, biased


def _evaluate(contract: Contract, data: pd.DataFrame, y: np.ndarray) -> Comparison:
    X = build_features(contract, data)
    dates = data["application_date"]
    fitted = train_candidates(
        contract, X, pd.Series(y), dates, config=LOGISTIC_ONLY, seed=5
    ).candidates["logistic_regression"]
    lean = to_lean(fitted, contract, check=X.head(200))
    split = split_holdout(y, dates, fraction=0.2, seed=5)
    holdout = X.iloc[split.holdout].assign(target=y[split.holdout])
    protected = {
        n: data[n].to_numpy()[split.holdout] for n in contract.applications.protected_columns
    }
    policy = load_decision_policy(contract=contract)
    return compare(
        lean,
        fitted.metrics,
        None,
        holdout,
        contract,
        PromotionPolicy(),
        protected=protected,
        approve=lambda pds: approvals(pds, policy),
    )


def test_the_fairness_gate_refuses_a_biased_candidate_and_accepts_a_fair_one() -> None:
    # GIVEN six thousand matured applications (every outcome observed)
    contract = load_contract()
    data = generate(6000, seed=5, as_of="2026-06-01")
    apps, y = data.applications, data.outcomes["defaulted"].to_numpy()

    # WHEN a candidate trained on the features alone is evaluated
    fair = _evaluate(contract, apps, y)
    # THEN it is promoted, and its figures per group are kept
    assert fair.promote, fair.reason
    assert fair.fairness is not None
    assert fair.fairness["applicant_group"]["min_air"] >= 0.8
    assert set(fair.fairness["age_band"]["groups"]) == {"18-39", "40+"}
    assert "fair by the adverse impact ratio" in fair.reason

    # WHEN a candidate learns the group through a proxy from biased labels
    proxied, leaky, biased = _biased(contract, apps, y)
    unfair = _evaluate(proxied, leaky, biased)
    # THEN it is refused for its adverse impact ratio, and says which group and why
    assert not unfair.promote
    assert unfair.fairness is not None
    assert unfair.fairness["applicant_group"]["min_air"] < 0.8
    assert "adverse impact ratio" in unfair.reason
    assert "applicant_group group_b against group_a is below 0.8" in unfair.reason


def test_the_model_card_shows_the_fairness_figures() -> None:
    figures = group_figures(
        np.array(["x"] * 40 + ["y"] * 40, dtype=object),
        ["x", "y"],
        np.full(80, 0.1),
        np.array([True] * 30 + [False] * 10 + [True] * 20 + [False] * 20),
    )
    html = render_model_card(
        {"name": "m", "version": "v1"}, {"fairness": {"applicant_group": figures}}
    )
    assert 'id="fairness"' in html
    assert 'data-attribute="applicant_group"' in html
    assert "lowest adverse impact ratio 0.667 (y)" in html
    assert 'id="fairness"' not in render_model_card({"name": "m"}, {})


def test_a_live_ratio_below_the_line_alerts_only_beyond_the_noise() -> None:
    from credit_risk.monitoring.fairness import fairness_alerts
    from credit_risk.monitoring.figures import AirRule

    def figures(rows: int) -> dict[str, Any]:  # group b approved at 0.70 times a's rate
        groups = np.array(["a"] * rows + ["b"] * rows, dtype=object)
        approved = np.concatenate([np.arange(rows) < 0.6 * rows, np.arange(rows) < 0.42 * rows])
        return {"g": group_figures(groups, ["a", "b"], np.full(2 * rows, 0.1), approved)}

    small, large = figures(100), figures(2000)  # 0.95 and 4.3 standard errors below 0.8
    assert fairness_alerts(small, AirRule(min=0.8)) == []
    assert small["g"]["within_noise"] == pytest.approx(0.95, abs=0.01)
    [alert] = fairness_alerts(large, AirRule(min=0.8))
    assert alert.observed == pytest.approx(0.7)
    assert alert.message == (
        "g b is approved at 0.700 times the rate of a, 4.3 standard errors below 0.8"
    )
    # z: 0 alerts on the ratio as it is; a ratio above the line never alerts
    assert [a.rule for a in fairness_alerts(figures(100), AirRule(min=0.8, z=0))] == [
        "adverse_impact_ratio"
    ]
    assert fairness_alerts(figures(100), AirRule(min=0.6, z=0)) == []
