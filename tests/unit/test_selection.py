"""Champion selection: CV AUC ranks, the simplest first, a holdout DeLong test before a
more complex single candidate replaces a simpler one; the stack by a corrected resampled
t-test on the CV folds, with the holdout as a veto."""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.models.training.metrics import corrected_resampled_t_test, ranking_metrics
from credit_risk.models.training.selection import Contender, select_champion

ROWS = 400
FOLDS, REPEATS = 3, 4


def _fold_aucs(mean: float, seed: int) -> np.ndarray:
    """A candidate's AUC on each of 3 folds x 4 repeats, scattered around ``mean``."""
    return mean + 0.01 * np.random.default_rng(seed).normal(size=FOLDS * REPEATS)


def _contender(
    name: str, complexity: int, holdout_pd: np.ndarray, folds: np.ndarray, *, stack: bool = False
) -> Contender:
    return Contender(
        name,
        complexity,
        float(np.mean(folds)),
        float(np.std(folds)),
        holdout_pd,
        stack=stack,
        fold_auc=tuple(float(a) for a in folds),
        cv_folds=FOLDS,
    )


def _holdout(seed: int = 0) -> tuple[np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    return (rng.random(ROWS) < 0.25).astype(np.int64), rng


def _scores(y: np.ndarray, rng: np.random.Generator, signal: float) -> np.ndarray:
    """PD-like scores whose separation of defaults grows with ``signal``."""
    return 1.0 / (1.0 + np.exp(-(signal * y + rng.normal(size=len(y)))))


def test_cv_ranks_and_a_noisy_holdout_only_confirms() -> None:
    # GIVEN a holdout on which the candidate with the lowest CV AUC scores best, and a
    # more complex candidate with the best CV AUC scoring a little worse than the simplest
    y, rng = _holdout()
    simple = _scores(y, rng, 1.0)
    lucky = simple + 0.35 * y * rng.random(ROWS)  # best on these rows only
    complex_ = simple + 0.05 * rng.normal(size=ROWS)
    contenders = [
        Contender("logistic_regression", 1, 0.80, 0.01, simple),
        Contender("random_forest", 2, 0.76, 0.02, lucky),
        Contender("xgboost", 3, 0.81, 0.01, complex_),
    ]
    aucs = {c.name: ranking_metrics(y, c.holdout_pd)["auc"] for c in contenders}
    assert max(aucs, key=aucs.__getitem__) == "random_forest"  # the old rule's pick

    # WHEN the champion is selected
    selection = select_champion(contenders, y, alpha=0.05)

    # THEN the simplest stays: the lucky one ranks last by CV, and the more complex one is
    # not significantly better on the holdout; every step says why
    assert selection.champion == "logistic_regression"
    steps = {s["candidate"]: s for s in selection.steps}
    assert steps["logistic_regression"]["step"] == "start"
    assert "not above logistic_regression's 0.8000" in steps["random_forest"]["reason"]
    assert not steps["xgboost"]["chosen"]
    assert "not significant at 0.05" in steps["xgboost"]["reason"]
    assert steps["xgboost"]["tests"]["logistic_regression"]["p_value"] >= 0.05
    assert [r["candidate"] for r in selection.ranking] == [
        "xgboost",
        "logistic_regression",
        "random_forest",
    ]
    for row in selection.ranking:
        low, high = row["holdout_auc_ci95"]
        assert low < row["holdout_auc"] < high
    assert selection.to_dict()["confirmation"]["candidate"] == "logistic_regression"


def test_a_more_complex_candidate_wins_when_significantly_better() -> None:
    # GIVEN a more complex candidate better by CV and clearly better on the holdout
    y, rng = _holdout(1)
    weak, strong = _scores(y, rng, 0.6), _scores(y, rng, 2.5)
    contenders = [
        Contender("logistic_regression", 1, 0.70, 0.01, weak),
        Contender("xgboost", 3, 0.85, 0.01, strong),
    ]

    # WHEN the champion is selected
    selection = select_champion(contenders, y, alpha=0.05)

    # THEN it replaces the simpler one, and the step gives the test
    assert selection.champion == "xgboost"
    step = selection.steps[-1]
    assert step["chosen"] and step["tests"]["logistic_regression"]["p_value"] < 0.05
    assert "significantly higher holdout AUC" in step["reason"]


def test_equal_complexity_is_decided_by_cv_alone() -> None:
    # GIVEN two candidates of the same complexity (a scorecard beside a logistic model)
    y, rng = _holdout(2)
    a, b = _scores(y, rng, 1.0), _scores(y, rng, 1.0)
    contenders = [Contender("scorecard", 1, 0.78, 0.01, a), Contender("lr", 1, 0.79, 0.01, b)]

    # WHEN selected, THEN the higher CV AUC starts and stays
    assert select_champion(contenders, y).champion == "lr"


def test_the_corrected_t_test_matches_a_hand_computed_example() -> None:
    # GIVEN six fold differences of 3 folds x 2 repeats (n_test / n_train = 1/2):
    # mean 0.015, var(ddof=1) 1.1e-4, so t = 0.015 / sqrt((1/6 + 1/2) * 1.1e-4) = 1.7516
    d = [0.01, 0.02, 0.03, 0.00, 0.02, 0.01]

    # WHEN tested
    test = corrected_resampled_t_test(d, 1 / (3 - 1))

    # THEN the figures are the hand-computed ones (p from Student's t, 5 df, two-sided),
    # and far from the plain t-test's 0.015 / sqrt(1.1e-4 / 6) = 3.503
    assert test["difference"] == pytest.approx(0.015)
    assert test["t"] == pytest.approx(1.7516226, rel=1e-6)
    assert test["df"] == 5 and test["n"] == 6
    assert test["p_value"] == pytest.approx(0.1402288, rel=1e-5)


def test_a_stack_better_on_every_fold_is_promoted_though_the_holdout_test_is_not() -> None:
    # GIVEN a stack 0.01 better than the single model on every fold (within +-0.001), but
    # only a little, not significantly, better on the holdout
    y, rng = _holdout(3)
    single = _scores(y, rng, 1.2)
    slightly = single + 0.1 * y + 0.2 * rng.normal(size=ROWS)
    folds = _fold_aucs(0.80, 1)
    margin = 0.01 + 0.001 * np.random.default_rng(2).uniform(-1, 1, size=len(folds))
    contenders = [
        _contender("logistic_regression", 1, single, folds),
        _contender("stack", 4, slightly, folds + margin, stack=True),
    ]

    # WHEN selected
    selection = select_champion(contenders, y, alpha=0.05)

    # THEN the stack is chosen on the folds' evidence, the holdout only not contradicting
    assert selection.champion == "stack"
    step = selection.steps[-1]
    tests = step["tests"]["logistic_regression"]
    assert tests["holdout"]["difference"] > 0 and tests["holdout"]["p_value"] >= 0.05
    assert tests["cv"]["p_value"] < 0.05 and tests["cv"]["df"] == FOLDS * REPEATS - 1
    assert tests["cv"]["difference"] == pytest.approx(float(np.mean(margin)))
    assert "on 3 folds x 4 repeats, corrected t = " in step["reason"]
    assert "df 11" in step["reason"]


def test_a_stack_whose_fold_differences_are_noise_is_refused() -> None:
    # GIVEN fold differences with mean +0.006 and sd 0.008 over 12 folds: a plain paired
    # t-test would call them significant (p = 0.028), the corrected one does not (0.36);
    # and a clearly better holdout, which must not promote the stack on its own
    y, rng = _holdout(3)
    single, better = _scores(y, rng, 1.0), _scores(y, rng, 3.0)
    d = np.array([0.016, -0.004, 0.012, -0.002, 0.010, 0.0, 0.014, -0.006, 0.008, 0.006, 0.018, 0])
    folds = _fold_aucs(0.80, 4)
    contenders = [
        _contender("logistic_regression", 1, single, folds),
        _contender("stack", 4, better, folds + d, stack=True),
    ]

    # WHEN selected
    selection = select_champion(contenders, y, alpha=0.05)

    # THEN the single model stays, and the step gives the fold test's figures
    assert selection.champion == "logistic_regression"
    step = selection.steps[-1]
    assert step["candidate"] == "stack" and not step["chosen"]
    cv = step["tests"]["logistic_regression"]["cv"]
    assert cv["difference"] == pytest.approx(0.006)
    assert cv["p_value"] == pytest.approx(0.36, abs=0.005)
    assert step["tests"]["logistic_regression"]["holdout"]["p_value"] < 0.05
    assert "not significant at 0.05" in step["reason"]


def test_a_stack_significantly_worse_on_the_holdout_is_refused() -> None:
    # GIVEN a stack clearly better on every fold but significantly worse on the holdout
    y, rng = _holdout(5)
    single, worse = _scores(y, rng, 2.0), _scores(y, rng, 0.5)
    folds = _fold_aucs(0.80, 6)
    contenders = [
        _contender("logistic_regression", 1, single, folds),
        _contender("stack", 4, worse, folds + 0.02, stack=True),
    ]

    # WHEN selected
    selection = select_champion(contenders, y, alpha=0.05)

    # THEN the holdout vetoes it
    assert selection.champion == "logistic_regression"
    step = selection.steps[-1]
    holdout = step["tests"]["logistic_regression"]["holdout"]
    assert holdout["difference"] < 0 and holdout["p_value"] < 0.05
    assert step["tests"]["logistic_regression"]["cv"]["p_value"] < 0.05
    assert "significantly worse on the holdout" in step["reason"]


def test_a_stack_without_aucs_on_the_same_folds_is_refused() -> None:
    # GIVEN a stack with a higher CV AUC whose fold AUCs cannot be paired (other folds)
    y, rng = _holdout(6)
    single, stack = _scores(y, rng, 1.0), _scores(y, rng, 3.0)
    contenders = [
        _contender("logistic_regression", 1, single, _fold_aucs(0.80, 7)),
        _contender("stack", 4, stack, _fold_aucs(0.85, 8)[:6], stack=True),
    ]

    # WHEN selected, THEN it is refused: no paired test, no promotion
    selection = select_champion(contenders, y, alpha=0.05)
    assert selection.champion == "logistic_regression"
    assert "no AUCs on the same CV folds" in selection.steps[-1]["reason"]


def test_a_single_candidate_still_needs_the_holdout_delong_test() -> None:
    # GIVEN a more complex single candidate better on every fold by a clear margin, but
    # not significantly better on the holdout
    y, rng = _holdout(3)
    simple = _scores(y, rng, 1.2)
    slightly = simple + 0.1 * y + 0.2 * rng.normal(size=ROWS)
    folds = _fold_aucs(0.80, 9)
    contenders = [
        _contender("logistic_regression", 1, simple, folds),
        _contender("xgboost", 3, slightly, folds + 0.02),
    ]

    # WHEN selected
    selection = select_champion(contenders, y, alpha=0.05)

    # THEN the simpler one stays: the fold AUCs do not promote a single candidate
    assert selection.champion == "logistic_regression"
    step = selection.steps[-1]
    assert step["tests"]["logistic_regression"]["p_value"] >= 0.05
    assert "DeLong" in step["reason"] and "not significant at 0.05" in step["reason"]


def test_the_stack_must_beat_the_best_single_by_cv_even_when_a_simpler_one_was_kept() -> None:
    # GIVEN a kept simple model, a more complex one with the best single CV AUC, and a
    # stack clearly better on the holdout but below that best single CV AUC
    y, rng = _holdout(4)
    simple, complex_ = _scores(y, rng, 1.0), _scores(y, rng, 1.05)
    stack = _scores(y, rng, 3.0)
    contenders = [
        Contender("logistic_regression", 1, 0.80, 0.01, simple),
        Contender("xgboost", 3, 0.83, 0.01, complex_),
        Contender("stack", 4, 0.82, 0.01, stack, stack=True),
    ]

    # WHEN selected, THEN the stack is refused for its CV AUC against the best single
    selection = select_champion(contenders, y, alpha=0.05)
    assert selection.champion != "stack"
    step = selection.steps[-1]
    assert step["candidate"] == "stack" and not step["chosen"]
    assert "not above xgboost's 0.8300" in step["reason"]
