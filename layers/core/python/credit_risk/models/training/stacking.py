"""The stacked candidate: a non-negative logistic stack of the candidates' out-of-fold
margins, and the full (scikit-learn) model it serves as.

Weights: a logistic regression of the outcome on the members' out-of-fold margins (each
member's chosen configuration, scored on rows its fold model never saw), with the weights
held non-negative so that every member's reasons keep their sign in the stack's, and a
small ridge penalty. Its CV AUC is honest: for each cross-validation fold the weights are
refitted on the other folds' rows and applied to the fold's rows (cross-fitting), so the
rows the stack is scored on never taught it its weights.

The stack is offered to the champion selection (:mod:`.selection`) like any candidate, but
with the highest complexity: it is chosen only when it beats the incumbent and the best
single candidate significantly by a corrected resampled t-test on these same folds' AUCs
(its ``search_auc.per_fold``), and the holdout does not find it significantly worse.
Its serving form is :class:`credit_risk.models.lean.StackedLeanModel`.

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
from sklearn.model_selection import RepeatedStratifiedKFold

from credit_risk.contract import Contract
from credit_risk.models.lean import CalibrationMap, LeanModel, StackedLeanModel
from credit_risk.models.training import metrics as m
from credit_risk.models.training.config import STACK_NAME, TrainingConfig
from credit_risk.models.training.pipelines import CalibratedModel

MONOTONE_ROWS = 200
"""Holdout rows the monotonicity probe sweeps each declared feature over."""


def cv_splits(
    y: np.ndarray, folds: int, repeats: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The repeated stratified folds every candidate's search used on the training part."""
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


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


def stack_metrics(
    fit: StackFit,
    lean: LeanModel,
    contract: Contract,
    cfg: TrainingConfig,
    *,
    X_tr: pd.DataFrame,
    y_tr: np.ndarray,
    X_ho: pd.DataFrame,
    y_ho: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    folds: int,
    holdout_kind: str,
    first_holdout_date: str | None,
    seed: int,
) -> dict[str, Any]:
    """The stack's metrics, in the layout of every candidate's (see
    :func:`credit_risk.models.training.trainer.train_one`), scored by its lean model:
    holdout figures, cross-fitted CV figures, importance and the weights (``stack``)."""
    repeats = len(splits) // folds
    if cfg.cutoff.policy == "fixed":
        assert cfg.cutoff.pd is not None
        cutoff = float(cfg.cutoff.pd)
    else:
        stacked_pd = CalibrationMap("sigmoid")(fit.oof_margins.reshape(-1))
        cutoff = m.max_f1_cutoff(np.tile(y_tr, repeats), stacked_pd)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return lean.predict_columns({f: frame[f].to_numpy() for f in lean.features})

    holdout = m.evaluate(y_ho, predict(X_ho), cutoff)
    rows = np.sort(np.random.default_rng(seed).permutation(len(y_ho))[: cfg.importance_rows])
    sample = X_ho.iloc[rows]
    _, contributions, _ = lean.contributions_of(
        lean.encode_columns({f: sample[f].to_numpy() for f in lean.features})
    )
    metrics: dict[str, Any] = {
        **holdout,
        "cutoff_policy": cfg.cutoff.policy,
        "holdout_default_rate": float(np.mean(y_ho)),
        "n_train": int(len(y_tr)),
        "n_holdout": int(len(y_ho)),
        "default_rate": float(np.mean(y_tr)),
        "holdout_kind": holdout_kind,
        "feature_importance": m.feature_importance(lean.features, contributions),
        "cv": {
            "folds": folds,
            "repeats": repeats,
            **stack_cv_metrics(fit, y_tr, splits, folds, cutoff),
            "search_auc": m.search_auc(fit.fold_auc),
        },
        "stack": {
            "members": list(fit.names),
            "weights": {n: float(w) for n, w in zip(fit.names, fit.weights, strict=True)},
            "intercept": fit.intercept,
        },
    }
    if contract.monotone:
        picked = np.sort(np.random.default_rng(seed).permutation(len(y_ho))[:MONOTONE_ROWS])
        metrics["monotonicity"] = m.monotonicity(
            predict, X_tr, X_ho.iloc[picked], contract.monotone
        )
    if first_holdout_date is not None:
        metrics["first_holdout_date"] = first_holdout_date
    return metrics


def stacked_candidate(
    contract: Contract,
    cfg: TrainingConfig,
    members: Mapping[str, LeanModel],
    oof: Mapping[str, np.ndarray],
    *,
    X_tr: pd.DataFrame,
    y_tr: np.ndarray,
    X_ho: pd.DataFrame,
    y_ho: np.ndarray,
    folds: int,
    repeats: int,
    holdout_kind: str,
    first_holdout_date: str | None,
    seed: int,
) -> tuple[StackFit, StackedLeanModel, dict[str, Any], dict[str, Any]]:
    """The stacked candidate of ``members`` (lean models of any kind) from their
    out-of-fold margins ``oof``: its fit, its lean serving model, metrics and params. Both
    training in one process and the state machine's evaluate step make it here."""
    assert cfg.stack is not None
    splits = cv_splits(y_tr, folds, repeats, seed)
    fit = fit_stack(oof, y_tr, splits, folds, l2=cfg.stack.l2)
    first = next(iter(members.values()))
    metadata: dict[str, Any] = {
        "contract": contract.name,
        "contract_version": contract.version,
        "candidate": STACK_NAME,
        "estimator": STACK_NAME,
    }
    if "feature_ranges" in first.metadata:
        metadata["feature_ranges"] = first.metadata["feature_ranges"]
    lean = StackedLeanModel.combine(
        {n: members[n] for n in fit.names}, fit.weights.tolist(), fit.intercept, metadata=metadata
    )
    metrics = stack_metrics(
        fit,
        lean,
        contract,
        cfg,
        X_tr=X_tr,
        y_tr=y_tr,
        X_ho=X_ho,
        y_ho=y_ho,
        splits=splits,
        folds=folds,
        holdout_kind=holdout_kind,
        first_holdout_date=first_holdout_date,
        seed=seed,
    )
    params = stack_params(fit, float(metrics["cutoff"]), seed)
    lean.metadata.update({"params": params, "cutoff": metrics["cutoff"], "stack": metrics["stack"]})
    return fit, lean, metrics, params


def stack_params(fit: StackFit, cutoff: float, seed: int) -> dict[str, Any]:
    """The stack's chosen settings, as a candidate's ``params``."""
    return {
        "members": list(fit.names),
        "weights": {n: float(w) for n, w in zip(fit.names, fit.weights, strict=True)},
        "intercept": fit.intercept,
        "calibration": "logistic stack",
        "cutoff": cutoff,
        "seed": seed,
    }


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
