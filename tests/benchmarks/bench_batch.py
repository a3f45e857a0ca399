"""Benchmark: chunk scoring (the re-score path, in columns) against the champion's raw
vectorised predict, for a linear and a tree champion, in memory and end to end.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_batch.py [--rows 50000] [--database-url URL]

A book of ``--rows`` synthetic loans is put into analytics as ETL leaves it, on the local
cloud over a fresh database (SQLite by default; ``--database-url`` for Postgres, where the
write is COPY), with the tests' small logistic-regression and xgboost champions
registered. Then, for each champion, on the same rows:

- ``raw``: the champion's own vectorised predict on the feature columns
  (``LeanModel.predict_columns``), plus, for the tree, xgboost's ``pred_contribs`` on the
  same design matrix (the reasons need contributions; the linear model's are a product);
- ``chunk``: ``ColumnarScorer.decide`` on the Arrow table of those rows: encoding, PD,
  top-4 reasons, score, grade, decision and expected loss, as an Arrow table;
- ``records``: the pipeline's batch path (``score_records``, a dict per row), for scale;
- ``end_to_end``: ``score_chunk`` on one chunk holding every row: read from the database,
  decide, Parquet to S3, replace the rows in ``ml.scores``, write the result object.

``chunk_vs_raw`` = chunk rows/s / raw rows/s (aim >= 0.5); ``end_to_end_vs_raw`` likewise.
Progress lines first, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Run as a script: the layer, the local cloud and the tests' fixtures on the path.
for folder in (ROOT / "layers" / "core" / "python", ROOT / "infra", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import pyarrow as pa  # noqa: E402
import xgboost as xgb  # noqa: E402
from sqlalchemy import MetaData, select  # noqa: E402

from credit_risk.adapters.observability import logger  # noqa: E402
from credit_risk.contract import load_contract  # noqa: E402
from credit_risk.data.generator import generate  # noqa: E402
from credit_risk.db import schema  # noqa: E402
from credit_risk.db.bulk import read_frame  # noqa: E402
from credit_risk.decisions import rescore  # noqa: E402
from credit_risk.decisions.columnar import ColumnarScorer  # noqa: E402
from credit_risk.decisions.policy import load_decision_policy  # noqa: E402
from credit_risk.decisions.scoring import LoadedModel, score_records  # noqa: E402
from credit_risk.models.lean import LeanModel  # noqa: E402
from credit_risk.models.training.export import feature_columns  # noqa: E402
from credit_risk.runtime import get_runtime  # noqa: E402
from credit_risk_local.cloud import LocalCloud  # noqa: E402
from fixtures.champion import TrainedModels, register_models, trained_models  # noqa: E402
from fixtures.portfolio import load_portfolio  # noqa: E402

REPEATS = 9


def _median_seconds(run: Callable[[], Any], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _interleaved(
    first: Callable[[], Any], second: Callable[[], Any], repeats: int = REPEATS
) -> tuple[float, float]:
    """Median seconds of two calls timed turn about, so both see the same machine."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, out in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            run()
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def _raw(model: LeanModel, columns: dict[str, Any]) -> None:
    """The champion's own vectorised call: PDs, and TreeSHAP for a tree."""
    model.predict_columns(columns)
    if model.kind == "xgboost":
        design = model.encode_columns(columns)
        model._booster.predict(xgb.DMatrix(design, nthread=1), pred_contribs=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    logger.setLevel("WARNING")

    print("training the fixture's small champions ...", flush=True)
    models = trained_models()
    print(f"generating {args.rows:,} applications ...", flush=True)
    book = TrainedModels(
        models.contract,
        generate(args.rows, seed=3),
        models.features,
        models.candidates,
        models.artifacts,
        models.best,
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    url = args.database_url or f"sqlite:///{folder / 'credit_risk.db'}"
    results: dict[str, Any] = {}
    with LocalCloud(database_url=url, local_dir=folder / "local"):
        rt = get_runtime()
        print("loading them into analytics ...", flush=True)
        load_portfolio(book, batch_id="bench", rows=args.rows)
        versions = register_models(rt.registry, models)
        policy = load_decision_policy(contract=load_contract())
        table = schema.features_table(rt.contract, MetaData())
        with rt.engine.connect() as conn:
            frame = read_frame(conn, select(table))
        for name in rt.contract.numeric_features:
            frame[name] = frame[name].astype("float64")
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        first_id = str(frame["application_id"].min())
        for candidate in ("logistic_regression", "xgboost"):
            version = versions[candidate]
            loaded = LoadedModel(version, LeanModel.from_bytes(models.artifacts[candidate]))
            model = loaded.model
            columns = feature_columns(frame, model.features)
            scorer = ColumnarScorer(loaded, rt.contract, policy)
            decided = scorer.decide(arrow)
            assert decided.scored.num_rows == args.rows, decided.refused.num_rows
            raw_s, chunk_s = _interleaved(
                lambda: _raw(model, columns),  # noqa: B023
                lambda: scorer.decide(arrow),  # noqa: B023
            )
            records_s = _median_seconds(
                lambda: score_records(loaded, frame, rt.contract, policy, source="batch"),  # noqa: B023
                repeats=1,
            )
            event = {
                "run_id": f"bench-{candidate}",
                "chunk": "00000",
                "model_version": version.version,
                "source": {"kind": "analytics", "first_id": first_id, "next_id": None},
                "rows": args.rows,
            }

            def end_to_end(event: dict[str, Any] = event) -> dict[str, Any]:
                return rescore.score_chunk(
                    engine=rt.engine,
                    contract=rt.contract,
                    store=rt.store,
                    registry=rt.registry,
                    policy=policy,
                    bucket=rt.settings.artifacts_bucket,
                    event=event,
                    pseudonym_key=lambda: rt.pseudonym_key,
                )

            end_to_end()  # loads the model once, as a warm container has
            e2e_s = _median_seconds(end_to_end, repeats=3)
            summary = end_to_end()
            assert summary["scored"] == args.rows, summary
            results[candidate] = {
                "kind": model.kind,
                "raw_rows_per_s": round(args.rows / raw_s),
                "chunk_rows_per_s": round(args.rows / chunk_s),
                "records_rows_per_s": round(args.rows / records_s),
                "end_to_end_rows_per_s": round(args.rows / e2e_s),
                "chunk_vs_raw": round(raw_s / chunk_s, 3),
                "end_to_end_vs_raw": round(raw_s / e2e_s, 3),
                "chunk_vs_records": round(records_s / chunk_s, 1),
            }
            print(f"{candidate}: {json.dumps(results[candidate])}", flush=True)

    result = {
        "benchmark": "batch_scoring",
        "rows": args.rows,
        "database": url.split(":", 1)[0].split("+")[0],
        "repeats": REPEATS,
        "linear": results["logistic_regression"],
        "tree": results["xgboost"],
        "chunk_vs_raw": {
            "linear": results["logistic_regression"]["chunk_vs_raw"],
            "tree": results["xgboost"]["chunk_vs_raw"],
        },
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
