"""Model performance figures a credit team reads, as plain JSON-able values.

Ranking (ROC AUC, Gini, KS), probability quality (Brier score, log loss, a calibration
table) and the confusion at a cutoff (precision, recall, F1, accuracy). A row counts as a
predicted default when its PD is at or above the cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

PD_CLIP = 1e-6
"""Log loss clips PDs to [PD_CLIP, 1 - PD_CLIP] so one confident miss stays finite."""

CV_METRICS = ("auc", "gini", "ks", "brier", "log_loss", "precision", "recall", "f1", "accuracy")


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC AUC, Gini (2 AUC - 1) and the Kolmogorov-Smirnov statistic of a score."""
    auc = float(roc_auc_score(y, score))
    fpr, tpr, _ = roc_curve(y, score)
    return {"auc": auc, "gini": 2.0 * auc - 1.0, "ks": float(np.max(tpr - fpr))}


def probability_metrics(y: np.ndarray, pd: np.ndarray) -> dict[str, float]:
    """Brier score and log loss of probabilities of default."""
    clipped = np.clip(pd, PD_CLIP, 1.0 - PD_CLIP)
    return {
        "brier": float(brier_score_loss(y, pd)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
    }


def confusion(y: np.ndarray, pd: np.ndarray, cutoff: float) -> dict[str, int]:
    """Confusion-matrix counts when ``pd >= cutoff`` predicts a default."""
    predicted = pd >= cutoff
    actual = y == 1
    return {
        "tn": int(np.sum(~predicted & ~actual)),
        "fp": int(np.sum(predicted & ~actual)),
        "fn": int(np.sum(~predicted & actual)),
        "tp": int(np.sum(predicted & actual)),
    }


def threshold_metrics(y: np.ndarray, pd: np.ndarray, cutoff: float) -> dict[str, float]:
    """Precision, recall, F1 and accuracy at a PD cutoff (0 where undefined)."""
    c = confusion(y, pd, cutoff)
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float((tp + tn) / max(len(y), 1)),
    }


def max_f1_cutoff(y: np.ndarray, pd: np.ndarray) -> float:
    """The PD cutoff that maximises F1 on these rows."""
    precision, recall, thresholds = precision_recall_curve(y, pd)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    return float(thresholds[int(np.argmax(f1))])


def calibration_table(y: np.ndarray, pd: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Mean PD against the observed default rate in ``bins`` equal-count PD bins."""
    order = np.argsort(pd, kind="stable")
    table = []
    for i, idx in enumerate(np.array_split(order, bins), start=1):
        if len(idx) == 0:
            continue
        table.append(
            {
                "bin": i,
                "mean_pd": float(np.mean(pd[idx])),
                "observed_rate": float(np.mean(y[idx])),
                "count": int(len(idx)),
            }
        )
    return table


def roc_points(y: np.ndarray, score: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """The ROC curve at ``points`` evenly spaced false-positive rates."""
    fpr, tpr, _ = roc_curve(y, score)
    grid = np.linspace(0.0, 1.0, points)
    return {
        "fpr": [round(float(v), 6) for v in grid],
        "tpr": [round(float(v), 6) for v in np.interp(grid, fpr, tpr)],
    }


def score_distribution(y: np.ndarray, pd: np.ndarray, bins: int = 20) -> dict[str, list[Any]]:
    """Histogram of PDs for defaults and non-defaults over equal-width PD bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    defaults, _ = np.histogram(pd[y == 1], bins=edges)
    non_defaults, _ = np.histogram(pd[y == 0], bins=edges)
    return {
        "edges": [round(float(e), 6) for e in edges],
        "defaults": [int(v) for v in defaults],
        "non_defaults": [int(v) for v in non_defaults],
    }


def headline_metrics(y: np.ndarray, pd: np.ndarray, cutoff: float) -> dict[str, float]:
    """The scalar figures reported per cross-validation fold and for the holdout."""
    return {
        **ranking_metrics(y, pd),
        **probability_metrics(y, pd),
        **threshold_metrics(y, pd, cutoff),
    }


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(values, method="average"), dtype=np.float64)


