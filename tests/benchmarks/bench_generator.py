"""Benchmark: synthetic data generation against drawing the same rows of raw random numbers.

Run directly with the project's environment:

    .venv/bin/python tests/benchmarks/bench_generator.py [--rows N]

Prints progress, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Benchmarks run as scripts, outside pytest's pythonpath: find the core layer if needed.
try:
    import credit_risk  # noqa: F401
except ModuleNotFoundError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers" / "core" / "python"))

import numpy as np  # noqa: E402

from credit_risk.data.generator import generate  # noqa: E402

REPEATS = 3
RAW_COLUMNS = 20


def _median_seconds(label: str, run: Callable[[], object]) -> float:
    times = []
    for i in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
        print(f"{label} run {i + 1}/{REPEATS}: {times[-1]:.3f} s", flush=True)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Time ``generate`` and the raw numpy baseline; print and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="applications to generate")
    rows = parser.parse_args(argv).rows

    seconds = _median_seconds("generate", lambda: generate(rows, seed=42))
    rng = np.random.default_rng(42)
    baseline = _median_seconds(
        f"numpy standard_normal(({rows}, {RAW_COLUMNS}))",
        lambda: rng.standard_normal((rows, RAW_COLUMNS)),
    )
    result = {
        "rows": rows,
        "seconds": round(seconds, 4),
        "rows_per_s": round(rows / seconds, 1),
        "baseline_seconds": round(baseline, 4),
        "ratio": round(seconds / baseline, 2),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
