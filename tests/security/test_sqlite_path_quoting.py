"""A data folder whose path holds a quote still opens the embedded SQLite database.

The per-schema files are attached with ``ATTACH DATABASE``; the file name used to be
pasted into the statement, so a quote in the path broke it (or changed its meaning)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from credit_risk.db import schema
from credit_risk.db.engine import dispose_all, get_engine, sqlite_url
from credit_risk.db.migrations import migrate


def test_a_data_folder_with_a_quote_in_its_name_holds_the_database(tmp_path: Path) -> None:
    # GIVEN a data folder named the way people name folders
    folder = tmp_path / "o'brien's data; DETACH DATABASE main --"
    engine = get_engine(sqlite_url(folder))
    try:
        # WHEN the database is migrated and a ledger row is written and read back
        applied = migrate(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(schema.objects).values(
                    batch_id="applications-1",
                    dataset="applications",
                    bucket="raw",
                    key="applications/x.csv",
                    sha256="0" * 64,
                    status="loaded",
                    received_at=datetime.now(UTC),
                )
            )
        with engine.connect() as conn:
            keys = conn.execute(select(schema.objects.c.key)).scalars().all()
    finally:
        dispose_all()

    # THEN every schema is attached from a file inside that very folder
    assert applied[0] == 1
    assert keys == ["applications/x.csv"]
    assert (folder / "credit_risk.staging.db").is_file()
    assert (folder / "credit_risk.audit.db").is_file()
