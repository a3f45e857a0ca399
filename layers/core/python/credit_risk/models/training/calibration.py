"""Fitting the map from a model's raw margin to a probability of default that means it.

Resampling and class weights shift a model's scores away from real default rates, and
trees are not calibrated at all. The map is fitted on out-of-fold margins (the model
never saw those rows), after any resampling, so a PD of 0.1 means about 10% default. It
is a plain-number :class:`~credit_risk.models.lean.CalibrationMap`: a sigmoid ``(a, b)`` on
the margin (Platt scaling) or isotonic knots.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from credit_risk.models.lean import CalibrationMap

ISOTONIC_FLOOR = 1e-4
"""Isotonic PDs are kept within [floor, 1 - floor]: no applicant is certain either way."""


def fit_sigmoid(margins: np.ndarray, y: np.ndarray) -> CalibrationMap:
    """Platt scaling: a logistic regression of the outcome on the margin."""
    model = LogisticRegression(C=1e8, max_iter=1000)
    model.fit(np.asarray(margins, dtype=np.float64).reshape(-1, 1), y)
    return CalibrationMap("sigmoid", a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))


def fit_isotonic(margins: np.ndarray, y: np.ndarray) -> CalibrationMap:
    """A non-decreasing step-and-ramp map from margin to observed default rate."""
    model = IsotonicRegression(
        y_min=ISOTONIC_FLOOR, y_max=1.0 - ISOTONIC_FLOOR, out_of_bounds="clip"
    )
    model.fit(np.asarray(margins, dtype=np.float64), y)
    x = np.asarray(model.X_thresholds_, dtype=np.float64)
    knots = np.asarray(model.y_thresholds_, dtype=np.float64)
    if len(x) < 2:  # a constant map still needs two knots
        x = np.array([x[0] - 1.0, x[0] + 1.0])
        knots = np.array([knots[0], knots[0]])
    return CalibrationMap("isotonic", x=tuple(x.tolist()), y=tuple(knots.tolist()))


def fit_calibration(
    margins: np.ndarray,
    y: np.ndarray,
    method: Literal["sigmoid", "isotonic", "auto"] = "sigmoid",
    *,
    seed: int = 42,
) -> CalibrationMap:
    """The calibration map for out-of-fold ``margins`` and their outcomes ``y``.

    ``auto`` picks sigmoid or isotonic by the lower Brier score, each fitted on one half
    of the rows and scored on the other (both ways), then refits the winner on all rows.
    """
    margins = np.asarray(margins, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if method == "sigmoid":
        return fit_sigmoid(margins, y)
    if method == "isotonic":
        return fit_isotonic(margins, y)
    if method != "auto":
        raise ValueError(f"unknown calibration method '{method}'")
    return fit_calibration(margins, y, choose_calibration(margins, y, seed=seed))


def choose_calibration(
    margins: np.ndarray, y: np.ndarray, *, seed: int = 42
) -> Literal["sigmoid", "isotonic"]:
    """Sigmoid or isotonic, by the lower two-fold cross-fitted Brier score."""
    halves = list(StratifiedKFold(n_splits=2, shuffle=True, random_state=seed).split(margins, y))
    scores = {}
    for name, fit in (("sigmoid", fit_sigmoid), ("isotonic", fit_isotonic)):
        briers = []
        for fit_idx, score_idx in halves:
            mapping = fit(margins[fit_idx], y[fit_idx])
            briers.append(brier_score_loss(y[score_idx], mapping(margins[score_idx])))
        scores[name] = float(np.mean(briers))
    return "sigmoid" if scores["sigmoid"] <= scores["isotonic"] else "isotonic"
