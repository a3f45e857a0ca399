"""Scoring with the champion: one application (the API) or a whole batch (Step Functions).

Both paths use the same lean model, features and decision policy, so the same row gets
the same PD whichever way it is scored. The champion is loaded once per container, its
artifact hash verified, and re-checked every ``refresh_seconds`` so a promotion is picked
up without a redeploy.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, insert, select

from credit_risk.contract import Contract
from credit_risk.db import schema
from credit_risk.db.batched import in_chunks
from credit_risk.decisions import DecisionPolicy, exposure_at_default, make_decision
from credit_risk.errors import NoChampionError, NotFoundError
from credit_risk.registry import ModelVersion, Registry
from credit_risk.scoring import LeanModel


@dataclass(frozen=True)
class LoadedModel:
    """The champion's registry row and its lean model."""

    version: ModelVersion
    model: LeanModel


class ChampionLoader:
    """Loads the champion once and refreshes it when the registry changes."""

    def __init__(self, registry: Registry, *, refresh_seconds: float = 30.0) -> None:
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self._loaded: LoadedModel | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> LoadedModel:
        """The current champion; NoChampionError when none is registered."""
        now = time.monotonic()
        with self._lock:
            if self._loaded is not None and now - self._checked < self.refresh_seconds:
                return self._loaded
            champion = self.registry.require_champion()
            if self._loaded is None or self._loaded.version.version != champion.version:
                body = self.registry.load_artifact(champion)
                self._loaded = LoadedModel(champion, LeanModel.from_bytes(body, threads=1))
            self._checked = now
            return self._loaded

    def refresh(self) -> LoadedModel:
        """Re-read the registry now (after a promotion or rollback in this container)."""
        with self._lock:
            self._checked = float("-inf")
        return self.get()


def decide_rows(
    loaded: LoadedModel,
    rows: Sequence[Mapping[str, Any]],
    contract: Contract,
    policy: DecisionPolicy,
) -> list[dict[str, Any]]:
    """Decisions with reasons for feature rows (each row also carries its EAD column)."""
    model = loaded.model
    design = model.encode(rows)
    margins, contributions, _ = model.contributions_of(design)
    pds = model.calibration(margins)
    out = []
    for i, row in enumerate(rows):
        by_feature = dict(zip(model.features, contributions[i].tolist(), strict=True))
        decision = make_decision(
            float(pds[i]), by_feature, exposure_at_default(row, policy), contract, policy
        )
        result = decision.to_dict()
        result["model_version"] = loaded.version.version
        out.append(result)
    return out


def score_records(
    loaded: LoadedModel,
    features: Any,
    contract: Contract,
    policy: DecisionPolicy,
    *,
    source: str,
) -> list[dict[str, Any]]:
    """``ml.scores`` rows for an analytics feature frame (application_id, customer_key, …)."""
    rows = (
        features[contract.features].astype(object).where(features[contract.features].notna(), None)
    )
    records = rows.to_dict("records")
    for record, ead_value in zip(
        records,
        features[policy.ead_feature].tolist()
        if policy.ead_feature in features
        else [None] * len(records),
        strict=True,
    ):
        if policy.ead_feature:
            record[policy.ead_feature] = ead_value
    decided = decide_rows(loaded, records, contract, policy)
    now = datetime.now(UTC)
    return [
        {
            "application_id": app_id,
            "customer_key": key,
            "probability_of_default": d["probability_of_default"],
            "score": d["score"],
            "grade": d["grade"],
            "decision": d["decision"],
            "expected_loss": d["expected_loss"],
            "reasons": json.dumps(d["reasons"]),
            "model_version": d["model_version"],
            "source": source,
            "scored_at": now,
        }
        for app_id, key, d in zip(
            features["application_id"].tolist(),
            features["customer_key"].tolist(),
            decided,
            strict=True,
        )
    ]


def score_batch(
    *,
    engine: Engine,
    contract: Contract,
    registry: Registry,
    policy: DecisionPolicy,
    batch_id: str,
    loader: ChampionLoader | None = None,
) -> dict[str, Any]:
    """Score a batch's applications into ``ml.scores``; skipped when there is no champion."""
    try:
        loaded = (loader or ChampionLoader(registry)).get()
    except NoChampionError:
        return {"batch_id": batch_id, "scored": 0, "skipped": "no champion model yet"}
    from credit_risk.db.bulk import read_frame  # pandas: the batch path only, never the API

    table = schema.features_table(contract, MetaData())
    with engine.connect() as conn:
        features = read_frame(conn, select(table).where(table.c._batch_id == batch_id))
    if features.empty:
        raise NotFoundError(f"analytics holds no features for batch {batch_id}")
    for name in contract.numeric_features:
        features[name] = features[name].astype("float64")
    records = score_records(loaded, features, contract, policy, source="batch")
    with engine.begin() as conn:
        for part in in_chunks(records):
            conn.execute(insert(schema.scores), list(part))
    decisions = [r["decision"] for r in records]
    return {
        "batch_id": batch_id,
        "scored": len(records),
        "model_version": loaded.version.version,
        "decisions": {d: decisions.count(d) for d in sorted(set(decisions))},
    }
