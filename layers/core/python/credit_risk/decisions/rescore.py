"""Re-scoring a whole book: the re-score state machine's three steps, and how it starts.

1. :func:`plan_run` (state "Plan the chunks") pins the model version and writes the
   run's manifest, one descriptor per chunk, to the artifacts bucket: id ranges of
   ``analytics.application_features`` (the whole book), or row ranges of the CSV/Parquet
   objects under an S3 prefix (a ``portfolio/`` upload, ``./run rescore --prefix``).
2. :func:`score_chunk` (each item of the Distributed Map "Score the chunks") reads its
   rows, decides them in columns (:mod:`credit_risk.decisions.columnar`), writes the
   scores as Parquet to S3, replaces the chunk's rows in ``ml.scores`` in one
   transaction (COPY on Postgres), and writes the chunk's *result object* last. A failed
   attempt writes a failure record (error and cause) in its place.
3. :func:`reconcile_run` (state "Reconcile the run") reads every result object itself:
   rows in = rows scored + rows refused, per chunk and in total, and the failure
   tolerance, for chunks without a result and for chunks that refused too many rows.

Why the chunks report through their own objects: the Map's ResultWriter is the AWS way
to collect item results, but moto 5.2 writes only an empty manifest and never fails a
Distributed Map for failed items. Result objects work the same on AWS and locally, so
reconciliation and tolerance are enforced (and tested) in one place.

Idempotent per chunk: a chunk deletes its (loan, model version) re-score rows and inserts
them again in one transaction, and a partial unique index (``uq_scores_rescore_once``)
holds one re-score per loan and model version, so a retry, a redrive or a second run of
the same chunk leaves exactly one.

Redrive: on AWS, RedriveExecution re-runs the failed items of the Map and continues.
moto has no RedriveExecution, so :func:`plan_run` also takes ``redrive_of``: a new
execution that runs only the chunks of that run without a result, then reconciles the
original run. The local cloud's ``./run redrive`` uses it (it also works on AWS, for
runs past RedriveExecution's 14-day window).

I/O: the database, S3 and Step Functions.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, MetaData, and_, delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from credit_risk.adapters.aws import ObjectStore, Workflows, parse_s3_uri, s3_uri
from credit_risk.adapters.observability import logger
from credit_risk.contract import Contract
from credit_risk.data.features import build_features
from credit_risk.data.pseudonymise import pseudonymise
from credit_risk.data.reading import file_format, read_raw
from credit_risk.data.validation import check_header, validate_frame
from credit_risk.db import schema
from credit_risk.db.batched import in_chunks
from credit_risk.db.bulk import load_arrow, read_arrow
from credit_risk.decisions.columnar import (
    ID,
    KEY,
    SCORE_COLUMNS,
    ChunkDecisions,
    ColumnarScorer,
    summarise_reasons,
)
from credit_risk.decisions.policy import DecisionPolicy
from credit_risk.decisions.scoring import LoadedModel
from credit_risk.errors import (
    NotFoundError,
    ReconciliationError,
    RescoreToleranceExceededError,
    TransientError,
    ValidationError,
    describe_failure,
)
from credit_risk.models.lean import LeanModel
from credit_risk.models.registry import Registry

PREFIX = "rescore"
PORTFOLIO_PREFIX = "portfolio/"
"""Objects landed under this prefix of the raw bucket are re-scored, not ingested."""
REFUSED_SHOWN = 20
REPORTED_REFUSALS = 10_000


# --------------------------------------------------------------------------- settings


class RunSettings(BaseModel):
    """How a run is cut and how much of it may fail (the template's parameters, given to
    the plan state through DefinitionSubstitutions, as text)."""

    model_config = ConfigDict(extra="forbid")

    chunk_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    max_concurrency: int = Field(default=40, ge=1, le=10_000)
    tolerated_failure_percentage: float = Field(default=5.0, ge=0, le=100)


class RescoreRequest(BaseModel):
    """The input of a re-score execution."""

    model_config = ConfigDict(extra="forbid")

    trigger: str = "manual"
    prefix: str | None = Field(default=None, description="s3://bucket/prefix of CSV/Parquet")
    model_version: str | None = Field(default=None, description="default: the champion")
    redrive_of: str | None = Field(default=None, description="a run whose missing chunks run")
    chunk_rows: int | None = Field(default=None, ge=1, le=1_000_000)


def _keys(run_id: str) -> dict[str, str]:
    base = f"{PREFIX}/{run_id}"
    return {
        "plan": f"{base}/plan.json",
        "manifest": f"{base}/manifest.json",
        "results": f"{base}/results/",
        "scores": f"{base}/scores/",
        "reconciliation": f"{base}/reconciliation.json",
    }


# --------------------------------------------------------------------------- plan


def _analytics_chunks(engine: Engine, contract: Contract, rows: int) -> list[dict[str, Any]]:
    """Id ranges of ``rows`` loans each over the whole book, from one ordered scan."""
    table = schema.features_table(contract, MetaData())
    ids = table.c.application_id
    numbered = select(ids, func.row_number().over(order_by=ids).label("n")).subquery()
    starts = (
        select(numbered.c.application_id)
        .where((numbered.c.n - 1) % rows == 0)
        .order_by(numbered.c.application_id)
    )
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        bounds = list(conn.execute(starts).scalars())
    chunks = []
    for i, first in enumerate(bounds):
        following = bounds[i + 1] if i + 1 < len(bounds) else None
        count = rows if following is not None else total - rows * (len(bounds) - 1)
        chunks.append({"kind": "analytics", "first_id": first, "next_id": following, "rows": count})
    return chunks


def _columns_and_rows(body: bytes, key: str) -> tuple[list[str], int]:
    """A landed file's header and number of data rows (Parquet: from its footer)."""
    if file_format(key) == "parquet":
        try:
            parquet = pq.ParquetFile(pa.BufferReader(body))
        except (pa.ArrowException, OSError):
            read_raw(body, key)  # raises FileUnreadableError with the reason
            raise
        return list(parquet.schema_arrow.names), int(parquet.metadata.num_rows)
    raw = read_raw(body, key)
    return list(raw.columns), len(raw)


