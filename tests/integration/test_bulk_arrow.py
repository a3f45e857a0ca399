"""Arrow tables in and out of the database: COPY on Postgres, plain statements on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from sqlalchemy import select

from credit_risk.db import schema
from credit_risk.db.bulk import load_arrow, read_arrow
from credit_risk.db.engine import get_engine
from credit_risk.db.migrations import migrate

pytestmark = pytest.mark.integration


def test_an_arrow_table_goes_in_and_comes_back_unchanged(database_url: str) -> None:
    # GIVEN scores with gaps, quotes, commas, newlines and empty text
    engine = get_engine(database_url)
    migrate(engine)
    at = datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=UTC)
    rows = pa.table(
        {
            "application_id": ["A1", "A2", "A3"],
            "customer_key": ["k1", "k,2", 'k"3'],
            "probability_of_default": [0.1, 0.123456789012345, 1e-06],
            "score": pa.array([600, 550, 700], pa.int64()),
            "grade": ["A", "B", "C"],
            "decision": ["approve", "review", "decline"],
            "expected_loss": [12.5, None, 0.0],
            "reasons": ['[{"feature": "a", "text": "x, \\"y\\"\\nz"}]', "[]", ""],
            "model_version": ["v1"] * 3,
            "source": ["rescore"] * 3,
            "scored_at": pa.array([at] * 3, pa.timestamp("us", tz="UTC")),
        }
    )

    # WHEN they are loaded and read back
    with engine.begin() as conn:
        assert load_arrow(conn, schema.scores, rows) == 3
    wanted = pa.schema(
        [rows.schema.field(n) for n in ("application_id", "customer_key", "reasons")]
        + [
            pa.field("probability_of_default", pa.float64()),
            pa.field("expected_loss", pa.float64()),
        ]
    )
    query = select(*(schema.scores.c[n] for n in wanted.names)).order_by(
        schema.scores.c.application_id
    )
    with engine.connect() as conn:
        back = read_arrow(conn, query, wanted)

    # THEN every value survived, missing stayed missing and empty text stayed empty
    assert back.to_pylist() == rows.select(wanted.names).to_pylist()
