"""A realistic scored portfolio for monitoring tests, built from the synthetic generator.

The "champion" is the oracle: its PD is each application's true PD, so grades, decisions,
expected losses and realised default rates behave as a real book does. ``shift_months``
makes the latest months' applicants riskier (lower bureau scores, larger loans, higher
PDs): the drift a monitor must catch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from credit_risk.contract import Contract, load_contract
from credit_risk.data.drift import baseline_summary
from credit_risk.data.etl import application_features, matured_labels
from credit_risk.data.generator import generate
from credit_risk.decisions.policy import (
    DecisionPolicy,
    decide,
    expected_loss,
    load_decision_policy,
    risk_grade,
    score_points,
)
from credit_risk.monitoring.figures import auc, calibration_bins, ks

CHAMPION = "v20240101T000000000000"
KEY = b"monitoring-tests"


@dataclass
class Portfolio:
    """Everything the database would hold for a scored book, plus the raw files."""

    contract: Contract
    policy: DecisionPolicy
    applications: pd.DataFrame
    outcomes: pd.DataFrame
    features: pd.DataFrame
    scores: pd.DataFrame
    labels: pd.DataFrame
    metrics: dict[str, Any]


def _holdout(y: np.ndarray, pds: np.ndarray) -> dict[str, Any]:
    grid = np.linspace(0, 1, 51)
    order = np.argsort(-pds)
    tpr = np.concatenate([[0], np.cumsum(y[order]) / y.sum()])
    fpr = np.concatenate([[0], np.cumsum(1 - y[order]) / (1 - y).sum()])
    return {
        "auc": auc(y, pds),
        "gini": 2 * auc(y, pds) - 1,
        "ks": ks(y, pds),
        "brier": float(np.mean((pds - y) ** 2)),
        "n_holdout": int(len(y)),
        "default_rate": float(y.mean()),
        "roc_curve": {
            "fpr": [float(v) for v in grid],
            "tpr": [float(v) for v in np.interp(grid, fpr, tpr)],
        },
        "calibration": calibration_bins(y, pds),
        "score_distribution": {
            "edges": [float(e) for e in np.linspace(0, 1, 21)],
            "defaults": np.histogram(pds[y == 1], bins=np.linspace(0, 1, 21))[0].tolist(),
            "non_defaults": np.histogram(pds[y == 0], bins=np.linspace(0, 1, 21))[0].tolist(),
        },
    }


def synthetic_portfolio(
    n: int = 4000,
    *,
    seed: int = 3,
    months: int = 18,
    shift_months: int = 0,
    with_baseline: bool = True,
) -> Portfolio:
    """A scored book of ``n`` applications over ``months`` months from January 2023."""
    contract = load_contract()
    policy = load_decision_policy(contract=load_contract())
    data = generate(n, seed=seed, start="2023-01-01", months=months)
    applications = data.applications.copy()
    pds = data.true_pd["true_pd"].to_numpy().copy()
    dates = pd.to_datetime(applications["application_date"])
    last = dates.max().to_period("M")
    if shift_months:
        shifted = (dates.dt.to_period("M") > last - shift_months).to_numpy()
        bureau = applications["bureau_score"].astype("float64")
        applications["bureau_score"] = (
            (bureau - 110).clip(300, 850).round().astype("Int64").where(bureau.notna(), pd.NA)
        )
        applications.loc[shifted, "bureau_score"] = applications.loc[shifted, "bureau_score"]
        applications.loc[~shifted, "bureau_score"] = data.applications.loc[~shifted, "bureau_score"]
        applications.loc[shifted, "loan_amount"] = (
            applications.loc[shifted, "loan_amount"] * 2.5
        ).clip(upper=2_000_000)
        pds[shifted] = np.clip(pds[shifted] * 2.8, 0.0, 0.99)

    features = application_features(contract, applications, KEY, "batch-apps")
    ids = applications["application_id"].astype(str)
    scored_at = datetime(2024, 7, 1, tzinfo=UTC)
    eads = applications[policy.ead_feature].astype("float64").to_numpy()
    scores = pd.DataFrame(
        {
            "application_id": ids.to_numpy(),
            "customer_key": features["customer_key"].to_numpy(),
            "probability_of_default": pds,
            "score": [score_points(p, policy) for p in pds],
            "grade": [risk_grade(p, policy) for p in pds],
            "decision": [decide(p, policy) for p in pds],
            "expected_loss": [
                round(expected_loss(p, e, policy), 2) for p, e in zip(pds, eads, strict=True)
            ],
            "reasons": json.dumps([]),
            "model_version": CHAMPION,
            "source": "batch",
            "scored_at": [scored_at + timedelta(seconds=i % 60) for i in range(len(ids))],
        }
    )
    labels = matured_labels(
        contract, data.outcomes, pd.Series(dates.to_numpy(), index=ids.to_numpy()), "batch-out"
    )

    # The champion was "trained" on the first twelve months; its holdout is the matured
    # loans among them.
    train = (dates.dt.to_period("M") <= dates.min().to_period("M") + 11).to_numpy()
    matured = labels["matured"].to_numpy() & train
    y = labels["target"].to_numpy()[matured]
    metrics: dict[str, Any] = {"holdout": _holdout(y, pds[matured])}
    if with_baseline:
        metrics["baseline"] = baseline_summary(features.loc[train, contract.features], pds[train])
    return Portfolio(
        contract=contract,
        policy=policy,
        applications=applications,
        outcomes=data.outcomes,
        features=features,
        scores=scores,
        labels=labels,
        metrics=metrics,
    )


def _live_fairness(
    book: Portfolio, frame: pd.DataFrame, snapshot: dict[str, Any]
) -> dict[str, Any]:
    """The fairness figures the monitor adds for this book's protected groups."""
    from credit_risk.monitoring.fairness import live_fairness

    spec = book.contract.applications
    by_id = book.applications.set_index("application_id")
    groups = {
        n: by_id[n].reindex(frame["application_id"]).to_numpy(dtype=object)
        for n in spec.protected_columns
    }
    categories = {n: spec.columns[n].categories or [] for n in groups}
    fairness = live_fairness(frame, groups, categories, (snapshot["window"] or {}).get("months"))
    for figures in fairness.values():
        figures["threshold"] = 0.8
    return fairness


