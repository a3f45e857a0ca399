"""What a registered model version is, and how versions and artifacts are named.

Pure: the registry (:mod:`credit_risk.models.registry`) stores and loads these; serving
and monitoring read them without touching the database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MODEL_NAME = "credit-default"
STATUSES = ("candidate", "champion", "rejected", "retired")


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version."""

    model_name: str
    version: str
    candidate: str
    status: str
    artifact_uri: str
    artifact_sha256: str
    data_snapshot_hash: str
    code_version: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    reason: str | None
    created_at: datetime
    promoted_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ModelVersion:
        data = dict(row)
        data["params"] = json.loads(data["params"])
        data["metrics"] = json.loads(data["metrics"])
        return cls(**data)

    def summary(self) -> dict[str, Any]:
        """The JSON-able view operators and the API show."""
        holdout = self.metrics.get("holdout", self.metrics)
        return {
            "model_name": self.model_name,
            "version": self.version,
            "candidate": self.candidate,
            "status": self.status,
            "auc": holdout.get("auc"),
            "artifact_uri": self.artifact_uri,
            "artifact_sha256": self.artifact_sha256,
            "data_snapshot_hash": self.data_snapshot_hash,
            "code_version": self.code_version,
            "reason": self.reason,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
        }


def sha256_hex(body: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(body).hexdigest()


def new_version(now: datetime | None = None) -> str:
    """A sortable version id: UTC timestamp to the microsecond."""
    return (now or datetime.now(UTC)).strftime("v%Y%m%dT%H%M%S%f")
