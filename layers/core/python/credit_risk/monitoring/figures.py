"""Portfolio and model monitoring: the figures a credit team watches, from plain frames.

A monitoring *snapshot* is one JSON-able dict computed from the scored portfolio (one row
per application, with its features and, once known, its outcome):

- **drift**: population stability (PSI) of the probability of default and of each model
  input, the current window against a *reference*. The reference is the champion's
  training baseline (:func:`baseline_summary`, stored with the model as
  ``metrics["baseline"]``) or, when the champion has none, the oldest scored months;
- **portfolio**: approval, review and decline rates, the grade mix, expected loss by
  grade and by a categorical segment;
- **performance** on matured loans: realised default rate by grade and by month of
  application (vintage), ROC AUC and KS against the champion's holdout figures, and
  realised against predicted default rates.

Thresholds come from a YAML file (the packaged ``defaults/monitoring.yaml`` by default);
:func:`evaluate_alerts` turns the breaches into alerts. :func:`monitoring_table` prints
the key figures for a terminal.

This module is pure: it imports neither boto3 nor SQLAlchemy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from credit_risk.contract.files import load_yaml_model
from credit_risk.data.drift import (
    MISSING,
    baseline_summary,
    feature_drift,
    psi_band,
    score_drift,
)
from credit_risk.data.drift import json_number as _plain

SNAPSHOT_VERSION = 1
PD_COLUMN = "probability_of_default"

Severity = Literal["critical", "warning"]


# --------------------------------------------------------------------------- config


class Rule(BaseModel):
    """One threshold: a value outside ``[min, max]`` raises an alert (a missing bound is
    no bound; a rule with neither bound never fires)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min: float | None = None
    max: float | None = None
    severity: Severity = "warning"
    retrain: bool = False

    def breached(self, value: float | None) -> bool:
        """True when ``value`` is known and outside the bounds."""
        if not self.enabled or value is None or math.isnan(value):
            return False
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        )

    def limit(self) -> str:
        """The bounds as an operator reads them: ``<= 0.25``, ``>= 0.65``, ``in [0.67, 1.5]``."""
        if self.min is not None and self.max is not None:
            return f"in [{self.min:g}, {self.max:g}]"
        if self.max is not None:
            return f"<= {self.max:g}"
        if self.min is not None:
            return f">= {self.min:g}"
        return "-"


class AirRule(Rule):
    """The adverse impact ratio's rule: a group's ratio below ``min`` alerts only when it
    is below by more than ``z`` standard errors of the two approval rates (the promotion
    gate's ``air_z``): a small window's ratio is noisy, and an alert that fires on noise
    is soon ignored. ``z: 0`` alerts on the ratio as it is."""

    z: float = Field(default=1.96, ge=0.0)


class Rules(BaseModel):
    """Every monitoring threshold."""

    model_config = ConfigDict(extra="forbid")

    score_psi: Rule = Field(default_factory=lambda: Rule(max=0.25, severity="critical"))
    feature_psi: Rule = Field(default_factory=lambda: Rule(max=0.25))
    approval_rate: Rule = Field(default_factory=Rule)
    approval_rate_change: Rule = Field(default_factory=lambda: Rule(max=0.10))
    decline_rate: Rule = Field(default_factory=Rule)
    auc: Rule = Field(default_factory=lambda: Rule(min=0.65, severity="critical"))
    auc_drop: Rule = Field(default_factory=lambda: Rule(max=0.05, severity="critical"))
    calibration_ratio: Rule = Field(default_factory=lambda: Rule(min=0.67, max=1.5))
    # Lowest adverse impact ratio of live approvals per protected attribute (fairness).
    adverse_impact_ratio: AirRule = Field(default_factory=lambda: AirRule(min=0.8))


class WindowConfig(BaseModel):
    """Which application months make the current window."""

    model_config = ConfigDict(extra="forbid")

    months: int = Field(default=1, ge=1)
    min_rows: int = Field(default=300, ge=1)


class DriftConfig(BaseModel):
    """How PSI is binned."""

    model_config = ConfigDict(extra="forbid")

    bins: int = Field(default=10, ge=2, le=100)


class PerformanceConfig(BaseModel):
    """How many matured loans realised performance needs."""

    model_config = ConfigDict(extra="forbid")

    min_matured: int = Field(default=200, ge=1)
    min_defaults: int = Field(default=20, ge=1)


