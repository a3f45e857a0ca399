"""Monotone constraints: declared in the contract, honoured by xgboost, checked in the card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_risk.contract import Contract, load_contract
from credit_risk.errors import ContractError
from credit_risk.models.card import render_model_card
from credit_risk.models.training import metrics as m
from credit_risk.models.training import pipelines
from credit_risk.models.training.config import ImbalanceOption
from credit_risk.models.training.trainer import train_one

FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"
OTHER_LENDER = Path(__file__).resolve().parents[1] / "fixtures" / "other_lender"


def _contract(x_monotone: str | None) -> Contract:
    """A tiny contract: a numeric ``x`` (optionally monotone), a free ``noise``, a category."""
    x: dict[str, Any] = {"type": "float", "feature": True}
    if x_monotone is not None:
        x["monotone"] = x_monotone
    return Contract.model_validate(
        {
            "name": "monotone-test",
            "applications": {
                "id": "app_id",
                "event_date": "app_date",
                "columns": {
                    "app_id": {"type": "string", "nullable": False},
                    "app_date": {"type": "date", "nullable": False},
                    "x": x,
                    "noise": {"type": "float", "feature": True},
                    "channel": {
                        "type": "category",
                        "feature": True,
                        "categories": ["a", "b", "c"],
                    },
                },
            },
            "outcomes": {
                "id": "app_id",
                "target": "bad",
                "columns": {
                    "app_id": {"type": "string", "nullable": False},
                    "bad": {"type": "integer", "known_at_application": False},
                    "seen": {"type": "date", "known_at_application": False},
                },
            },
            "maturity": {"observed_until": "seen", "window_months": 0},
        }
    )


def _bump_data(n: int = 1500, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose true PD rises then falls in ``x``: an unconstrained model learns the bump."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, n)
    x[rng.random(n) < 0.05] = np.nan  # gaps, so the prepared matrix has an indicator column
    logit = -2.0 + 4.0 * np.exp(-(((np.nan_to_num(x, nan=0.5) - 0.5) / 0.15) ** 2))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {"x": x, "noise": rng.normal(size=n), "channel": rng.choice(["a", "b", "c"], n)}
    )
    return X, y


def _fast_config(candidate: str) -> dict[str, Any]:
    raw = yaml.safe_load(FAST_MODELS.read_text())
    return {"defaults": raw["defaults"], "candidates": {candidate: raw["candidates"][candidate]}}


# --- the contract -----------------------------------------------------------------------


def _variant(tmp_path: Path, column: str, **changes: Any) -> Path:
    raw = yaml.safe_load((OTHER_LENDER / "contract.yaml").read_text())
    raw["applications"]["columns"][column].update(changes)
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("column", "why"),
    [
        ("vehicle_type", "a category column"),
        ("homeowner", "a boolean column"),
        ("apr", "a numeric column that is not a feature"),
    ],
)
def test_monotone_on_anything_but_a_numeric_feature_is_refused(
    tmp_path: Path, column: str, why: str
) -> None:
    # GIVEN a contract declaring monotone on {why}
    path = _variant(tmp_path, column, monotone="increasing")
    # THEN loading names the column and what may carry it
    with pytest.raises(ContractError, match=rf"'{column}' declares monotone 'increasing'.*numeric"):
        load_contract(path)


def test_an_unknown_monotone_direction_is_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, "prior_arrears", monotone="upwards")

    with pytest.raises(
        ContractError, match=r"prior_arrears\.monotone.*'increasing' or 'decreasing'"
    ):
        load_contract(path)


def test_the_default_contract_declares_directions_its_generator_has() -> None:
    declared = load_contract().monotone

    assert declared["bureau_score"] == "decreasing"
    assert declared["debt_to_income"] == "increasing"
    assert declared["delinquencies_24m"] == "increasing"
    assert "region" not in declared and "loan_amount" not in declared


# --- the constraint vector --------------------------------------------------------------


def test_the_constraint_vector_lines_up_with_the_prepared_columns() -> None:
    # GIVEN a contract with a monotone numeric feature before a free one, and a category
    contract = _contract("decreasing")
    X, y = _bump_data(300)
    pipeline = pipelines.build_pipeline(
        "xgboost",
        contract.numeric_features,
        contract.categorical_features,
        {"n_estimators": 5},
        ImbalanceOption(kind="none"),
        monotone=contract.monotone,
    )
    # WHEN it is fitted
    pipeline.fit(X[contract.features], y)
    names = list(pipeline.named_steps["prepare"].get_feature_names_out())
    constraints = pipelines.monotone_constraints(contract.numeric_features, contract.monotone)
    # THEN the constraint of each prepared column is the declared one (xgboost pads with 0)
    padded = list(constraints) + [0] * (len(names) - len(constraints))
    by_name = dict(zip(names, padded, strict=True))
    assert by_name["numeric__x"] == -1
    assert by_name["numeric__noise"] == 0
    assert by_name["numeric__missingindicator_x"] == 0
    assert {by_name[f"categorical__channel_{c}"] for c in "abc"} == {0}
    assert pipeline.named_steps["model"].get_params()["monotone_constraints"] == "(-1,0)"


@pytest.mark.parametrize("kind", ["xgboost", "xgboost_random_forest"])
def test_both_xgboost_estimators_get_the_constraints_and_none_without_a_declaration(
    kind: Any,
) -> None:
    constrained = pipelines.build_pipeline(
        kind, ["a", "b"], ["c"], {}, ImbalanceOption(kind="none"), monotone={"b": "increasing"}
    )
    free = pipelines.build_pipeline(kind, ["a", "b"], ["c"], {}, ImbalanceOption(kind="none"))

    assert constrained.named_steps["model"].get_params()["monotone_constraints"] == "(0,1)"
    assert free.named_steps["model"].get_params()["monotone_constraints"] is None


# --- the trained model and its card ----------------------------------------------------


@pytest.fixture(scope="module")
def bump() -> tuple[pd.DataFrame, np.ndarray]:
    return _bump_data()


def _train(contract: Contract, bump: tuple[pd.DataFrame, np.ndarray], name: str) -> Any:
    X, y = bump
    return train_one(contract, name, X, y, config=_fast_config(name), cv=(2, 1), seed=1)


@pytest.mark.parametrize("name", ["xgboost", "random_forest"])
def test_a_declared_constraint_holds_in_the_trained_model(
    bump: tuple[pd.DataFrame, np.ndarray], name: str
) -> None:
    # GIVEN data whose PD rises then falls in x, and a contract declaring x increasing
    fitted = _train(_contract("increasing"), bump, name)
    # THEN the probe finds no holdout row whose PD falls as x grows
    check = fitted.metrics["monotonicity"]["x"]
    assert check["declared"] == "increasing"
    assert check["enforced"] is True
    assert check["holds"] is True and check["violations"] == 0.0
    assert check["rows"] == 200 and check["grid_points"] > 10


def test_without_the_constraint_the_same_data_breaks_the_direction(
    bump: tuple[pd.DataFrame, np.ndarray],
) -> None:
    # GIVEN the same data and no declaration, the unconstrained model learns the bump
    fitted = _train(_contract(None), bump, "xgboost")
    assert "monotonicity" not in fitted.metrics
    # WHEN the probe asks about the direction the data does not have
    X, _ = bump
    check = m.monotonicity(
        lambda frame: fitted.model.predict_proba(frame)[:, 1], X, X.iloc[:200], {"x": "increasing"}
    )["x"]
    # THEN most rows go against it
    assert check["holds"] is False
    assert check["violations"] > 0.5


def test_logistic_regression_reports_its_coefficient_sign(
    bump: tuple[pd.DataFrame, np.ndarray],
) -> None:
    fitted = _train(_contract("increasing"), bump, "logistic_regression")

    check = fitted.metrics["monotonicity"]["x"]
    assert check["enforced"] is False
    assert isinstance(check["coefficient"], float)
    # a linear model is monotone in x, in the direction of its coefficient's sign
    assert check["holds"] is (check["coefficient"] >= 0)


def test_the_card_says_when_a_declared_direction_is_violated() -> None:
    metrics = {
        "monotonicity": {
            "bureau_score": {
                "declared": "decreasing",
                "holds": False,
                "violations": 0.25,
                "enforced": False,
            },
            "debt_to_income": {
                "declared": "increasing",
                "holds": True,
                "violations": 0.0,
                "enforced": True,
            },
        }
    }

    html = render_model_card({"name": "pd"}, metrics)

    assert '<section id="monotonicity">' in html
    assert "violates the declared direction of bureau_score" in html
    assert "VIOLATED" in html and "25.0%" in html
    assert "constrained in training" in html


def test_the_card_says_when_every_direction_holds() -> None:
    metrics = {"monotonicity": {"x": {"declared": "increasing", "holds": True, "violations": 0.0}}}

    html = render_model_card({"name": "pd"}, metrics)

    assert "honours every declared direction" in html
    assert "VIOLATED" not in html


def test_the_card_has_no_monotone_section_without_declarations() -> None:
    assert 'id="monotonicity"' not in render_model_card({"name": "pd"}, {})
