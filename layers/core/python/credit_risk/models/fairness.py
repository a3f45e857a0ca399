"""Fairness figures per protected group, and the promotion gate's fairness test.

For each protected attribute of the contract (``protected: true``) and each of its groups:
the approval rate (share of rows the decision policy approves), the adverse impact ratio
(AIR: the group's approval rate over that of the most-approved group; the "four-fifths
rule" asks at least 0.8), the mean PD against the observed default rate (calibration) and
the AUC. Groups are labels (the contract's categories); a row whose group is not known
counts in no group. Pure and light (numpy only, no scikit-learn): the model card and the
dashboard render these figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from credit_risk.charts import escape_text, finite_number

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


def fairness_refusals(
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    *,
    min_air: float,
    max_air_drop: float,
) -> list[str]:
    """Why a candidate's fairness report forbids promotion (empty when it does not):
    any attribute's lowest AIR below ``min_air``, or more than ``max_air_drop`` below the
    champion's lowest AIR on the same rows."""
    failures = []
    for name, figures in candidate.items():
        air = figures.get("min_air")
        if air is None:
            continue
        group = figures.get("min_air_group")
        reference = figures.get("reference")
        if air < min_air:
            failures.append(
                f"adverse impact ratio {air:.3f} of {name} {group} against {reference} "
                f"is below {min_air}"
            )
            continue
        before = (champion or {}).get(name, {}).get("min_air")
        if before is not None and before - air > max_air_drop:
            failures.append(
                f"adverse impact ratio of {name} falls from the champion's {before:.3f} to "
                f"{air:.3f} ({group}), more than {max_air_drop}"
            )
    return failures


def _cell(value: Any, style: str) -> str:
    number = finite_number(value)
    if number is None:
        return '<td class="num">n/a</td>'
    text = f"{number:.1%}" if style == "pct" else f"{number:.3f}"
    return f'<td class="num">{text}</td>'


def fairness_html(report: Mapping[str, Any], *, min_air: float | None = None) -> str:
    """The fairness figures as HTML tables, one per protected attribute (escaped; no
    script). With ``min_air``, a group below it is marked."""
    parts = []
    for name, figures in sorted(report.items(), key=lambda kv: str(kv[0])):
        if not isinstance(figures, Mapping):
            continue
        rows = []
        groups = figures.get("groups") or {}
        for group, entry in groups.items():
            entry = entry if isinstance(entry, Mapping) else {}
            air = finite_number(entry.get("air"))
            low = min_air is not None and air is not None and air < min_air
            reference = " (reference)" if group == figures.get("reference") else ""
            rows.append(
                f'<tr class="{"below" if low else ""}" data-group="{escape_text(group)}">'
                f"<th>{escape_text(group)}{reference}</th>"
                f'<td class="num">{int(finite_number(entry.get("rows")) or 0):,}</td>'
                + _cell(entry.get("approval_rate"), "pct")
                + f'<td class="num{" missing" if low else ""}">'
                + ("n/a" if air is None else f"{air:.3f}")
                + "</td>"
                + _cell(entry.get("mean_pd"), "pct")
                + _cell(entry.get("default_rate"), "pct")
                + _cell(entry.get("auc"), "num")
                + "</tr>"
            )
        lowest = finite_number(figures.get("min_air"))
        verdict = (
            escape_text(str(figures.get("note", "no AIR")))
            if lowest is None
            else f"lowest adverse impact ratio {lowest:.3f} "
            f"({escape_text(figures.get('min_air_group'))})"
        )
        parts.append(
            f'<table class="fairness" data-attribute="{escape_text(name)}"><caption>'
            f"<code>{escape_text(name)}</code>: {verdict}</caption><thead><tr><th>Group</th>"
            "<th>Rows</th><th>Approval rate</th><th>AIR</th><th>Mean PD</th>"
            "<th>Default rate</th><th>AUC</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )
    return "".join(parts)
