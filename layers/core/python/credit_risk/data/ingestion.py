"""Ingestion: a landed S3 object becomes validated rows in staging, exactly once.

The object is streamed to a temporary file (hashed on the way) and read from there a part
at a time, so memory stays bounded whatever its size. It is recorded by bucket/key/ETag (a
repeated S3 event) and by sha256 (the same bytes under a new key), so neither loads
anything twice. Good rows, the object's ledger row and the quarantine rows are written in
one transaction; a file that cannot be read at all (even if that shows only part-way) is
copied to the quarantine prefix and recorded as rejected, and the pipeline execution
still starts so the failure is visible where operators look.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, MetaData, insert, select, update
from sqlalchemy.exc import IntegrityError

from credit_risk.adapters.aws import Downloaded, ObjectStore, Workflows
from credit_risk.adapters.observability import logger
from credit_risk.contract import DATASETS, Contract
from credit_risk.data.reading import (
    MAX_UNCOMPRESSED_BYTES,
    PART_ROWS,
    file_format,
    kept_bytes,
    read_raw_parts,
    too_large,
)
from credit_risk.data.validation import Violation, check_header, validate_frame
from credit_risk.db import schema
from credit_risk.db.bulk import load_frame
from credit_risk.errors import CreditRiskError, FileUnreadableError, UnknownDatasetError

QUARANTINE_PREFIX = "quarantine"
REWRITTEN_FROM_ETAG = "erasure-rewrite-of-etag"
"""User metadata an erasure puts on an object it rewrote: the ETag of the version it
replaced (for people reading the bucket; ingest relies on :func:`rewrite_marker`)."""
UNKNOWN_DATASET = "unknown"
"""``staging.objects.dataset`` of an object whose key names no dataset (it is rejected)."""


@dataclass(frozen=True)
class LandedObject:
    """What an S3 event says about one object."""

    bucket: str
    key: str
    etag: str
    version_id: str | None = None
    size: int | None = None


@dataclass
class IngestResult:
    """What ingestion did with one object."""

    batch_id: str
    dataset: str
    status: str  # loaded | rejected | duplicate
    rows_total: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    error_name: str | None = None
    execution_arn: str | None = None
    ignored_columns: list[str] = field(default_factory=list)  # in the file, not the contract

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, the pipeline execution's input."""
        return asdict(self)


def dataset_of(key: str) -> str:
    """The dataset a key names by its first path segment (``applications/…``)."""
    first = key.split("/", 1)[0]
    if first not in DATASETS or "/" not in key:
        hint = " (prefixes are lower case)" if first.lower() in DATASETS else ""
        raise UnknownDatasetError(
            f"'{key}' is not under a dataset prefix{hint}; "
            f"upload to {' or '.join(d + '/' for d in DATASETS)}"
        )
    return first


def is_own_output(key: str) -> bool:
    """True for the quarantine copies ingestion itself writes to the raw bucket."""
    return key.startswith(f"{QUARANTINE_PREFIX}/")


def rewrite_marker(bucket: str, key: str, sha256: str) -> LandedObject:
    """The ``staging.object_keys`` entry an erasure records before it rewrites an object
    without a customer's rows: the key with its new bytes' hash in place of the ETag
    (not known before the write), pointing at the batch that loaded the other rows. The
    rewrite's S3 event then reaches ingest, which finds it and loads nothing again."""
    return LandedObject(bucket=bucket, key=key, etag=f"sha256:{sha256}")


def batch_id_for(dataset: str, sha256: str) -> str:
    """The batch id, and so the pipeline execution name, for a file's bytes."""
    return f"{dataset}-{sha256[:24]}"


def _batch_of_object(engine: Engine, obj: LandedObject) -> Any:
    """The ledger row of the batch this very object (bucket, key, ETag) loaded, or None."""
    keys, objects = schema.object_keys, schema.objects
    query = select(objects).join(keys, keys.c.batch_id == objects.c.batch_id)
    query = query.where(keys.c.bucket == obj.bucket, keys.c.key == obj.key, keys.c.etag == obj.etag)
    with engine.connect() as conn:
        return conn.execute(query).mappings().first()


def _batch_of_bytes(engine: Engine, dataset: str, sha: str) -> Any:
    """The ledger row of the batch that loaded these bytes into ``dataset``, or None."""
    objects = schema.objects
    query = select(objects).where(objects.c.dataset == dataset, objects.c.sha256 == sha)
    with engine.connect() as conn:
        return conn.execute(query).mappings().first()


