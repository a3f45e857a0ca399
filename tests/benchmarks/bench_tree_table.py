"""Benchmark: a tree model's margins for a few rows, walked in numpy against xgboost.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_tree_table.py [--calls 2000]

The model is the tests' small xgboost champion (real training on 2,000 synthetic
applications). For each row count, ``--calls`` margin computations of the same encoded
rows go through xgboost's ``inplace_predict(predict_type="margin")`` (what a tree model
scored with before) and through :class:`~credit_risk.models.tree_table.TreeTable`
(the same bits, checked here too), alternating in blocks so that a load change on the
machine falls on both. ``walk_vs_xgboost`` is the ratio of their medians: below 1 the walk
is faster. ``WALK_BUDGET`` in ``tree_table.py`` (rows × trees × depth) is set from where
it crosses 1. Progress lines
first, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "layers" / "core" / "python", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from credit_risk.models.tree_table import WALK_BUDGET  # noqa: E402
from fixtures.champion import trained_models  # noqa: E402

ROW_COUNTS = (1, 4, 16, 46, 64, 128, 512)
BLOCKS = 10


def _median_us(calls: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)

    print("training the fixture's small xgboost model ...", flush=True)
    models = trained_models()
    model = models.lean("xgboost")
    trees, booster = model._trees, model._booster
    if trees is None:
        raise SystemExit("the walk did not reproduce this booster: nothing to compare")
    design = model.encode(models.features.to_dict("records"))
    results = []
    for n in ROW_COUNTS:
        rows = design[:n]
        expected = booster.inplace_predict(rows, predict_type="margin")
        if not np.array_equal(trees.margins(rows), expected):
            raise SystemExit(f"the walk differs from xgboost on {n} rows")
        block = max(1, args.calls // BLOCKS)
        walked, library = [], []
        for _ in range(BLOCKS):
            library.append(
                _median_us(block, lambda r=rows: booster.inplace_predict(r, predict_type="margin"))
            )
            walked.append(_median_us(block, lambda r=rows: trees.margins(r)))
        walk, raw = statistics.median(walked), statistics.median(library)
        results.append(
            {
                "rows": n,
                "walk_us": round(walk, 1),
                "xgboost_us": round(raw, 1),
                "walk_vs_xgboost": round(walk / raw, 3),
            }
        )
        print(
            f"{n:4d} rows: walk {walk:8.1f} us, xgboost {raw:8.1f} us (x{walk / raw:.3f})",
            flush=True,
        )
    out = {
        "benchmark": "tree_table",
        "trees": len(trees.roots),
        "depth": trees.depth,
        "walk_budget": WALK_BUDGET,
        "walked_up_to_rows": WALK_BUDGET // (len(trees.roots) * max(trees.depth, 1)),
        "by_rows": results,
        "one_row_walk_vs_xgboost": results[0]["walk_vs_xgboost"],
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