def delong(y: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of ``scores`` on the same rows and their covariance, by DeLong's method (the
    fast algorithm of Sun and Xu, 2014)."""
    y = np.asarray(y).astype(bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("an AUC needs defaults and non-defaults")
    aucs, v01, v10 = [], [], []
    for score in scores:
        score = np.asarray(score, dtype=np.float64)
        pos, neg = score[y], score[~y]
        ranks = _midranks(np.concatenate([pos, neg]))
        in_pos, in_neg = _midranks(pos), _midranks(neg)
        auc = (ranks[:positives].sum() - positives * (positives + 1) / 2) / (positives * negatives)
        aucs.append(auc)
        v10.append((ranks[:positives] - in_pos) / negatives)
        v01.append(1.0 - (ranks[positives:] - in_neg) / positives)
    s10 = np.atleast_2d(np.cov(np.array(v10)))
    s01 = np.atleast_2d(np.cov(np.array(v01)))
    return np.array(aucs), s10 / positives + s01 / negatives


def auc_interval(y: np.ndarray, score: np.ndarray, level: float = 0.95) -> list[float]:
    """The AUC's confidence interval (DeLong's variance, normal approximation), clipped
    to [0, 1]."""
    from scipy.stats import norm

    auc, cov = delong(y, score)
    half = float(norm.ppf(0.5 + level / 2) * np.sqrt(max(cov[0, 0], 0.0)))
    return [max(0.0, float(auc[0]) - half), min(1.0, float(auc[0]) + half)]


def paired_auc_test(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """DeLong's paired test of two scores' AUCs on the same rows: the difference (a - b),
    its z statistic and the two-sided p-value."""
    from scipy.stats import norm

    auc, cov = delong(y, a, b)
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    difference = float(auc[0] - auc[1])
    if variance <= 0:
        return {"difference": difference, "z": 0.0, "p_value": 1.0}
    z = difference / np.sqrt(variance)
    return {"difference": difference, "z": float(z), "p_value": float(2 * norm.sf(abs(z)))}


def search_auc(fold_auc: Sequence[float]) -> dict[str, Any]:
    """A candidate's AUC over its CV folds x repeats, as ``metrics["cv"]["search_auc"]``
    keeps it: mean, standard deviation, count and each fold's AUC (in the folds' shared
    order, which the stack's paired test needs)."""
    return {
        "mean": float(np.mean(fold_auc)),
        "std": float(np.std(fold_auc)),
        "n": len(fold_auc),
        "per_fold": [float(a) for a in fold_auc],
    }


def corrected_resampled_t_test(
    differences: Sequence[float] | np.ndarray, test_train_ratio: float
) -> dict[str, Any]:
    """Nadeau and Bengio's (2003) corrected resampled t-test of paired per-fold score
    differences, in its repeated k-fold form (Bouckaert and Frank, 2004): the mean
    difference, its t statistic, the degrees of freedom and the two-sided p-value.

    ``differences`` holds one difference per fold x repeat, both models scored on the
    same fold's rows; ``test_train_ratio`` is a fold's validation rows over its training
    rows (``1 / (k - 1)`` for k folds). The variance of the mean is
    ``(1 / (k r) + test_train_ratio) * var(d)``, not ``var(d) / (k r)``: the second term
    stands for the correlation between folds whose training sets overlap, which the plain
    t-test ignores (and so gives p-values far too small). When every fold differs by the
    same amount the variance is zero: ``t`` is then None (JSON has no infinity) and the
    p-value 0 (1 when that amount is zero)."""
    from scipy.stats import t as student

    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    n = len(d)
    if n < 2:
        raise ValueError("the corrected t-test needs at least two fold differences")
    if test_train_ratio < 0:
        raise ValueError("test_train_ratio must not be negative")
    mean = float(np.mean(d))
    variance = float(np.var(d, ddof=1)) * (1.0 / n + test_train_ratio)
    df = n - 1
    t_stat: float | None
    if variance <= 0:
        t_stat = 0.0 if mean == 0 else None
        p_value = 1.0 if mean == 0 else 0.0
    else:
        t_stat = mean / float(np.sqrt(variance))
        p_value = float(2 * student.sf(abs(t_stat), df))
    return {
        "difference": mean,
        "t": t_stat,
        "df": df,
        "p_value": p_value,
        "n": n,
        "test_train_ratio": float(test_train_ratio),
    }