def record_rewrite(engine: Engine, bucket: str, key: str, replaced_etag: str, sha256: str) -> bool:
    """Before an erasure rewrites ``key``: record its new bytes (:func:`rewrite_marker`)
    under the batch the replaced version (``replaced_etag``) loaded. False, and nothing
    recorded, when that version was never loaded: then the rewrite is new data."""
    replaced = _batch_of_object(engine, LandedObject(bucket, key, replaced_etag))
    if replaced is None:
        return False
    marker = rewrite_marker(bucket, key, sha256)
    if _batch_of_object(engine, marker) is not None:
        return True
    with engine.begin() as conn:
        conn.execute(
            insert(schema.object_keys).values(
                bucket=bucket,
                key=key,
                etag=marker.etag,
                batch_id=replaced["batch_id"],
                seen_at=datetime.now(UTC),
            )
        )
    return True


def _result_from_row(row: Any) -> IngestResult:
    unknown = row["dataset"] == UNKNOWN_DATASET
    return IngestResult(
        batch_id=row["batch_id"],
        dataset=row["dataset"],
        status="duplicate",
        rows_total=row["rows_total"],
        rows_loaded=row["rows_loaded"],
        rows_quarantined=row["rows_quarantined"],
        error=row["error"],
        error_name=None
        if row["error"] is None
        else (UnknownDatasetError if unknown else FileUnreadableError).__name__,
        execution_arn=row["execution_arn"],
    )


