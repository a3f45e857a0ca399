"""Fairness of live decisions: the training figures per protected group, on the book.

The approval rate and adverse impact ratio (AIR) per group are those of the stored
decisions in the monitoring window; the calibration (mean PD against the realised default
rate) and AUC per group are those of every matured scored loan. A group's AIR below the
``adverse_impact_ratio`` rule by more than its ``z`` standard errors raises an alert.
Pure: numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from credit_risk.models.fairness import group_figures, shortfall_z
from credit_risk.monitoring.figures import PD_COLUMN, AirRule, Alert

_OUTCOME_FIGURES = ("outcomes", "default_rate", "calibration_gap", "auc")


def live_fairness(
    portfolio: pd.DataFrame,
    groups: Mapping[str, np.ndarray],
    categories: Mapping[str, list[str]],
    window_months: Sequence[str] | None,
    *,
    approve: str = "approve",
) -> dict[str, Any]:
    """Per protected attribute: approvals and AIR in the window, calibration and AUC on
    matured loans. ``groups`` holds each portfolio row's group label (None unknown)."""
    in_window = (
        portfolio["month"].isin(list(window_months)).to_numpy()
        if window_months
        else np.ones(len(portfolio), dtype=bool)
    )
    matured = portfolio["matured"].to_numpy(dtype=bool)
    pds = portfolio[PD_COLUMN].to_numpy(dtype=float)
    approved = (portfolio["decision"] == approve).to_numpy()
    target = pd.to_numeric(portfolio["target"], errors="coerce").to_numpy(dtype=float)
    out: dict[str, Any] = {}
    for name, values in groups.items():
        labels = list(categories.get(name) or [])
        values = np.asarray(values, dtype=object)
        figures = group_figures(values[in_window], labels, pds[in_window], approved[in_window])
        realised = group_figures(
            values[matured], labels, pds[matured], approved[matured], target[matured]
        )
        for label, entry in figures["groups"].items():
            found = realised["groups"].get(label, {})
            entry.update({k: found[k] for k in _OUTCOME_FIGURES if k in found})
            if "mean_pd" in found:
                entry["matured_mean_pd"] = found["mean_pd"]
        out[name] = figures
    return out


def fairness_alerts(fairness: Mapping[str, Any], rule: AirRule) -> list[Alert]:
    """One alert per protected attribute whose lowest AIR in the window breaks ``rule``
    by more than the rule's ``z`` standard errors. An attribute whose ratio is below the
    line only within the noise is marked ``within_noise`` in ``fairness``, unalerted."""
    alerts = []
    for name, figures in fairness.items():
        air = figures.get("min_air")
        if air is None or not rule.breached(float(air)) or rule.min is None:
            continue
        groups = figures.get("groups") or {}
        group, reference = figures.get("min_air_group"), figures.get("reference")
        z = shortfall_z(groups[group], groups[reference], rule.min)
        if z <= rule.z:
            figures["within_noise"] = round(z, 2)
            continue
        noise = f", {z:.1f} standard errors below {rule.min:g}" if rule.z else ""
        alerts.append(
            Alert(
                rule="adverse_impact_ratio",
                severity=rule.severity,
                message=(
                    f"{name} {group} is approved at {air:.3f} times the rate of {reference}{noise}"
                ),
                observed=float(air),
                threshold=f"min {rule.min}" + (f" by more than {rule.z:g} SE" if rule.z else ""),
                retrain=rule.retrain,
            )
        )
    return alerts
