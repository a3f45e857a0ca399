"""``cv: {repeats: auto}``: small data sets repeat the folds, large ones do not, and the
one-process and fanned-out paths size them the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_risk.contract import load_contract
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.errors import ConfigurationError, ValidationError
from credit_risk.models.training.config import (
    AUTO_MIN_FITS,
    AUTO_REPEAT_ROWS,
    CvSettings,
    load_training_config,
)
from credit_risk.models.training.trainer import grid_items, train_one

AUTO = {
    "defaults": {"cv": {"folds": 3, "repeats": "auto"}, "importance_rows": 100, "threads": 1},
    "candidates": {
        "logistic_regression": {
            "estimator": "logistic_regression",
            "params": {"max_iter": 1000},
            "imbalance": ["none"],
        },
    },
}


def test_auto_repeats_small_data_sets_to_at_least_ten_fits_and_large_ones_once() -> None:
    # GIVEN the auto rule, WHEN resolved for a small and a large data set
    small = CvSettings(folds=3, repeats="auto").resolve(1_000)
    edge = CvSettings(folds=3, repeats="auto").resolve(AUTO_REPEAT_ROWS)
    five = CvSettings(folds=5, repeats="auto").resolve(AUTO_REPEAT_ROWS - 1)

    # THEN a small one gets enough repeats for AUTO_MIN_FITS fits, a large one one pass,
    # and a configured number is kept whatever the size
    assert small == (3, 4) and small[0] * small[1] >= AUTO_MIN_FITS
    assert edge == (3, 1)
    assert five == (5, 2)
    assert CvSettings(folds=3, repeats=2).resolve(None) == (3, 2)


def test_auto_needs_the_row_count_and_bad_repeats_are_refused() -> None:
    with pytest.raises(ValidationError, match="auto"):
        grid_items(["logistic_regression"], config=AUTO)
    with pytest.raises(ConfigurationError, match="repeats"):
        load_training_config({**AUTO, "defaults": {"cv": {"folds": 3, "repeats": 0}}})


def test_the_packaged_default_is_auto_and_the_fast_fixture_keeps_one_repeat() -> None:
    assert load_training_config().cv.repeats == "auto"
    assert load_training_config().cv.resolve(20_000) == (3, 1)  # the demo's book
    fast = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"
    assert load_training_config(fast).cv.resolve(1_000) == (2, 1)


def test_both_paths_repeat_a_small_data_set_the_same() -> None:
    # GIVEN 1,500 loans and the auto rule
    contract = load_contract()
    data = generate(1500, seed=9)
    X = build_features(contract, data.applications)
    y, dates = data.outcomes["defaulted"], data.applications["application_date"]

    # WHEN one process trains the candidate and the state machine plans its search
    single = train_one(contract, "logistic_regression", X, y, dates, config=AUTO)
    items = grid_items(["logistic_regression"], config=AUTO, rows=len(X))

    # THEN both use 3 folds x 4 repeats
    assert (single.metrics["cv"]["folds"], single.metrics["cv"]["repeats"]) == (3, 4)
    assert sorted({i.fold for i in items}) == list(range(12))
    assert single.metrics["cv"]["search_auc"]["n"] == 12
