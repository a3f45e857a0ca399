"""Schema migrations: Alembic revisions in the top-level ``sql/`` folder, run once per deploy.

``sql/versions/`` holds the revisions (``0001`` … ``HEAD_REVISION``), written with
SQLAlchemy Core and Alembic's ``op`` so that one source migrates Postgres and the embedded
SQLite alike; ``sql/queries/`` holds the raw SQL they run. :func:`migrate` is the one
entry point (``./run migrate``, the deploy's migrate function, the local cloud and, for
the alembic command line, ``sql/env.py``): it takes a Postgres advisory lock, creates the
schemas, stamps a database the earlier in-house runner left (its ``ml.schema_version``
rows) at the matching revision, and upgrades. Every revision applied is also recorded in
``ml.schema_version`` with its name and time, the history an operator reads.

Functions never migrate on Lambda: :func:`check_schema` reads the version and refuses an
old database, and imports nothing of Alembic (cold starts stay short; only the migrate
function ships it).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
)

from credit_risk.contract import DATASETS, Contract
from credit_risk.db import schema
from credit_risk.db.engine import SCHEMAS, is_postgres
from credit_risk.errors import ConfigurationError, ContractError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext, MigrationInfo

HEAD_REVISION = "0010"
"""The newest revision in ``sql/versions/`` (a test holds the two together)."""

VERSION_TABLE = "alembic_version"
VERSION_SCHEMA = "ml"

# Any constant: the advisory lock every migrating process takes on Postgres, so that
# concurrent runs (a deploy and a developer, two test workers) apply each revision once.
MIGRATION_LOCK_ID = 0x63726D69  # "crmi"


def sql_dir() -> Path:
    """The ``sql/`` folder: ``CREDIT_RISK_SQL_DIR``, else beside the migrate function's code
    on Lambda, else the repository's own."""
    candidates = []
    if os.environ.get("CREDIT_RISK_SQL_DIR"):
        candidates.append(Path(os.environ["CREDIT_RISK_SQL_DIR"]))
    if os.environ.get("LAMBDA_TASK_ROOT"):
        candidates.append(Path(os.environ["LAMBDA_TASK_ROOT"]) / "sql")
    here = Path(__file__).resolve().parents
    if len(here) > 5:  # layers/core/python/credit_risk/db/ in a checkout
        candidates.append(here[5] / "sql")
    for folder in candidates:
        if (folder / "alembic.ini").is_file():
            return folder
    raise ConfigurationError(
        "the migrations folder sql/ (alembic.ini, versions/) was not found in "
        f"{', '.join(str(c) for c in candidates)}: set CREDIT_RISK_SQL_DIR"
    )


def sql_statements(name: str, **identifiers: str) -> list[str]:
    """The statements of ``sql/queries/<name>.sql``: each ends with ``;`` at the end of a
    line; comment lines are dropped; ``{name}`` fields are filled with ``identifiers``
    (DDL takes no bind parameters: the caller has checked each one)."""
    path = sql_dir() / "queries" / f"{name}.sql"
    body = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    if identifiers:
        body = body.format(**identifiers)
    return [s.strip() for s in (body + "\n").split(";\n") if s.strip()]


def run_sql(conn: Connection, name: str, **identifiers: str) -> None:
    """Run ``sql/queries/<name>.<dialect>.sql`` (``postgresql`` or ``sqlite``)."""
    for statement in sql_statements(f"{name}.{conn.dialect.name}", **identifiers):
        conn.execute(text(statement))


def add_missing_columns(conn: Connection, table: Table, *names: str) -> None:
    """For a revision: add ``table``'s columns ``names`` (as schema.py declares them) to a
    database built before them; a fresh database has them from revision 0001."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name, schema=table.schema)}
    for name in names:
        if name not in have:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table.schema}.{table.name} ADD COLUMN {name} {kind}"))


def create_index(conn: Connection, table: Table, name: str) -> None:
    """For a revision: create ``table``'s index ``name`` (as schema.py declares it) when
    it is missing."""
    next(i for i in table.indexes if i.name == name).create(conn, checkfirst=True)


def _version_table(meta: MetaData) -> Table:
    """Alembic's own version table, as Alembic creates it."""
    return Table(
        VERSION_TABLE,
        meta,
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
        schema=VERSION_SCHEMA,
    )


