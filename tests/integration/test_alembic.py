"""The schema lives in sql/ as Alembic revisions: one source for Postgres and SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from credit_risk.db import migrations, schema
from credit_risk.db.engine import get_engine

ROOT = Path(__file__).resolve().parents[2]


def _alembic(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The alembic command line, as ``./run alembic`` runs it."""
    alembic = Path(sys.executable).with_name("alembic")
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(  # noqa: S603 (our own venv's alembic)
        [str(alembic), "-c", str(ROOT / "sql/alembic.ini"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


def _schema_diff(database_url: str) -> list[object]:
    """What differs between the migrated database and schema.py's tables."""
    owned = {
        (t.schema, t.name)
        for m in (schema.metadata, schema.later_metadata)
        for t in m.sorted_tables
    }

    def ours(obj: object, name: str | None, kind: str, _reflected: bool, _other: object) -> bool:
        table = obj if kind == "table" else getattr(obj, "table", None)
        return table is None or (getattr(table, "schema", None), table.name) in owned  # type: ignore[union-attr]

    with get_engine(database_url).connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_schemas": True, "include_object": ours, "compare_type": True},
        )
        return list(compare_metadata(context, [schema.metadata, schema.later_metadata]))


def test_alembic_upgrade_head_builds_schema_py_exactly_on_both_databases(
    database_url: str,
) -> None:
    # WHEN the alembic command line upgrades a fresh database
    result = _alembic(database_url, "upgrade", "head")

    # THEN it ran every revision, and the database is schema.py's, table for table
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Running upgrade 0006 -> 0007" in result.stderr
    assert _schema_diff(database_url) == []
    assert _alembic(database_url, "current").stdout.split()[0] == migrations.HEAD_REVISION
    with get_engine(database_url).connect() as conn:
        history = conn.execute(text("SELECT version, name FROM ml.schema_version")).all()
    assert [v for v, _ in history] == list(range(1, migrations.head_version() + 1))
    assert dict(history)[7] == "erased customers (410 Gone afterwards)"


def test_the_head_revision_is_the_one_the_code_and_the_template_name() -> None:
    script = ScriptDirectory.from_config(Config(str(ROOT / "sql/alembic.ini")))
    assert script.get_heads() == [migrations.HEAD_REVISION]  # one line of history
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


def test_a_database_the_earlier_runner_left_is_stamped_not_migrated_again(
    database_url: str,
) -> None:
    # GIVEN databases as the in-house runner left them: at version 7, and at version 3
    # (its ml.schema_version rows and tables; no Alembic version table)
    engine = get_engine(database_url)
    migrations.migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ml.alembic_version"))

    # WHEN the migrate step runs
    applied = migrations.migrate(engine)

    # THEN nothing is applied again: the database is stamped at its version
    assert applied == []
    with engine.connect() as conn:
        assert migrations.current_version(conn) == migrations.head_version()
    # AND one left at version 3 gets 4 to 7 and no more
    migrations.downgrade(engine, "0003")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ml.alembic_version"))
    assert migrations.migrate(engine) == list(range(4, migrations.head_version() + 1))


def test_a_revision_rolls_back_and_forward_again_keeping_the_audit_trail(
    database_url: str,
) -> None:
    # GIVEN a database at the head, with a customer erased (audit.erasures)
    engine = get_engine(database_url)
    migrations.migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            schema.erasures.insert().values(
                customer_key="k" * 64, erased_at=datetime.now(UTC), request_id="r"
            )
        )

    # WHEN the revisions down to 0005 are rolled back with the alembic command line
    result = _alembic(database_url, "downgrade", "0005")

    # THEN the database says 0005, monitoring's table of 0002 is still there, and the
    # erasure is kept (the audit schema is append-only); upgrading again brings it to head
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Running downgrade 0007 -> 0006" in result.stderr
    with engine.connect() as conn:
        assert migrations.current_version(conn) == 5
        assert conn.execute(select(func.count()).select_from(schema.erasures)).scalar() == 1
    assert migrations.migrate(engine) == list(range(6, migrations.head_version() + 1))
    assert _schema_diff(database_url) == []
