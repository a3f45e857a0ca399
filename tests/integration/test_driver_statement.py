"""The request path's statements go to Postgres as plain text, without the cast SQLAlchemy
renders after every value for pg8000 (the driver scans each statement's text in Python on
every execution), and write and read exactly what the same Core statements do."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, select

from credit_risk.db import schema
from credit_risk.db.engine import DriverStatement, get_engine, is_postgres
from credit_risk.db.migrations import migrate

SCORES = schema.scores


def _score(n: int) -> dict[str, object]:
    return {
        "application_id": f"A{n}",
        "customer_key": f"k{n % 3}",
        "probability_of_default": 0.125 + n / 1000,
        "score": 600 + n,
        "grade": "B",
        "decision": "approve",
        "expected_loss": 12.5 * n,
        "reasons": '[{"feature":"bureau_score"}]',
        "model_version": "v1",
        "source": "api",
        "scored_at": datetime(2026, 12, 1, 9, 30, n, 123456, tzinfo=UTC),
    }


def test_a_driver_statement_writes_and_reads_as_its_core_statement(database_url: str) -> None:
    # GIVEN the scores table, an insert and a read as driver statements
    engine = get_engine(database_url)
    migrate(engine)
    columns = [c.name for c in SCORES.c]
    write = DriverStatement(insert(SCORES), engine, columns=columns)
    latest = (
        select(SCORES, func.count().over().label("rows"))
        .where(SCORES.c.customer_key == bindparam("key"))
        .order_by(SCORES.c.scored_at.desc())
        .limit(1)
    )
    read = DriverStatement(latest, engine)

    # WHEN rows are written through it and through Core, and read back both ways
    with engine.begin() as conn:
        for n in range(6):
            if n % 2:
                write.execute(conn, _score(n))
            else:
                conn.execute(insert(SCORES), _score(n))
    with engine.connect() as conn:
        for key in ("k0", "k1", "k2"):
            ours = read.execute(conn, {"key": key}).mappings().one()
            core = conn.execute(latest, {"key": key}).mappings().one()
            # THEN they are the same values, and the same as written
            assert dict(ours) == dict(core)
        stored = {r["application_id"]: r for r in conn.execute(select(SCORES)).mappings().all()}
    for n in range(6):
        row = dict(stored[f"A{n}"])
        assert row["probability_of_default"] == _score(n)["probability_of_default"]
        assert row["reasons"] == _score(n)["reasons"] and row["score"] == 600 + n
    assert stored["A1"]["scored_at"] == stored["A0"]["scored_at"].replace(second=1)
    # AND on Postgres the text carries no cast after a value
    if is_postgres(engine):
        assert "::" not in write.sql and "::" not in read.sql
        assert write.sql.count("%s") == len(columns)
