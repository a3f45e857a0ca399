"""Turning a fitted candidate into the lean serving model, and proving they agree.

The exporter reads what each pipeline step learned (medians, indicator columns,
standardisation, one-hot categories, coefficients or the xgboost booster) into a
:class:`~credit_risk.models.lean.LeanModel`. Given check rows, it scores them both ways and
refuses a lean model whose PDs differ from the pipeline's by more than ``1e-6``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from credit_risk.contract import Contract
from credit_risk.errors import ArtifactIntegrityError
from credit_risk.models.lean import CalibrationMap, LeanModel, StackedLeanModel
from credit_risk.models.training.candidate import FittedCandidate
from credit_risk.models.training.pipelines import CalibratedModel
from credit_risk.models.training.scorecard import is_scorecard, points_table
from credit_risk.models.training.stacking import StackedModel

PD_TOLERANCE = 1e-6


def to_lean(
    fitted: FittedCandidate | CalibratedModel | StackedModel,
    contract: Contract,
    *,
    check: pd.DataFrame | None = None,
    threads: int = 1,
    metadata: dict[str, Any] | None = None,
) -> LeanModel:
    """The lean serving model of a fitted candidate.

    ``check``: feature rows (as ``build_features`` returns them) that both models score;
    a difference above ``1e-6`` in any PD raises :class:`ArtifactIntegrityError`.
    ``threads``: xgboost threads of the returned model (1 for serving).
    """
    model = fitted if isinstance(fitted, CalibratedModel | StackedModel) else fitted.model
    meta: dict[str, Any] = {"contract": contract.name, "contract_version": contract.version}
    if isinstance(fitted, FittedCandidate):
        meta.update(
            {
                "candidate": fitted.name,
                "estimator": fitted.estimator,
                "params": fitted.params,
                "cutoff": fitted.metrics.get("cutoff"),
            }
        )
    if model.feature_ranges is not None:
        # What serving checks each numeric input against (see decisions.scoring).
        meta["feature_ranges"] = {
            name: {"min": low, "max": high} for name, (low, high) in model.feature_ranges.items()
        }
    meta.update(metadata or {})
    if isinstance(model, StackedModel):
        return _stack_to_lean(model, contract, check=check, threads=threads, metadata=meta)
    numeric, categorical = contract.numeric_features, contract.categorical_features
    if is_scorecard(model.pipeline):
        lean = _scorecard_to_lean(model, numeric, categorical, meta, threads)
        if check is not None and len(check):
            check_agreement(lean, model, check)
        return lean
    prepare = model.pipeline.named_steps["prepare"]
    estimator = model.pipeline.named_steps["model"]

    medians: list[float] = []
    indicators: list[str] = []
    center = scale = None
    if numeric:
        steps = prepare.named_transformers_["numeric"].named_steps
        imputer = steps["impute"]
        medians = [float(v) for v in imputer.statistics_]
        flagged = getattr(imputer.indicator_, "features_", np.array([], dtype=int))
        indicators = [numeric[int(i)] for i in flagged]
        if "scale" in steps:
            center = [float(v) for v in steps["scale"].mean_]
            scale = [float(v) for v in steps["scale"].scale_]
    categories: list[list[str | None]] = []
    if categorical:
        encoder = prepare.named_transformers_["categorical"]
        categories = [[_plain_category(c) for c in cats] for cats in encoder.categories_]

    common: dict[str, Any] = {
        "numeric": list(numeric),
        "medians": medians,
        "indicators": indicators,
        "categorical": list(categorical),
        "categories": categories,
        "calibration": model.calibration,
        "center": center,
        "scale": scale,
        "metadata": meta,
        "threads": threads,
    }
    if isinstance(estimator, xgb.XGBModel):
        raw = bytes(estimator.get_booster().save_raw(raw_format="ubj"))
        lean = LeanModel(kind="xgboost", booster_raw=raw, **common)
    else:
        if model.column_means is None:
            raise ArtifactIntegrityError("a linear model needs its training column means")
        lean = LeanModel(
            kind="linear",
            coef=[float(v) for v in estimator.coef_[0]],
            intercept=float(estimator.intercept_[0]),
            column_means=[float(v) for v in model.column_means],
            **common,
        )
    if check is not None and len(check):
        check_agreement(lean, model, check)
    return lean


def _scorecard_to_lean(
    model: CalibratedModel,
    numeric: list[str],
    categorical: list[str],
    meta: dict[str, Any],
    threads: int,
) -> LeanModel:
    """A scorecard's lean model: its points table under its configured scaling, the
    calibration folded into the points (so PD = logistic link of points)."""
    table = points_table(model.pipeline, model.calibration)
    # The sigmoid folded into the points: a stack takes the raw margin back out of it.
    folded = {"a": float(model.calibration.a), "b": float(model.calibration.b)}
    meta = {**meta, "folded_calibration": folded}
    return LeanModel(
        kind="scorecard",
        numeric=list(numeric),
        medians=[],
        indicators=[],
        categorical=list(categorical),
        categories=[],
        calibration=CalibrationMap("sigmoid", a=1.0, b=0.0),
        metadata=meta,
        threads=threads,
        points_table=table,
    )


def feature_columns(X: pd.DataFrame, features: list[str]) -> dict[str, np.ndarray]:
    """A feature frame as the column mapping :meth:`LeanModel.predict_columns` takes."""
    return {name: X[name].to_numpy() for name in features}


def check_agreement(
    lean: LeanModel, model: CalibratedModel | StackedModel, X: pd.DataFrame
) -> float:
    """The largest PD difference between the lean model and the pipeline on ``X``.

    Raises :class:`ArtifactIntegrityError` when it exceeds ``1e-6``.
    """
    expected = model.predict_proba(X)[:, 1]
    got = lean.predict_columns(feature_columns(X, lean.features))
    worst = float(np.max(np.abs(expected - got)))
    if not worst <= PD_TOLERANCE:
        raise ArtifactIntegrityError(
            f"lean model disagrees with the fitted pipeline by {worst:.3g} in PD",
            max_difference=worst,
        )
    return worst


def _stack_to_lean(
    model: StackedModel,
    contract: Contract,
    *,
    check: pd.DataFrame | None,
    threads: int,
    metadata: dict[str, Any],
) -> StackedLeanModel:
    """The lean stack: each member's lean model (each checked against its pipeline on
    ``check``), the weights and the intercept; then the whole stack checked too."""
    members = {
        name: to_lean(member, contract, check=check, threads=threads)
        for name, member in model.members.items()
    }
    metadata = {**metadata, "stack": model.describe()}
    lean = StackedLeanModel.combine(
        members, model.weights.tolist(), model.intercept, metadata=metadata, threads=threads
    )
    if check is not None and len(check):
        check_agreement(lean, model, check)
    return lean


def _plain_category(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)
