"""The audit trail: an append-only, hash-chained record of every decision and lookup.

Each row of ``audit.decisions`` records when, who (subject and role), which request,
what was done (``predict``, ``risk_score``, ``data_access``, ``erasure``, ``promote``,
``rollback``), for which customer (pseudonymised key), with which model (version and
artifact sha256), the keyed hash of the input (HMAC-SHA256 under the pseudonym key; never
the input itself, nor an unkeyed hash of it: it names customers) and the output with its
reasons. Its ``row_hash`` is the sha256 of all of that plus the previous row's hash in its
chain, so changing, removing or inserting any row breaks the chain from that row on, and
:func:`verify_chain` says which row. The database refuses UPDATE and DELETE on the table
as well (see ``sql/queries/audit_append_only.*.sql``).

One chain would serialise every API container in AWS: each append waits for the previous
row's hash. So the trail is ``CHAINS`` chains (``c00`` …), and each process (a Lambda
container) appends to one it picks at random when it starts. Appends to one chain take
turns behind that chain's advisory lock on Postgres (SQLite's write lock on SQLite), but
the lock is not what keeps the chain whole: the unique index on (``chain_id``,
``chain_seq``) lets one row only take each place in a chain, and the insert itself
checks, in the same statement, that the row it chains to is there with the hash it
names. (The lock makes writers on one chain take turns: without it the writer that
appended last, knowing the head, won the next place over and over.) The process remembers
its chain's head (place, hash, seq) once each append of its own commits, so an append is
the next number of the global order (which the caller may draw in its own first
statement: :attr:`AuditTrail.next_seq`) and one insert, which takes the lock itself, with
no read of the head. Only
when that insert takes no row (another process appended to the chain, or a rolled-back
append left the remembered head behind) does it read the chain's head and try again.
Containers on different chains never wait
for each other; two on one chain wait only while one's inserted row is uncommitted
(``bench_audit_scale.py`` measures that window). Rows keep one global order (``seq``,
from a sequence on Postgres; taken under the write lock on SQLite); a row's place in its
chain is ``chain_seq``, both are in its hash, and along a chain both increase (a row's
number is above that of the row it chains to: drawn after that row committed, or checked
against it). Rows written before chains existed have none and stay the one chain they
were, ordered by ``seq``.

A database user who lifts the guard can still delete the newest rows, or append a row
with a recomputed hash. Two things outside the database catch that: every row carries a
``row_mac``, its hash signed with the audit seal key (a secret the database does not
hold), and the heads of every chain are sealed together regularly (every N rows or M
minutes, and at each erasure) into one signed object in an S3 bucket with Object Lock
(:mod:`.seal`).
:func:`verify_audit` checks the chain against the newest seal and names the first bad row
for an edited, deleted, truncated, forged or malformed row.

Check a database from a shell (exit status 1 when the chain is broken)::

    python -m credit_risk verify-audit [--database-url URL] [--anchor SEQ:HASH] [--no-seal]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Text,
    bindparam,
    func,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from credit_risk.adapters.observability import logger
from credit_risk.db import schema
from credit_risk.db.engine import DriverStatement, is_postgres
from credit_risk.errors import NotFoundError, TransientError
from credit_risk.governance.seal import (
    LEGACY_CHAIN,
    Seal,
    SealError,
    SealStore,
    is_hex64,
    row_mac,
)

GENESIS = "0" * 64
"""The ``prev_hash`` of the first row."""
_EMPTY = (0, GENESIS, 0)  # the head of an empty chain: (place, hash, seq)
CHAINS = 32
"""How many chains the trail has: the number of appends that can run at once."""
ATTEMPTS = 8
"""How many times an append tries for its chain's next place before it gives up."""
_SEQUENCE = "audit.decisions_seq"  # Postgres (revision 0008)
# Postgres advisory lock ids: appends to chain i take turns behind lock _QUEUE_KEY + i
_QUEUE_KEY = 0x61756469742D31
_QUEUE = text("SELECT pg_advisory_xact_lock(:key)")
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
    """The hash of one audit row: every recorded field plus the previous row's hash in its
    chain, and its chain and place in it (rows from before chains have neither)."""
    fields = {name: row[name] for name in _HASHED}
    fields["at"] = _at_text(row["at"])
    fields["seq"] = int(row["seq"])
    if row.get("chain_id") is not None or row.get("chain_seq") is not None:
        fields["chain_id"] = row.get("chain_id")
        fields["chain_seq"] = row.get("chain_seq")
    return sha256_text(canonical_json(fields))


