"""Benchmark: train every candidate on synthetic data and compare with the oracle.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_training.py --rows 100000

Reports the champion's holdout AUC against the oracle AUC (the generator's true PD on the
same holdout rows) and their ratio (target >= 0.97), the wall time of the whole training
run, and the share of that time spent outside the estimators' own ``fit`` calls (the
raw library work): preprocessing, resampling, prediction, calibration, metrics and
attributions. Progress lines first, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from credit_risk.contract import load_contract
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.models.training.config import load_training_config
from credit_risk.models.training.trainer import train_candidates

TARGET_RATIO = 0.97


class FitClock:
    """Wraps estimator ``fit`` methods and totals their time (nested calls once)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._depth = 0

    def wrap(self, cls: type) -> None:
        original: Callable[..., Any] = cls.__dict__["fit"]

        @functools.wraps(original)
        def timed(est: Any, *args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return original(est, *args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return original(est, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1
                self._depth -= 1

        setattr(cls, "fit", timed)  # noqa: B010


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--folds", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--candidates", nargs="*", default=None)
    parser.add_argument(
        "--threads", type=int, default=None, help="xgboost threads (default: the config's)"
    )
    args = parser.parse_args()
    cv = None if args.folds is None else (args.folds, args.repeats or 1)
    config = load_training_config()
    if args.threads is not None:
        config = config.model_copy(update={"threads": args.threads})

    contract = load_contract()
    started = time.perf_counter()
    # as_of a year after the last application: every loan has matured, every label counts.
    data = generate(args.rows, seed=args.seed, start="2022-01-01", months=24, as_of="2025-01-01")
    X = build_features(contract, data.applications)
    y = data.outcomes["defaulted"].to_numpy()
    dates = data.applications["application_date"]
    true_pd = data.true_pd["true_pd"].to_numpy()
    print(f"generated {args.rows} rows and features in {time.perf_counter() - started:.1f} s")

    clock = FitClock()
    for cls in (LogisticRegression, xgb.XGBClassifier, xgb.XGBRFClassifier):
        clock.wrap(cls)
    started = time.perf_counter()
    result = train_candidates(
        contract,
        X,
        y,
        dates,
        config=config,
        seed=args.seed,
        cv=cv,
        candidates=args.candidates,
        progress=lambda line: print(line, flush=True),
    )
    wall = time.perf_counter() - started

    holdout = result.split.holdout
    oracle = float(roc_auc_score(y[holdout], true_pd[holdout]))
    champion = result.champion
    champion_auc = float(champion.metrics["auc"])
    candidates = {
        name: {
            "holdout_auc": round(c.metrics["auc"], 5),
            "oracle_ratio": round(c.metrics["auc"] / oracle, 5),
            "cv_auc_mean": round(c.metrics["cv"]["auc"]["mean"], 5),
            "brier": round(c.metrics["brier"], 5),
            "mean_pd": round(c.metrics["mean_pd"], 5),
            "imbalance": c.params["imbalance"],
            "calibration": c.params["calibration"],
            "searched": {k: c.params["estimator_params"].get(k) for k in _searched(c.search)},
            "seconds": round(c.seconds, 2),
        }
        for name, c in result.candidates.items()
    }
    summary = {
        "benchmark": "training",
        "rows": args.rows,
        "n_train": int(len(result.split.train)),
        "n_holdout": int(len(holdout)),
        "holdout_kind": result.split.kind,
        "default_rate": round(float(np.mean(y)), 5),
        "holdout_default_rate": round(float(np.mean(y[holdout])), 5),
        "cv": list(cv) if cv else [config.cv.folds, config.cv.repeats],
        "threads": config.threads,
        "candidates": candidates,
        "champion": result.best,
        "champion_auc": round(champion_auc, 5),
        "oracle_auc": round(oracle, 5),
        "oracle_ratio": round(champion_auc / oracle, 5),
        "target_ratio": TARGET_RATIO,
        "meets_target": champion_auc / oracle >= TARGET_RATIO,
        "wall_seconds": round(wall, 2),
        "estimator_fit_seconds": round(clock.seconds, 2),
        "estimator_fit_calls": clock.calls,
        "outside_fit_share": round(1.0 - clock.seconds / wall, 4),
    }
    print(json.dumps(summary))


def _searched(search: list[dict[str, Any]]) -> list[str]:
    return list(search[0]["params"]) if search else []


if __name__ == "__main__":
    main()
