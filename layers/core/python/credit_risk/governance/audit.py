"""The audit trail: an append-only, hash-chained record of every decision and lookup.

Each row of ``audit.decisions`` records when, who (subject and role), which request,
what was done (``predict``, ``risk_score``, ``promote``, ``rollback``), for which
customer (pseudonymised key), with which model (version and artifact sha256), the sha256
of the input (never the input itself: it may hold personal data) and the output with its
reasons. Its ``row_hash`` is the sha256 of all of that plus the previous row's hash, so
changing, removing or inserting any row breaks the chain from that row on, and
:func:`verify_chain` says which row. The database refuses UPDATE and DELETE on the table
as well (see :mod:`credit_risk.db.migrations`).

A whole-tail rewrite (every hash after a row recomputed) is only caught against a head
hash kept elsewhere: pass it as ``anchor`` to :func:`verify_chain`.

Check a database from a shell (exit status 1 when the chain is broken)::

    python -m credit_risk verify-audit [--database-url URL] [--anchor SEQ:HASH]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from credit_risk.db import schema
from credit_risk.db.engine import is_postgres

GENESIS = "0" * 64
"""The ``prev_hash`` of the first row."""
_LOCK_KEY = 0x61756469742D31  # pg advisory lock id: one appender at a time on Postgres
_table = schema.decisions_audit
_HASHED = (
    "seq",
    "at",
    "caller",
    "role",
    "request_id",
    "action",
    "customer_key",
    "model_version",
    "artifact_sha256",
    "input_sha256",
    "output",
    "prev_hash",
)


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, no NaN (what hashes are taken of)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_text(value: str) -> str:
    """Hex sha256 of a text's UTF-8 bytes."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def input_hash(payload: Any) -> str:
    """The sha256 of a request's input, independent of key order and spacing."""
    return sha256_text(canonical_json(payload))


def _at_text(value: datetime | str) -> str:
    """A timestamp as UTC ISO text to the microsecond, whatever the database returned.

    Postgres gives aware datetimes in the session's time zone; SQLite gives naive ones
    (stored as UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def row_hash(row: Mapping[str, Any]) -> str:
    """The hash of one audit row: every recorded field plus the previous row's hash."""
    fields = {name: row[name] for name in _HASHED}
    fields["at"] = _at_text(row["at"])
    fields["seq"] = int(row["seq"])
    return sha256_text(canonical_json(fields))


@dataclass(frozen=True)
class AuditRecord:
    """What happened, as the caller of :meth:`AuditTrail.append` states it."""

    caller: str
    role: str
    request_id: str
    action: str
    input_sha256: str
    output: Mapping[str, Any]
    customer_key: str | None = None
    model_version: str | None = None
    artifact_sha256: str | None = None


class AuditTrail:
    """Appends to and reads the chained audit table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = is_postgres(engine)

    def append(
        self, conn: Connection, record: AuditRecord, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Append ``record`` inside the caller's transaction; return the stored row.

        Appends are serialised (a Postgres advisory lock; SQLite's write lock), so two
        requests never chain to the same previous row.
        """
        if self._postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        last = conn.execute(
            select(_table.c.seq, _table.c.row_hash).order_by(_table.c.seq.desc()).limit(1)
        ).first()
        row: dict[str, Any] = {
            "seq": 1 if last is None else int(last[0]) + 1,
            "at": (at or datetime.now(UTC)).astimezone(UTC),
            "caller": record.caller[:200],
            "role": record.role,
            "request_id": record.request_id[:80],
            "action": record.action,
            "customer_key": record.customer_key,
            "model_version": record.model_version,
            "artifact_sha256": record.artifact_sha256,
            "input_sha256": record.input_sha256,
            "output": canonical_json(record.output),
            "prev_hash": GENESIS if last is None else last[1],
        }
        row["row_hash"] = row_hash(row)
        conn.execute(insert(_table), row)  # parameters apart: the statement compiles once
        return row

    def record(self, record: AuditRecord) -> dict[str, Any]:
        """Append ``record`` in a transaction of its own."""
        with self.engine.begin() as conn:
            return self.append(conn, record)

    def rows(self, *, after: int = 0, batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Every row with ``seq`` above ``after``, in chain order, read in batches."""
        last = after
        while True:
            with self.engine.connect() as conn:
                chunk = (
                    conn.execute(
                        select(_table)
                        .where(_table.c.seq > last)
                        .order_by(_table.c.seq)
                        .limit(batch)
                    )
                    .mappings()
                    .all()
                )
            if not chunk:
                return
            for row in chunk:
                yield dict(row)
            last = int(chunk[-1]["seq"])


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`."""

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.rows} rows, head {self.head_seq}:{self.head_hash}"
        return f"audit chain BROKEN at row {self.first_bad_seq}: {self.problem}"


def _first_problem(
    row: dict[str, Any], expected_seq: int, prev_hash: str, anchor: tuple[int, str] | None
) -> tuple[int, str] | None:
    """The tampered row's seq and what happened to it, or None when ``row`` checks out."""
    seq = int(row["seq"])
    if seq != expected_seq:
        missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
        return expected_seq, f"row(s) {missing} are missing: deleted"
    if row_hash(row) != row["row_hash"]:
        return seq, "its contents no longer match its hash: the row was changed"
    if row["prev_hash"] != prev_hash:
        return seq - 1, (
            f"row {seq} does not chain to it: row {seq - 1} was changed and re-hashed "
            f"(or row {seq} was rewritten)"
        )
    if anchor is not None and seq == anchor[0] and row["row_hash"] != anchor[1]:
        return seq, "its hash differs from the anchor recorded earlier: rewritten"
    return None


def verify_chain(engine: Engine, *, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Walk the audit trail from its first row and report the first row that was tampered.

    A row whose fields no longer hash to its ``row_hash`` was changed; a row whose
    ``prev_hash`` is not the previous row's hash follows a row that was changed and
    re-hashed (or was itself rewritten); a gap in ``seq`` is a deleted row. ``anchor``,
    a ``(seq, row_hash)`` pair recorded elsewhere earlier, also catches a rewritten or
    truncated tail.
    """
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for row in AuditTrail(engine).rows():
        problem = _first_problem(row, expected_seq, prev_hash, anchor)
        if problem is not None:
            return ChainReport(False, count, expected_seq - 1, prev_hash, *problem)
        prev_hash, expected_seq, count = row["row_hash"], int(row["seq"]) + 1, count + 1
    if anchor is not None and anchor[0] >= expected_seq:
        return ChainReport(
            False,
            count,
            expected_seq - 1,
            prev_hash,
            expected_seq,
            f"the chain ends at row {expected_seq - 1} but the anchor names row {anchor[0]}: "
            "rows were removed from the end",
        )
    return ChainReport(True, count, expected_seq - 1, prev_hash)
