"""Training candidates: search, imbalance handling, calibration, holdout and metrics."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
from imblearn.under_sampling import RandomUnderSampler

from credit_risk.contract import Contract, load_contract
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.errors import ConfigurationError, InsufficientDataError
from credit_risk.models.training import pipelines
from credit_risk.models.training.config import load_training_config
from credit_risk.models.training.trainer import (
    TrainingResult,
    split_holdout,
    train_candidates,
    train_one,
)

pytestmark = pytest.mark.slow

CANDIDATES = ("logistic_regression", "random_forest", "xgboost")


class Data:
    """A labelled synthetic sample: features, targets, dates and true PDs."""

    def __init__(self, contract: Contract, n: int, seed: int) -> None:
        # as_of a year after the last application: every label has matured.
        data = generate(n, seed=seed, as_of="2025-01-01")
        self.X = build_features(contract, data.applications)
        self.y = data.outcomes["defaulted"].to_numpy()
        self.dates = data.applications["application_date"]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(scope="module")
def data(contract: Contract) -> Data:
    return Data(contract, 4000, seed=11)


@pytest.fixture(scope="module")
def result(contract: Contract, data: Data) -> TrainingResult:
    return train_candidates(contract, data.X, data.y, data.dates, cv=(2, 1), seed=3)


def small_config(candidate: str, estimator: str, imbalance: list[Any], **params: Any) -> dict:
    return {
        "candidates": {
            candidate: {"estimator": estimator, "params": params, "imbalance": imbalance}
        }
    }


# --------------------------------------------------------------------------- candidates


@pytest.mark.parametrize("name", CANDIDATES)
def test_each_candidate_ranks_defaulters_well_above_chance(result: TrainingResult, name: str):
    metrics = result.candidates[name].metrics

    assert metrics["auc"] > 0.75
    assert metrics["cv"]["auc"]["mean"] > 0.75


def test_the_champion_is_chosen_by_cv_auc_with_the_holdout_test_recorded(
    result: TrainingResult,
):
    # THEN the champion is the selection's, whose ranking follows CV AUC and whose every
    # step names its candidate and says why
    selection = result.champion.metrics["selection"]
    assert result.best == selection["champion"]
    assert result.champion is result.candidates[result.best]
    cv = [r["cv_auc"] for r in selection["ranking"]]
    assert cv == sorted(cv, reverse=True)
    assert {r["candidate"] for r in selection["ranking"]} == set(result.candidates)
    assert selection["steps"][0]["step"] == "start" and all(s["reason"] for s in selection["steps"])
    # AND the last candidate chosen is the champion; a more complex one replaced a simpler
    # one only with a significant test (a single candidate's on the holdout, the stack's on
    # the CV folds)
    best_cv = result.champion.metrics["cv"]["search_auc"]["mean"]
    chosen = [s for s in selection["steps"] if s["chosen"]]
    assert chosen[-1]["candidate"] == result.best
    for step in selection["steps"]:
        if step["chosen"] and step["step"] == "challenge":
            tests = [t.get("cv", t) for t in step["tests"].values()]
            assert all(t["p_value"] < selection["alpha"] for t in tests)
    assert best_cv == next(
        r["cv_auc"] for r in selection["ranking"] if r["candidate"] == result.best
    )


def test_progress_reports_each_configuration_tried(contract: Contract, data: Data):
    lines: list[str] = []
    config = small_config("lr", "logistic_regression", ["none", "class_weight"], C=1.0)
    config["candidates"]["lr"]["search"] = {"C": [0.1, 1.0]}

    fitted = train_one(
        contract, "lr", data.X, data.y, data.dates, config=config, cv=(2, 1), progress=lines.append
    )

    assert len(fitted.search) == 3  # two values of C, then the best with class weights
    assert sum("CV AUC" in line and "±" in line for line in lines) == 3
    assert any("holdout AUC" in line for line in lines)


def test_train_one_holds_out_the_same_rows_as_train_candidates(
    contract: Contract, data: Data, result: TrainingResult
):
    # GIVEN a Step Functions Map training one candidate per branch
    alone = train_one(
        contract, "logistic_regression", data.X, data.y, data.dates, cv=(2, 1), seed=3
    )

    # THEN it gets the same split, model choice and holdout figures
    together = result.candidates["logistic_regression"]
    assert alone.params == together.params
    assert alone.metrics["auc"] == pytest.approx(together.metrics["auc"], abs=1e-12)
    assert alone.metrics["n_holdout"] == together.metrics["n_holdout"]


# --------------------------------------------------------------------------- imbalance


class RecordingSampler(RandomUnderSampler):
    """A real under-sampler that remembers the rows it was asked to resample."""

    seen: list[np.ndarray] = []

    def fit_resample(self, X, y, **params):
        RecordingSampler.seen.append(np.array(X, copy=True))
        return super().fit_resample(X, y, **params)


def test_resampling_sees_only_training_fold_rows(
    contract: Contract, data: Data, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN an under-sampler that records what it resamples, in a tree candidate (whose
    # prepared numeric columns are the raw values)
    monkeypatch.setitem(pipelines.SAMPLERS, "undersample", RecordingSampler)
    RecordingSampler.seen = []
    config = small_config("gb", "xgboost", ["undersample"], n_estimators=20, max_depth=2)

    # WHEN it trains with 3-fold cross-validation
    fitted = train_one(contract, "gb", data.X, data.y, data.dates, config=config, cv=(3, 1))

    # THEN every resampled row is a training-part row, each CV fit resampled two thirds
    # of them (its training folds only) and the final fit all of them
    split = split_holdout(data.y, data.dates, fraction=0.2, seed=42)
    column = contract.numeric_features.index("monthly_debt_payments")
    train_values = Counter(data.X["monthly_debt_payments"].to_numpy()[split.train])
    n_train = fitted.metrics["n_train"]
    sizes = [len(X) for X in RecordingSampler.seen]
    assert len(sizes) == 4
    assert all(abs(size - n_train * 2 / 3) <= 2 for size in sizes[:3])
    assert sizes[3] == n_train
    for X in RecordingSampler.seen:
        assert not Counter(X[:, column]) - train_values


def test_calibration_undoes_the_shift_from_undersampling(contract: Contract, data: Data):
    # GIVEN a model trained on balanced (under-sampled) folds, whose raw scores think
    # half of all applicants default
    config = small_config("lr", "logistic_regression", ["undersample"], C=1.0, max_iter=2000)
    fitted = train_one(contract, "lr", data.X, data.y, data.dates, config=config, cv=(2, 1))
    split = split_holdout(data.y, data.dates, fraction=0.2, seed=42)
    X_ho = data.X.iloc[split.holdout]
    raw = fitted.model.pipeline.predict_proba(X_ho)[:, 1]

    # THEN the calibrated PD matches the observed default rate, unlike the raw score
    observed = data.y[split.holdout].mean()
    assert raw.mean() > observed + 0.2
    assert fitted.metrics["mean_pd"] == pytest.approx(observed, abs=0.03)


@pytest.mark.parametrize("name", CANDIDATES)
def test_probabilities_are_calibrated_on_the_holdout(result: TrainingResult, name: str):
    metrics = result.candidates[name].metrics
    observed = metrics["holdout_default_rate"]
    naive = metrics["default_rate"]  # the training default rate for everyone
    naive_brier = observed * (1 - naive) ** 2 + (1 - observed) * naive**2

    sampling_error = math.sqrt(observed * (1 - observed) / metrics["n_holdout"])

    assert metrics["mean_pd"] == pytest.approx(observed, abs=3 * sampling_error)
    assert metrics["brier"] < naive_brier * 0.85
    table = metrics["calibration"]
    gap = sum(abs(b["observed_rate"] - b["mean_pd"]) * b["count"] for b in table)
    assert gap / metrics["n_holdout"] < 0.07  # expected calibration error over deciles
    assert table[-1]["observed_rate"] > 4 * table[0]["observed_rate"]


# --------------------------------------------------------------------------- holdout


def test_out_of_time_holdout_is_the_latest_fifth(result: TrainingResult, data: Data):
    split = result.split
    dates = pd.to_datetime(data.dates).to_numpy()

    assert split.kind == "out_of_time"
    assert dates[split.holdout].min() > dates[split.train].max()
    assert len(split.holdout) / len(data.y) == pytest.approx(0.2, abs=0.02)
    assert result.champion.metrics["holdout_kind"] == "out_of_time"


def test_without_dates_the_holdout_is_stratified(data: Data):
    split = split_holdout(data.y, None, fraction=0.2, seed=1)

    assert split.kind == "stratified"
    assert data.y[split.holdout].mean() == pytest.approx(data.y.mean(), abs=0.005)
    assert not set(split.holdout) & set(split.train)
    assert len(split.holdout) + len(split.train) == len(data.y)


def test_dates_that_cannot_split_fall_back_to_stratified(data: Data):
    same_day = pd.Series(pd.Timestamp("2024-01-31"), index=range(len(data.y)))

    split = split_holdout(data.y, same_day, fraction=0.2, seed=1)

    assert split.kind == "stratified"
    assert "dates cannot give a holdout" in split.note


def test_too_few_defaults_is_a_clear_error(contract: Contract, data: Data):
    y = np.zeros(len(data.y), dtype=int)
    y[:4] = 1

    with pytest.raises(InsufficientDataError, match="4 defaults"):
        train_one(contract, "logistic_regression", data.X, y, None, cv=(2, 1))


# --------------------------------------------------------------------------- metrics


def test_metrics_are_json_and_complete(result: TrainingResult, contract: Contract):
    metrics = json.loads(json.dumps(result.champion.metrics))
    n_holdout = metrics["n_holdout"]

    assert metrics["gini"] == pytest.approx(2 * metrics["auc"] - 1)
    assert 0 < metrics["ks"] < 1
    assert sum(metrics["confusion_matrix"].values()) == n_holdout
    assert len(metrics["calibration"]) == 10
    assert sum(row["count"] for row in metrics["calibration"]) == n_holdout
    assert len(metrics["roc_curve"]["fpr"]) <= 101
    assert metrics["roc_curve"]["tpr"][-1] == 1.0
    dist = metrics["score_distribution"]
    assert sum(dist["defaults"]) + sum(dist["non_defaults"]) == n_holdout
    assert len(dist["edges"]) == len(dist["defaults"]) + 1
    for name in ("precision", "recall", "f1", "accuracy", "brier", "log_loss"):
        assert 0 <= metrics[name] <= 1, name
        assert set(metrics["cv"][name]) == {"mean", "std", "n"}
    assert metrics["n_train"] + n_holdout == 4000


def test_feature_importance_covers_every_feature_largest_first(
    result: TrainingResult, contract: Contract
):
    for fitted in result.candidates.values():
        importance = fitted.metrics["feature_importance"]
        values = [row["importance"] for row in importance]

        assert [row["feature"] for row in importance] != []
        assert {row["feature"] for row in importance} == set(contract.features)
        assert values == sorted(values, reverse=True)
        # the bureau score drives the synthetic default model; region does nothing
        ranks = [row["feature"] for row in importance]
        assert ranks.index("bureau_score") < ranks.index("region")


def test_max_f1_cutoff_beats_flagging_everyone(result: TrainingResult):
    metrics = result.champion.metrics
    everyone_f1 = 2 * metrics["holdout_default_rate"] / (1 + metrics["holdout_default_rate"])

    assert metrics["cutoff_policy"] == "max_f1"
    assert metrics["f1"] > everyone_f1


def test_a_fixed_cutoff_is_used_as_configured(contract: Contract, data: Data):
    config = small_config("lr", "logistic_regression", ["none"], C=1.0)
    config["cutoff"] = {"policy": "fixed", "pd": 0.3}

    fitted = train_one(contract, "lr", data.X, data.y, data.dates, config=config, cv=(2, 1))

    assert fitted.metrics["cutoff"] == 0.3
    assert fitted.cutoff == 0.3


def test_isotonic_calibration_says_why_its_cv_auc_is_below_the_searchs(
    contract: Contract, data: Data
) -> None:
    # GIVEN a candidate calibrated with isotonic regression (a step function of the score)
    config = small_config("lr", "logistic_regression", ["none"], C=1.0, max_iter=2000)
    config["calibration"] = "isotonic"
    said: list[str] = []
    fitted = train_one(
        contract, "lr", data.X, data.y, data.dates, config=config, cv=(2, 1), progress=said.append
    )

    # THEN the search's CV AUC (of the scores) is kept beside the calibrated one, the
    # calibrated one is not above it (steps only tie loans, never reorder them), and the
    # difference is explained in the metrics and in the training log
    cv = fitted.metrics["cv"]
    assert cv["search_auc"]["mean"] == pytest.approx(fitted.search[0]["cv_auc_mean"])
    assert cv["auc"]["mean"] <= cv["search_auc"]["mean"] + 1e-9
    assert "ties" in cv["auc_note"] and "isotonic" in cv["auc_note"]
    assert any("share a PD" in line for line in said)
    json.dumps(fitted.metrics)


# --------------------------------------------------------------------------- config


def test_packaged_config_has_the_candidates_with_imbalance_choices():
    config = load_training_config()

    assert set(config.candidates) == {*CANDIDATES, "scorecard"}
    assert config.candidates["scorecard"].estimator == "scorecard"
    assert config.candidates["random_forest"].estimator == "xgboost_random_forest"
    for spec in config.candidates.values():
        assert len(spec.imbalance) >= 2


def test_class_weight_on_xgboost_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="scale_pos_weight"):
        load_training_config(small_config("gb", "xgboost", ["class_weight"]))


def test_unknown_candidate_is_a_configuration_error(contract: Contract, data: Data):
    with pytest.raises(ConfigurationError, match="unknown candidate 'svm'"):
        train_one(contract, "svm", data.X, data.y, data.dates)


def test_holdout_auc_has_a_delong_interval_and_the_best_is_tested_against_each_other(
    result: TrainingResult,
) -> None:
    # THEN every candidate's holdout AUC carries its 95% interval, around it
    for candidate in result.candidates.values():
        low, high = candidate.metrics["auc_ci95"]
        assert low < candidate.metrics["auc"] < high and high - low < 0.2
    # AND the best is compared with each other candidate on the same holdout rows
    tests = result.champion.metrics["paired_tests"]
    assert set(tests) == set(result.candidates) - {result.best}
    for test in tests.values():
        assert -1 <= test["difference"] <= 1 and 0 <= test["p_value"] <= 1
