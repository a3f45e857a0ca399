"""Champion selection: CV AUC ranks, the simplest first, a holdout DeLong test before a
more complex candidate (or the stack) replaces a simpler one."""

from __future__ import annotations

import numpy as np

from credit_risk.models.training.metrics import ranking_metrics
from credit_risk.models.training.selection import Contender, select_champion

ROWS = 400


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


def test_the_stack_is_refused_unless_it_beats_the_best_single_significantly() -> None:
    # GIVEN a stack with the best CV AUC but only a little better on the holdout
    y, rng = _holdout(3)
    single = _scores(y, rng, 1.2)
    slightly = single + 0.1 * y + 0.2 * rng.normal(size=ROWS)  # better, and noisier
    contenders = [
        Contender("logistic_regression", 1, 0.80, 0.01, single),
        Contender("stack", 4, 0.82, 0.01, slightly, stack=True),
    ]

    # WHEN selected
    selection = select_champion(contenders, y, alpha=0.05)

    # THEN the single model stays, and the stack's step says it was not significant
    assert selection.champion == "logistic_regression"
    step = selection.steps[-1]
    assert step["candidate"] == "stack" and not step["chosen"]
    assert step["tests"]["logistic_regression"]["difference"] > 0
    assert step["tests"]["logistic_regression"]["p_value"] >= 0.05


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
