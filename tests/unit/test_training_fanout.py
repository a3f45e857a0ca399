"""The training search fanned out (one item per candidate, configuration and fold) chooses
and fits exactly what one process does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_risk.contract import load_contract
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.models.training.export import to_lean
from credit_risk.models.training.trainer import (
    SearchItem,
    cross_validate_item,
    fit_from_folds,
    grid_items,
    imbalance_items,
    sample_for_training,
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
