"""The candidate pipelines: prepare → (resample) → estimator, and their calibrated wrapper.

Every candidate is an imbalanced-learn ``Pipeline`` so that a sampler runs only when the
pipeline is fitted, that is only on the rows of a training fold, never on validation or
holdout rows:

``prepare``
    numeric features: median imputation plus a missing-value indicator for each feature
    that had missing values in training (standardised for logistic regression);
    categorical features: one-hot encoding, unseen categories encode as all zeros and a
    missing value is its own category when training saw one.
``resample`` (optional)
    ``RandomUnderSampler`` or ``SMOTE``.
``model``
    ``LogisticRegression``, ``xgboost.XGBRFClassifier`` (the random forest) or
    ``xgboost.XGBClassifier`` (gradient boosting).

A feature the contract declares ``monotone`` is constrained in both xgboost candidates
(``monotone_constraints``, see :func:`monotone_constraints`); a logistic regression is
monotone in each numeric input by construction, in the direction of its coefficient's sign.

The WoE scorecard (``scorecard``) has steps of its own: ``prepare`` bins each feature
with optbinning and replaces it by its bin's weight of evidence, ``model`` is a logistic
regression on those (see :mod:`credit_risk.models.training.scorecard`).

Both tree candidates are xgboost models so that serving needs numpy and xgboost only, with
exact TreeSHAP attributions (see :mod:`credit_risk.models.training.trainer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from credit_risk.models.lean import CalibrationMap
from credit_risk.models.training.config import EstimatorKind, ImbalanceOption
from credit_risk.models.training.scorecard import build_scorecard_steps

SAMPLERS: dict[str, type] = {"undersample": RandomUnderSampler, "smote": SMOTE}
"""Imbalance option kind → imbalanced-learn sampler class."""


def build_preprocessor(
    numeric: Sequence[str], categorical: Sequence[str], *, scale: bool
) -> ColumnTransformer:
    """The ``prepare`` step: impute and flag numeric features, one-hot the categories."""
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps: list[tuple[str, Any]] = [
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            )
        ]
        if scale:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", SkPipeline(steps), list(numeric)))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        transformers.append(("categorical", encoder, list(categorical)))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


_DIRECTION = {"increasing": 1, "decreasing": -1}


def monotone_constraints(numeric: Sequence[str], monotone: Mapping[str, str]) -> tuple[int, ...]:
    """xgboost's ``monotone_constraints`` for the ``prepare`` step's columns: +1, -1 or 0.

    The prepared matrix starts with the imputed numeric features in ``numeric`` order;
    missing-value indicators and one-hot columns follow, and how many there are depends
    on the rows a fold is fitted on. They are never constrained, so the vector covers the
    numeric columns only and xgboost pads the rest with 0 (unconstrained)."""
    return tuple(_DIRECTION.get(monotone.get(name, ""), 0) for name in numeric)


def build_estimator(
    kind: EstimatorKind,
    params: dict[str, Any],
    imbalance: ImbalanceOption,
    *,
    pos_weight: float,
    seed: int,
    threads: int | None,
    constraints: Sequence[int] = (),
) -> Any:
    """The ``model`` step with its parameters, any class weighting and, for xgboost, the
    monotone ``constraints`` of the prepared columns (none when all are 0)."""
    if kind == "logistic_regression":
        weight = "balanced" if imbalance.kind == "class_weight" else None
        return LogisticRegression(**params, class_weight=weight, random_state=seed)
    extra: dict[str, Any] = {"random_state": seed, "n_jobs": threads}
    if imbalance.kind == "scale_pos_weight":
        extra["scale_pos_weight"] = pos_weight
    if any(constraints):
        extra["monotone_constraints"] = "(" + ",".join(str(int(c)) for c in constraints) + ")"
    if kind == "xgboost":
        return xgb.XGBClassifier(**params, **extra)
    if kind == "xgboost_random_forest":
        return xgb.XGBRFClassifier(**params, **extra)
    raise ValueError(f"unknown estimator '{kind}'")


def build_pipeline(
    kind: EstimatorKind,
    numeric: Sequence[str],
    categorical: Sequence[str],
    params: dict[str, Any],
    imbalance: ImbalanceOption,
    *,
    pos_weight: float = 1.0,
    seed: int = 42,
    threads: int | None = None,
    monotone: Mapping[str, str] | None = None,
) -> Pipeline:
    """An unfitted candidate pipeline: prepare → optional sampler → estimator.

    ``monotone`` maps a numeric feature to its declared direction of risk (``increasing``
    or ``decreasing``); xgboost estimators are constrained to it, a scorecard's binning
    follows it."""
    if kind == "scorecard":
        # WoE binning → (sampler) → logistic regression on WoE (models.training.scorecard).
        binning, regression = build_scorecard_steps(
            numeric,
            categorical,
            params,
            class_weight="balanced" if imbalance.kind == "class_weight" else None,
            seed=seed,
            monotone=monotone,
        )
        steps_: list[tuple[str, Any]] = [("prepare", binning)]
        if imbalance.kind in SAMPLERS:
            steps_.append(
                ("resample", SAMPLERS[imbalance.kind](random_state=seed, **imbalance.params))
            )
        return Pipeline([*steps_, ("model", regression)])
    steps: list[tuple[str, Any]] = [
        ("prepare", build_preprocessor(numeric, categorical, scale=kind == "logistic_regression"))
    ]
    if imbalance.kind in SAMPLERS:
        steps.append(("resample", SAMPLERS[imbalance.kind](random_state=seed, **imbalance.params)))
    steps.append(
        (
            "model",
            build_estimator(
                kind,
                params,
                imbalance,
                pos_weight=pos_weight,
                seed=seed,
                threads=threads,
                constraints=monotone_constraints(numeric, monotone or {}),
            ),
        )
    )
    return Pipeline(steps)


def feature_ranges(X: pd.DataFrame, numeric: list[str]) -> dict[str, tuple[float, float]]:
    """Smallest and largest value of each numeric feature of ``X`` (missing values aside;
    a feature with no value at all is left out)."""
    out: dict[str, tuple[float, float]] = {}
    for name in numeric:
        values = pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            out[name] = (float(values.min()), float(values.max()))
    return out


def raw_margin(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """The fitted pipeline's uncalibrated log-odds for ``X`` (samplers do not run)."""
    design = pipeline.named_steps["prepare"].transform(X)
    model = pipeline.named_steps["model"]
    if isinstance(model, xgb.XGBModel):
        margin = model.predict(design, output_margin=True)
    else:
        margin = model.decision_function(design)
    return np.asarray(margin, dtype=np.float64).reshape(-1)


class CalibratedModel:
    """A fitted candidate pipeline and the calibration map of its margins.

    ``predict_proba`` gives calibrated probabilities in scikit-learn's two-column layout;
    column 1 is the probability of default. ``column_means`` are the means of the prepared
    training columns: the reference point of a linear model's attributions.
    ``feature_ranges`` are the smallest and largest value of each numeric feature in the
    rows the model was fitted on: serving refuses to extrapolate silently beyond them.
    """

    classes_ = np.array([0, 1])

    def __init__(
        self,
        pipeline: Pipeline,
        calibration: CalibrationMap,
        column_means: np.ndarray | None = None,
        feature_ranges: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.calibration = calibration
        self.column_means = column_means
        self.feature_ranges = feature_ranges

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw margins (log-odds before calibration)."""
        return raw_margin(self.pipeline, X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated ``[P(no default), P(default)]`` per row."""
        pd_ = self.calibration(self.decision_function(X))
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: pd.DataFrame, cutoff: float = 0.5) -> np.ndarray:
        """1 where the calibrated PD is at or above ``cutoff``."""
        return (self.predict_proba(X)[:, 1] >= cutoff).astype(np.int64)
