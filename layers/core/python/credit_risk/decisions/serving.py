"""The champion in service: loaded once per container, and batches scored into ``ml.scores``.

The champion's artifact hash is verified when it is loaded, and the registry re-checked
every ``refresh_seconds`` so a promotion is picked up without a redeploy. Decisions
themselves are made by :mod:`credit_risk.decisions.scoring` (pure), the same for one
application (the API) and a whole batch (Step Functions).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import Engine, MetaData, insert, select

from credit_risk.contract import Contract
from credit_risk.db import schema
from credit_risk.db.batched import in_chunks
from credit_risk.decisions.policy import DecisionPolicy
from credit_risk.decisions.scoring import LoadedModel, score_records
from credit_risk.errors import NoChampionError, NotFoundError
from credit_risk.models.lean import LeanModel
from credit_risk.models.registry import Registry


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