def _object_chunks(
    store: ObjectStore, contract: Contract, uri: str, rows: int
) -> list[dict[str, Any]]:
    """Row ranges of the CSV/Parquet objects under ``uri`` (or of the one object it names),
    each object's version pinned."""
    bucket, prefix = parse_s3_uri(uri if uri.count("/") > 2 else uri + "/")
    found = [o for o in store.keys(bucket, prefix) if not o["Key"].endswith("/")]
    exact = [o for o in found if o["Key"] == prefix]
    if not found:
        raise NotFoundError(f"no objects under {uri}")
    chunks = []
    for obj in exact or found:
        key = obj["Key"]
        version = store.version_of(bucket, key)
        columns, total = _columns_and_rows(store.get(bucket, key, version), key)
        check_header(contract.applications, columns, "applications")
        for first in range(0, total, rows):
            chunks.append(
                {
                    "kind": "object",
                    "bucket": bucket,
                    "key": key,
                    "version_id": version,
                    "first_row": first,
                    "rows": min(rows, total - first),
                }
            )
    return chunks


def plan_run(
    *,
    engine: Engine,
    contract: Contract,
    store: ObjectStore,
    registry: Registry,
    bucket: str,
    run_id: str,
    request: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Write the manifest of a run's chunks; return what the Map and reconcile read."""
    req = RescoreRequest.model_validate(request)
    if req.redrive_of:
        return _plan_redrive(store, bucket, run_id, req.redrive_of)
    config = RunSettings.model_validate({k: v for k, v in settings.items() if v not in ("", None)})
    rows = req.chunk_rows or config.chunk_rows
    version = registry.get(req.model_version) if req.model_version else registry.require_champion()
    if req.prefix:
        chunks = _object_chunks(store, contract, req.prefix, rows)
    else:
        chunks = _analytics_chunks(engine, contract, rows)
    width = max(5, len(str(len(chunks))))
    items = [
        {
            "run_id": run_id,
            "chunk": f"{i:0{width}d}",
            "model_version": version.version,
            "source": chunk,
            "rows": chunk["rows"],
        }
        for i, chunk in enumerate(chunks)
    ]
    keys = _keys(run_id)
    store.put_json(bucket, keys["manifest"], items)
    plan = {
        "run_id": run_id,
        "trigger": req.trigger,
        "source": req.prefix or "analytics",
        "model_version": version.version,
        "chunks": len(items),
        "rows": sum(c["rows"] for c in chunks),
        "chunk_rows": rows,
        "max_concurrency": config.max_concurrency,
        "tolerated_failure_percentage": config.tolerated_failure_percentage,
        "manifest": {"bucket": bucket, "key": keys["manifest"]},
        "planned_at": datetime.now(UTC).isoformat(),
    }
    store.put_json(bucket, keys["plan"], plan)
    logger.info("re-score planned", extra={k: plan[k] for k in ("run_id", "chunks", "rows")})
    return plan


def read_plan(store: ObjectStore, bucket: str, run_id: str) -> dict[str, Any]:
    """The plan a run recorded; NotFoundError for a run that never planned."""
    plan: dict[str, Any] = json.loads(store.get(bucket, _keys(run_id)["plan"]))
    return plan


def _manifest(store: ObjectStore, bucket: str, run_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(store.get(bucket, _keys(run_id)["manifest"]))
    return items


def missing_chunks(store: ObjectStore, bucket: str, run_id: str) -> list[dict[str, Any]]:
    """The manifest items of a run that have no succeeded result."""
    done = {
        c for c, r in chunk_results(store, bucket, run_id).items() if r["status"] == "succeeded"
    }
    return [item for item in _manifest(store, bucket, run_id) if item["chunk"] not in done]


def _plan_redrive(store: ObjectStore, bucket: str, execution: str, run_id: str) -> dict[str, Any]:
    plan = read_plan(store, bucket, run_id)
    items = missing_chunks(store, bucket, run_id)
    key = f"{PREFIX}/{run_id}/redrives/{execution}.json"
    store.put_json(bucket, key, items)
    logger.info("re-score redrive planned", extra={"run_id": run_id, "chunks": len(items)})
    return {**plan, "redrive": execution, "manifest": {"bucket": bucket, "key": key}}


# --------------------------------------------------------------------------- score


class ChunkItem(BaseModel):
    """One item of the Map: a chunk of a run."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    chunk: str
    model_version: str
    source: dict[str, Any]
    rows: int


_models: dict[str, LoadedModel] = {}
_models_lock = threading.Lock()


def _load_model(registry: Registry, version: str) -> LoadedModel:
    """The run's pinned model version, hash-verified, loaded once per container."""
    with _models_lock:
        loaded = _models.get(version)
        if loaded is None:
            found = registry.get(version)
            body = registry.load_artifact(found)
            loaded = LoadedModel(found, LeanModel.from_bytes(body, threads=1))
            _models[version] = loaded
        return loaded


def _feature_schema(contract: Contract, policy: DecisionPolicy) -> pa.Schema:
    fields = [pa.field(ID, pa.string()), pa.field(KEY, pa.string())]
    fields += [pa.field(f, pa.float64()) for f in contract.numeric_features]
    fields += [pa.field(f, pa.string()) for f in contract.categorical_features]
    ead = policy.ead_feature
    if ead is not None and ead not in contract.features:
        fields.append(pa.field(ead, pa.float64()))
    return pa.schema(fields)


def _read_analytics(
    engine: Engine, contract: Contract, policy: DecisionPolicy, source: dict[str, Any]
) -> pa.Table:
    table = schema.features_table(contract, MetaData())
    arrow_schema = _feature_schema(contract, policy)
    ids = table.c.application_id
    where = ids >= source["first_id"]
    if source.get("next_id") is not None:
        where = and_(where, ids < source["next_id"])
    query = select(*(table.c[n] for n in arrow_schema.names)).where(where).order_by(ids)
    with engine.connect() as conn:
        return read_arrow(conn, query, arrow_schema)


def _read_object(
    store: ObjectStore,
    contract: Contract,
    policy: DecisionPolicy,
    source: dict[str, Any],
    pseudonym_key: Callable[[], bytes],
) -> tuple[pa.Table, pa.Table]:
    """A row range of a landed file as feature columns, and the rows the contract refuses."""
    body = store.get(source["bucket"], source["key"], source.get("version_id"))
    raw = read_raw(body, source["key"])
    first = int(source["first_row"])
    part = raw.iloc[first : first + int(source["rows"])]
    spec = contract.applications
    check_header(spec, list(part.columns), "applications")
    validated = validate_frame(
        spec, part[[c for c in part.columns if c in spec.columns]], first_row_number=first + 1
    )
    reasons: dict[int, list[str]] = {}
    for violation in validated.violations:
        reasons.setdefault(violation.row_number, []).append(f"{violation.column}: {violation.rule}")
    bad = sorted(reasons)
    raw_ids = [None if pd.isna(v) else str(v) for v in part[spec.id].tolist()]
    refused = pa.table(
        {
            ID: pa.array([raw_ids[r - first - 1] for r in bad], pa.string()),
            "row_number": pa.array(bad, pa.int64()),
            "reason": pa.array(["; ".join(reasons[r]) for r in bad], pa.string()),
        }
    )
    good = validated.good
    features = build_features(contract, good)
    columns: dict[str, Any] = {
        ID: good[spec.id].astype(str).to_numpy(dtype=object),
        KEY: pseudonymise(good[spec.customer_key or spec.id], pseudonym_key()).to_numpy(),
        "row_number": good["_row_number"].to_numpy(),
    }
    for name in contract.features:
        columns[name] = features[name].to_numpy()
    ead = policy.ead_feature
    if ead is not None and ead not in columns:
        columns[ead] = good[ead].astype("float64").to_numpy()
    arrow_schema = _feature_schema(contract, policy).append(pa.field("row_number", pa.int64()))
    table = pa.table(
        {f.name: pa.array(columns[f.name], type=f.type, from_pandas=True) for f in arrow_schema}
    )
    return table, refused


def _replace_scores(engine: Engine, item: ChunkItem, scored: pa.Table, scored_at: datetime) -> None:
    """The chunk's re-score rows for its model version, replaced in one transaction."""
    scores = schema.scores
    rows = scored.select(list(SCORE_COLUMNS))
    rows = rows.append_column("source", pa.repeat(pa.scalar(schema.RESCORE_SOURCE), rows.num_rows))
    rows = rows.append_column(
        "scored_at", pa.repeat(pa.scalar(scored_at, pa.timestamp("us", tz="UTC")), rows.num_rows)
    )
    mine = and_(
        scores.c.source == schema.RESCORE_SOURCE, scores.c.model_version == item.model_version
    )
    source = item.source
    try:
        with engine.begin() as conn:
            if source["kind"] == "analytics":
                where = and_(mine, scores.c.application_id >= source["first_id"])
                if source.get("next_id") is not None:
                    where = and_(where, scores.c.application_id < source["next_id"])
                conn.execute(delete(scores).where(where))
            else:
                for part in in_chunks(rows[ID].to_pylist()):
                    conn.execute(delete(scores).where(mine, scores.c.application_id.in_(part)))
            load_arrow(conn, scores, rows)
    except (IntegrityError, OperationalError) as exc:
        # A concurrent attempt of the same rows committed first, or the connection
        # dropped: nothing of this attempt is kept, and a retry replaces the rows again.
        raise TransientError(
            f"chunk {item.chunk}: database write did not complete "
            f"({type(exc.orig).__name__ if exc.orig else type(exc).__name__}); retry"
        ) from exc


class _Stopwatch:
    """Seconds spent in each part of a chunk (read, decide, S3, database)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 4)
        self._last = now


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def score_chunk(
    *,
    engine: Engine,
    contract: Contract,
    store: ObjectStore,
    registry: Registry,
    policy: DecisionPolicy,
    bucket: str,
    event: dict[str, Any],
    pseudonym_key: Callable[[], bytes],
) -> dict[str, Any]:
    """Score one chunk (a Map item) into S3 and ``ml.scores``; write its result object."""
    item = ChunkItem.model_validate(event)
    keys = _keys(item.run_id)
    result_key = f"{keys['results']}{item.chunk}.json"
    started = time.perf_counter()
    clock = _Stopwatch()
    try:
        loaded = _load_model(registry, item.model_version)
        source = item.source
        if source["kind"] == "analytics":
            table, early = _read_analytics(engine, contract, policy, source), None
        else:
            table, early = _read_object(store, contract, policy, source, pseudonym_key)
        clock.lap("read")
        decided = ColumnarScorer(loaded, contract, policy).decide(table)
        refused = decided.refused
        if early is not None and early.num_rows:
            refused = pa.concat_tables([early, refused.cast(early.schema)])
        clock.lap("decide")
        scored_at = datetime.now(UTC)
        scores_uri = store.put(
            bucket, f"{keys['scores']}{item.chunk}.parquet", _parquet(decided.scored)
        )
        clock.lap("s3")
        _replace_scores(engine, item, decided.scored, scored_at)
        clock.lap("database")
        result = _result(item, decided, refused, scores_uri, time.perf_counter() - started)
        result["timings"] = clock.laps
    except Exception as exc:
        _record_failure(store, bucket, result_key, item, exc)
        raise
    store.put_json(bucket, result_key, result)
    logger.info(
        "chunk scored",
        extra={k: result[k] for k in ("run_id", "chunk", "rows_in", "scored", "refused")},
    )
    return {k: result[k] for k in ("chunk", "rows_in", "scored", "refused", "seconds")}


def _result(
    item: ChunkItem,
    decided: ChunkDecisions,
    refused: pa.Table,
    scores_uri: str,
    seconds: float,
) -> dict[str, Any]:
    scored = decided.scored.num_rows
    decisions = pc.value_counts(decided.scored["decision"]).to_pylist() if scored else []
    return {
        "run_id": item.run_id,
        "chunk": item.chunk,
        "status": "succeeded",
        "model_version": item.model_version,
        "rows_planned": item.rows,
        "rows_in": scored + refused.num_rows,
        "scored": scored,
        "refused": refused.num_rows,
        "refused_rows": refused.to_pylist(),
        "refused_reasons": summarise_reasons(refused),
        "decisions": {d["values"]: d["counts"] for d in decisions},
        "scores_uri": scores_uri,
        "seconds": round(seconds, 4),
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _record_failure(
    store: ObjectStore, bucket: str, key: str, item: ChunkItem, exc: BaseException
) -> None:
    """Leave the attempt's error and cause where ops and reconcile look (best effort)."""
    record = {"run_id": item.run_id, "chunk": item.chunk, "status": "failed"}
    try:
        store.put_json(
            bucket,
            key,
            {**record, **describe_failure(exc), "failed_at": datetime.now(UTC).isoformat()},
        )
    except Exception as other:  # the original error is what matters; never mask it
        logger.warning("cannot record chunk failure", extra={"error": type(other).__name__})


# --------------------------------------------------------------------------- reconcile


def chunk_results(store: ObjectStore, bucket: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Every result object of a run, by chunk (read in parallel)."""
    prefix = _keys(run_id)["results"]
    keys = [o["Key"] for o in store.keys(bucket, prefix) if o["Key"].endswith(".json")]

    def read(key: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(store.get(bucket, key))
        return found

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(read, keys))
    return {r["chunk"]: r for r in results}


@dataclass
class Reconciliation:
    """A run's accounts: what went in, what was scored and refused, what failed."""

    run_id: str
    chunks: int
    rows_planned: int
    rows_in: int
    rows_scored: int
    rows_refused: int
    rows_unscored: int
    failed: list[dict[str, Any]]
    mismatches: list[str]
    over_tolerance: list[str]
    refused_reasons: dict[str, int]
    refused_rows: list[dict[str, Any]]
    tolerance: float
    status: Literal["reconciled", "mismatch", "over_tolerance"]

    def summary(self) -> dict[str, Any]:
        """The execution's output: counts, failures and a sample of refused rows."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "chunks": self.chunks,
            "chunks_failed": len(self.failed),
            "rows_planned": self.rows_planned,
            "rows_in": self.rows_in,
            "rows_scored": self.rows_scored,
            "rows_refused": self.rows_refused,
            "rows_unscored": self.rows_unscored,
            "tolerated_failure_percentage": self.tolerance,
            "failed": self.failed[:REFUSED_SHOWN],
            "refused_reasons": self.refused_reasons,
            "refused_rows": self.refused_rows[:REFUSED_SHOWN],
        }


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def reconcile(
    plan: dict[str, Any], manifest: list[dict[str, Any]], results: dict[str, dict[str, Any]]
) -> Reconciliation:
    """Check a run's result objects against its manifest (pure; see :func:`reconcile_run`)."""
    tolerance = float(plan["tolerated_failure_percentage"])
    mismatches, over, failed = [], [], []
    rows_in = scored = refused = unscored = 0
    reasons: dict[str, int] = {}
    refused_rows: list[dict[str, Any]] = []
    for item in manifest:
        chunk = item["chunk"]
        result = results.get(chunk)
        if result is None or result["status"] != "succeeded":
            unscored += item["rows"]
            failed.append(
                {
                    "chunk": chunk,
                    "rows": item["rows"],
                    "error": (result or {}).get("error", "NoResult"),
                    "cause": (result or {}).get("cause", "the chunk wrote no result"),
                }
            )
            continue
        rows_in += result["rows_in"]
        scored += result["scored"]
        refused += result["refused"]
        if result["rows_in"] != result["scored"] + result["refused"]:
            mismatches.append(
                f"chunk {chunk}: {result['rows_in']} rows in but {result['scored']} scored "
                f"+ {result['refused']} refused"
            )
        if item["source"]["kind"] == "object" and result["rows_in"] != item["rows"]:
            mismatches.append(
                f"chunk {chunk}: read {result['rows_in']} rows of a pinned object version, "
                f"the manifest counted {item['rows']}"
            )
        for reason, count in result.get("refused_reasons", {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
        refused_rows += [{"chunk": chunk, **row} for row in result.get("refused_rows", [])]
        share = _percent(result["refused"], result["rows_in"])
        if share > tolerance:
            over.append(
                f"chunk {chunk} refused {result['refused']} of {result['rows_in']} rows "
                f"({share:.1f}%)"
            )
    failed_share = _percent(len(failed), len(manifest))
    if failed_share > tolerance:
        over.insert(
            0,
            f"{len(failed)} of {len(manifest)} chunks have no result ({failed_share:.1f}%): "
            + ", ".join(f"{f['chunk']} ({f['error']})" for f in failed[:5]),
        )
    planned = sum(item["rows"] for item in manifest)
    status: Literal["reconciled", "mismatch", "over_tolerance"] = (
        "mismatch" if mismatches else "over_tolerance" if over else "reconciled"
    )
    return Reconciliation(
        run_id=plan["run_id"],
        chunks=len(manifest),
        rows_planned=planned,
        rows_in=rows_in + unscored,
        rows_scored=scored,
        rows_refused=refused,
        rows_unscored=unscored,
        failed=failed,
        mismatches=mismatches,
        over_tolerance=over,
        refused_reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        refused_rows=refused_rows,
        tolerance=tolerance,
        status=status,
    )


def reconcile_run(*, store: ObjectStore, bucket: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Reconcile a run from its own result objects; raise by name when it does not add up
    (:class:`ReconciliationError`) or failed beyond its tolerance
    (:class:`RescoreToleranceExceededError`). The full report goes to S3 either way."""
    run_id = plan["run_id"]
    recorded = read_plan(store, bucket, run_id)
    report = reconcile(
        recorded, _manifest(store, bucket, run_id), chunk_results(store, bucket, run_id)
    )
    key = _keys(run_id)["reconciliation"]
    store.put_json(
        bucket,
        key,
        {
            **report.summary(),
            "failed": report.failed,
            # every refused row is also in its chunk's result object
            "refused_rows": report.refused_rows[:REPORTED_REFUSALS],
            "mismatches": report.mismatches,
            "over_tolerance": report.over_tolerance,
            "reconciled_at": datetime.now(UTC).isoformat(),
        },
    )
    where = f"(report: {s3_uri(bucket, key)})"
    if report.mismatches:
        raise ReconciliationError(
            f"re-score {run_id} does not add up: {'; '.join(report.mismatches[:5])} {where}"
        )
    if report.over_tolerance:
        raise RescoreToleranceExceededError(
            f"re-score {run_id} failed beyond the tolerated {report.tolerance:g}%: "
            f"{'; '.join(report.over_tolerance[:5])} {where}"
        )
    logger.info("re-score reconciled", extra=report.summary())
    return {**report.summary(), "report_uri": s3_uri(bucket, key)}


# --------------------------------------------------------------------------- start


def run_name(trigger: str, detail: str | None = None) -> str:
    """An execution name: ``rescore-<trigger>-<detail>`` (derived from what started it,
    so the same promotion or upload cannot start two runs), else time-stamped."""
    if detail is None:
        detail = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"rescore-{trigger}-{detail}")
    return safe[:80]


def redrive_name(run_id: str, attempt: int) -> str:
    """The name of the ``attempt``-th local redrive of a run."""
    suffix = f"-redrive-{attempt}"
    return run_id[: 80 - len(suffix)] + suffix


def portfolio_run(
    *,
    workflows: Workflows,
    state_machine_arn: str | None,
    bucket: str,
    key: str,
    etag: str,
) -> dict[str, Any]:
    """Start the re-score of a file landed under ``portfolio/`` (one run per object)."""
    if not state_machine_arn:
        raise ValidationError("no re-score state machine is configured for portfolio files")
    digest = hashlib.sha256(f"{bucket}/{key}/{etag}".encode()).hexdigest()[:24]
    name = run_name("portfolio", digest)
    arn = workflows.start(
        state_machine_arn, name, {"trigger": "portfolio", "prefix": s3_uri(bucket, key)}
    )
    logger.info("portfolio re-score started", extra={"execution": name})
    return {"key": key, "status": "rescore", "execution_arn": arn, "execution": name}