def dashboard_data(book: Portfolio) -> dict[str, Any]:
    """What the monitor would hand the dashboard for this book: its snapshot, the champion
    and a rejected challenger, and a few pipeline and training runs."""
    from credit_risk.monitoring import figures as m

    frame = m.portfolio_frame(book.scores, book.features, book.labels)
    snapshot = m.compute_snapshot(
        frame,
        features=book.contract.features,
        categorical=book.contract.categorical_features,
        grades=[g.grade for g in book.policy.grades],
        decisions=[d.decision for d in book.policy.decisions],
        champion=m.Champion(CHAMPION, "xgboost", book.metrics),
        as_of=datetime(2024, 7, 1, 6, tzinfo=UTC),
    )
    snapshot["fairness"] = _live_fairness(book, frame, snapshot)
    return {
        "snapshot": snapshot,
        "snapshot_id": "m20240701T060000000000",
        "generated_at": "2024-07-01T06:00:05+00:00",
        "models": [
            {
                "version": CHAMPION,
                "candidate": "xgboost",
                "status": "champion",
                "created_at": "2024-01-01T00:00:00+00:00",
                "reason": "beat the champion",
                "holdout": book.metrics["holdout"],
            },
            {
                "version": "v20240601T000000000000",
                "candidate": "logistic <b>",
                "status": "rejected",
                "created_at": "2024-06-01T00:00:00+00:00",
                "reason": "AUC 0.81 < 0.84",
                "holdout": {"auc": 0.81, "gini": 0.62, "ks": 0.47, "brier": 0.11},
            },
        ],
        "executions": [
            {
                "machine": "pipeline",
                "name": "applications-2024-06",
                "status": "SUCCEEDED",
                "start": "2024-07-01T05:00:00+00:00",
                "seconds": 41.0,
            },
            {
                "machine": "pipeline",
                "name": "outcomes-2024-06",
                "status": "RUNNING",
                "start": "2024-07-01T05:30:00+00:00",
                "seconds": None,
            },
            {
                "machine": "training",
                "name": "schedule-2024-06-30",
                "status": "FAILED",
                "start": "2024-06-30T03:00:00+00:00",
                "seconds": 300.0,
            },
        ],
    }