# What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_text(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as text whose cells and column names a spreadsheet shows rather than runs:
    any that starts like a formula (= + - @, tab, carriage return) gets a leading quote."""
    safe = {}
    for name in frame.columns:
        text = frame[name].astype("string")
        risky = text.str[:1].isin(_FORMULA_STARTS).fillna(False)
        safe[_spreadsheet_text(str(name))] = text.mask(risky, "'" + text)
    return pd.DataFrame(safe, index=frame.index)


_SPOOL_BYTES = 8 * 1024 * 1024


def _customer_of_rows(
    raw: pd.DataFrame, column: str | None, first_row_number: int = 1
) -> Callable[[int], str | None]:
    """The raw customer key of a file's row by its 1-based number, for the part ``raw``
    that starts at ``first_row_number`` (None when blank or the dataset has no customer
    key): quarantine records it so GDPR access finds the row."""
    if column is None or column not in raw.columns:
        return lambda _row: None
    values = raw[column].tolist()

    def customer(row_number: int) -> str | None:
        value = values[row_number - first_row_number]
        if value is None or pd.isna(value):
            return None
        text = str(value).strip()
        return text or None

    return customer


def _reasons(
    batch_id: str,
    key: str,
    violations: list[Violation],
    customers: Callable[[int], str | None],
) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "batch_id": batch_id,
                "key": key,
                "row_number": v.row_number,
                "column_name": v.column,
                "value": v.value,
                "rule": v.rule,
                "customer_id": customers(v.row_number),
                "reason": f"{v.column}: {v.rule}",
            }
            for v in violations
        ]
    )


def _quarantine_rows_csv(
    raw: pd.DataFrame,
    bad_rows: list[int],
    reasons: pd.DataFrame,
    *,
    first_row_number: int = 1,
    header: bool = True,
) -> bytes:
    rows = raw.iloc[[r - first_row_number for r in bad_rows]].copy()
    rows.insert(0, "_row_number", bad_rows)
    summary = reasons.groupby("row_number")["reason"].agg("; ".join)
    rows.insert(1, "_reasons", summary.reindex(bad_rows).to_numpy())
    buffer = io.StringIO()
    spreadsheet_safe(rows).to_csv(buffer, index=False, header=header)
    return buffer.getvalue().encode()


class Ingestor:
    """Loads landed objects into staging; adapters are given, not created."""

    def __init__(
        self,
        *,
        engine: Engine,
        contract: Contract,
        store: ObjectStore,
        workflows: Workflows | None = None,
        pipeline_arn: str | None = None,
        max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
        part_rows: int = PART_ROWS,
    ) -> None:
        self.engine = engine
        self.part_rows = part_rows
        self.max_uncompressed_bytes = max_uncompressed_bytes
        self.contract = contract
        self.store = store
        self.workflows = workflows
        self.pipeline_arn = pipeline_arn
        self._meta = MetaData()
        self._tables = {d: schema.staging_table(contract, d, self._meta) for d in DATASETS}

    def ingest(self, obj: LandedObject) -> IngestResult:
        """Validate and load one object; start its pipeline run unless one exists.

        An object whose key names no dataset is recorded as rejected (with the reason),
        kept in quarantine and alerted through its pipeline run like an unreadable file.
        """
        unrouted: UnknownDatasetError | None = None
        try:
            dataset = dataset_of(obj.key)
        except UnknownDatasetError as exc:
            unrouted, dataset = exc, UNKNOWN_DATASET
        existing = _batch_of_object(self.engine, obj)
        if existing is not None:
            logger.info("object already ingested", extra={"batch_id": existing["batch_id"]})
            return self._ensure_started(_result_from_row(existing))
        # Streamed to a temporary file (hashed and counted on the way), read from there a
        # part at a time: memory stays bounded whatever the object's size.
        with self.store.download(
            obj.bucket,
            obj.key,
            obj.version_id,
            keep_at_most=kept_bytes(self.max_uncompressed_bytes),
        ) as landed:
            return self._ingest_landed(obj, dataset, unrouted, landed)

    def _ingest_landed(
        self,
        obj: LandedObject,
        dataset: str,
        unrouted: UnknownDatasetError | None,
        landed: Downloaded,
    ) -> IngestResult:
        sha = landed.sha256
        rewritten = _batch_of_object(self.engine, rewrite_marker(obj.bucket, obj.key, sha))
        if rewritten is not None:
            logger.info(
                "object rewritten by an erasure; its batch is already loaded",
                extra={"batch_id": rewritten["batch_id"]},
            )
            self._remember_key(obj, rewritten["batch_id"])
            return self._ensure_started(_result_from_row(rewritten))
        existing = _batch_of_bytes(self.engine, dataset, sha)
        if existing is not None:
            logger.info("same bytes already ingested", extra={"batch_id": existing["batch_id"]})
            self._remember_key(obj, existing["batch_id"])
            return self._ensure_started(_result_from_row(existing))
        batch_id = batch_id_for(dataset, sha)
        try:
            if unrouted is not None:
                ledger = self._ledger(obj, dataset, batch_id, landed)
                result = self._reject(obj, ledger, unrouted)
            else:
                result = self._load(obj, dataset, batch_id, landed)
        except IntegrityError:
            # A concurrent delivery of the same event won the race; nothing to do twice.
            existing = _batch_of_bytes(self.engine, dataset, sha)
            return self._ensure_started(_result_from_row(existing))
        return self._ensure_started(result)

    def _load(
        self, obj: LandedObject, dataset: str, batch_id: str, landed: Downloaded
    ) -> IngestResult:
        spec = self.contract.dataset(dataset)
        if not landed.complete:  # longer than any file under the limit: not kept on disk
            try:
                file_format(obj.key)  # an unsupported type is the first thing to say
                refusal = too_large(self.max_uncompressed_bytes)
            except FileUnreadableError as exc:
                refusal = exc
            return self._reject(obj, self._ledger(obj, dataset, batch_id, landed), refusal)
        parts = read_raw_parts(
            landed.path, obj.key, max_bytes=self.max_uncompressed_bytes, rows=self.part_rows
        )
        try:
            first = next(parts)
            ignored = check_header(spec, list(first.columns), dataset)
        except FileUnreadableError as exc:
            return self._reject(obj, self._ledger(obj, dataset, batch_id, landed), exc)
        columns = [c for c in first.columns if c not in ignored]
        if ignored:  # column names only: a header carries no personal values
            logger.warning(
                "file columns not in the contract are ignored",
                extra={"batch_id": batch_id, "ignored_columns": [str(c) for c in ignored]},
            )
        try:
            every_part = itertools.chain([first], parts)
            del first  # the chain holds the first part only until it is loaded
            counts = self._load_parts(obj, dataset, batch_id, landed, every_part, columns)
        except FileUnreadableError as exc:
            # A row the reader refused part-way: the transaction holding the earlier parts
            # rolled back, so the file is rejected whole, as if refused at its first line.
            return self._reject(obj, self._ledger(obj, dataset, batch_id, landed), exc)
        logger.info(
            "file loaded",
            extra={
                "batch_id": batch_id,
                "rows": counts["rows_total"],
                "quarantined": counts["rows_quarantined"],
            },
        )
        return IngestResult(
            batch_id=batch_id,
            dataset=dataset,
            status="loaded",
            rows_total=counts["rows_total"],
            rows_loaded=counts["rows_loaded"],
            rows_quarantined=counts["rows_quarantined"],
            ignored_columns=[str(c) for c in ignored],
        )

    def _load_parts(
        self,
        obj: LandedObject,
        dataset: str,
        batch_id: str,
        landed: Downloaded,
        parts: Iterator[pd.DataFrame],
        columns: list[str],
    ) -> dict[str, int]:
        """Validate and load every part in one transaction; return the row counts.

        The per-cell work and the rows sent to the database stay bounded by a part; the
        ledger row is written first and its counts set at the end, and an error from any
        part (a FileUnreadableError from the reader) rolls back everything."""
        spec = self.contract.dataset(dataset)
        ledger = self._ledger(obj, dataset, batch_id, landed)
        ledger.update(status="loaded", rows_total=0, rows_loaded=0, rows_quarantined=0)
        seen: dict[str, list[np.ndarray]] = {}
        with (
            tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as bad_rows,
            self.engine.begin() as conn,
        ):
            conn.execute(insert(schema.objects).values(**ledger))
            conn.execute(insert(schema.object_keys).values(**self._key_row(obj, batch_id)))
            for part in parts:
                start = ledger["rows_total"] + 1
                validated = validate_frame(spec, part[columns], first_row_number=start, seen=seen)
                good = validated.good
                good.insert(0, "_batch_id", batch_id)
                customers = _customer_of_rows(part, spec.customer_key, start)
                reasons = _reasons(batch_id, obj.key, validated.violations, customers)
                if validated.bad_row_numbers:
                    bad_rows.write(
                        _quarantine_rows_csv(
                            part,
                            validated.bad_row_numbers,
                            reasons,
                            first_row_number=start,
                            header=ledger["rows_quarantined"] == 0,
                        )
                    )
                    conn.execute(
                        insert(schema.quarantine),
                        reasons.drop(columns=["reason"]).to_dict("records"),
                    )
                load_frame(conn, self._tables[dataset], good)
                ledger["rows_total"] += len(part)
                ledger["rows_loaded"] += len(good)
                ledger["rows_quarantined"] += len(validated.bad_row_numbers)
                del part, validated, good, reasons
            if not ledger["rows_total"]:  # the reader says so first; kept as a guard
                raise FileUnreadableError("file has a header but no data rows")
            counts = {k: ledger[k] for k in ("rows_total", "rows_loaded", "rows_quarantined")}
            conn.execute(
                update(schema.objects).where(schema.objects.c.batch_id == batch_id).values(**counts)
            )
            if ledger["rows_quarantined"]:
                bad_rows.seek(0)
                self.store.put_stream(
                    obj.bucket, f"{QUARANTINE_PREFIX}/{dataset}/{batch_id}/rows.csv", bad_rows
                )
        return counts

    @staticmethod
    def _ledger(
        obj: LandedObject, dataset: str, batch_id: str, landed: Downloaded
    ) -> dict[str, Any]:
        return {
            "batch_id": batch_id,
            "dataset": dataset,
            "bucket": obj.bucket,
            "key": obj.key,
            "etag": obj.etag,
            "version_id": obj.version_id,
            "sha256": landed.sha256,
            "size_bytes": landed.size,
            "received_at": datetime.now(UTC),
        }

    def _reject(
        self, obj: LandedObject, ledger: dict[str, Any], exc: CreditRiskError
    ) -> IngestResult:
        name = PurePosixPath(obj.key).name or "object"
        dest = f"{QUARANTINE_PREFIX}/{ledger['dataset']}/{ledger['batch_id']}/{name}"
        self.store.copy(obj.bucket, obj.key, obj.bucket, dest)
        ledger.update(status="rejected", error=exc.message)
        with self.engine.begin() as conn:
            conn.execute(insert(schema.objects).values(**ledger))
            conn.execute(
                insert(schema.object_keys).values(**self._key_row(obj, ledger["batch_id"]))
            )
        logger.warning(
            "file rejected", extra={"batch_id": ledger["batch_id"], "reason": exc.message}
        )
        return IngestResult(
            batch_id=ledger["batch_id"],
            dataset=ledger["dataset"],
            status="rejected",
            error=exc.message,
            error_name=exc.name,
        )

    @staticmethod
    def _key_row(obj: LandedObject, batch_id: str) -> dict[str, Any]:
        return {
            "bucket": obj.bucket,
            "key": obj.key,
            "etag": obj.etag,
            "batch_id": batch_id,
            "seen_at": datetime.now(UTC),
        }

    def _remember_key(self, obj: LandedObject, batch_id: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(schema.object_keys).values(**self._key_row(obj, batch_id)))
        except IntegrityError:
            pass  # another delivery recorded it first

    def _ensure_started(self, result: IngestResult) -> IngestResult:
        if result.execution_arn or self.workflows is None or self.pipeline_arn is None:
            return result
        payload = result.to_dict()
        payload["status"] = "rejected" if result.error else "loaded"
        payload["error_name"] = payload["error_name"] or (
            FileUnreadableError.__name__ if result.error else None
        )
        arn = self.workflows.start(self.pipeline_arn, result.batch_id, payload)
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.objects)
                .where(schema.objects.c.batch_id == result.batch_id)
                .values(execution_arn=arn)
            )
        result.execution_arn = arn
        return result
