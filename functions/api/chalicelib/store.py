"""Data access for the API: a customer's latest application and score, new scores, and
what is held about a customer (GDPR access and erasure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from credit_risk.contract import Contract
from credit_risk.data.pseudonymise import erased
from credit_risk.db import schema
from credit_risk.db.engine import DriverStatement


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

    def __init__(
        self, engine: Engine, contract: Contract, *, read_also: Sequence[Any] = ()
    ) -> None:
        """``read_also``: expressions the request path's read selects too (their values
        come back with the application), so that the request need not send a statement
        of its own for them."""
        self.engine = engine
        self.contract = contract
        self.features = schema.features_table(contract, MetaData())
        self.scores = schema.scores
        # Built once, each row's values bound; the request path's two (the read below and
        # this insert) sent as plain text on Postgres (DriverStatement).
        self._insert_score = DriverStatement(insert(self.scores), engine)
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
        # The request path's one read, built once (parameters bound per call): a customer's
        # latest application and, in the same statement, when the customer was erased.
        # Through a short alias: the driver (pg8000) scans the statement's text on every
        # execution, and the table's qualified name before each column would triple it.
        latest = self.features.alias("f")
        erasures = schema.erasures.alias("e")
        erased_at = (
            select(erasures.c.erased_at)
            .where(erasures.c.customer_key == bindparam("customer_key"))
            .scalar_subquery()
            .label("_erased_at")
        )
        self._also = [value.label(f"_also_{i}") for i, value in enumerate(read_also)]
        self._select_latest_unless_erased = DriverStatement(
            select(
                latest.c.event_date,
                *(latest.c[c] for c in self._raw_columns),
                erased_at,
                *self._also,
            )
            .where(latest.c.customer_key == bindparam("customer_key"))
            .order_by(latest.c.event_date.desc(), latest.c.application_id.desc())
            .limit(1),
            engine,
        )

    def latest_application(self, customer_key: str) -> dict[str, Any] | None:
        """The customer's latest application as contract columns (no derived features,
        no personal data), or None when the customer has none on file."""
        query = self._select_latest.where(self.features.c.customer_key == customer_key)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else self._application_of(row)

    def latest_application_unless_erased(
        self, conn: Connection, customer_key: str
    ) -> tuple[dict[str, Any] | None, datetime | None, tuple[Any, ...]]:
        """The customer's latest application (as :meth:`latest_application`), when the
        customer was erased (or None), and the values of ``read_also`` (empty when no
        application is on file), read on ``conn`` (the request's transaction): one
        statement for a customer on file (the request path's one indexed read), a second
        primary-key read only for one not on file."""
        row = (
            self._select_latest_unless_erased.execute(conn, {"customer_key": customer_key})
            .mappings()
            .first()
        )
        if row is None:
            return None, self.erased_at(customer_key, conn), ()
        also = tuple(row[value.name] for value in self._also)
        return self._application_of(row), row["_erased_at"], also

    def _application_of(self, row: Any) -> dict[str, Any]:
        application = {c: row[c] for c in self._raw_columns}
        if self.event_field:
            application[self.event_field] = row["event_date"]
        return application

    def knows(self, customer_key: str, conn: Connection | None = None) -> bool:
        """True when the customer has an application or a score on file (read on
        ``conn`` when given)."""
        with self._reading(conn) as reading:
            for column in (self.features.c.customer_key, self.scores.c.customer_key):
                found = reading.execute(
                    select(column).where(column == customer_key).limit(1)
                ).first()
                if found is not None:
                    return True
        return False

    def erased_at(self, customer_key: str, conn: Connection | None = None) -> datetime | None:
        """When the customer was erased, or None (one primary-key read, on ``conn`` when
        given)."""
        t = schema.erasures
        with self._reading(conn) as reading:
            value = reading.execute(
                select(t.c.erased_at).where(t.c.customer_key == customer_key)
            ).scalar()
        return value

    def _reading(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        """``conn`` (the caller's transaction, left open), or a connection of its own."""
        return nullcontext(conn) if conn is not None else self.engine.connect()

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
        self._insert_score.execute(conn, record)


class PersonalDataStore:
    """Finds and erases what is held about one customer (GDPR access and erasure).

    Raw personal data lives only in ``staging``: ``staging.applications`` (found by the
    raw customer id, or by its pseudonym once erased) and the quarantined cells of rows
    that failed validation. ``analytics``, ``ml.scores`` and ``audit.decisions`` hold the
    pseudonym only.
    """

    def __init__(
        self, engine: Engine, contract: Contract, *, read_also: Sequence[Any] = ()
    ) -> None:
        """``read_also``: expressions the request path's read selects too (their values
        come back with the application), so that the request need not send a statement
        of its own for them."""
        self.engine = engine
        spec = contract.applications
        if spec.customer_key is None:
            raise ValueError("the contract names no customer key column")
        meta = MetaData()
        self.applications = schema.staging_table(contract, "applications", meta)
        self.features = schema.features_table(contract, meta)
        self.key_column = self.applications.c[spec.customer_key]
        self.personal = [c for c in spec.pii_columns if c != spec.customer_key]
        # A protected attribute's raw value is personal too (analytics keeps its pseudonym).
        self.personal += spec.protected_columns

    @staticmethod
    def _quarantined(conn: Connection, customer_id: str) -> Any:
        """Which quarantine rows name the customer: the cells of rows refused with the
        customer's key (whichever cell broke a rule), the cells holding the id, and the
        other bad cells of the same rejected rows. (The rows are listed first: SQLite
        does not settle a DELETE's subquery on its own table before deleting.)"""
        q = schema.quarantine
        names = or_(q.c.value == customer_id, q.c.customer_id == customer_id)
        rows = conn.execute(select(q.c.batch_id, q.c.row_number).where(names).distinct()).all()
        if not rows:
            return names
        pairs = [(batch, number) for batch, number in rows]
        return or_(names, tuple_(q.c.batch_id, q.c.row_number).in_(pairs))

    def find(self, customer_id: str, customer_key: str) -> dict[str, list[dict[str, Any]]]:
        """Every row held about the customer, by table, JSON-ready."""
        apps, q = self.applications, schema.quarantine
        with self.engine.connect() as conn:
            queries = {
                "staging.applications": select(apps)
                .where(self.key_column.in_([customer_id, erased(customer_key)]))
                .order_by(apps.c._batch_id, apps.c._row_number),
                "staging.quarantine": select(q)
                .where(self._quarantined(conn, customer_id))
                .order_by(q.c.batch_id, q.c.row_number, q.c.column_name),
                "analytics.application_features": select(self.features)
                .where(self.features.c.customer_key == customer_key)
                .order_by(self.features.c.event_date, self.features.c.application_id),
                "ml.scores": select(schema.scores)
                .where(schema.scores.c.customer_key == customer_key)
                .order_by(schema.scores.c.scored_at),
            }
            return {
                table: [
                    {k: _plain(v) for k, v in row.items()} for row in conn.execute(query).mappings()
                ]
                for table, query in queries.items()
            }

    def count_kept(self, customer_key: str) -> dict[str, int]:
        """How many pseudonymised rows of the customer each kept table holds."""
        counted = {
            "analytics.application_features": self.features.c.customer_key,
            "ml.scores": schema.scores.c.customer_key,
            "audit.decisions": schema.decisions_audit.c.customer_key,
        }
        with self.engine.connect() as conn:
            return {
                table: int(
                    conn.execute(
                        select(func.count()).select_from(column.table).where(column == customer_key)
                    ).scalar_one()
                )
                for table, column in counted.items()
            }

    def erase(self, conn: Connection, customer_id: str, customer_key: str) -> dict[str, int]:
        """Inside the caller's transaction: null the customer's personal data in staging
        (the customer key becomes its pseudonym, so rows stay joinable) and delete the
        quarantined cells naming the customer. Returns the rows changed per table."""
        nulled = conn.execute(
            update(self.applications)
            .where(self.key_column == customer_id)
            .values({self.key_column.name: erased(customer_key), **dict.fromkeys(self.personal)})
        ).rowcount
        deleted = conn.execute(
            delete(schema.quarantine).where(self._quarantined(conn, customer_id))
        )
        return {"staging.applications": int(nulled), "staging.quarantine": int(deleted.rowcount)}