def _place_taking_inserts(postgres: bool) -> tuple[Any, Any]:
    """The two inserts of an append, built once: of a chain's first row, and of a row
    after another. Each takes nothing (and the transaction goes on) when its place is
    taken already, and returns the inserted row's seq otherwise. The second sets
    ``prev_hash`` from the row it chains to, found by its place and hash: when that row is
    not there the value is NULL, which the column refuses, so no row ever chains to a
    missing one. On Postgres the second also takes the chain's advisory lock (``queue``),
    in the same subquery: when it must wait, it waits there, and then finds its place taken
    or free as the lock's holder committed it."""
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    place = [_table.c.chain_id, _table.c.chain_seq]
    after: Any = _table.alias("p")  # short: the driver scans the text on every execution
    found_in = after
    if postgres:
        # The chain's advisory lock, taken by the insert itself (a statement of its own
        # cost three round trips with pg8000): the row it chains to is found joined to
        # the lock, before the insert looks at its place.
        queue = select(func.pg_advisory_xact_lock(bindparam("queue", type_=BigInteger)).label("l"))
        found_in = after.join(queue.subquery("q"), true())
    chained_to = (
        select(after.c.row_hash)
        .select_from(found_in)
        .where(
            after.c.chain_id == bindparam("after_chain"),
            after.c.chain_seq == bindparam("after_place", type_=BigInteger),
            after.c.row_hash == bindparam("after_hash"),
        )
        .scalar_subquery()
    )
    first = dialect_insert(_table).on_conflict_do_nothing(index_elements=place)
    after_another = (
        dialect_insert(_table)
        .values(prev_hash=chained_to)
        .on_conflict_do_nothing(index_elements=place)
    )
    return first.returning(_table.c.seq), after_another.returning(_table.c.seq)


