"""Benchmark: batch scoring (the pipeline's Score state) against the raw model predict.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_batch.py [--rows 50000] [--candidate best]
        [--database-url URL]

A portfolio of ``--rows`` synthetic applications is put into analytics as ETL leaves it,
on the local cloud over a fresh SQLite database (or ``--database-url``), with the tests'
small champion registered. Then, on the same rows:

- ``score_batch``: what the ScoreFunction runs: read the batch from analytics, decide
  every row (PD, score, grade, decision, expected loss, reasons) and write ``ml.scores``;
- ``decide``: the same decisions in memory (no database), to show the I/O share;
- ``raw_predict``: the champion's own vectorised predict on the feature columns.

Progress lines first, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Run as a script: the layer, the local cloud and the tests' fixtures on the path.
for folder in (ROOT / "layers" / "core" / "python", ROOT / "infra", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from sqlalchemy import delete  # noqa: E402

from credit_risk.adapters.observability import logger  # noqa: E402
from credit_risk.db import schema  # noqa: E402
from credit_risk.decisions.policy import load_decision_policy  # noqa: E402
from credit_risk.decisions.scoring import score_records  # noqa: E402
from credit_risk.decisions.serving import ChampionLoader, score_batch  # noqa: E402
from credit_risk.models.registry import Registry  # noqa: E402
from credit_risk.models.training.export import feature_columns  # noqa: E402
from credit_risk.runtime import get_runtime  # noqa: E402
from credit_risk_local.cloud import LocalCloud  # noqa: E402
from fixtures.champion import register_models, trained_models  # noqa: E402
from fixtures.portfolio import load_portfolio  # noqa: E402

REPEATS = 3


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--candidate", default="best")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    logger.setLevel("WARNING")

    print("training the fixture's small champion ...", flush=True)
    models = trained_models()
    champion = models.best if args.candidate == "best" else args.candidate
    from credit_risk.data.generator import generate

    print(f"generating {args.rows} applications ...", flush=True)
    portfolio = generate(args.rows, seed=3)
    models_for_rows = type(models)(
        models.contract,
        portfolio,
        models.features,
        models.candidates,
        models.artifacts,
        models.best,
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    url = args.database_url or f"sqlite:///{folder / 'credit_risk.db'}"
    with LocalCloud(database_url=url, local_dir=folder / "local"):
        rt = get_runtime()
        print("loading them into analytics ...", flush=True)
        load_portfolio(models_for_rows, batch_id="bench", rows=args.rows)
        registry = Registry(engine=rt.engine, store=rt.store, bucket=rt.settings.artifacts_bucket)
        register_models(registry, models, champion=champion)
        policy = load_decision_policy()
        loader = ChampionLoader(registry)
        loaded = loader.get()

        batch_times = []
        for i in range(REPEATS):
            with rt.engine.begin() as conn:
                conn.execute(delete(schema.scores))
            started = time.perf_counter()
            summary = score_batch(
                engine=rt.engine,
                contract=rt.contract,
                registry=registry,
                policy=policy,
                batch_id="bench",
                loader=loader,
            )
            batch_times.append(time.perf_counter() - started)
            print(f"score_batch {i + 1}/{REPEATS}: {batch_times[-1]:.2f} s", flush=True)
        assert summary["scored"] == args.rows, summary

        from sqlalchemy import MetaData, select

        from credit_risk.db.bulk import read_frame

        table = schema.features_table(rt.contract, MetaData())
        with rt.engine.connect() as conn:
            features = read_frame(conn, select(table).where(table.c._batch_id == "bench"))
        for name in rt.contract.numeric_features:
            features[name] = features[name].astype("float64")
        decide_times, raw_times = [], []
        columns = feature_columns(features, loaded.model.features)
        for i in range(REPEATS):
            started = time.perf_counter()
            score_records(loaded, features, rt.contract, policy, source="batch")
            decide_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            loaded.model.predict_columns(columns)
            raw_times.append(time.perf_counter() - started)
            print(
                f"decide {i + 1}/{REPEATS}: {decide_times[-1]:.2f} s; "
                f"raw predict: {raw_times[-1]:.3f} s",
                flush=True,
            )

    batch_s, decide_s, raw_s = (
        statistics.median(t) for t in (batch_times, decide_times, raw_times)
    )
    result = {
        "benchmark": "batch_scoring",
        "rows": args.rows,
        "champion": {"candidate": champion, "kind": loaded.model.kind},
        "database": url.split(":", 1)[0],
        "score_batch_rows_per_s": round(args.rows / batch_s),
        "decide_rows_per_s": round(args.rows / decide_s),
        "raw_predict_rows_per_s": round(args.rows / raw_s),
        "score_batch_seconds": round(batch_s, 3),
        "decide_seconds": round(decide_s, 3),
        "raw_predict_seconds": round(raw_s, 4),
        "ratio_raw_to_score_batch": round(batch_s / raw_s, 1),
        "ratio_raw_to_decide": round(decide_s / raw_s, 1),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
