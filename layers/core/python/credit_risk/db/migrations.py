"""Schema migrations, applied in order and recorded in ``ml.schema_version``.

Each migration is a function of a connection, written once with SQLAlchemy Core so it runs
on Postgres and on SQLite alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, MetaData, func, insert, inspect, select, text

from credit_risk.contract import DATASETS, Contract
from credit_risk.db import schema
from credit_risk.db.engine import SCHEMAS, is_postgres
from credit_risk.errors import ConfigurationError, ContractError


def _create_fixed_tables(conn: Connection) -> None:
    tables = [t for t in schema.metadata.sorted_tables if t.name != "schema_version"]
    schema.metadata.create_all(conn, tables=tables)
    schema.labels_table(MetaData()).create(conn, checkfirst=True)
    _make_audit_append_only(conn)


_REFUSE = "audit.decisions is append-only"


def _make_audit_append_only(conn: Connection) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE) on the audit trail in the database itself.

    The hash chain detects tampering by anyone who gets past this (a DBA who drops the
    trigger); the trigger stops the application or an operator changing it by mistake.
    """
    if is_postgres(conn.engine):
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger "
                f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON "
                "audit.decisions FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON audit.decisions "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
            )
        )
        return
    for event in ("UPDATE", "DELETE"):
        conn.execute(
            text(
                f"CREATE TRIGGER audit.decisions_no_{event.lower()} BEFORE {event} ON decisions "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
            )
        )


def _create_monitoring_snapshots(conn: Connection) -> None:
    schema.monitoring_snapshots.create(conn, checkfirst=True)


def _index_rescore_scores(conn: Connection) -> None:
    """One re-score per loan and model version (databases built before the index)."""
    index = next(i for i in schema.scores.indexes if i.name == "uq_scores_rescore_once")
    index.create(conn, checkfirst=True)


def _create_erasures(conn: Connection) -> None:
    schema.erasures.create(conn, checkfirst=True)


def _create_token_revocations(conn: Connection) -> None:
    schema.token_revocations.create(conn, checkfirst=True)


def _sign_audit_rows(conn: Connection) -> None:
    """``audit.decisions.row_mac`` (databases built before it; migration 1 now makes it)."""
    have = {c["name"] for c in inspect(conn).get_columns("decisions", schema="audit")}
    if "row_mac" not in have:
        conn.execute(text("ALTER TABLE audit.decisions ADD COLUMN row_mac VARCHAR(64)"))


def _key_quarantined_rows(conn: Connection) -> None:
    """``staging.quarantine.customer_id`` (databases built before it; migration 1 makes
    it now). Rows quarantined before it are found by their cells only."""
    have = {c["name"] for c in inspect(conn).get_columns("quarantine", schema="staging")}
    if "customer_id" not in have:
        conn.execute(text("ALTER TABLE staging.quarantine ADD COLUMN customer_id TEXT"))
    index = next(i for i in schema.quarantine.indexes if i.name == "ix_quarantine_customer")
    index.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "ledger, quarantine, quality, registry, scores, audit, labels", _create_fixed_tables),
    (2, "monitoring snapshots", _create_monitoring_snapshots),
    (3, "one re-score per loan and model version", _index_rescore_scores),
    (4, "audit rows signed outside the database", _sign_audit_rows),
    (5, "quarantined rows keyed by customer", _key_quarantined_rows),
    (6, "revoked API tokens and subjects", _create_token_revocations),
    (7, "erased customers (410 Gone afterwards)", _create_erasures),
]


# Any constant: the advisory lock every migrating process takes on Postgres, so that
# concurrent runs (a deploy and a developer, two test workers) apply each version once.
MIGRATION_LOCK_ID = 0x63726D69  # "crmi"


def migrate(engine: Engine) -> list[int]:
    """Bring the database to the newest schema; return the versions applied now.

    Safe to run concurrently: on Postgres the whole run holds a transaction-scoped
    advisory lock (the second runner waits, then finds nothing left to do); SQLite's
    ``BEGIN IMMEDIATE`` serialises writers already.
    """
    with engine.begin() as conn:
        if is_postgres(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            for name in SCHEMAS:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {name}"))
        schema.schema_version.create(conn, checkfirst=True)
        done = set(conn.execute(select(schema.schema_version.c.version)).scalars())
        applied = []
        for version, name, apply in MIGRATIONS:
            if version in done:
                continue
            apply(conn)
            conn.execute(
                insert(schema.schema_version).values(
                    version=version, name=name, applied_at=datetime.now(UTC)
                )
            )
            applied.append(version)
    return applied


def head_version() -> int:
    """The newest schema version this code knows."""
    return max(version for version, _name, _apply in MIGRATIONS)


def check_schema(engine: Engine) -> None:
    """Refuse to run against a database the deploy's migrate step has not brought up to
    this code's schema (functions never migrate on a cold start in AWS)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(schema.schema_version.name, schema="ml"):
            have = 0
        else:
            have = conn.execute(select(func.max(schema.schema_version.c.version))).scalar() or 0
    if have < head_version():
        raise ConfigurationError(
            f"the database schema is at version {have}, this code needs {head_version()}: "
            "run the migrate step (sam deploy runs it; locally ./run migrate)"
        )


def ensure_contract_tables(engine: Engine, contract: Contract) -> None:
    """Create the staging and feature tables a contract needs, or refuse a changed one."""
    meta = MetaData()
    wanted = [schema.staging_table(contract, d, meta) for d in DATASETS]
    wanted.append(schema.features_table(contract, meta))
    with engine.begin() as conn:
        inspector = inspect(conn)
        for table in wanted:
            if inspector.has_table(table.name, schema=table.schema):
                have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
                need = {c.name for c in table.columns}
                if have != need:
                    raise ContractError(
                        f"{table.schema}.{table.name} was created for another contract "
                        f"(missing {sorted(need - have)}, extra {sorted(have - need)}); "
                        "use a fresh database or migrate it"
                    )
            else:
                table.create(conn)
