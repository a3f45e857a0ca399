"""Data access for the API: a customer's latest application and score, and new scores."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, insert, select

from credit_risk.contract import Contract
from credit_risk.db import schema


def _plain(value: Any) -> Any:
    """JSON-ready: timestamps as UTC ISO text (SQLite returns them naive, in UTC)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


class CustomerStore:
    """Reads ``analytics.application_features`` and reads and writes ``ml.scores``."""

    def __init__(self, engine: Engine, contract: Contract) -> None:
        self.engine = engine
        self.contract = contract
        self.features = schema.features_table(contract, MetaData())
        self.scores = schema.scores
        spec = contract.applications
        derived = set(contract.derived)
        # What a new application can be rebuilt from: raw features and the other inputs.
        self._raw_columns = [
            c for c in contract.features + contract.input_columns if c not in derived
        ]
        self._select_latest = (
            select(self.features.c.event_date, *(self.features.c[c] for c in self._raw_columns))
            .order_by(self.features.c.event_date.desc(), self.features.c.application_id.desc())
            .limit(1)
        )
        self.event_field = spec.event_date

    def latest_application(self, customer_key: str) -> dict[str, Any] | None:
        """The customer's latest application as contract columns (no derived features,
        no personal data), or None when the customer has none on file."""
        query = self._select_latest.where(self.features.c.customer_key == customer_key)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        application = {c: row[c] for c in self._raw_columns}
        if self.event_field:
            application[self.event_field] = row["event_date"]
        return application

    def latest_score(self, customer_key: str) -> dict[str, Any] | None:
        """The customer's most recent score, JSON-ready, or None."""
        t = self.scores
        query = (
            select(t)
            .where(t.c.customer_key == customer_key)
            .order_by(t.c.scored_at.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        out = {k: _plain(v) for k, v in row.items() if k != "customer_key"}
        out["reasons"] = json.loads(row["reasons"])
        return out

    def save_score(self, conn: Connection, record: dict[str, Any]) -> None:
        """Insert one ``ml.scores`` row inside the caller's transaction."""
        conn.execute(insert(self.scores), record)
