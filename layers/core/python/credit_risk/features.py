"""Feature engineering driven by the contract: application rows in, model inputs out.

Pure code. The same function builds features in ETL (a whole batch) and in the API (one
application), so training and serving cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_risk.contract import Contract

_DAYS_PER_MONTH = 30.4375


def months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Whole and fractional months from ``start`` to ``end`` (missing where either is)."""
    start = pd.to_datetime(start, errors="coerce")
    end = pd.to_datetime(end, errors="coerce")
    days = (end - start).dt.days.astype("float64")
    return days / _DAYS_PER_MONTH


def _numeric_frame(contract: Contract, applications: pd.DataFrame) -> pd.DataFrame:
    """Columns the derived expressions may read, as float64 (dates stay dates)."""
    out = {}
    for name, col in contract.applications.columns.items():
        if name not in applications.columns or col.pii:
            continue
        series = applications[name]
        if col.type in ("integer", "float", "boolean"):
            out[name] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif col.type == "date":
            out[name] = pd.to_datetime(series, errors="coerce")
        else:
            out[name] = series
    return pd.DataFrame(out, index=applications.index)


def build_features(contract: Contract, applications: pd.DataFrame) -> pd.DataFrame:
    """Model inputs for each application: ``contract.features`` columns, in that order.

    Numeric features are float64 with NaN for missing or undefined values (a ratio over
    zero); categorical features are Python strings or None.
    """
    base = _numeric_frame(contract, applications)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, feat in contract.derived.items():
            if feat.months_between is not None:
                start, end = feat.months_between
                values = months_between(base[start], base[end])
            else:
                assert feat.expr is not None
                values = base.eval(feat.expr, engine="python")
            values = pd.to_numeric(values, errors="coerce").astype("float64")
            base[name] = values.replace([np.inf, -np.inf], np.nan)
    features = pd.DataFrame(index=applications.index)
    for name in contract.numeric_features:
        features[name] = base[name].astype("float64")
    for name in contract.categorical_features:
        values = applications[name].astype("object")
        features[name] = values.where(pd.notna(values), None)
    return features
