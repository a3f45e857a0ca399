"""Alembic's environment for the credit-risk schema.

Called two ways. :func:`credit_risk.db.migrations.migrate` (``./run migrate``, the deploy's
migrate function) passes its connection, already inside the migrating transaction and
holding the advisory lock. The alembic command line (``./run alembic upgrade head``)
connects here, through credit_risk's own engine (SQLite's schemas attached, Postgres over
pg8000): ``DATABASE_URL``, else the local default database; then prepares the same way.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, MetaData

from credit_risk.db import migrations, schema


def _target_metadata() -> list[MetaData]:
    return [schema.metadata, schema.later_metadata]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_target_metadata(),
        version_table=migrations.VERSION_TABLE,
        version_table_schema=migrations.VERSION_SCHEMA,
        include_schemas=True,
        on_version_apply=migrations.record_version,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_from_command_line() -> None:
    from logging.config import fileConfig

    from credit_risk.runtime import get_runtime

    if context.config.config_file_name:  # "Running upgrade 0006 -> 0007" on stderr
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)

    engine = get_runtime().owner_engine
    with engine.begin() as connection:
        migrations.prepare(connection)
        _run(connection)


if context.is_offline_mode():
    raise SystemExit(
        "offline SQL generation (--sql) is not supported: the revisions inspect the "
        "database they migrate; run against a database instead"
    )
given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    _run_from_command_line()
