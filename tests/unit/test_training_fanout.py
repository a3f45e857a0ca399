"""The training search fanned out (one item per candidate, configuration and fold) chooses
and fits exactly what one process does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_risk.contract import load_contract
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.models.lean import LeanModel
from credit_risk.models.training.config import load_training_config
from credit_risk.models.training.export import to_lean
from credit_risk.models.training.stacking import stacked_candidate
from credit_risk.models.training.trainer import (
    SearchItem,
    cross_validate_item,
    fit_from_folds,
    grid_items,
    imbalance_items,
    sample_for_training,
    train_candidates,
    train_one,
)

pytestmark = pytest.mark.slow

SEARCHED = {
    "defaults": {"cv": {"folds": 2, "repeats": 2}, "importance_rows": 100, "threads": 1},
    "candidates": {
        "logistic_regression": {
            "estimator": "logistic_regression",
            "params": {"max_iter": 1000},
            "search": {"C": [0.01, 1.0]},
            "imbalance": ["none", "class_weight", "undersample"],
        },
        "xgboost": {
            "estimator": "xgboost",
            "params": {"n_estimators": 30, "tree_method": "hist"},
            "search": {"max_depth": [2, 3]},
            "imbalance": ["none", "scale_pos_weight"],
        },
        "scorecard": {
            "estimator": "scorecard",
            "params": {"max_n_bins": 6},
            "search": {"min_prebin_size": [0.02, 0.05]},
            "imbalance": ["none", "class_weight"],
        },
    },
}


@pytest.mark.parametrize("name", ["logistic_regression", "xgboost", "scorecard"])
def test_the_fanned_out_search_fits_the_same_model_as_one_process(name: str) -> None:
    # GIVEN a candidate with a grid and imbalance options, repeated two-fold CV
    contract = load_contract()
    data = generate(1500, seed=9)
    X = build_features(contract, data.applications)
    y, dates = data.outcomes["defaulted"], data.applications["application_date"]

    # WHEN its search runs item by item, in the order a Map may finish them (reversed)
    def run(items: list[SearchItem]):  # type: ignore[no-untyped-def]
        return [
            (item, cross_validate_item(contract, X, y, dates, item, config=SEARCHED))
            for item in reversed(items)
        ]

    grid = run(grid_items([name], config=SEARCHED))
    options = run(imbalance_items([name], grid, config=SEARCHED))
    fanned = fit_from_folds(contract, name, X, y, dates, grid + options, config=SEARCHED)

    # THEN the items were one per configuration and fold, and the candidate is the same
    # model, choice and metrics as training it in one process
    spec_trials = {"logistic_regression": 2 + 2, "xgboost": 2 + 1, "scorecard": 2 + 1}[name]
    assert len(grid) + len(options) == spec_trials * 4
    single = train_one(contract, name, X, y, dates, config=SEARCHED)
    assert fanned.params == single.params
    assert fanned.metrics == single.metrics
    assert [t["params"] for t in fanned.search] == [t["params"] for t in single.search]
    assert to_lean(fanned, contract).to_bytes() == to_lean(single, contract).to_bytes()


def test_the_stack_from_fanned_out_candidates_is_the_one_process_stack() -> None:
    # GIVEN the candidates (a scorecard among them) searched item by item, as the state
    # machine runs them, and the same configuration with a stack trained in one process
    config = {**SEARCHED, "stack": {"complexity": 4}}
    contract = load_contract()
    data = generate(1500, seed=9)
    X = build_features(contract, data.applications)
    y, dates = data.outcomes["defaulted"], data.applications["application_date"]
    single = train_candidates(contract, X, y, dates, config=config)
    leans, oof = {}, {}
    for name in ("logistic_regression", "xgboost", "scorecard"):
        grid = [
            (i, cross_validate_item(contract, X, y, dates, i, config=config))
            for i in grid_items([name], config=config)
        ]
        options = [
            (i, cross_validate_item(contract, X, y, dates, i, config=config))
            for i in imbalance_items([name], grid, config=config)
        ]
        fanned = fit_from_folds(contract, name, X, y, dates, grid + options, config=config)
        leans[name] = LeanModel.from_bytes(to_lean(fanned, contract).to_bytes())
        assert fanned.oof_margins is not None
        oof[name] = fanned.oof_margins

    # WHEN "Evaluate and compare" stacks their stored lean models and out-of-fold margins
    split, target = single.split, y.to_numpy()
    _, lean, metrics, params = stacked_candidate(
        contract,
        load_training_config(config),
        leans,
        oof,
        X_tr=X.iloc[split.train].reset_index(drop=True),
        y_tr=target[split.train],
        X_ho=X.iloc[split.holdout].reset_index(drop=True),
        y_ho=target[split.holdout],
        folds=2,
        repeats=2,
        holdout_kind=split.kind,
        first_holdout_date=split.first_holdout_date,
        seed=42,
    )

    # THEN it is the same stack, scorecard included: weights, metrics and PDs
    stack = single.candidates["stack"]
    assert stack.params["members"] == ["logistic_regression", "xgboost", "scorecard"]
    assert params == stack.params
    assert metrics == stack.metrics
    columns = {f: X[f].to_numpy() for f in lean.features}
    assert np.max(np.abs(lean.predict_columns(columns) - stack.model.predict_proba(X)[:, 1])) < 1e-9


def test_a_book_larger_than_max_rows_is_sampled_keeping_its_default_rate() -> None:
    # GIVEN a matured book of 5,000 loans, 18% of them defaults
    rng = np.random.default_rng(3)
    book = pd.DataFrame({"application_id": range(5000), "target": rng.random(5000) < 0.18})

    # WHEN a run may use at most 2,000 of them
    sample = sample_for_training(book, "target", 2000)

    # THEN it trains on 2,000, in the book's order, with the same share of defaults; a book
    # within the limit is used whole
    assert len(sample) == 2000
    assert sample["application_id"].is_monotonic_increasing
    assert abs(sample["target"].mean() - book["target"].mean()) < 0.001
    assert sample_for_training(book, "target", 5000) is book
