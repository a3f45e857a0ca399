"""Reads the shadow challenger's rows and the matured outcomes of their loans.

:func:`shadow_comparisons` feeds the dashboard's champion-vs-challenger panel and
``./run models``; :func:`shadow_evidence` is what the promotion gate counts
(``require_shadow`` in ``promotion.yaml``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, MetaData, func, select

from credit_risk.db import schema
from credit_risk.monitoring.shadow import compare_shadow

MAX_ROWS = 200_000
"""The newest shadow rows a comparison reads (a bound on memory, not a sample)."""


def _matured_outcomes(conn: Any, application_ids: set[str]) -> dict[str, int]:
    labels = schema.labels_table(MetaData())
    ids = sorted(application_ids)
    out: dict[str, int] = {}
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        rows = conn.execute(
            select(labels.c.application_id, labels.c.target).where(
                labels.c.application_id.in_(part), labels.c.matured.is_(True)
            )
        )
        out.update({str(a): int(t) for a, t in rows})
    return out


def shadow_comparisons(engine: Engine, *, max_rows: int = MAX_ROWS) -> list[dict[str, Any]]:
    """Champion against challenger for every pair that has shadow rows, newest first
    (see :func:`credit_risk.monitoring.shadow.compare_shadow`)."""
    table = schema.shadow_scores
    columns = [c for c in table.c if c.name not in ("id", "request_id")]
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(select(*columns).order_by(table.c.id.desc()).limit(max_rows))
            .mappings()
            .all()
        ]
        outcomes = _matured_outcomes(conn, {str(r["application_id"]) for r in rows})
    comparisons = compare_shadow(rows, outcomes)
    for c in comparisons:  # JSON-able, as the dashboard data and the CLI show them
        c["first_at"], c["last_at"] = _iso(c["first_at"]), _iso(c["last_at"])
    return comparisons


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def shadow_evidence(engine: Engine, challenger_version: str) -> dict[str, int]:
    """How much shadow evidence a version has: the requests it scored as challenger and,
    of their loans, how many have a matured outcome."""
    table = schema.shadow_scores
    labels = schema.labels_table(MetaData())
    mine = table.c.challenger_version == challenger_version
    with engine.connect() as conn:
        decisions = conn.execute(select(func.count()).where(mine)).scalar_one()
        matured = conn.execute(
            select(func.count(func.distinct(table.c.application_id)))
            .select_from(table.join(labels, labels.c.application_id == table.c.application_id))
            .where(mine, labels.c.matured.is_(True))
        ).scalar_one()
    return {"decisions": int(decisions), "matured": int(matured)}