def prepare(conn: Connection) -> None:
    """Before Alembic runs, inside the migrating transaction: take the lock, create the
    schemas and the history table, and stamp a database the earlier runner left."""
    if is_postgres(conn.engine):
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        for name in SCHEMAS:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {name}"))
    schema.schema_version.create(conn, checkfirst=True)
    if inspect(conn).has_table(VERSION_TABLE, schema=VERSION_SCHEMA):
        return
    legacy = conn.execute(select(func.max(schema.schema_version.c.version))).scalar()
    if legacy:
        # The in-house runner's versions 1-7 are revisions 0001-0007: the same steps.
        table = _version_table(MetaData())
        table.create(conn)
        conn.execute(insert(table).values(version_num=f"{int(legacy):04d}"))


def record_version(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Alembic's ``on_version_apply`` (called with these keywords): keep
    ``ml.schema_version`` (number, name, time) in step with the revisions applied or rolled
    back."""
    del heads, run_args
    if not step.is_migration or ctx.connection is None:
        return
    history = schema.schema_version
    if step.is_upgrade:
        name = str(getattr(step.up_revision, "doc", "") or step.up_revision_id)
        ctx.connection.execute(
            insert(history).values(
                version=int(step.up_revision_id or 0),
                name=name.strip().splitlines()[0][:200],
                applied_at=datetime.now(UTC),
            )
        )
    else:
        for rev_id in step.up_revision_ids:
            ctx.connection.execute(delete(history).where(history.c.version == int(rev_id)))


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config(str(sql_dir() / "alembic.ini"))
    config.attributes["connection"] = conn
    return config


def _applied(conn: Connection) -> set[int]:
    return set(conn.execute(select(schema.schema_version.c.version)).scalars())


def migrate(engine: Engine, target: str = "head") -> list[int]:
    """Bring the database to ``target`` (the newest revision by default); return the
    revision numbers applied now, in order.

    Safe to run concurrently: on Postgres the whole run holds a transaction-scoped
    advisory lock (the second runner waits, then finds nothing left to do); SQLite's
    ``BEGIN IMMEDIATE`` serialises writers already. A failure rolls every revision of the
    run back (Postgres DDL is transactional).
    """
    with engine.begin() as conn:
        prepare(conn)
        if target == "head" and current_version(conn) == head_version():
            return []  # nothing to do: Alembic is not even loaded
        from alembic import command

        before = _applied(conn)
        command.upgrade(_config(conn), target)
        return sorted(_applied(conn) - before)


def downgrade(engine: Engine, target: str) -> list[int]:
    """Roll the database back to ``target`` (a revision, ``-1`` or ``base``); return the
    revision numbers rolled back."""
    from alembic import command

    with engine.begin() as conn:
        prepare(conn)
        before = _applied(conn)
        command.downgrade(_config(conn), target)
        return sorted(before - _applied(conn), reverse=True)


def head_version() -> int:
    """The newest schema version this code knows."""
    return int(HEAD_REVISION)


def current_version(conn: Connection) -> int:
    """The revision the database is at (0 before the first)."""
    if not inspect(conn).has_table(VERSION_TABLE, schema=VERSION_SCHEMA):
        return 0
    table = _version_table(MetaData())
    versions = [int(v) for v in conn.execute(select(table.c.version_num)).scalars()]
    return max(versions, default=0)


def check_schema(engine: Engine) -> None:
    """Refuse to run against a database the deploy's migrate step has not brought up to
    this code's schema (functions never migrate on a cold start in AWS)."""
    with engine.connect() as conn:
        have = current_version(conn)
    if have < head_version():
        raise ConfigurationError(
            f"the database schema is at version {have}, this code needs {head_version()}: "
            "run the migrate step (sam deploy runs it; locally ./run migrate)"
        )


def ensure_contract_tables(engine: Engine, contract: Contract) -> None:
    """Create the staging and feature tables a contract needs, or refuse a changed one
    (but add the columns of protected attributes the contract gained since)."""
    meta = MetaData()
    wanted = [schema.staging_table(contract, d, meta) for d in DATASETS]
    wanted.append(schema.features_table(contract, meta))
    wanted.append(schema.protected_table(contract, meta))
    protected = set(contract.applications.protected_columns)
    with engine.begin() as conn:
        inspector = inspect(conn)
        for table in wanted:
            if inspector.has_table(table.name, schema=table.schema):
                have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
                need = {c.name for c in table.columns}
                # A protected attribute added to the contract reaches no feature: its
                # column is added (empty for the rows before it), not refused.
                added = need - have
                if added and added <= protected and have <= need:
                    add_missing_columns(conn, table, *sorted(added))
                    have |= added
                if have != need:
                    raise ContractError(
                        f"{table.schema}.{table.name} was created for another contract "
                        f"(missing {sorted(need - have)}, extra {sorted(have - need)}); "
                        "use a fresh database or migrate it"
                    )
            else:
                table.create(conn)