def evaluate(y: np.ndarray, pd: np.ndarray, cutoff: float) -> dict[str, Any]:
    """Every holdout figure: headline metrics with the AUC's 95% confidence interval,
    confusion, calibration, ROC, distribution."""
    y = np.asarray(y, dtype=np.int64)
    pd = np.asarray(pd, dtype=np.float64)
    return {
        **headline_metrics(y, pd, cutoff),
        "auc_ci95": auc_interval(y, pd),
        "cutoff": float(cutoff),
        "mean_pd": float(np.mean(pd)),
        "confusion_matrix": confusion(y, pd, cutoff),
        "calibration": calibration_table(y, pd),
        "roc_curve": roc_points(y, pd),
        "score_distribution": score_distribution(y, pd),
    }


def summarise_folds(folds: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation and count (``n``) of each metric over folds."""
    return {
        name: {
            "mean": float(np.mean([f[name] for f in folds])),
            "std": float(np.std([f[name] for f in folds])),
            "n": len(folds),
        }
        for name in CV_METRICS
        if folds and name in folds[0]
    }


def feature_importance(features: Sequence[str], contributions: np.ndarray) -> list[dict[str, Any]]:
    """Mean absolute contribution to the log-odds per feature, largest first."""
    means = (
        np.mean(np.abs(contributions), axis=0) if len(contributions) else np.zeros(len(features))
    )
    ranked = sorted(zip(features, means, strict=True), key=lambda item: -item[1])
    return [{"feature": f, "importance": float(v)} for f, v in ranked]


MONOTONE_TOLERANCE = 1e-9
"""A PD step against the declared direction smaller than this is rounding, not a breach."""


def monotonicity(
    predict: Callable[[pd.DataFrame], np.ndarray],
    train: pd.DataFrame,
    rows: pd.DataFrame,
    declared: Mapping[str, str],
    *,
    grid_points: int = 21,
    enforced: bool = False,
) -> dict[str, dict[str, Any]]:
    """Whether the model's PD moves the declared way along each monotone feature.

    For every feature in ``declared`` (``increasing`` or ``decreasing``) each row of
    ``rows`` is swept over the feature's training quantiles (``grid_points`` of them, the
    distinct ones), the other inputs held fixed, and ``predict`` gives the PD curve. A row
    violates when one step of its curve moves against the direction by more than
    :data:`MONOTONE_TOLERANCE`. Per feature: ``declared``, ``holds`` (no row violates),
    ``violations`` (the share of rows that do), ``grid_points``, ``rows`` and whether the
    estimator ``enforced`` the constraint while fitting."""
    out: dict[str, dict[str, Any]] = {}
    for name, direction in declared.items():
        values = pd.to_numeric(train[name], errors="coerce").to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        grid = (
            np.unique(np.quantile(values, np.linspace(0.0, 1.0, grid_points)))
            if len(values)
            else np.array([])
        )
        share = 0.0
        if len(grid) >= 2 and len(rows):
            swept = rows.loc[rows.index.repeat(len(grid))].reset_index(drop=True)
            swept[name] = np.tile(grid, len(rows))
            curves = np.asarray(predict(swept), dtype=np.float64).reshape(len(rows), len(grid))
            steps = np.diff(curves, axis=1)
            against = (
                steps < -MONOTONE_TOLERANCE
                if direction == "increasing"
                else steps > MONOTONE_TOLERANCE
            )
            share = float(np.mean(against.any(axis=1)))
        out[name] = {
            "declared": direction,
            "holds": share == 0.0,
            "violations": share,
            "grid_points": int(len(grid)),
            "rows": int(len(rows)),
            "enforced": enforced,
        }
    return out
