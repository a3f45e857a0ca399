"""`credit-risk train`: compare candidate models on a lender's own files, no cloud needed.

The files are read and validated exactly as ingestion does (bad rows are dropped and
counted), features are built by the contract, labels joined only once matured, and the
candidates trained and evaluated as the training state machine does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from credit_risk.contract import Contract, DatasetSpec, load_contract
from credit_risk.data.etl import matured_labels
from credit_risk.data.features import build_features
from credit_risk.data.reading import read_raw
from credit_risk.data.validation import Violation, check_header, validate_frame
from credit_risk.models.training.trainer import train_candidates
from credit_risk_local.contracts import refusal_lines

COLUMNS = ("auc", "gini", "ks", "brier", "log_loss", "precision", "recall", "f1", "accuracy")


Refusal = tuple[str, str, Violation, DatasetSpec]  # file, dataset, violation, its spec


def load_validated(
    path: Path, contract: Contract, dataset: str, refusals: list[Refusal] | None = None
) -> tuple[pd.DataFrame, int]:
    """A file's good rows, typed, and how many rows were dropped as invalid; says which
    rows were dropped and why (column, rule, count, examples) exactly as ingestion's
    quarantine records them, and which file columns the contract ignores."""
    spec = contract.dataset(dataset)
    raw = read_raw(path.read_bytes(), path.name)
    ignored = check_header(spec, list(raw.columns), dataset)
    if ignored:
        print(f"{path.name}: columns not in the contract, ignored: {', '.join(ignored)}")
    validated = validate_frame(spec, raw.drop(columns=ignored))
    for line in refusal_lines(spec, validated.violations):
        print(f"{path.name}:{line}")
    if refusals is not None:
        refusals.extend((path.name, dataset, v, spec) for v in validated.violations)
    return validated.good, len(validated.bad_row_numbers)


def write_rejects(path: Path, refusals: list[Refusal]) -> int:
    """The dropped rows' reasons as CSV (file, dataset, row, column, rule, value; no value
    for a personal column); how many were written."""
    import csv

    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["file", "dataset", "row_number", "column", "rule", "value"])
        for name, dataset, v, spec in refusals:
            col = spec.columns.get(v.column)
            personal = col is None or col.pii or col.protected
            writer.writerow(
                [name, dataset, v.row_number, v.column, v.rule, "" if personal else v.value]
            )
    return len(refusals)


def _matured_applications(
    contract: Contract, applications: pd.DataFrame, outcomes: pd.DataFrame
) -> pd.DataFrame:
    """The applications with a matured outcome, each with its ``target``."""
    spec = contract.applications
    dates = pd.Series(
        pd.to_datetime(applications[spec.event_date]).to_numpy(),
        index=applications[spec.id].astype(str).to_numpy(),
    )
    labels = matured_labels(contract, outcomes, dates, batch_id="offline")
    labels = labels[labels["matured"]].set_index("application_id")
    return applications.assign(_id=applications[spec.id].astype(str)).merge(
        labels[["target"]], left_on="_id", right_index=True
    )


def training_data(
    contract: Contract, applications: pd.DataFrame, outcomes: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features, matured targets and application dates, joined by the contract's id."""
    spec = contract.applications
    joined = _matured_applications(contract, applications, outcomes)
    features = build_features(contract, joined.reset_index(drop=True))
    return (
        features,
        joined["target"].reset_index(drop=True),
        pd.Series(pd.to_datetime(joined[spec.event_date]).to_numpy()),
    )


def metrics_table(result: Any) -> str:
    """One row per candidate: holdout metrics, then CV AUC mean ± std."""
    header = ["candidate", *COLUMNS, "cv_auc"]
    rows = [header]
    for name, candidate in result.candidates.items():
        m = candidate.metrics
        cv = m.get("cv", {}).get("auc", {})
        cv_text = f"{cv.get('mean', float('nan')):.4f}±{cv.get('std', float('nan')):.4f}"
        marker = " *" if name == result.best else ""
        rows.append([name + marker, *(f"{m[c]:.4f}" for c in COLUMNS), cv_text])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    table = "\n".join(
        "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in rows
    )
    notes = [
        f"{name}: {c.metrics['cv']['auc_note']}"
        for name, c in result.candidates.items()
        if c.metrics.get("cv", {}).get("auc_note")
    ]
    return "\n".join([table, *notes])