def chain_name(index: int) -> str:
    """The name of chain ``index`` (``c00``, ``c01``, …)."""
    return f"c{index:02d}"


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
        chain: int | None = None,
    ) -> None:
        self.engine = engine
        # This process's chain: at random, so containers spread over the chains.
        self.chain_index = secrets.randbelow(CHAINS) if chain is None else chain % CHAINS
        self.chain = chain_name(self.chain_index)
        self._postgres = is_postgres(engine)
        self.key = key
        self.seals = seals
        self.seal_every_rows = seal_every_rows
        self.seal_every_seconds = seal_every_seconds
        self._clock = clock
        self._seal_lock = threading.Lock()
        self._sealed: tuple[int, float] | None = None  # (seq, clock) of this process's last
        self._legacy_head: tuple[int, str] | tuple[()] | None = None
        # This chain's newest row as far as this process knows: (place, hash, seq) of its
        # own last committed append; None until it has written one.
        self._known_head: tuple[int, str, int] | None = None
        self._head_lock = threading.Lock()
        # The statements, built once (each append binds its values).
        in_chain = _table.c.chain_id == bindparam("chain")
        newest = _table.c.chain_seq.desc()
        if self._postgres:
            seq_value: Any = func.nextval(_SEQUENCE)
        else:  # the write lock is held already (BEGIN IMMEDIATE): the next number is free
            seq_value = select(func.coalesce(func.max(_table.c.seq), 0) + 1).scalar_subquery()
        self.next_seq: Any = seq_value
        """The next number of the rows' global order, as an expression: a caller may
        select it in its transaction's first statement and hand it to :meth:`append`
        (one statement fewer per append)."""
        self._next_seq = select(seq_value)
        # The next number and the chain's head, in one statement (after a lost place).
        self._head = select(
            seq_value,
            select(_table.c.chain_seq).where(in_chain).order_by(newest).limit(1).scalar_subquery(),
            select(_table.c.row_hash).where(in_chain).order_by(newest).limit(1).scalar_subquery(),
        )
        self._newest = (
            select(_table.c.chain_seq, _table.c.row_hash, _table.c.seq)
            .where(in_chain)
            .order_by(newest)
            .limit(1)
        )
        first, after_another = _place_taking_inserts(self._postgres)
        self._insert_first = DriverStatement(first, engine)
        # Its prev_hash is the statement's own subquery; every other column is bound.
        bound = [c.name for c in _table.c if c.name != "prev_hash"]
        self._insert_next = DriverStatement(after_another, engine, columns=bound)

    def append(
        self,
        conn: Connection,
        record: AuditRecord,
        *,
        at: datetime | None = None,
        seq: int | None = None,
    ) -> dict[str, Any]:
        """Append ``record`` to this process's chain inside the caller's transaction;
        return the stored row.

        The row takes the place after the chain's head this process knows (its own last
        committed append), with the next number (``seq`` when the caller drew it with
        :attr:`next_seq` earlier in this transaction and it is above the head's; else one
        drawn here), in one insert that takes the place only if it is free and the row
        it chains to is there with that hash, behind the chain's advisory lock on
        Postgres (appends to one chain take turns). When another process took the place
        meanwhile, it reads the chain's head, draws again and retries, up to
        ``ATTEMPTS`` tries in all. Two rows never chain to the same row (the unique index
        on the chain and place), and none to a row that is not there. Once the
        transaction commits, pass the row to :meth:`seal_if_due` (which also makes it
        the head this process knows; a rolled-back append never does).
        """
        row: dict[str, Any] = {
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
            "chain_id": self.chain,
        }
        with self._head_lock:
            head = self._known_head  # (place, hash, seq) of the row to chain to; None: unknown
        drawn = seq
        for _attempt in range(ATTEMPTS):
            if head is None and drawn is None:  # the head and a number, in one statement
                found = conn.execute(self._head, {"chain": self.chain}).one()
                drawn = int(found[0])
                head = _EMPTY if found[1] is None else (int(found[1]), str(found[2]), 0)
            elif head is None:  # the caller drew the number: the head alone
                newest = conn.execute(self._newest, {"chain": self.chain}).first()
                head = (
                    _EMPTY if newest is None else (int(newest[0]), str(newest[1]), int(newest[2]))
                )
            if drawn is None or drawn <= head[2]:
                # Drawn after the head committed: above every number along the chain.
                drawn = int(conn.execute(self._next_seq).scalar_one())
            row["seq"] = drawn
            row["chain_seq"] = head[0] + 1
            row["prev_hash"] = head[1]
            row["row_hash"] = row_hash(row)
            row["row_mac"] = None if self.key is None else row_mac(self.key, row["row_hash"])
            if self._insert(conn, row) is not None:
                return dict(row)
            head = drawn = None  # the place was taken: read the head and draw again
        raise TransientError(
            f"audit chain {self.chain} is busy: no free place after {ATTEMPTS} attempts; try again"
        )

    def _insert(self, conn: Connection, row: dict[str, Any]) -> Any:
        """Insert ``row`` if its place in its chain is free: the inserted seq, or None
        when another row holds the place (the transaction goes on either way).

        On Postgres, appends to one chain take turns behind its advisory lock, held until
        the transaction ends. Without it the writer that appended last, knowing the head,
        wins the next place again and again over one that lost a place and must read the
        head (bench_audit_scale: 16 writers on one chain ran out of tries)."""
        queue = _QUEUE_KEY + self.chain_index
        if row["chain_seq"] == 1:
            if self._postgres:  # a chain's first row: once in its life, the lock on its own
                conn.execute(_QUEUE, {"key": queue})
            return self._insert_first.execute(conn, row).scalar()
        params = {k: v for k, v in row.items() if k != "prev_hash"}
        params |= {"after_chain": row["chain_id"], "after_place": row["chain_seq"] - 1}
        params["after_hash"] = row["prev_hash"]
        if self._postgres:
            params["queue"] = queue
        try:
            return self._insert_next.execute(conn, params).scalar()
        except DBAPIError as exc:  # pg8000 names a NOT NULL violation a ProgrammingError
            # The row it chains to is not there with that hash (a NULL prev_hash): the
            # head this process knew was never committed, or the rows were lost. Nothing
            # was written; forget the head so that the next append reads it.
            with self._head_lock:
                self._known_head = None
            raise TransientError(
                f"audit chain {self.chain}: the row this append chained to is not in the "
                "trail; try again"
            ) from exc

    def _committed(self, row: Mapping[str, Any]) -> None:
        """Remember committed ``row`` as this chain's head (if it is newer)."""
        if row.get("chain_id") != self.chain or row.get("chain_seq") is None:
            return
        place = int(row["chain_seq"])
        with self._head_lock:
            if self._known_head is None or place > self._known_head[0]:
                self._known_head = (place, str(row["row_hash"]), int(row["seq"]))

    def record(self, record: AuditRecord) -> dict[str, Any]:
        """Append ``record`` in a transaction of its own (and seal the head when due)."""
        with self.engine.begin() as conn:
            row = self.append(conn, record)
        self.seal_if_due(row)
        return row

    def seal_if_due(self, row: Mapping[str, Any], *, reason: str | None = None) -> Seal | None:
        """Seal every chain's head after committed ``row`` when a seal is due, or always
        when a ``reason`` is given. A failure to seal is logged, never raised: the request
        it follows has committed, and the next append seals again.

        ``row`` (this trail's own, committed) becomes the head of its chain this process
        knows, where its next append goes."""
        self._committed(row)
        if self.seals is None:
            return None
        if reason is None:
            reason = self._due(int(row["seq"]))
            if reason is None:
                return None
        return self._seal(reason)

    def seal_head(self, reason: str = "on request") -> Seal | None:
        """Seal every chain's newest committed row now; None when the trail is empty."""
        return None if self.seals is None else self._seal(reason)

    def _due(self, seq: int) -> str | None:
        """Why row ``seq`` is due a seal (first append, rows, time), or None."""
        now = self._clock()
        with self._seal_lock:
            last = self._sealed
        if last is None:
            return "first append"
        if seq - last[0] >= self.seal_every_rows:
            return "rows"
        if seq > last[0] and now - last[1] >= self.seal_every_seconds:
            return "time"
        return None

    def _seal(self, reason: str) -> Seal | None:
        assert self.seals is not None
        now = self._clock()
        try:
            seal = self._seal_of_heads(reason)
            if seal is None:
                return None
            self.seals.put(seal)
        except Exception as exc:  # sealing must not fail a committed request
            logger.warning(
                "audit seal failed", extra={"reason": reason, "error": type(exc).__name__}
            )
            return None
        with self._seal_lock:
            if self._sealed is None or seal.seq >= self._sealed[0]:
                self._sealed = (seal.seq, now)
        return seal

    def heads(self) -> dict[str, tuple[int, int, str]]:
        """Every chain's newest committed row: ``{chain: (seq, position, row_hash)}``
        (the rows from before chains: chain ``""``, placed by ``seq``). One index look-up
        per chain, in one statement."""
        c = _table.c
        newest = [
            select(c.chain_id, c.seq, c.chain_seq, c.row_hash)
            .where(c.chain_id == chain_name(i))
            .order_by(c.chain_seq.desc())
            .limit(1)
            .subquery()
            for i in range(CHAINS)
        ]
        with self.engine.connect() as conn:
            found = conn.execute(union_all(*(select(q) for q in newest))).all()
            if self._legacy_head is None:  # rows from before chains never change
                legacy = conn.execute(
                    select(c.seq, c.row_hash)
                    .where(c.chain_id.is_(None))
                    .order_by(c.seq.desc())
                    .limit(1)
                ).first()
                self._legacy_head = () if legacy is None else (int(legacy[0]), str(legacy[1]))
        heads = {str(ch): (int(seq), int(pos), str(h)) for ch, seq, pos, h in found}
        if self._legacy_head:
            seq, digest = self._legacy_head
            heads[LEGACY_CHAIN] = (seq, seq, digest)
        return heads

    def _seal_of_heads(self, reason: str) -> Seal | None:
        head = self.heads()
        if not head:
            return None
        seq, _position, digest = max(head.values(), key=lambda h: h[0])
        return Seal(
            seq=seq,
            row_hash=digest,
            sealed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            reason=reason,
            heads=dict(head),
        )

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
    chains: int = 1

    def __str__(self) -> str:
        if self.ok:
            sealed = "" if self.sealed_seq is None else f", sealed up to row {self.sealed_seq}"
            chains = "" if self.chains <= 1 else f", in {self.chains} chains"
            return (
                f"audit chain intact: {self.rows} rows, head {self.head_seq}:{self.head_hash}"
                + chains
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
    chain, position = row.get("chain_id"), row.get("chain_seq")
    if (chain is None) != (position is None):
        return "it has a chain without a place in it, or a place without a chain"
    if chain is not None and (not isinstance(chain, str) or not chain):
        return "its chain is not a name"
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        return "its place in its chain is not a whole number"
    try:
        _at_text(row["at"])
    except (TypeError, ValueError, AttributeError):
        return "its timestamp is missing or not a timestamp"
    return None


@dataclass
class _Chain:
    """One chain as far as the verifier has read it."""

    expected: int = 1  # the next position
    prev_hash: str = GENESIS
    last_seq: int = 0  # the global seq of its last row


def _missing(first: int, last: int) -> str:
    return f"{first}" if first == last else f"{first}-{last}"


@dataclass
class _Walk:
    """What the verifier knows after the rows read so far."""

    key: bytes | None
    seal: Seal | None
    anchor: tuple[int, str] | None
    chains: dict[str, _Chain] = field(default_factory=dict)
    last_seq: int = 0
    head_hash: str = GENESIS
    count: int = 0
    macs_seen: bool = False
    anchor_seen: bool = False

    def problem(self, row: dict[str, Any]) -> tuple[int, str] | None:
        """The tampered row's seq and what happened to it, or None when it checks out."""
        raw_seq = row["seq"]
        if isinstance(raw_seq, bool) or not isinstance(raw_seq, int):
            return self.last_seq + 1, "its seq is not a whole number: the row was tampered with"
        seq = raw_seq
        if seq <= self.last_seq:
            return self.last_seq + 1, f"a row repeats seq {seq}: inserted"
        malformed = _malformed(row)
        if malformed is not None:
            return seq, f"{malformed}: the row was tampered with"
        mac = self._mac_problem(row, seq)
        if mac is not None:
            return mac
        if row_hash(row) != row["row_hash"]:
            return seq, "its contents no longer match its hash: the row was changed"
        return self._place_problem(row, seq)

    def _place_problem(self, row: dict[str, Any], seq: int) -> tuple[int, str] | None:
        legacy = row["chain_id"] is None
        name = LEGACY_CHAIN if legacy else str(row["chain_id"])
        if legacy and any(c != LEGACY_CHAIN for c in self.chains):
            return seq, "a row without a chain after the chains began: inserted"
        chain = self.chains.setdefault(name, _Chain())
        position = seq if legacy else int(row["chain_seq"])
        where = "" if legacy else f" of chain {name}"
        if position != chain.expected:
            if position < chain.expected:
                return seq, f"a row repeats place {position}{where}: inserted"
            missing = _missing(chain.expected, position - 1)
            if chain.last_seq and len(self.chains) == 1:  # one chain: the gap is exact
                return chain.last_seq + 1, f"row(s) {missing} are missing: deleted"
            # several: the deleted rows' own numbers are gone; the row after the gap
            return seq, f"row(s) {missing}{where} are missing before row {seq}: deleted"
        if row["prev_hash"] != chain.prev_hash:
            return chain.last_seq or seq, (
                f"row {seq} does not chain to it: row {chain.last_seq} was changed and "
                f"re-hashed (or row {seq} was rewritten)"
            )
        sealed = None if self.seal is None else self.seal.chain_heads().get(name)
        if sealed is not None and position == sealed[1] and row["row_hash"] != sealed[2]:
            return seq, "its hash differs from the seal recorded earlier: rewritten"
        if self.anchor is not None and seq == self.anchor[0]:
            self.anchor_seen = True
            if row["row_hash"] != self.anchor[1]:
                return seq, "its hash differs from the anchor recorded earlier: rewritten"
        chain.expected, chain.prev_hash, chain.last_seq = position + 1, row["row_hash"], seq
        self.last_seq, self.head_hash = seq, row["row_hash"]
        self.count += 1
        return None

    def _mac_problem(self, row: dict[str, Any], seq: int) -> tuple[int, str] | None:
        if self.key is None:
            return None
        mac = row.get("row_mac")
        if mac is None:
            # Rows written before rows were signed are chained and sealed only.
            if self.macs_seen or (self.seal is not None and seq > self.seal.seq):
                return seq, "it is not signed with the audit key: forged (appended outside)"
            return None
        self.macs_seen = True
        if not hmac.compare_digest(mac, row_mac(self.key, row["row_hash"])):
            return seq, "its signature does not match: forged or re-hashed outside the platform"
        return None

    def missing_tail(self) -> tuple[int, str] | None:
        """The first row a seal or anchor names beyond the end of its chain."""
        if self.seal is not None:
            for name, (seq, position, _digest) in sorted(self.seal.chain_heads().items()):
                chain = self.chains.get(name, _Chain())
                if position >= chain.expected:
                    where = "" if name == LEGACY_CHAIN else f" of chain {name}"
                    missing = _missing(chain.expected, position)
                    # One chain: the first removed row follows its last; several: the
                    # sealed head is one row certainly removed.
                    first = chain.last_seq + 1 if len(self.chains) <= 1 else seq
                    return first, (
                        f"the chain{where} ends at row {chain.expected - 1} but the seal "
                        f"names row {position}: row(s) {missing}{where} were removed from "
                        "the end"
                    )
        if self.anchor is not None and not self.anchor_seen:
            return self.anchor[0], (
                f"the anchor names row {self.anchor[0]}, which is not in the trail: removed"
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

    Every chain is walked in order: a row whose fields no longer hash to its ``row_hash``
    was changed; a row whose ``prev_hash`` is not its chain's previous row's hash follows
    a row that was changed and re-hashed (or was itself rewritten); a gap in a chain's
    places is a deleted row; a field that is not of its kind (a timestamp that is none, a
    hash that is not hex, a null) names its row. ``seal`` (the newest seal: every chain's
    head) and ``anchor`` (a ``(seq, row_hash)`` pair recorded elsewhere) also catch a
    rewritten or truncated tail; ``key`` (the audit seal key) catches rows appended or
    re-hashed by someone who does not hold it.
    """
    walk = _Walk(key, seal, anchor)
    sealed = None if seal is None else seal.seq

    def report(problem: tuple[int, str] | None) -> ChainReport:
        if problem is None:
            return ChainReport(
                True,
                walk.count,
                walk.last_seq,
                walk.head_hash,
                None,
                None,
                sealed,
                max(1, len(walk.chains)),
            )
        return ChainReport(
            False,
            walk.count,
            walk.last_seq,
            walk.head_hash,
            *problem,
            sealed,
            max(1, len(walk.chains)),
        )

    for row in AuditTrail(engine, chain=0).rows(raw=True):
        problem = walk.problem(row)
        if problem is not None:
            return report(problem)
    return report(walk.missing_tail())


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