class RetrainConfig(BaseModel):
    """Whether a firing ``retrain`` rule starts the training state machine."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False


class MonitoringConfig(BaseModel):
    """Windows, drift bins and thresholds for monitoring."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    window: WindowConfig = Field(default_factory=WindowConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    segment_feature: str | None = None
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    rules: Rules = Field(default_factory=Rules)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)


def load_monitoring_config(path: str | Path | None = None) -> MonitoringConfig:
    """Read a monitoring YAML; the packaged defaults when ``path`` is None."""
    return load_yaml_model(
        MonitoringConfig, path, default="monitoring.yaml", what="monitoring config"
    )


@cache
def default_monitoring_config() -> MonitoringConfig:
    """The packaged configuration, read once."""
    return load_monitoring_config()


def _rate(part: float, whole: float) -> float | None:
    return float(part) / float(whole) if whole else None


# --------------------------------------------------------------------------- ranking


def auc(y: Any, score: Any) -> float:
    """ROC AUC: the chance a random default has a higher score than a random non-default
    (ties count half). Needs both outcomes."""
    yy = np.asarray(y, dtype="int64")
    ss = np.asarray(score, dtype="float64")
    positives = int(yy.sum())
    negatives = int(len(yy) - positives)
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs at least one default and one non-default")
    ranks = pd.Series(ss).rank(method="average").to_numpy()
    rank_sum = float(ranks[yy == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def ks(y: Any, score: Any) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score distributions of
    defaults and non-defaults. Needs both outcomes."""
    yy = np.asarray(y, dtype="int64")
    ss = np.asarray(score, dtype="float64")
    positives = int(yy.sum())
    negatives = int(len(yy) - positives)
    if positives == 0 or negatives == 0:
        raise ValueError("KS needs at least one default and one non-default")
    order = np.argsort(ss, kind="mergesort")
    sorted_scores, sorted_y = ss[order], yy[order]
    cum_pos = np.cumsum(sorted_y) / positives
    cum_neg = np.cumsum(1 - sorted_y) / negatives
    group_end = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    return float(np.max(np.abs(cum_pos - cum_neg)[group_end]))


# --------------------------------------------------------------------------- frames


def month_of(dates: Any) -> pd.Series:
    """``YYYY-MM`` of each date (None where missing)."""
    parsed = pd.to_datetime(pd.Series(dates), errors="coerce", utc=True)
    return parsed.dt.strftime("%Y-%m").where(parsed.notna(), None)


def portfolio_frame(
    scores: pd.DataFrame, features: pd.DataFrame, labels: pd.DataFrame
) -> pd.DataFrame:
    """One row per scored application: its latest score, its features and its outcome.

    ``scores`` holds ``ml.scores`` rows, ``features`` analytics feature rows (with
    ``event_date``), ``labels`` analytics label rows (``target``, ``matured``). ``month`` is
    the application month, or the scoring month for an application analytics does not
    hold; ``target`` is missing and ``matured`` False until an outcome is known.
    """
    latest = scores.sort_values("scored_at", kind="mergesort").drop_duplicates(
        "application_id", keep="last"
    )
    drop = [c for c in ("customer_key", "_batch_id") if c in features.columns]
    frame = latest.merge(features.drop(columns=drop), on="application_id", how="left")
    label_columns = [c for c in ("application_id", "target", "matured") if c in labels.columns]
    frame = frame.merge(labels[label_columns], on="application_id", how="left")
    applied = month_of(frame["event_date"]) if "event_date" in frame else None
    scored = month_of(frame["scored_at"])
    frame["month"] = scored if applied is None else applied.fillna(scored)
    if "target" not in frame:
        frame["target"] = np.nan
    frame["matured"] = frame.get("matured", pd.Series(False, index=frame.index))
    frame["matured"] = frame["matured"].astype("boolean").fillna(False).astype(bool)
    frame[PD_COLUMN] = frame[PD_COLUMN].astype("float64")
    frame["expected_loss"] = pd.to_numeric(frame["expected_loss"], errors="coerce")
    return frame.reset_index(drop=True)


def select_window(months: pd.Series, *, min_months: int, min_rows: int) -> list[str]:
    """The latest ``min_months`` months, widened back until they hold ``min_rows`` rows."""
    counts = months.dropna().value_counts().sort_index()
    chosen: list[str] = []
    rows = 0
    for month, count in reversed(list(counts.items())):
        if len(chosen) >= min_months and rows >= min_rows:
            break
        chosen.append(str(month))
        rows += int(count)
    return sorted(chosen)


def select_reference(months: pd.Series, *, exclude: Sequence[str], min_rows: int) -> list[str]:
    """The oldest months outside ``exclude``, as many as it takes to hold ``min_rows`` rows."""
    counts = months.dropna().value_counts().sort_index()
    chosen: list[str] = []
    rows = 0
    for month, count in counts.items():
        if str(month) in exclude or rows >= min_rows:
            break
        chosen.append(str(month))
        rows += int(count)
    return chosen


def _previous_months(months: pd.Series, window: Sequence[str], min_rows: int) -> list[str]:
    """The months just before the window, as many as it takes to hold ``min_rows`` rows."""
    counts = months.dropna().value_counts().sort_index()
    before = [(str(m), int(c)) for m, c in counts.items() if str(m) < min(window)]
    chosen: list[str] = []
    rows = 0
    for month, count in reversed(before):
        if rows >= min_rows:
            break
        chosen.append(month)
        rows += count
    return sorted(chosen)


# --------------------------------------------------------------------------- portfolio


def decision_rates(decisions: pd.Series, order: Sequence[str]) -> dict[str, float | None]:
    """Share of each decision (``approve_rate``, ``review_rate``, ...), in policy order."""
    total = len(decisions)
    counts = decisions.value_counts()
    names = list(order) + sorted(set(counts.index) - set(order))
    return {f"{name}_rate": _rate(int(counts.get(name, 0)), total) for name in names}


def grade_mix(frame: pd.DataFrame, grades: Sequence[str]) -> list[dict[str, Any]]:
    """Applications, share, mean PD and expected loss per grade, best grade first."""
    total = len(frame)
    names = list(grades) + sorted(set(frame["grade"].dropna()) - set(grades))
    rows = []
    for grade in names:
        part = frame[frame["grade"] == grade]
        rows.append(
            {
                "grade": grade,
                "count": int(len(part)),
                "share": _rate(len(part), total),
                "mean_pd": _plain(part[PD_COLUMN].mean()) if len(part) else None,
                "expected_loss": _plain(part["expected_loss"].sum()),
            }
        )
    return rows


def grade_by_decision(
    frame: pd.DataFrame, grades: Sequence[str], decisions: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Applications per grade and decision: ``{grade: {decision: count}}``."""
    table = pd.crosstab(frame["grade"], frame["decision"])
    out = {}
    for grade in list(grades) + sorted(set(table.index) - set(grades)):
        out[str(grade)] = {
            str(d): int(table.at[grade, d]) if grade in table.index and d in table.columns else 0
            for d in list(decisions) + sorted(set(table.columns) - set(decisions))
        }
    return out


def expected_loss_by(
    frame: pd.DataFrame, column: str, order: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Applications, total and per-application expected loss and mean PD per segment."""
    values = frame[column].astype(object).where(frame[column].notna(), MISSING).astype(str)
    total_el = frame["expected_loss"].sum()
    names = list(order or []) + sorted(set(values) - set(order or []))
    rows = []
    for name in names:
        part = frame[values == name]
        if not len(part) and order is None:
            continue
        el = float(part["expected_loss"].sum())
        rows.append(
            {
                "segment": name,
                "count": int(len(part)),
                "expected_loss": _plain(el),
                "el_per_application": _rate(el, len(part)),
                "el_share": _rate(el, total_el),
                "mean_pd": _plain(part[PD_COLUMN].mean()) if len(part) else None,
            }
        )
    return rows


# --------------------------------------------------------------------------- outcomes


def default_rates_by(
    frame: pd.DataFrame, column: str, order: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Realised default rate and mean PD of matured loans per value of ``column``.

    ``applications`` counts every scored application in the group; ``matured``,
    ``defaults``, ``default_rate`` and ``mean_pd`` only the loans whose outcome has matured.
    """
    groups = frame[column].astype(object).where(frame[column].notna(), MISSING).astype(str)
    names = list(order or []) + sorted(set(groups) - set(order or []))
    rows = []
    for name in names:
        part = frame[groups == name]
        matured = part[part["matured"]]
        defaults = int(matured["target"].fillna(0).astype(int).sum())
        rows.append(
            {
                column: name,
                "applications": int(len(part)),
                "matured": int(len(matured)),
                "defaults": defaults,
                "default_rate": _rate(defaults, len(matured)),
                "mean_pd": _plain(matured[PD_COLUMN].mean()) if len(matured) else None,
            }
        )
    return rows


def vintage_default_rates(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Realised default rate of matured loans by month of application, oldest first."""
    return default_rates_by(frame, "month", sorted(frame["month"].dropna().unique()))


def calibration_bins(y: Any, pds: Any, bins: int = 10) -> list[dict[str, Any]]:
    """Mean PD against realised default rate in ``bins`` equal-count PD bins."""
    yy = np.asarray(y, dtype="float64")
    pp = np.asarray(pds, dtype="float64")
    order = np.argsort(pp, kind="mergesort")
    table = []
    for i, idx in enumerate(np.array_split(order, bins), start=1):
        if len(idx):
            table.append(
                {
                    "bin": i,
                    "count": int(len(idx)),
                    "mean_pd": float(np.mean(pp[idx])),
                    "observed_rate": float(np.mean(yy[idx])),
                }
            )
    return table


def holdout_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The holdout figures of a registry ``metrics`` dict (nested or flat)."""
    if not metrics:
        return {}
    holdout = metrics.get("holdout")
    return dict(holdout) if isinstance(holdout, Mapping) else dict(metrics)


def performance(
    frame: pd.DataFrame,
    *,
    grades: Sequence[str],
    holdout: Mapping[str, Any] | None,
    min_matured: int,
    min_defaults: int,
) -> dict[str, Any]:
    """Realised performance on matured loans: default rates, AUC, KS and calibration.

    Loans applied for before the champion's holdout began (its training data) are left
    out of every figure here, so the AUC is an out-of-sample one.

    Ranking figures are left out (``None``, with a ``note``) until there are
    ``min_matured`` matured loans with at least ``min_defaults`` defaults and one
    non-default.
    """
    matured = frame[frame["matured"] & frame["target"].notna()]
    holdout = holdout or {}
    first_unseen = holdout.get("first_holdout_date")
    trained_on = 0
    if first_unseen and "event_date" in matured:
        # Loans before the holdout were the champion's training data: ranking them
        # would flatter it. Keep the ones it never saw.
        unseen = pd.to_datetime(matured["event_date"]) >= pd.Timestamp(first_unseen)
        trained_on = int((~unseen).sum())
        matured = matured[unseen.to_numpy()]
    y = matured["target"].astype(int).to_numpy()
    pds = matured[PD_COLUMN].to_numpy(dtype="float64")
    defaults = int(y.sum())
    out: dict[str, Any] = {
        "matured": int(len(matured)),
        "excluded_training_loans": trained_on,
        "defaults": defaults,
        "default_rate": _rate(defaults, len(matured)),
        "mean_pd": _plain(pds.mean()) if len(pds) else None,
        "calibration_ratio": None,
        "auc": None,
        "ks": None,
        "holdout_auc": _plain(holdout.get("auc")),
        "holdout_ks": _plain(holdout.get("ks")),
        "auc_drop": None,
        "calibration": [],
        "model_versions": {
            str(k): int(v) for k, v in matured["model_version"].value_counts().items()
        },
        "by_grade": default_rates_by(frame, "grade", grades),
        "note": None,
    }
    enough = len(matured) >= min_matured and defaults >= min_defaults and defaults < len(matured)
    if not enough:
        out["note"] = (
            f"{len(matured)} matured loans with {defaults} defaults; realised performance "
            f"needs at least {min_matured} matured loans and {min_defaults} defaults"
        )
        return out
    out["auc"] = auc(y, pds)
    out["ks"] = ks(y, pds)
    if out["mean_pd"]:
        out["calibration_ratio"] = out["default_rate"] / out["mean_pd"]
    if out["holdout_auc"] is not None:
        out["auc_drop"] = out["holdout_auc"] - out["auc"]
    out["calibration"] = calibration_bins(y, pds)
    return out


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Champion:
    """What monitoring needs of the champion: its version and registry metrics."""

    version: str
    candidate: str
    metrics: Mapping[str, Any]

    @property
    def baseline(self) -> Mapping[str, Any] | None:
        """The training baseline stored with the model, when there is one."""
        baseline = self.metrics.get("baseline")
        return baseline if isinstance(baseline, Mapping) and baseline.get("score") else None


def _by_month(frame: pd.DataFrame, decisions: Sequence[str]) -> list[dict[str, Any]]:
    vintages = {row["month"]: row for row in vintage_default_rates(frame)}
    rows = []
    for month, part in frame.groupby("month", sort=True):
        rates = decision_rates(part["decision"], decisions)
        vintage = vintages.get(str(month), {})
        rows.append(
            {
                "month": str(month),
                "applications": int(len(part)),
                **rates,
                "mean_pd": _plain(part[PD_COLUMN].mean()),
                "expected_loss": _plain(part["expected_loss"].sum()),
                "matured": vintage.get("matured", 0),
                "defaults": vintage.get("defaults", 0),
                "default_rate": vintage.get("default_rate"),
                "matured_mean_pd": vintage.get("mean_pd"),
            }
        )
    return rows


def _segment_feature(
    frame: pd.DataFrame, configured: str | None, categorical: Sequence[str]
) -> str | None:
    if configured and configured in frame.columns and frame[configured].notna().any():
        return configured
    return next((c for c in categorical if c in frame.columns and frame[c].notna().any()), None)


def compute_snapshot(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    categorical: Sequence[str] = (),
    grades: Sequence[str],
    decisions: Sequence[str],
    champion: Champion | None,
    config: MonitoringConfig | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The monitoring snapshot of a portfolio frame (see :func:`portfolio_frame`).

    ``features`` are the model inputs to watch (``categorical`` those of them that are
    categories), ``grades`` and ``decisions`` the policy's names in order. Drift compares
    the current window with the champion's training baseline, or with the oldest months
    when the champion has none. The result is JSON-able; its ``alerts`` are those of
    :func:`evaluate_alerts`.
    """
    cfg = config or default_monitoring_config()
    as_of = as_of or datetime.now(UTC)
    snapshot: dict[str, Any] = {
        "snapshot_version": SNAPSHOT_VERSION,
        "as_of": as_of.isoformat(),
        "model": None,
        "window": None,
        "reference": {"kind": "none", "label": "no reference", "rows": 0},
        "portfolio": None,
        "drift": {"score": None, "features": []},
        "expected_loss": {"by_grade": [], "segment_feature": None, "by_segment": []},
        "by_month": [],
        "performance": None,
        "notes": [],
    }
    holdout = holdout_metrics(champion.metrics) if champion else {}
    if champion is not None:
        snapshot["model"] = {
            "version": champion.version,
            "candidate": champion.candidate,
            "holdout_auc": _plain(holdout.get("auc")),
            "holdout_ks": _plain(holdout.get("ks")),
            "has_baseline": champion.baseline is not None,
        }
    if frame.empty:
        snapshot["notes"].append("no scored applications yet")
        snapshot["alerts"] = [a.to_dict() for a in evaluate_alerts(snapshot, cfg)]
        snapshot["status"] = snapshot_status(snapshot)
        return snapshot

    window_months = select_window(
        frame["month"], min_months=cfg.window.months, min_rows=cfg.window.min_rows
    )
    window = frame[frame["month"].isin(window_months)]
    previous_months = _previous_months(frame["month"], window_months, cfg.window.min_rows)
    previous = frame[frame["month"].isin(previous_months)]
    snapshot["window"] = {
        "start": window_months[0],
        "end": window_months[-1],
        "months": window_months,
        "rows": int(len(window)),
    }

    # Portfolio: the whole book, and the window against the months before it.
    window_rates = decision_rates(window["decision"], decisions)
    previous_rates = decision_rates(previous["decision"], decisions) if len(previous) else {}
    approve = f"{decisions[0]}_rate" if decisions else "approve_rate"
    snapshot["portfolio"] = {
        "applications": int(len(frame)),
        "mean_pd": _plain(frame[PD_COLUMN].mean()),
        "expected_loss": _plain(frame["expected_loss"].sum()),
        "rates": decision_rates(frame["decision"], decisions),
        "window_rates": window_rates,
        "previous_months": previous_months,
        "previous_rates": previous_rates,
        "approval_rate_change": (
            None
            if not previous_rates or previous_rates.get(approve) is None
            else window_rates[approve] - previous_rates[approve]  # type: ignore[operator]
        ),
        "by_grade": grade_mix(frame, grades),
        "window_by_grade": grade_mix(window, grades),
        "by_decision": [
            {"decision": d, "count": int((frame["decision"] == d).sum())} for d in decisions
        ],
        "grade_by_decision": grade_by_decision(frame, grades, decisions),
        "scores_by_model": {
            str(k): int(v) for k, v in frame["model_version"].value_counts().items()
        },
    }
    segment = _segment_feature(frame, cfg.segment_feature, categorical)
    snapshot["expected_loss"] = {
        "by_grade": expected_loss_by(frame, "grade", grades),
        "segment_feature": segment,
        "by_segment": expected_loss_by(frame, segment) if segment else [],
    }
    snapshot["by_month"] = _by_month(frame, decisions)

    # Drift: the window against the champion's baseline, or the oldest months.
    baseline = champion.baseline if champion else None
    bins = cfg.drift.bins
    if baseline is not None:
        snapshot["reference"] = {
            "kind": "training_baseline",
            "label": f"training baseline of {champion.version}" if champion else "baseline",
            "rows": int(baseline.get("rows", 0)),
        }
    else:
        reference_months = select_reference(
            frame["month"], exclude=window_months, min_rows=cfg.window.min_rows
        )
        reference = frame[frame["month"].isin(reference_months)]
        if len(reference):
            present = [f for f in features if f in reference.columns]
            baseline = baseline_summary(
                reference[present], reference[PD_COLUMN].to_numpy(), bins=bins
            )
            label = (
                reference_months[0]
                if len(reference_months) == 1
                else f"{reference_months[0]} to {reference_months[-1]}"
            )
            snapshot["reference"] = {
                "kind": "oldest_months",
                "label": f"oldest scored months ({label})",
                "months": reference_months,
                "rows": int(len(reference)),
            }
            snapshot["notes"].append(
                "the champion has no training baseline; drift is measured against the "
                "oldest scored months"
            )
        else:
            snapshot["notes"].append(
                "no training baseline and no scored months before the window: drift not measured"
            )
    if baseline is not None:
        # A training baseline describes the champion's PDs: compare the champion's scores.
        scored = window
        if champion is not None and snapshot["reference"]["kind"] == "training_baseline":
            scored = window[window["model_version"] == champion.version]
        if len(scored):
            snapshot["drift"]["score"] = score_drift(baseline, scored[PD_COLUMN].to_numpy())
        else:
            snapshot["notes"].append(
                "no application in the window is scored by the champion: score drift not measured"
            )
        present = [f for f in features if f in window.columns]
        snapshot["drift"]["features"] = feature_drift(baseline, window, present)

    snapshot["performance"] = performance(
        frame,
        grades=grades,
        holdout=holdout,
        min_matured=cfg.performance.min_matured,
        min_defaults=cfg.performance.min_defaults,
    )
    snapshot["alerts"] = [a.to_dict() for a in evaluate_alerts(snapshot, cfg)]
    snapshot["status"] = snapshot_status(snapshot)
    return snapshot


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class Alert:
    """One threshold a snapshot crossed."""

    rule: str
    severity: Severity
    message: str
    observed: float
    threshold: str
    retrain: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def _get(snapshot: Mapping[str, Any], *path: str) -> Any:
    value: Any = snapshot
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def evaluate_alerts(
    snapshot: Mapping[str, Any], config: MonitoringConfig | None = None
) -> list[Alert]:
    """Every rule of ``config`` the snapshot breaches, critical ones first."""
    rules = (config or default_monitoring_config()).rules
    alerts: list[Alert] = []

    def check(name: str, value: Any, message: str) -> None:
        rule: Rule = getattr(rules, name)
        if value is not None and rule.breached(float(value)):
            alerts.append(
                Alert(name, rule.severity, message, float(value), rule.limit(), rule.retrain)
            )

    score_psi = _get(snapshot, "drift", "score", "psi")
    reference = _get(snapshot, "reference", "label") or "the reference"
    window = snapshot.get("window") or {}
    where = f"{window.get('start')} to {window.get('end')}" if window else "the window"
    if score_psi is not None:
        check(
            "score_psi",
            score_psi,
            f"PD distribution shifted: PSI {score_psi:.3f} ({psi_band(score_psi)}) for "
            f"applications {where} against {reference}",
        )
    drifted = [
        row
        for row in _get(snapshot, "drift", "features") or []
        if rules.feature_psi.breached(row["psi"])
    ]
    if drifted:
        listed = ", ".join(f"{row['feature']} {row['psi']:.3f}" for row in drifted[:8])
        more = f" and {len(drifted) - 8} more" if len(drifted) > 8 else ""
        check(
            "feature_psi",
            drifted[0]["psi"],
            f"{len(drifted)} input(s) outside PSI {rules.feature_psi.limit()}: {listed}{more}",
        )
    window_rates = _get(snapshot, "portfolio", "window_rates") or {}
    approve_key = next(iter(window_rates), None)
    if approve_key is not None:
        rate = window_rates[approve_key]
        check("approval_rate", rate, f"approval rate {_pct(rate)} for applications {where}")
    change = _get(snapshot, "portfolio", "approval_rate_change")
    if change is not None:
        check(
            "approval_rate_change",
            abs(change),
            f"approval rate moved {change * 100:+.1f} points ({where} against the months before)",
        )
    decline = window_rates.get("decline_rate")
    check("decline_rate", decline, f"decline rate {_pct(decline)} for applications {where}")
    perf = snapshot.get("performance") or {}
    if perf.get("auc") is not None:
        check(
            "auc",
            perf["auc"],
            f"AUC on {perf['matured']:,} matured loans is {perf['auc']:.3f}",
        )
    if perf.get("auc_drop") is not None:
        check(
            "auc_drop",
            perf["auc_drop"],
            f"AUC on matured loans {perf['auc']:.3f} is {perf['auc_drop']:.3f} below the "
            f"champion's holdout AUC {perf['holdout_auc']:.3f}",
        )
    if perf.get("calibration_ratio") is not None:
        check(
            "calibration_ratio",
            perf["calibration_ratio"],
            f"matured loans defaulted at {_pct(perf['default_rate'])} against a mean "
            f"predicted PD of {_pct(perf['mean_pd'])} (ratio {perf['calibration_ratio']:.2f})",
        )
    return sorted(alerts, key=lambda a: a.severity != "critical")


def snapshot_status(snapshot: Mapping[str, Any]) -> Literal["ok", "watch", "alert"]:
    """``alert`` on a critical alert; ``watch`` on a warning or a PSI in the watch band."""
    alerts = snapshot.get("alerts") or []
    if any(a["severity"] == "critical" for a in alerts):
        return "alert"
    bands = [_get(snapshot, "drift", "score", "band")]
    bands += [row["band"] for row in _get(snapshot, "drift", "features") or []]
    if alerts or any(b in ("watch", "shifted") for b in bands):
        return "watch"
    return "ok"


# --------------------------------------------------------------------------- terminal


def _num(value: Any, style: str = "num") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if style == "pct":
        return f"{value:.1%}"
    if style == "int":
        return f"{value:,.0f}"
    if style == "money":
        magnitude = abs(value)
        if magnitude >= 1e6:
            return f"{value / 1e6:,.2f}M"
        if magnitude >= 1e4:
            return f"{value / 1e3:,.1f}k"
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for i, row in enumerate([header, *rows]):
        cells = [
            str(c).ljust(w) if j == 0 else str(c).rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def monitoring_table(snapshot: Mapping[str, Any]) -> str:
    """The snapshot's key figures as plain-text tables for a terminal (80-100 columns)."""
    status = str(snapshot.get("status", "ok")).upper()
    lines = [f"Credit risk monitoring, {snapshot.get('as_of', '')[:16]} UTC: {status}"]
    model = snapshot.get("model")
    if model:
        lines.append(
            f"Champion {model['version']} ({model['candidate']}), holdout AUC "
            f"{_num(model.get('holdout_auc'))}"
        )
    else:
        lines.append("No champion model registered.")
    window = snapshot.get("window")
    portfolio = snapshot.get("portfolio")
    if not window or not portfolio:
        lines.append("No scored applications yet.")
        return "\n".join(lines) + "\n"
    reference = snapshot.get("reference") or {}
    lines.append(
        f"Window {window['start']} to {window['end']} ({window['rows']:,} applications); "
        f"reference: {reference.get('label', 'none')}"
    )
    rates = portfolio["rates"]
    window_rates = portfolio["window_rates"]
    lines += ["", "Portfolio"]
    rate_rows = [
        [
            name.removesuffix("_rate"),
            _num(rates.get(name), "pct"),
            _num(window_rates.get(name), "pct"),
        ]
        for name in rates
    ]
    lines += _table(["decision", "book", "window"], rate_rows)
    lines.append(
        f"  {portfolio['applications']:,} applications, mean PD "
        f"{_num(portfolio['mean_pd'], 'pct')}, "
        f"expected loss {_num(portfolio['expected_loss'], 'money')}"
    )
    perf = snapshot.get("performance") or {}
    realised = {row["grade"]: row for row in perf.get("by_grade", [])}
    lines += ["", "Grades"]
    grade_rows = []
    for row in portfolio["by_grade"]:
        real = realised.get(row["grade"], {})
        grade_rows.append(
            [
                row["grade"],
                _num(row["count"], "int"),
                _num(row["share"], "pct"),
                _num(row["mean_pd"], "pct"),
                _num(row["expected_loss"], "money"),
                _num(real.get("matured"), "int"),
                _num(real.get("default_rate"), "pct"),
            ]
        )
    lines += _table(
        ["grade", "apps", "share", "mean PD", "exp. loss", "matured", "default rate"], grade_rows
    )
    drift = snapshot.get("drift") or {}
    lines += ["", f"Drift against {reference.get('label', 'no reference')}"]
    score = drift.get("score")
    drift_rows = []
    if score:
        drift_rows.append(["(probability of default)", _num(score["psi"]), score["band"]])
    drift_rows += [
        [row["feature"], _num(row["psi"]), row["band"]] for row in drift.get("features", [])
    ]
    lines += _table(["input", "PSI", "band"], drift_rows) if drift_rows else ["  not measured"]
    lines += ["", "Performance on matured loans"]
    if perf.get("auc") is not None:
        lines.append(
            f"  {perf['matured']:,} loans, {perf['defaults']:,} defaults "
            f"({_num(perf['default_rate'], 'pct')}) against mean PD "
            f"{_num(perf['mean_pd'], 'pct')}; "
            f"AUC {_num(perf['auc'])} (holdout {_num(perf.get('holdout_auc'))}), "
            f"KS {_num(perf['ks'])}"
        )
    else:
        lines.append(f"  {perf.get('note') or 'not measured'}")
    vintages = [row for row in snapshot.get("by_month", []) if row.get("matured")]
    if vintages:
        lines += ["", "Vintages (matured loans)"]
        lines += _table(
            ["month", "apps", "matured", "default rate", "mean PD"],
            [
                [
                    row["month"],
                    _num(row["applications"], "int"),
                    _num(row["matured"], "int"),
                    _num(row["default_rate"], "pct"),
                    _num(row["matured_mean_pd"], "pct"),
                ]
                for row in vintages[-12:]
            ],
        )
    for attribute, figures in sorted((snapshot.get("fairness") or {}).items()):
        lines += ["", f"Fairness: {attribute} (approvals in the window, outcomes matured)"]
        lines += _table(
            ["group", "apps", "approved", "AIR", "matured PD", "default rate", "AUC"],
            [
                [
                    str(group),
                    _num(entry.get("rows"), "int"),
                    _num(entry.get("approval_rate"), "pct"),
                    _num(entry.get("air")),
                    _num(entry.get("matured_mean_pd", entry.get("mean_pd")), "pct"),
                    _num(entry.get("default_rate"), "pct"),
                    _num(entry.get("auc")),
                ]
                for group, entry in (figures.get("groups") or {}).items()
            ],
        )
    alerts = snapshot.get("alerts") or []
    lines += ["", f"Alerts: {len(alerts) or 'none'}"]
    lines += [f"  [{a['severity']}] {a['rule']}: {a['message']}" for a in alerts]
    for note in snapshot.get("notes") or []:
        lines.append(f"  note: {note}")
    return "\n".join(lines) + "\n"
