"""Population stability: the one implementation of PSI, and the training baseline it
compares against.

Quality gates (:mod:`credit_risk.data.quality`) compare a batch with earlier batches;
monitoring (:mod:`credit_risk.monitoring.figures`) compares live applications with the
champion's training baseline, which training stores with every model
(:func:`baseline_summary`). Both bin, count and sum here, so a PSI means the same
everywhere: bins are the expected sample's quantiles (fewer when values tie), missing
values form a bin of their own, and a bin that one sample leaves empty counts as a tiny
share (:data:`PSI_EPSILON`) so the index stays finite.

This module is pure: it imports neither boto3 nor SQLAlchemy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

PSI_EPSILON = 1e-4
"""Share given to a bin that one sample leaves empty, so that PSI stays finite."""
BASELINE_VERSION = 1
MISSING = "<missing>"
SCORE_HISTOGRAM_BINS = 20


# --------------------------------------------------------------------------- numbers


def json_number(value: Any) -> Any:
    """A JSON-able number (NaN and infinities become None)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------- PSI


def psi_from_shares(
    expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray
) -> float:
    """PSI of two share vectors over the same bins; an empty bin counts as a tiny share."""
    if len(expected) != len(actual):
        raise ValueError(f"{len(expected)} expected shares but {len(actual)} actual shares")
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    if e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("PSI needs two non-empty samples")
    e = np.maximum(e / e.sum(), PSI_EPSILON)
    a = np.maximum(a / a.sum(), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_band(value: float) -> Literal["stable", "watch", "shifted"]:
    """The conventional reading of a PSI: below 0.1 stable, up to 0.25 watch, else shifted."""
    if np.isnan(value):
        raise ValueError("PSI is not a number")
    if value < 0.1:
        return "stable"
    if value <= 0.25:
        return "watch"
    return "shifted"


# --------------------------------------------------------------------------- samples


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """The inner ``bins``-quantile edges of the present values (fewer when values tie)."""
    present = values[~np.isnan(values)]
    if not present.size:
        return np.empty(0)
    return np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))


def _bin_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts per bin (``searchsorted`` on the edges, left side) plus a last missing bin."""
    missing = np.isnan(values)
    index = np.searchsorted(np.asarray(edges, dtype="float64"), values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return np.append(counts, missing.sum()).astype("float64")


def _category_counts(values: Any) -> pd.Series:
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    series = series.astype(object)
    return series.where(series.notna(), MISSING).value_counts()


def psi(expected: Any, actual: Any, *, bins: int = 10) -> float:
    """Population stability index of a numeric sample against an expected one.

    Bins are the ``expected`` sample's quantiles; 0 means the same distribution.
    """
    exp = as_floats(expected)
    act = as_floats(actual)
    if exp.size == 0 or act.size == 0:
        raise ValueError("PSI needs two non-empty samples")
    if bins < 2:
        raise ValueError(f"PSI needs at least 2 bins, got {bins}")
    edges = quantile_edges(exp, bins)
    return psi_from_shares(_bin_counts(exp, edges), _bin_counts(act, edges))


def psi_categorical(expected: Any, actual: Any) -> float:
    """Population stability index of a categorical sample; missing is a category."""
    exp = _category_counts(expected)
    act = _category_counts(actual)
    if exp.sum() == 0 or act.sum() == 0:
        raise ValueError("PSI needs two non-empty samples")
    categories = exp.index.union(act.index)
    e = exp.reindex(categories, fill_value=0).to_numpy(dtype="float64")
    a = act.reindex(categories, fill_value=0).to_numpy(dtype="float64")
    return psi_from_shares(e, a)


# --------------------------------------------------------------------------- baseline


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def as_floats(values: Any) -> np.ndarray:
    """Values as a float64 array; anything that is not a number becomes NaN."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    numbers = pd.to_numeric(series, errors="coerce")
    return np.asarray(numbers.to_numpy(dtype="float64", na_value=np.nan))


