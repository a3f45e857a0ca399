"""Scoring rows with a loaded model: PD, score, grade, decision, expected loss, reasons.

Both paths use the same lean model, features and decision policy, so the same row gets
the same PD whichever way it is scored: one application (the API) or a whole batch
(Step Functions, through :mod:`credit_risk.decisions.serving`).

Pure: no boto3, no SQLAlchemy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from credit_risk.contract import Contract
from credit_risk.decisions.policy import (
    DecisionPolicy,
    decide,
    exposure_at_default,
    make_decision,
    risk_grade,
    score_points,
)
from credit_risk.models.lean import LeanModel
from credit_risk.models.versions import ModelVersion


@dataclass(frozen=True)
class LoadedModel:
    """The champion's registry row and its lean model."""

    version: ModelVersion
    model: LeanModel


OUT_OF_RANGE_CODE = "OUT_OF_TRAINING_RANGE"
"""Reason code of a decision sent to review because an input lies outside the range the
model was trained on (``OUT_OF_TRAINING_RANGE:<feature>``)."""


def outside_training_range(model: LeanModel, row: Mapping[str, Any]) -> list[str]:
    """The numeric features of ``row`` outside the range the model saw in training.

    The ranges are the model's ``metadata["feature_ranges"]`` (written at training); a
    model without them (trained before they were kept) checks nothing. Missing values
    are imputed, not extrapolated, and are not flagged.
    """
    ranges = model.metadata.get("feature_ranges")
    if not isinstance(ranges, Mapping):
        return []
    outside = []
    for name in model.numeric:
        bounds, value = ranges.get(name), row.get(name)
        if not isinstance(bounds, Mapping) or value is None or isinstance(value, bool):
            continue
        try:
            number, low, high = float(value), float(bounds["min"]), float(bounds["max"])
        except (KeyError, TypeError, ValueError):
            continue
        if not math.isnan(number) and not low <= number <= high:
            outside.append(name)
    return outside


def any_outside_training_range(model: LeanModel, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Per row, whether :func:`outside_training_range` would name a feature: the same
    bounds and the same rules (missing values and booleans are not checked), for many
    rows at once."""
    columns = {
        name: np.array([_checked_number(row.get(name)) for row in rows], dtype=np.float64)
        for name in model.numeric
    }
    return columns_outside_training_range(model, columns, len(rows))


def columns_outside_training_range(
    model: LeanModel, columns: Mapping[str, np.ndarray], n: int
) -> np.ndarray:
    """:func:`any_outside_training_range` for numeric features given as float64 columns
    (NaN for missing values, which are not flagged)."""
    ranges = model.metadata.get("feature_ranges")
    flagged = np.zeros(n, dtype=bool)
    if not isinstance(ranges, Mapping) or not n:
        return flagged
    for name in model.numeric:
        bounds = ranges.get(name)
        try:
            low, high = float(bounds["min"]), float(bounds["max"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            continue
        values = columns.get(name)
        if values is None:
            continue
        with np.errstate(invalid="ignore"):
            flagged |= (values < low) | (values > high)  # NaN compares false: not flagged
    return flagged


def _checked_number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def decide_rows(
    loaded: LoadedModel,
    rows: Sequence[Mapping[str, Any]],
    contract: Contract,
    policy: DecisionPolicy,
) -> list[dict[str, Any]]:
    """Decisions with reasons for feature rows (each row also carries its EAD column)."""
    model = loaded.model
    design = model.encode(rows)
    margins, contributions, _ = model.contributions_of(design)
    pds = model.calibration(margins)
    out = []
    for i, row in enumerate(rows):
        by_feature = dict(zip(model.features, contributions[i].tolist(), strict=True))
        decision = make_decision(
            float(pds[i]), by_feature, exposure_at_default(row, policy), contract, policy
        )
        result = decision.to_dict()
        result["model_version"] = loaded.version.version
        out.append(result)
    return out


def decide_columns_without_reasons(
    loaded: LoadedModel, columns: Mapping[str, Any], n: int, policy: DecisionPolicy
) -> list[dict[str, Any]]:
    """PD, score, grade and decision for ``n`` feature rows given column-wise (numeric
    features as float64 arrays or lists with None, categorical ones as lists), as
    :func:`decide_rows` gives them (the same margins, calibration and policy), without the
    contributions and reasons a search over many variants of one application does not
    need. A row with an input outside the model's training range goes to review, as a
    real request does."""
    model = loaded.model
    design = model.encode_columns(columns, n_rows=n)
    pds = model.calibration(model.margin_of(design))
    numeric = {
        name: np.array([_checked_number(v) for v in values], dtype=np.float64)
        if not isinstance(values, np.ndarray)
        else values.astype(np.float64, copy=False)
        for name in model.numeric
        if (values := columns.get(name)) is not None
    }
    outside = columns_outside_training_range(model, numeric, n)
    out = []
    for pd, beyond in zip(pds.tolist(), outside.tolist(), strict=True):
        value = float(pd)
        out.append(
            {
                "probability_of_default": value,
                "score": score_points(value, policy),
                "grade": risk_grade(value, policy),
                "decision": "review" if beyond else decide(value, policy),
            }
        )
    return out


def score_records(
    loaded: LoadedModel,
    features: Any,
    contract: Contract,
    policy: DecisionPolicy,
    *,
    source: str,
) -> list[dict[str, Any]]:
    """``ml.scores`` rows for an analytics feature frame (application_id, customer_key, …)."""
    rows = (
        features[contract.features].astype(object).where(features[contract.features].notna(), None)
    )
    records = rows.to_dict("records")
    for record, ead_value in zip(
        records,
        features[policy.ead_feature].tolist()
        if policy.ead_feature in features
        else [None] * len(records),
        strict=True,
    ):
        if policy.ead_feature:
            record[policy.ead_feature] = ead_value
    decided = decide_rows(loaded, records, contract, policy)
    now = datetime.now(UTC)
    return [
        {
            "application_id": app_id,
            "customer_key": key,
            "probability_of_default": d["probability_of_default"],
            "score": d["score"],
            "grade": d["grade"],
            "decision": d["decision"],
            "expected_loss": d["expected_loss"],
            "reasons": json.dumps(d["reasons"]),
            "model_version": d["model_version"],
            "source": source,
            "scored_at": now,
        }
        for app_id, key, d in zip(
            features["application_id"].tolist(),
            features["customer_key"].tolist(),
            decided,
            strict=True,
        )
    ]
