"""The model registry: immutable versions in S3, their rows in ``ml.model_versions``
(what a version is: :mod:`credit_risk.models.versions`).

A version's artifact is written once under ``models/<name>/<version>/`` and its sha256 is
recorded; loading verifies the hash and refuses a mismatch. There is at most one
champion per model name, and promotion swaps it in a single transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from credit_risk.adapters.aws import ObjectStore, parse_s3_uri
from credit_risk.db import schema
from credit_risk.errors import (
    ArtifactIntegrityError,
    NoChampionError,
    NotFoundError,
    ValidationError,
)
from credit_risk.models.versions import (
    MODEL_NAME,
    ModelVersion,
    new_version,
    sha256_hex,
)


class Registry:
    """Reads and changes the registry; the store holds the artifacts."""

    def __init__(self, *, engine: Engine, store: ObjectStore, bucket: str) -> None:
        self.engine = engine
        self.store = store
        self.bucket = bucket
        self.table = schema.model_versions

    def register(
        self,
        *,
        candidate: str,
        artifact: bytes,
        extra_files: dict[str, bytes],
        data_snapshot_hash: str,
        code_version: str,
        params: dict[str, Any],
        metrics: dict[str, Any],
        model_name: str = MODEL_NAME,
        version: str | None = None,
    ) -> ModelVersion:
        """Write the artifact and its companions to S3, then the registry row."""
        version = version or new_version()
        prefix = f"models/{model_name}/{version}"
        uri = self.store.put(self.bucket, f"{prefix}/model.bin", artifact)
        for name, body in extra_files.items():
            content_type = "text/html" if name.endswith(".html") else "application/json"
            self.store.put(self.bucket, f"{prefix}/{name}", body, content_type)
        row = {
            "model_name": model_name,
            "version": version,
            "candidate": candidate,
            "status": "candidate",
            "artifact_uri": uri,
            "artifact_sha256": sha256_hex(artifact),
            "data_snapshot_hash": data_snapshot_hash,
            "code_version": code_version,
            "params": json.dumps(params, default=str),
            "metrics": json.dumps(metrics, default=str),
            "reason": None,
            "created_at": datetime.now(UTC),
            "promoted_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(self.table).values(**row))
        return self.get(version, model_name)

    def get(self, version: str, model_name: str = MODEL_NAME) -> ModelVersion:
        """One version; NotFoundError when it is not registered."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(self.table).where(
                        self.table.c.model_name == model_name, self.table.c.version == version
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(f"model {model_name} has no version {version}")
        return ModelVersion.from_row(row)

    def versions(self, model_name: str = MODEL_NAME) -> list[ModelVersion]:
        """Every version, newest first."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(self.table)
                    .where(self.table.c.model_name == model_name)
                    .order_by(self.table.c.version.desc())
                )
                .mappings()
                .all()
            )
        return [ModelVersion.from_row(r) for r in rows]

    def champion(self, model_name: str = MODEL_NAME) -> ModelVersion | None:
        """The current champion, or None."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(self.table).where(
                        self.table.c.model_name == model_name, self.table.c.status == "champion"
                    )
                )
                .mappings()
                .first()
            )
        return ModelVersion.from_row(row) if row else None

    def require_champion(self, model_name: str = MODEL_NAME) -> ModelVersion:
        """The current champion; NoChampionError when there is none."""
        champion = self.champion(model_name)
        if champion is None:
            raise NoChampionError(f"no champion model is registered for {model_name}")
        return champion

    def promote(self, version: str, reason: str, model_name: str = MODEL_NAME) -> ModelVersion:
        """Make ``version`` the champion and retire the old one, atomically."""
        target = self.get(version, model_name)
        if target.status == "champion":
            return target
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                update(self.table)
                .where(self.table.c.model_name == model_name, self.table.c.status == "champion")
                .values(status="retired")
            )
            conn.execute(
                update(self.table)
                .where(self.table.c.model_name == model_name, self.table.c.version == version)
                .values(status="champion", promoted_at=now, reason=reason)
            )
        return self.get(version, model_name)

    def reject(self, version: str, reason: str, model_name: str = MODEL_NAME) -> ModelVersion:
        """Record that a candidate was not promoted, and why."""
        target = self.get(version, model_name)
        if target.status == "champion":
            raise ValidationError(f"version {version} is the champion and cannot be rejected")
        with self.engine.begin() as conn:
            conn.execute(
                update(self.table)
                .where(self.table.c.model_name == model_name, self.table.c.version == version)
                .values(status="rejected", reason=reason)
            )
        return self.get(version, model_name)

    def rollback(self, model_name: str = MODEL_NAME) -> ModelVersion:
        """Restore the most recently retired champion."""
        retired = [v for v in self.versions(model_name) if v.status == "retired" and v.promoted_at]
        if not retired:
            raise NotFoundError(f"model {model_name} has no previous champion to restore")
        previous = max(retired, key=lambda v: v.promoted_at or v.created_at)
        return self.promote(previous.version, "restored by rollback", model_name)

    def load_artifact(self, version: ModelVersion) -> bytes:
        """The artifact's bytes, verified against the registered sha256."""
        bucket, key = parse_s3_uri(version.artifact_uri)
        body = self.store.get(bucket, key)
        actual = sha256_hex(body)
        if actual != version.artifact_sha256:
            raise ArtifactIntegrityError(
                f"artifact of {version.model_name} {version.version} has sha256 {actual[:12]}…, "
                f"registry says {version.artifact_sha256[:12]}…; refusing to load it"
            )
        return body
