"""The quality gate service: run the checks on a batch, store the report, stop on failure.

The report is written to the database (``analytics.quality_reports``) and to S3 as JSON
before the verdict, so a failed gate always leaves a readable report behind; the error
raised names its location.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, MetaData, delete, insert, select

from credit_risk.adapters.aws import ObjectStore, parse_s3_uri
from credit_risk.adapters.observability import logger
from credit_risk.contract import Contract
from credit_risk.data.quality import QualityConfig, QualityReport, run_checks
from credit_risk.db import schema
from credit_risk.db.batched import rows_in
from credit_risk.db.bulk import read_frame
from credit_risk.errors import NotFoundError, QualityGateFailedError

REFERENCE_ROWS = 20_000


class QualityGate:
    """Checks batches and training snapshots; adapters are given."""

    def __init__(
        self,
        *,
        engine: Engine,
        contract: Contract,
        store: ObjectStore,
        artifacts_bucket: str,
        config: QualityConfig | None = None,
    ) -> None:
        self.engine = engine
        self.contract = contract
        self.store = store
        self.bucket = artifacts_bucket
        self.config = config
        meta = MetaData()
        self.features = schema.features_table(contract, meta)
        self.outcomes = schema.staging_table(contract, "outcomes", meta)

    def check_batch(self, batch_id: str, dataset: str) -> dict[str, Any]:
        """Check one batch; raise QualityGateFailedError when a critical check fails."""
        if dataset == "applications":
            frame, reference = self._applications(batch_id)
            report = run_checks(
                self.contract, dataset, frame, config=self.config, reference=reference
            )
        else:
            frame, known = self._outcomes(batch_id)
            report = run_checks(self.contract, dataset, frame, config=self.config, known_ids=known)
        uri = self._store(batch_id, dataset, report)
        return self._verdict(batch_id, report, uri)

    def check_snapshot(self, snapshot_uri: str, run_id: str) -> dict[str, Any]:
        """Check a training snapshot (labels, rows, features) before any model sees it."""
        bucket, key = parse_s3_uri(snapshot_uri)
        frame = pd.read_parquet(io.BytesIO(self.store.get(bucket, key)))
        spec = self.contract.outcomes
        outcomes_like = frame.rename(columns={"application_id": spec.id, "target": spec.target})
        report = run_checks(
            self.contract,
            "applications",
            frame.rename(columns={"application_id": self.contract.applications.id}).drop(
                columns=["target", "event_date", "customer_key"], errors="ignore"
            ),
            config=self.config,
        )
        label_report = run_checks(self.contract, "outcomes", outcomes_like, config=self.config)
        report.results.extend(
            r for r in label_report.results if r.kind in ("label_rate", "min_rows")
        )
        uri = self._store(f"training-{run_id}", "snapshot", report)
        return self._verdict(f"training-{run_id}", report, uri)

    def _verdict(self, batch_id: str, report: QualityReport, uri: str) -> dict[str, Any]:
        if not report.passed:
            logger.warning("quality gate failed", extra={"batch_id": batch_id, "report": uri})
            raise QualityGateFailedError(f"{report.summary()} Report: {uri}", report_uri=uri)
        return {
            "passed": True,
            "summary": report.summary(),
            "warnings": [r.brief() for r in report.warnings],
            "report_uri": uri,
        }

    def _applications(self, batch_id: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        table = self.features
        cols = [table.c.application_id] + [table.c[f] for f in self.contract.features]
        with self.engine.connect() as conn:
            frame = read_frame(conn, select(*cols).where(table.c._batch_id == batch_id))
            passed = select(schema.quality_reports.c.batch_id).where(
                schema.quality_reports.c.passed.is_(True),
                schema.quality_reports.c.dataset == "applications",
            )
            reference = read_frame(
                conn,
                select(*cols)
                .where(table.c._batch_id.in_(passed), table.c._batch_id != batch_id)
                .limit(REFERENCE_ROWS),
            )
        if frame.empty:
            raise NotFoundError(f"analytics holds no features for batch {batch_id}")
        rename = {"application_id": self.contract.applications.id}
        for name in self.contract.numeric_features:
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
            reference[name] = pd.to_numeric(reference[name]).astype("float64")
        return frame.rename(columns=rename), (
            reference.rename(columns=rename) if len(reference) else None
        )

    def _outcomes(self, batch_id: str) -> tuple[pd.DataFrame, set[str]]:
        spec = self.contract.outcomes
        table = self.outcomes
        with self.engine.connect() as conn:
            frame = read_frame(
                conn,
                select(*[table.c[c] for c in spec.columns]).where(table.c._batch_id == batch_id),
            )
            ids = frame[spec.id].astype(str).tolist() if not frame.empty else []
            key = self.features.c.application_id
            known = {row[0] for row in rows_in(conn, [key], key, ids)}
        if frame.empty:
            raise NotFoundError(f"staging holds no outcomes for batch {batch_id}")
        for name, col in spec.columns.items():
            if col.type == "date":
                frame[name] = pd.to_datetime(frame[name])
            elif col.type in ("integer", "float"):
                frame[name] = pd.to_numeric(frame[name])
        return frame, known

    def _store(self, batch_id: str, dataset: str, report: QualityReport) -> str:
        body = report.to_dict()
        uri = self.store.put_json(self.bucket, f"quality/{batch_id}.json", body)
        with self.engine.begin() as conn:
            conn.execute(
                delete(schema.quality_reports).where(schema.quality_reports.c.batch_id == batch_id)
            )
            conn.execute(
                insert(schema.quality_reports).values(
                    batch_id=batch_id,
                    dataset=dataset,
                    passed=report.passed,
                    summary=report.summary(),
                    report=json.dumps(body, default=str),
                    report_uri=uri,
                    created_at=datetime.now(UTC),
                )
            )
        return uri


def stored_report(engine: Engine, batch_id: str) -> QualityReport:
    """A batch's stored report, for the command line."""
    with engine.connect() as conn:
        row = conn.execute(
            select(schema.quality_reports.c.report).where(
                schema.quality_reports.c.batch_id == batch_id
            )
        ).scalar()
    if row is None:
        raise NotFoundError(f"no quality report for batch {batch_id}")
    return QualityReport.from_dict(json.loads(row))
