"""Benchmark: the training search fanned out, item by item, and where one Lambda stops.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_training_fanout.py [--rows 20000 50000 100000]
        [--concurrency 1 4 20 64]

For each size, the packaged candidates (``defaults/models.yaml``) are trained the way the
training state machine runs them: every item of the "grid" and "imbalance" Maps (one
candidate's configuration on one fold) and then each candidate's "fit" step, timed one by
one, with each item's peak resident memory (``VmHWM``, reset before each item). Locally
the seam runs items one at a time, so the wall time on AWS is projected from the item
times: each stage's items are dealt in manifest order to ``concurrency`` workers as they
free up (what a Distributed Map does), plus the measured per-item cost of reading the
snapshot; the stages follow each other.

It also trains each candidate whole, in one process (what one Lambda per candidate did
before the fan-out), and fits time and memory against rows (through the two
largest sizes, linearly) to give the data size at which a Lambda's 15 minutes or 10 GB stop
sufficing: for one whole candidate, and for the largest single item.
Progress lines first, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_risk.contract import load_contract
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.models.training.config import load_training_config
from credit_risk.models.training.trainer import (
    cross_validate_item,
    fit_from_folds,
    grid_items,
    imbalance_items,
    train_one,
)

LAMBDA_SECONDS = 900
LAMBDA_MB = 10_240
_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        _CLEAR.write_text("5")  # resets VmHWM to the current RSS (Linux)


def _peak_mb() -> float:
    for line in _STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(run: Any) -> tuple[Any, float, float]:
    _reset_peak()
    started = time.perf_counter()
    out = run()
    return out, time.perf_counter() - started, _peak_mb()


def _makespan(seconds: list[float], workers: int) -> float:
    """Items dealt in order to whichever of ``workers`` frees up first."""
    free = [0.0] * min(workers, max(1, len(seconds)))
    heapq.heapify(free)
    end = 0.0
    for s in seconds:
        start = heapq.heappop(free)
        end = max(end, start + s)
        heapq.heappush(free, start + s)
    return end


def _size(rows: int, concurrency: list[int]) -> dict[str, Any]:
    contract = load_contract()
    cfg = load_training_config()
    names = list(cfg.candidates)
    data = generate(rows, seed=17)
    X = build_features(contract, data.applications)
    y, dates = data.outcomes["defaulted"].to_numpy(), data.applications["application_date"]
    frame = pd.concat([X, pd.DataFrame({"target": y, "event_date": dates})], axis=1)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    snapshot = buffer.getvalue()
    started = time.perf_counter()
    pd.read_parquet(io.BytesIO(snapshot))
    read_s = time.perf_counter() - started  # what every item pays to load the snapshot

    stages: dict[str, list[dict[str, Any]]] = {}
    grid = []
    for item in grid_items(names, rows=len(X)):
        result, seconds, peak = _timed(lambda i=item: cross_validate_item(contract, X, y, dates, i))
        grid.append((item, result))
        stages.setdefault("grid", []).append({"item": item.name, "s": seconds, "mb": peak})
    print(f"  {rows:,} rows: {len(grid)} grid items", flush=True)
    options = []
    for item in imbalance_items(names, grid, rows=len(X)):
        result, seconds, peak = _timed(lambda i=item: cross_validate_item(contract, X, y, dates, i))
        options.append((item, result))
        stages.setdefault("imbalance", []).append({"item": item.name, "s": seconds, "mb": peak})
    print(f"  {rows:,} rows: {len(options)} imbalance items", flush=True)
    for name in names:
        _, seconds, peak = _timed(
            lambda n=name: fit_from_folds(contract, n, X, y, dates, grid + options)
        )
        stages.setdefault("fit", []).append({"item": name, "s": seconds, "mb": peak})
    print(f"  {rows:,} rows: fitted {len(names)} candidates", flush=True)
    whole = {}
    for name in names:
        _, seconds, peak = _timed(lambda n=name: train_one(contract, n, X, y, dates))
        whole[name] = {"s": round(seconds, 2), "mb": round(peak)}
    print(f"  {rows:,} rows: whole candidates {json.dumps(whole)}", flush=True)

    items = [i for stage in stages.values() for i in stage]
    projected = {
        str(c): round(sum(_makespan([i["s"] + read_s for i in stages[s]], c) for s in stages), 1)
        for c in concurrency
    }
    largest = max(items, key=lambda i: i["s"])
    return {
        "rows": rows,
        "items": {s: len(v) for s, v in stages.items()},
        "item_seconds_p50": round(float(np.median([i["s"] for i in items])), 3),
        "item_seconds_max": round(largest["s"], 2),
        "largest_item": largest["item"],
        "item_peak_mb_max": round(max(i["mb"] for i in items)),
        "snapshot_read_s": round(read_s, 3),
        "serial_items_s": round(sum(i["s"] for i in items), 1),
        "projected_wall_s": projected,
        "whole_candidate": whole,
    }


def _rows_at(sizes: list[dict[str, Any]], value: Any, limit: float) -> int:
    """Rows at which ``value(size)`` reaches ``limit``: a straight line (a fixed part plus a
    part per row) through the two largest sizes; time and memory grow about linearly."""
    (r1, v1), (r2, v2) = [(s["rows"], value(s)) for s in sizes[-2:]]
    per_row = (v2 - v1) / (r2 - r1)
    if per_row <= 0:
        return -1  # no growth measured: more sizes are needed
    return int(r2 + (limit - v2) / per_row)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 20, 64])
    args = parser.parse_args(argv)
    sizes = []
    for rows in sorted(args.rows):
        print(f"training on {rows:,} rows ...", flush=True)
        sizes.append(_size(rows, args.concurrency))
        print(json.dumps(sizes[-1]), flush=True)
    last = sizes[-1]
    slowest = max(last["whole_candidate"], key=lambda n: last["whole_candidate"][n]["s"])
    result = {
        "benchmark": "training_fanout",
        "sizes": sizes,
        "speedup_at": {
            c: round(last["projected_wall_s"]["1"] / last["projected_wall_s"][c], 2)
            for c in map(str, args.concurrency)
        },
        "one_lambda_per_candidate_limit_rows": {
            "by_time": _rows_at(
                sizes, lambda s: s["whole_candidate"][slowest]["s"], LAMBDA_SECONDS
            ),
            "by_memory": _rows_at(sizes, lambda s: s["whole_candidate"][slowest]["mb"], LAMBDA_MB),
            "candidate": slowest,
        },
        "one_lambda_per_item_limit_rows": {
            "by_time": _rows_at(sizes, lambda s: s["item_seconds_max"], LAMBDA_SECONDS),
            "by_memory": _rows_at(sizes, lambda s: s["item_peak_mb_max"], LAMBDA_MB),
        },
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
