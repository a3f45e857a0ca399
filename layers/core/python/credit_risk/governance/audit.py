"""The audit trail: an append-only, hash-chained record of every decision and lookup.

Each row of ``audit.decisions`` records when, who (subject and role), which request,
what was done (``predict``, ``risk_score``, ``data_access``, ``erasure``, ``promote``,
``rollback``), for which customer (pseudonymised key), with which model (version and
artifact sha256), the keyed hash of the input (HMAC-SHA256 under the pseudonym key; never
the input itself, nor an unkeyed hash of it: it names customers) and the output with its
reasons. Its ``row_hash`` is the sha256 of all of that plus the previous row's hash, so
changing, removing or inserting any row breaks the chain from that row on, and
:func:`verify_chain` says which row. The database refuses UPDATE and DELETE on the table
as well (see :mod:`credit_risk.db.migrations`).

A database user who lifts the guard can still delete the newest rows, or append a row
with a recomputed hash. Two things outside the database catch that: every row carries a
``row_mac``, its hash signed with the audit seal key (a secret the database does not
hold), and the head is sealed regularly (every N rows or M minutes, and at each erasure)
into a signed object in an S3 bucket with Object Lock (:mod:`.seal`).
:func:`verify_audit` checks the chain against the newest seal and names the first bad row
for an edited, deleted, truncated, forged or malformed row.

Check a database from a shell (exit status 1 when the chain is broken)::

    python -m credit_risk verify-audit [--database-url URL] [--anchor SEQ:HASH] [--no-seal]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Text, insert, select, text, type_coerce

from credit_risk.adapters.observability import logger
from credit_risk.db import schema
from credit_risk.db.engine import is_postgres
from credit_risk.errors import NotFoundError
from credit_risk.governance.seal import Seal, SealError, SealStore, is_hex64, row_mac

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
    """Hex sha256 of a text's UTF-8 bytes (the chain's row hash; never an identifier)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def input_hash(payload: Any, key: bytes) -> str:
    """The keyed hash of a request's input (hex HMAC-SHA256 under the pseudonym key),
    independent of key order and spacing.

    Keyed because inputs name customers: a plain sha256 of ``{"customer_id": ...}`` is
    reversed by hashing every customer number."""
    if not key:
        raise ValueError("the input hash key is empty")
    return hmac.new(key, canonical_json(payload).encode("utf-8"), hashlib.sha256).hexdigest()


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
    """Appends to and reads the chained audit table, and seals its head.

    ``key`` (the audit seal key) signs every appended row; ``seals`` receives the head
    after every ``seal_every_rows`` rows, after ``seal_every_seconds`` with new rows, on
    a container's first append and whenever a caller asks (an erasure). Without them the
    trail is chained only.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        key: bytes | None = None,
        seals: SealStore | None = None,
        seal_every_rows: int = 1000,
        seal_every_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self._postgres = is_postgres(engine)
        self.key = key
        self.seals = seals
        self.seal_every_rows = seal_every_rows
        self.seal_every_seconds = seal_every_seconds
        self._clock = clock
        self._seal_lock = threading.Lock()
        self._sealed: tuple[int, float] | None = None  # (seq, clock) of this process's last

    def append(
        self, conn: Connection, record: AuditRecord, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Append ``record`` inside the caller's transaction; return the stored row.

        Appends are serialised (a Postgres advisory lock; SQLite's write lock), so two
        requests never chain to the same previous row. Once the transaction commits, pass
        the row to :meth:`seal_if_due`.
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
        row["row_mac"] = None if self.key is None else row_mac(self.key, row["row_hash"])
        conn.execute(insert(_table), row)  # parameters apart: the statement compiles once
        return row

    def record(self, record: AuditRecord) -> dict[str, Any]:
        """Append ``record`` in a transaction of its own (and seal the head when due)."""
        with self.engine.begin() as conn:
            row = self.append(conn, record)
        self.seal_if_due(row)
        return row

    def seal_if_due(self, row: Mapping[str, Any], *, reason: str | None = None) -> Seal | None:
        """Seal committed ``row`` as the head when a seal is due, or always when a
        ``reason`` is given. A failure to seal is logged, never raised: the request it
        follows has committed, and the next append seals again."""
        if self.seals is None:
            return None
        seq, now = int(row["seq"]), self._clock()
        with self._seal_lock:
            last = self._sealed
            if reason is None:
                if last is None:
                    reason = "first append"
                elif seq - last[0] >= self.seal_every_rows:
                    reason = "rows"
                elif seq > last[0] and now - last[1] >= self.seal_every_seconds:
                    reason = "time"
                else:
                    return None
        seal = Seal(
            seq=seq,
            row_hash=str(row["row_hash"]),
            sealed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            reason=reason,
        )
        try:
            self.seals.put(seal)
        except Exception as exc:  # sealing must not fail a committed request
            logger.warning("audit seal failed", extra={"seq": seq, "error": type(exc).__name__})
            return None
        with self._seal_lock:
            if self._sealed is None or seq >= self._sealed[0]:
                self._sealed = (seq, now)
        return seal

    def seal_head(self, reason: str = "on request") -> Seal | None:
        """Seal the newest committed row now; None when the trail is empty."""
        with self.engine.connect() as conn:
            head = (
                conn.execute(
                    select(_table.c.seq, _table.c.row_hash).order_by(_table.c.seq.desc()).limit(1)
                )
                .mappings()
                .first()
            )
        return None if head is None else self.seal_if_due(dict(head), reason=reason)

    def rows(
        self, *, after: int = 0, batch: int = 2000, raw: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every row with ``seq`` above ``after``, in chain order, read in batches.

        ``raw``: timestamps come back as stored where the database keeps text (SQLite),
        so that a tampered one reaches the verifier instead of failing the read."""
        columns = [
            type_coerce(c, Text).label(c.name)
            if raw and c.name == "at" and not self._postgres
            else c
            for c in _table.c
        ]
        last: Any = after
        while True:
            with self.engine.connect() as conn:
                chunk = (
                    conn.execute(
                        select(*columns)
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
            if chunk[-1]["seq"] == last:
                return
            last = chunk[-1]["seq"]


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`."""

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    sealed_seq: int | None = None

    def __str__(self) -> str:
        if self.ok:
            sealed = "" if self.sealed_seq is None else f", sealed up to row {self.sealed_seq}"
            return (
                f"audit chain intact: {self.rows} rows, head {self.head_seq}:{self.head_hash}"
                + sealed
            )
        if self.first_bad_seq is None:
            return f"audit chain BROKEN: {self.problem}"
        return f"audit chain BROKEN at row {self.first_bad_seq}: {self.problem}"


_TEXT_FIELDS = ("caller", "role", "request_id", "action", "output")


def _malformed(row: Mapping[str, Any]) -> str | None:
    """Which field of ``row`` is not of its kind at all (None when every one is)."""
    for name in _TEXT_FIELDS:
        if not isinstance(row[name], str):
            return f"its {name} is missing or not text"
    for name in ("customer_key", "model_version"):
        if row[name] is not None and not isinstance(row[name], str):
            return f"its {name} is not text"
    for name in ("row_hash", "prev_hash", "input_sha256"):
        if not is_hex64(row[name]):
            return f"its {name} is not a 64-digit hex hash"
    for name in ("artifact_sha256", "row_mac"):
        if row.get(name) is not None and not is_hex64(row[name]):
            return f"its {name} is not a 64-digit hex hash"
    try:
        _at_text(row["at"])
    except (TypeError, ValueError, AttributeError):
        return "its timestamp is missing or not a timestamp"
    return None


@dataclass
class _Walk:
    """What the verifier knows after the rows read so far."""

    key: bytes | None
    seal: tuple[int, str] | None
    anchor: tuple[int, str] | None
    expected_seq: int = 1
    prev_hash: str = GENESIS
    count: int = 0
    macs_seen: bool = False

    def problem(self, row: dict[str, Any]) -> tuple[int, str] | None:
        """The tampered row's seq and what happened to it, or None when it checks out."""
        raw_seq = row["seq"]
        if isinstance(raw_seq, bool) or not isinstance(raw_seq, int):
            return self.expected_seq, "its seq is not a whole number: the row was tampered with"
        seq = raw_seq
        if seq != self.expected_seq:
            if seq < self.expected_seq:
                return self.expected_seq, f"a row repeats seq {seq}: inserted"
            missing = (
                f"{self.expected_seq}"
                if seq == self.expected_seq + 1
                else f"{self.expected_seq}-{seq - 1}"
            )
            return self.expected_seq, f"row(s) {missing} are missing: deleted"
        malformed = _malformed(row)
        if malformed is not None:
            return seq, f"{malformed}: the row was tampered with"
        if row_hash(row) != row["row_hash"]:
            return seq, "its contents no longer match its hash: the row was changed"
        if row["prev_hash"] != self.prev_hash:
            return seq - 1, (
                f"row {seq} does not chain to it: row {seq - 1} was changed and re-hashed "
                f"(or row {seq} was rewritten)"
            )
        for name, mark in (("seal", self.seal), ("anchor", self.anchor)):
            if mark is not None and seq == mark[0] and row["row_hash"] != mark[1]:
                return seq, f"its hash differs from the {name} recorded earlier: rewritten"
        return self._mac_problem(row, seq)

    def _mac_problem(self, row: dict[str, Any], seq: int) -> tuple[int, str] | None:
        if self.key is None:
            return None
        mac = row.get("row_mac")
        if mac is None:
            # Rows written before rows were signed are chained and sealed only.
            if self.macs_seen or (self.seal is not None and seq > self.seal[0]):
                return seq, "it is not signed with the audit key: forged (appended outside)"
            return None
        self.macs_seen = True
        if not hmac.compare_digest(mac, row_mac(self.key, row["row_hash"])):
            return seq, "its signature does not match: forged or re-hashed outside the platform"
        return None

    def missing_tail(self) -> tuple[int, str] | None:
        """The first row a seal or anchor names beyond the end of the chain."""
        for name, mark in (("seal", self.seal), ("anchor", self.anchor)):
            if mark is not None and mark[0] >= self.expected_seq:
                missing = (
                    f"{self.expected_seq}"
                    if mark[0] == self.expected_seq
                    else f"{self.expected_seq}-{mark[0]}"
                )
                return self.expected_seq, (
                    f"the chain ends at row {self.expected_seq - 1} but the {name} names row "
                    f"{mark[0]}: row(s) {missing} were removed from the end"
                )
        return None


def verify_chain(
    engine: Engine,
    *,
    anchor: tuple[int, str] | None = None,
    key: bytes | None = None,
    seal: Seal | None = None,
) -> ChainReport:
    """Walk the audit trail from its first row and report the first row that was tampered.

    A row whose fields no longer hash to its ``row_hash`` was changed; a row whose
    ``prev_hash`` is not the previous row's hash follows a row that was changed and
    re-hashed (or was itself rewritten); a gap in ``seq`` is a deleted row; a field that
    is not of its kind (a timestamp that is none, a hash that is not hex, a null) names
    its row. ``seal`` (the newest seal) and ``anchor`` (a ``(seq, row_hash)`` pair
    recorded elsewhere) also catch a rewritten or truncated tail; ``key`` (the audit seal
    key) catches rows appended or re-hashed by someone who does not hold it.
    """
    walk = _Walk(key, None if seal is None else (seal.seq, seal.row_hash), anchor)
    sealed = None if seal is None else seal.seq

    def broken(problem: tuple[int, str]) -> ChainReport:
        return ChainReport(
            False, walk.count, walk.expected_seq - 1, walk.prev_hash, *problem, sealed
        )

    for row in AuditTrail(engine).rows(raw=True):
        problem = walk.problem(row)
        if problem is not None:
            return broken(problem)
        walk.prev_hash, walk.expected_seq = row["row_hash"], int(row["seq"]) + 1
        walk.count += 1
    tail = walk.missing_tail()
    if tail is not None:
        return broken(tail)
    return ChainReport(True, walk.count, walk.expected_seq - 1, walk.prev_hash, sealed_seq=sealed)


def verify_audit(
    engine: Engine,
    *,
    key: bytes,
    seals: SealStore,
    anchor: tuple[int, str] | None = None,
) -> ChainReport:
    """Verify the audit trail against the newest seal in ``seals`` and every row's
    signature under ``key``; a forged or malformed newest seal is reported as such."""
    try:
        seal = seals.latest()
    except (SealError, NotFoundError) as exc:
        return ChainReport(False, 0, 0, GENESIS, None, str(exc))
    report = verify_chain(engine, anchor=anchor, key=key, seal=seal)
    if report.ok and seal is None and report.rows:
        return ChainReport(
            False,
            report.rows,
            report.head_seq,
            report.head_hash,
            None,
            f"no seal of the head is in s3://{seals.bucket}: the trail was never sealed",
        )
    return report