def _binned_shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Shares per bin, the binning :func:`psi` uses."""
    counts = _bin_counts(values, edges)
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def _category_shares(values: Any) -> dict[str, float]:
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    series = series.astype(object).where(series.notna(), MISSING).astype(str)
    counts = series.value_counts()
    total = counts.sum()
    return {str(k): float(v / total) for k, v in counts.sort_index().items()} if total else {}


def _numeric_entry(values: np.ndarray, bins: int) -> dict[str, Any]:
    edge_list = [float(e) for e in quantile_edges(values, bins)]
    return {"kind": "numeric", "edges": edge_list, "shares": _binned_shares(values, edge_list)}


def _histogram_edges(pds: np.ndarray) -> list[float]:
    """Equal-width PD bins from 0 to the 99th percentile rounded up to 0.05."""
    present = pds[~np.isnan(pds)]
    top = float(np.quantile(present, 0.99)) if present.size else 0.05
    top = min(1.0, max(0.05, math.ceil(top * 20 - 1e-9) / 20))
    return [round(float(e), 6) for e in np.linspace(0.0, top, SCORE_HISTOGRAM_BINS + 1)]


def pd_histogram(pds: Any, edges: Sequence[float]) -> list[float]:
    """Shares of PDs in equal-width bins; PDs above the last edge count in the last bin."""
    values = as_floats(pds)
    values = values[~np.isnan(values)]
    if not values.size:
        return [0.0] * (len(edges) - 1)
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=np.asarray(edges))
    return [float(c / values.size) for c in counts]


def baseline_summary(features: pd.DataFrame, pds: Any, *, bins: int = 10) -> dict[str, Any]:
    """A small JSON-able summary of a model's training population, to monitor drift against.

    Call it when registering a model, with the features of the rows the model was trained
    on (the frame :func:`credit_risk.data.features.build_features` returns, one column per
    contract feature) and the model's calibrated PDs for the same rows, and store the result
    as ``metrics["baseline"]``. Monitoring then compares each month's applications with it.

    Per numeric feature it keeps the ``bins``-quantile edges and the share of rows in each
    bin (the last share is the missing values); per categorical feature the share of each
    category (missing is ``"<missing>"``). For the PDs it keeps the same quantile summary
    plus shares on an equal-width PD histogram (``score.histogram``) for charts. A few KB,
    whatever the number of rows. PSI against it equals :func:`credit_risk.data.quality.psi`
    against the training sample itself.
    """
    if bins < 2:
        raise ValueError(f"a baseline needs at least 2 bins, got {bins}")
    pd_values = as_floats(pds)
    if len(pd_values) != len(features):
        raise ValueError(f"{len(features)} feature rows but {len(pd_values)} PDs")
    if not len(features):
        raise ValueError("a baseline needs at least one row")
    summary: dict[str, Any] = {}
    for name in features.columns:
        column = features[name]
        if _is_numeric(column):
            summary[str(name)] = _numeric_entry(as_floats(column), bins)
        else:
            summary[str(name)] = {"kind": "categorical", "shares": _category_shares(column)}
    score = _numeric_entry(pd_values, bins)
    edges = _histogram_edges(pd_values)
    score["histogram"] = {"edges": edges, "shares": pd_histogram(pd_values, edges)}
    score["mean"] = json_number(np.nanmean(pd_values)) if np.isfinite(pd_values).any() else None
    return {
        "version": BASELINE_VERSION,
        "rows": int(len(features)),
        "bins": int(bins),
        "features": summary,
        "score": score,
    }


def psi_against(entry: Mapping[str, Any], values: Any) -> float:
    """PSI of a sample against one baseline entry (numeric or categorical)."""
    if entry["kind"] == "numeric":
        shares = _binned_shares(as_floats(values), entry["edges"])
        return psi_from_shares(entry["shares"], shares)
    expected = dict(entry["shares"])
    actual = _category_shares(values)
    categories = sorted(set(expected) | set(actual))
    return psi_from_shares(
        [expected.get(c, 0.0) for c in categories], [actual.get(c, 0.0) for c in categories]
    )


def feature_drift(
    baseline: Mapping[str, Any], features: pd.DataFrame, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """PSI and band of each feature the baseline and the frame share, largest PSI first."""
    entries = baseline.get("features", {})
    wanted = names if names is not None else list(entries)
    out = []
    for name in wanted:
        if name not in entries or name not in features.columns or features.empty:
            continue
        value = psi_against(entries[name], features[name])
        out.append(
            {
                "feature": name,
                "kind": entries[name]["kind"],
                "psi": value,
                "band": psi_band(value),
            }
        )
    return sorted(out, key=lambda row: -row["psi"])


def score_drift(baseline: Mapping[str, Any], pds: Any) -> dict[str, Any]:
    """PSI of PDs against the baseline's score entry, and both PD histograms for a chart."""
    entry = baseline["score"]
    value = psi_against(entry, pds)
    histogram = entry.get("histogram") or {}
    edges = histogram.get("edges") or _histogram_edges(as_floats(pds))
    return {
        "psi": value,
        "band": psi_band(value),
        "histogram": {
            "edges": list(edges),
            "reference": list(histogram.get("shares") or []),
            "current": pd_histogram(pds, edges),
        },
        "reference_mean_pd": json_number(entry.get("mean")),
        "current_mean_pd": json_number(np.nanmean(as_floats(pds))) if len(pds) else None,
    }
