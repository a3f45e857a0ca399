"""Fairness figures per protected group, and the promotion gate's fairness test.

For each protected attribute of the contract (``protected: true``) and each of its groups:
the approval rate (share of rows the decision policy approves), the adverse impact ratio
(AIR: the group's approval rate over that of the most-approved group; the "four-fifths
rule" asks at least 0.8), the mean PD against the observed default rate (calibration) and
the AUC. Groups are labels (the contract's categories); a row whose group is not known
counts in no group. Pure and light: numpy only, no scikit-learn (the monitor uses it too);
:mod:`credit_risk.models.fairness_table` draws the figures as HTML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

MIN_GROUP_ROWS = 30
"""A group with fewer rows is reported but not counted in the AIR: its rate is noise."""


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by average ranks (ties count half); needs both outcomes."""
    yy = np.asarray(y, dtype=float) > 0.5
    values, inverse, counts = np.unique(
        np.asarray(score, dtype=float), return_inverse=True, return_counts=True
    )
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    positives = int(yy.sum())
    negatives = len(yy) - positives
    rank_sum = float(ranks[yy].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def group_figures(
    groups: np.ndarray,
    labels: list[str],
    pd: np.ndarray,
    approved: np.ndarray,
    y: np.ndarray | None = None,
) -> dict[str, Any]:
    """One attribute's figures: per group (rows, approval rate, AIR, mean PD, default
    rate, calibration gap, AUC), the reference group and the lowest AIR.

    ``groups`` holds each row's group label (or None); ``labels`` the groups in contract
    order; ``y`` the observed outcomes where known (1 default, 0 not, NaN not yet)."""
    groups = np.asarray(groups, dtype=object)
    pd = np.asarray(pd, dtype=float)
    approved = np.asarray(approved, dtype=bool)
    outcome = None if y is None else np.asarray(y, dtype=float)
    per: dict[str, dict[str, Any]] = {}
    for label in labels:
        rows = groups == label
        n = int(rows.sum())
        entry: dict[str, Any] = {"rows": n}
        if n:
            entry["approval_rate"] = float(approved[rows].mean())
            entry["mean_pd"] = float(pd[rows].mean())
        if outcome is not None and n:
            known = rows & ~np.isnan(outcome)
            entry["outcomes"] = int(known.sum())
            if known.any():
                rate = float(outcome[known].mean())
                entry["default_rate"] = rate
                entry["calibration_gap"] = float(pd[known].mean()) - rate
                if 0 < outcome[known].sum() < known.sum():
                    entry["auc"] = auc(outcome[known], pd[known])
        per[label] = entry
    counted = {g: e["approval_rate"] for g, e in per.items() if e["rows"] >= MIN_GROUP_ROWS}
    result: dict[str, Any] = {"groups": per, "reference": None, "min_air": None}
    if len(counted) < 2:
        result["note"] = f"fewer than two groups with {MIN_GROUP_ROWS} rows: no AIR"
        return result
    reference = max(counted, key=lambda g: counted[g])
    best = counted[reference]
    for g, rate in counted.items():
        per[g]["air"] = rate / best if best > 0 else 1.0
    lowest = min(counted, key=lambda g: per[g]["air"])
    result.update(reference=reference, min_air=per[lowest]["air"], min_air_group=lowest)
    return result


def fairness_report(
    protected: Mapping[str, np.ndarray],
    categories: Mapping[str, list[str]],
    pd: np.ndarray,
    approved: np.ndarray,
    y: np.ndarray | None = None,
) -> dict[str, Any]:
    """:func:`group_figures` for every protected attribute, by attribute name."""
    return {
        name: group_figures(values, categories[name], pd, approved, y)
        for name, values in protected.items()
    }


def shortfall_z(group: Mapping[str, Any], reference: Mapping[str, Any], min_air: float) -> float:
    """How many standard errors a group's approval rate falls short of ``min_air`` times
    the reference group's (two independent proportions); +inf for a sure shortfall."""
    p_g, n_g = float(group["approval_rate"]), int(group["rows"])
    p_r, n_r = float(reference["approval_rate"]), int(reference["rows"])
    shortfall = min_air * p_r - p_g
    variance = min_air**2 * p_r * (1 - p_r) / n_r + p_g * (1 - p_g) / n_g
    if variance <= 0:
        return math.inf if shortfall > 0 else 0.0
    return shortfall / math.sqrt(variance)


def fairness_refusals(
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    *,
    min_air: float,
    max_air_drop: float,
    air_z: float = 0.0,
) -> list[str]:
    """Why a candidate's fairness report forbids promotion (empty when it does not):
    a group's AIR below ``min_air`` by more than ``air_z`` standard errors (a small
    group's approval rate is itself uncertain; 0 takes the ratio as it is), or the lowest
    AIR more than ``max_air_drop`` below the champion's on the same rows."""
    failures = []
    for name, figures in candidate.items():
        air = figures.get("min_air")
        if air is None:
            continue
        groups = figures.get("groups") or {}
        reference = figures.get("reference")
        below = []
        for group, entry in groups.items():
            ratio = entry.get("air")
            if ratio is None or ratio >= min_air:
                continue
            z = shortfall_z(entry, groups[reference], min_air)
            if z > air_z:
                below.append(
                    f"adverse impact ratio {ratio:.3f} of {name} {group} against {reference} "
                    f"is below {min_air}"
                    + (f" ({z:.1f} standard errors, limit {air_z})" if air_z else "")
                )
        if below:
            failures += below
            continue
        before = (champion or {}).get(name, {}).get("min_air")
        if before is not None and before - air > max_air_drop:
            failures.append(
                f"adverse impact ratio of {name} falls from the champion's {before:.3f} to "
                f"{air:.3f} ({figures.get('min_air_group')}), more than {max_air_drop}"
            )
    return failures


def fairness_verdict(report: Mapping[str, Any], *, min_air: float, air_z: float) -> str:
    """What a promoted candidate's reason says of its fairness: fair by the AIR, or which
    lowest AIRs were below ``min_air`` only within ``air_z`` standard errors."""
    low = [
        f"{name} {figures.get('min_air_group')} {figures['min_air']:.3f}"
        for name, figures in report.items()
        if figures.get("min_air") is not None and figures["min_air"] < min_air
    ]
    if not low:
        return "fair by the adverse impact ratio"
    return (
        f"adverse impact ratio below {min_air} only within {air_z} standard errors "
        f"({', '.join(low)})"
    )
