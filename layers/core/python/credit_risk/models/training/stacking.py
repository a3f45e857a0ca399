"""The stacked candidate: a non-negative logistic stack of the candidates' out-of-fold
margins, and the full (scikit-learn) model it serves as.

Weights: a logistic regression of the outcome on the members' out-of-fold margins (each
member's chosen configuration, scored on rows its fold model never saw), with the weights
held non-negative so that every member's reasons keep their sign in the stack's, and a
small ridge penalty. Its CV AUC is honest: for each cross-validation fold the weights are
refitted on the other folds' rows and applied to the fold's rows (cross-fitting), so the
rows the stack is scored on never taught it its weights.

The stack is offered to the champion selection (:mod:`.selection`) like any candidate, but
with the highest complexity: it is chosen only when it beats the best single candidate
significantly. Its serving form is :class:`credit_risk.models.stacked.StackedLeanModel`.

Pure code: no boto3, no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.metrics import roc_auc_score

from credit_risk.models.lean import CalibrationMap
from credit_risk.models.training import metrics as m
from credit_risk.models.training.pipelines import CalibratedModel


def fit_stack_weights(
    margins: np.ndarray, y: np.ndarray, *, l2: float = 1e-3
) -> tuple[np.ndarray, float]:
    """Non-negative weights and an intercept of a logistic regression of ``y`` on the
    columns of ``margins`` (rows x members), by L-BFGS-B on the mean log-loss plus
    ``l2`` times the squared weights."""
    X = np.asarray(margins, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    n, k = X.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, c = theta[:k], theta[k]
        z = X @ w + c
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, overflow-free
        value = float(np.mean(np.logaddexp(0.0, z) - t * z) + l2 * (w @ w))
        residual = (p - t) / n
        grad = np.concatenate([X.T @ residual + 2 * l2 * w, [residual.sum()]])
        return value, grad

    start = np.concatenate([np.full(k, 1.0 / k), [0.0]])
    bounds = [(0.0, None)] * k + [(None, None)]
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    weights = np.clip(found.x[:k], 0.0, None)
    return weights, float(found.x[k])


@dataclass
class StackFit:
    """The stack's weights, its cross-fitted out-of-fold margins and their fold AUCs."""

    names: list[str]
    weights: np.ndarray
    intercept: float
    oof_margins: np.ndarray  # (repeats, rows): cross-fitted stack margins, intercept added
    fold_auc: list[float]

    @property
    def auc_mean(self) -> float:
        """Mean cross-fitted fold AUC."""
        return float(np.mean(self.fold_auc))

    @property
    def auc_std(self) -> float:
        """Standard deviation of the cross-fitted fold AUCs."""
        return float(np.std(self.fold_auc))


def fit_stack(
    oof: Mapping[str, np.ndarray],
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    folds: int,
    *,
    l2: float = 1e-3,
) -> StackFit:
    """The stack of the members' out-of-fold margins ``oof`` (name -> repeats x rows, the
    folds ``splits`` of ``folds`` per repeat): weights on every row of every repeat, and
    cross-fitted out-of-fold stack margins with their fold AUCs."""
    names = list(oof)
    stacked = np.stack([np.asarray(oof[n], dtype=np.float64) for n in names], axis=-1)
    repeats, rows, _ = stacked.shape
    y = np.asarray(y, dtype=np.int64)
    out = np.full((repeats, rows), np.nan)
    fold_auc = []
    for k, (_, valid) in enumerate(splits):
        r = k // folds
        others = np.ones(rows, dtype=bool)
        others[valid] = False
        w, c = fit_stack_weights(stacked[r, others], y[others], l2=l2)
        out[r, valid] = stacked[r, valid] @ w + c
        fold_auc.append(float(roc_auc_score(y[valid], out[r, valid])))
    weights, intercept = fit_stack_weights(
        stacked.reshape(-1, len(names)), np.tile(y, repeats), l2=l2
    )
    return StackFit(names, weights, intercept, out, fold_auc)


def stack_cv_metrics(
    fit: StackFit,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    folds: int,
    cutoff: float,
) -> dict[str, dict[str, float]]:
    """Per-fold metrics of the cross-fitted stack PDs (each fold's own weights)."""
    per_fold = []
    for k, (_, valid) in enumerate(splits):
        pd_ = CalibrationMap("sigmoid")(fit.oof_margins[k // folds, valid])
        per_fold.append(m.headline_metrics(y[valid], pd_, cutoff))
    return m.summarise_folds(per_fold)


class StackedModel:
    """The stack as a full model: members' calibrated pipelines, combined by their raw
    margins and the stack's weights. ``predict_proba`` in scikit-learn's layout."""

    classes_ = np.array([0, 1])

    def __init__(
        self,
        members: Mapping[str, CalibratedModel],
        weights: Sequence[float] | np.ndarray,
        intercept: float,
    ) -> None:
        self.members = dict(members)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.intercept = float(intercept)
        self.calibration = CalibrationMap("sigmoid", a=1.0, b=self.intercept)
        first = next(iter(self.members.values()))
        self.feature_ranges = first.feature_ranges

    def member_margins(self, X: pd.DataFrame) -> np.ndarray:
        """Each member's raw margin, shaped ``(rows, members)``."""
        return np.column_stack([c.decision_function(X) for c in self.members.values()])

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The stack's raw margin (before its intercept)."""
        return np.einsum("ij,j->i", self.member_margins(X), self.weights)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[P(no default), P(default)]`` per row."""
        pd_ = self.calibration(self.decision_function(X))
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: pd.DataFrame, cutoff: float = 0.5) -> np.ndarray:
        """1 where the PD is at or above ``cutoff``."""
        return (self.predict_proba(X)[:, 1] >= cutoff).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        """Members, their weights and the intercept, JSON-able."""
        return {
            "members": list(self.members),
            "weights": {n: float(w) for n, w in zip(self.members, self.weights, strict=True)},
            "intercept": self.intercept,
        }