def holdout_fairness(
    contract: Contract,
    applications: pd.DataFrame,
    outcomes: pd.DataFrame,
    X: pd.DataFrame,
    y: pd.Series,
    dates: pd.Series,
    result: Any,
    args: argparse.Namespace,
) -> list[str]:
    """Add each candidate's fairness figures per protected group on the holdout rows
    (approvals by the decision policy) to its metrics; one line per candidate and
    attribute with the lowest adverse impact ratio."""
    from credit_risk.decisions.approval import approvals
    from credit_risk.decisions.policy import load_decision_policy
    from credit_risk.models.fairness import fairness_report
    from credit_risk.models.training.config import load_training_config
    from credit_risk.models.training.trainer import split_holdout

    spec = contract.applications
    if not spec.protected_columns:
        return []
    joined = _matured_applications(contract, applications, outcomes).reset_index(drop=True)
    fraction = load_training_config(args.config).holdout_fraction
    split = split_holdout(y.to_numpy(), dates, fraction=fraction, seed=args.seed)
    groups = {
        n: joined[n].astype(object).where(joined[n].notna(), None).to_numpy()[split.holdout]
        for n in spec.protected_columns
    }
    categories = {n: spec.columns[n].categories or [] for n in groups}
    policy = load_decision_policy(contract=contract)
    rows = X.iloc[split.holdout]
    outcome = y.to_numpy()[split.holdout]
    lines = []
    for name, candidate in result.candidates.items():
        pds = candidate.model.predict_proba(rows)[:, 1]
        report = fairness_report(groups, categories, pds, approvals(pds, policy), outcome)
        candidate.metrics["fairness"] = report
        for attribute, figures in report.items():
            air = figures.get("min_air")
            text = "n/a" if air is None else f"{air:.3f} ({figures.get('min_air_group')})"
            lines.append(f"[{name}] {attribute}: lowest adverse impact ratio {text}")
    return lines


def train_offline(args: argparse.Namespace) -> int:
    """Run the `train` command; print the metrics table and write JSON when asked."""
    contract = load_contract(args.contract)
    refusals: list[Refusal] = []
    applications, bad_apps = load_validated(
        Path(args.applications), contract, "applications", refusals
    )
    outcomes, bad_outcomes = load_validated(Path(args.outcomes), contract, "outcomes", refusals)
    print(
        f"{len(applications):,} applications ({bad_apps} invalid rows dropped), "
        f"{len(outcomes):,} outcomes ({bad_outcomes} dropped); contract {contract.name}"
    )
    if args.rejects:
        written = write_rejects(Path(args.rejects), refusals)
        print(f"{written:,} refusals written to {args.rejects}")
    X, y, dates = training_data(contract, applications, outcomes)
    print(f"{len(X):,} matured loans, default rate {y.mean():.1%}")
    result = train_candidates(
        contract,
        X,
        y.to_numpy(),
        dates,
        config=args.config,
        seed=args.seed,
        cv=args.cv,
        candidates=args.candidates or None,
        progress=lambda line: print(f"  {line}", flush=True),
    )
    for line in holdout_fairness(contract, applications, outcomes, X, y, dates, result, args):
        print(f"  {line}")
    print()
    print(metrics_table(result))
    print(f"\n* champion by repeated-CV AUC, confirmed on the holdout: {result.best}")
    if result.selection is not None:
        for line in result.selection.lines():
            print(f"  - {line}")
    if args.json:
        payload = {
            "contract": contract.name,
            "rows": len(X),
            "best": result.best,
            "selection": result.selection.to_dict() if result.selection else None,
            "candidates": {n: c.summary() for n, c in result.candidates.items()},
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
        print(f"metrics written to {args.json}")
    return 0
