"""Benchmark: a million loans re-scored through the real re-score ASL on the local cloud.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_rescore.py [--rows 1000000] [--chunk-rows 10000]
        [--database-url URL] [--concurrency 40]

A book of ``--rows`` synthetic loans is loaded into analytics (a fresh Postgres database
on 127.0.0.1 by default, dropped afterwards; ``--database-url`` for another), the tests'
small xgboost champion (the slower of the two to score: TreeSHAP for the reasons) is
registered, and the re-score state machine runs on moto from template.yaml: plan,
Distributed Map (one Lambda per chunk, run in-process and one at a time by the local
seam), reconcile. Then it counts, in the database and in the run's Parquet scores in
S3, that every loan has exactly one score for the version (``scored_once``).

``projected_10m_s``, the wall time of 10 million loans on AWS at the template's default
MaxConcurrency, is projected from what was measured here (every chunk's own time comes
from its result object)::

    chunks      = ceil(10M / chunk_rows)
    compute     = ceil(chunks / concurrency) x (chunk_p50 + map_overhead_per_chunk)
    database    = 10M / database_rows_per_s     (COPY as if every writer queued on one
                                                 database: a floor the compute term
                                                 cannot beat)
    projected   = plan_s x 10M/rows + max(compute, database) + reconcile_s x chunks/measured

``map_overhead_per_chunk`` is the local engine's own cost per item (the execution's wall
time less plan, reconcile and the chunks' own seconds, divided by the chunks): moto's
engine and the seam stand in for the child-workflow start latency of AWS.
Progress lines first, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "layers" / "core" / "python", ROOT / "infra", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import pyarrow.parquet as pq  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from credit_risk.adapters.observability import logger  # noqa: E402
from credit_risk.data.generator import generate  # noqa: E402
from credit_risk.db import schema  # noqa: E402
from credit_risk.decisions.rescore import chunk_results  # noqa: E402
from credit_risk.runtime import get_runtime  # noqa: E402
from credit_risk_local.cloud import LocalCloud  # noqa: E402
from credit_risk_local.ops import state_runs  # noqa: E402
from credit_risk_local.template import load_template  # noqa: E402
from fixtures.champion import TrainedModels, register_models, trained_models  # noqa: E402
from fixtures.portfolio import load_portfolio  # noqa: E402

POSTGRES = "postgresql+pg8000://postgres@127.0.0.1:5432/postgres"
TEN_MILLION = 10_000_000


def _fresh_postgres() -> tuple[str, Any] | None:
    """A new, empty Postgres database and a function that drops it (None without one)."""
    try:
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        name = f"bench_rescore_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no Postgres here: say so and use SQLite
        print(f"no Postgres on 127.0.0.1 ({type(exc).__name__}); using SQLite", flush=True)
        return None

    def drop() -> None:
        from credit_risk.db.engine import dispose_all

        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    return url, drop


def _count_database(version: str) -> tuple[int, int]:
    scores = schema.scores
    query = select(func.count(), func.count(func.distinct(scores.c.application_id))).where(
        scores.c.source == schema.RESCORE_SOURCE, scores.c.model_version == version
    )
    with get_runtime().engine.connect() as conn:
        rows, loans = conn.execute(query).one()
    return int(rows), int(loans)


def _count_s3(cloud: LocalCloud, run_id: str, version: str) -> tuple[int, int]:
    s3, bucket = cloud.client("s3"), cloud.artifacts_bucket
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"rescore/{run_id}/scores/"
    )
    ids: set[str] = set()
    rows = 0
    for page in pages:
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            table = pq.read_table(io.BytesIO(body), columns=["application_id", "model_version"])
            assert set(table["model_version"].to_pylist()) == {version}
            rows += table.num_rows
            ids.update(table["application_id"].to_pylist())
    return rows, len(ids)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(load_template()["Parameters"]["RescoreMaxConcurrency"]["Default"]),
        help="MaxConcurrency on AWS for the projection (default: the template's)",
    )
    args = parser.parse_args(argv)
    logger.setLevel("WARNING")
    folder = Path(tempfile.mkdtemp(prefix="bench-rescore-"))
    fresh = None if args.database_url else _fresh_postgres()
    url = args.database_url or (fresh[0] if fresh else f"sqlite:///{folder / 'cr.db'}")
    try:
        return _run(args, url, folder)
    finally:
        if fresh:
            fresh[1]()


def _run(args: argparse.Namespace, url: str, folder: Path) -> dict[str, Any]:
    print("training the fixture's small champions ...", flush=True)
    models = trained_models()
    started = time.perf_counter()
    data = generate(args.rows, seed=5)
    print(f"generated {args.rows:,} loans in {time.perf_counter() - started:.0f} s", flush=True)
    book = TrainedModels(
        models.contract, data, models.features, models.candidates, models.artifacts, "xgboost"
    )
    with LocalCloud(database_url=url, local_dir=folder / "local") as cloud:
        started = time.perf_counter()
        load_portfolio(book, batch_id="bench", rows=args.rows)
        print(f"loaded analytics in {time.perf_counter() - started:.0f} s", flush=True)
        version = register_models(get_runtime().registry, models, champion="xgboost")["xgboost"]
        started = time.perf_counter()
        arn = cloud.start_rescore({"trigger": "bench", "chunk_rows": args.chunk_rows})
        print("re-scoring through the real ASL ...", flush=True)
        while (desc := cloud.client("stepfunctions").describe_execution(executionArn=arn))[
            "status"
        ] == "RUNNING":
            time.sleep(2)
            done = sum(
                1 for i in cloud.dispatcher.invocations if i.function == "RescoreChunkFunction"
            )
            print(f"  {time.perf_counter() - started:6.0f} s: {done} chunks done", flush=True)
        seconds = time.perf_counter() - started
        assert desc["status"] == "SUCCEEDED", desc.get("cause")
        output = json.loads(desc["output"])
        run_id = output["run_id"]
        events = cloud.client("stepfunctions").get_execution_history(
            executionArn=arn, maxResults=1000
        )["events"]
        steps = {r.name: r.seconds or 0.0 for r in state_runs(events)}
        results = chunk_results(get_runtime().store, cloud.artifacts_bucket, run_id)
        chunk_seconds = sorted(r["seconds"] for r in results.values())
        laps = {
            part: statistics.median(r["timings"][part] for r in results.values())
            for part in ("read", "decide", "s3", "database")
        }
        print("counting scores in the database and in S3 ...", flush=True)
        db_rows, db_loans = _count_database(version.version)
        s3_rows, s3_loans = _count_s3(cloud, run_id, version.version)

    chunks = len(results)
    p50 = statistics.median(chunk_seconds)
    plan_s, reconcile_s = steps["Plan the chunks"], steps["Reconcile the run"]
    map_s = steps["Score the chunks"]
    overhead = max(0.0, (map_s - sum(chunk_seconds)) / chunks)
    chunks_10m = math.ceil(TEN_MILLION / args.chunk_rows)
    compute = math.ceil(chunks_10m / args.concurrency) * (p50 + overhead)
    database_rows_per_s = args.chunk_rows / laps["database"]
    database = TEN_MILLION / database_rows_per_s
    projected = (
        plan_s * TEN_MILLION / args.rows
        + max(compute, database)
        + reconcile_s * chunks_10m / chunks
    )
    result = {
        "benchmark": "rescore",
        "rows": args.rows,
        "database": url.split(":", 1)[0].split("+")[0],
        "champion": "xgboost",
        "scored_once": db_rows == db_loans == s3_rows == s3_loans == args.rows,
        "database_scores": db_rows,
        "s3_scores": s3_rows,
        "chunks": chunks,
        "seconds": round(seconds, 1),
        "state_seconds": {k: round(v, 2) for k, v in steps.items()},
        "chunk_seconds_p50": round(p50, 3),
        "chunk_seconds_p95": round(chunk_seconds[int(0.95 * (chunks - 1))], 3),
        "chunk_part_seconds_p50": {k: round(v, 3) for k, v in laps.items()},
        "map_overhead_per_chunk_s": round(overhead, 3),
        "projection": {
            "concurrency": args.concurrency,
            "chunks": chunks_10m,
            "compute_s": round(compute, 1),
            "database_rows_per_s": round(database_rows_per_s),
            "database_s": round(database, 1),
            "model": "plan x 10M/rows + max(ceil(chunks/concurrency) x (chunk_p50 + "
            "overhead), 10M / database rows/s) + reconcile x chunks/measured",
        },
        "projected_10m_s": round(projected, 1),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
