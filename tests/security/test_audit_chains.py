"""The audit trail is many chains, so API containers do not queue for one lock, and
tampering with any chain is still named: every chain's head is in one signed seal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine, delete, event, insert, text

from credit_risk.adapters.aws import ObjectStore
from credit_risk.db import schema
from credit_risk.db.engine import get_engine, is_postgres
from credit_risk.db.migrations import migrate
from credit_risk.errors import TransientError
from credit_risk.governance.audit import (
    _QUEUE_KEY,
    GENESIS,
    AuditRecord,
    AuditTrail,
    canonical_json,
    chain_name,
    row_hash,
    verify_audit,
)
from credit_risk.governance.seal import Seal, SealStore, row_mac, seal_object_key

KEY = b"audit-seal-key"
BUCKET = "seals"
T = schema.decisions_audit


@pytest.fixture
def seals() -> Iterator[SealStore]:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield SealStore(ObjectStore(), BUCKET, KEY)


def _record(n: int) -> AuditRecord:
    return AuditRecord("ops@tests", "scorer", f"r{n}", "predict", "a" * 64, {"n": n})


def _unguard(conn: Any) -> None:
    if is_postgres(conn.engine):
        conn.execute(text("ALTER TABLE audit.decisions DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER audit.decisions_no_update"))
        conn.execute(text("DROP TRIGGER audit.decisions_no_delete"))


def _two_writers(database_url: str, seals: SealStore) -> tuple[Any, AuditTrail, AuditTrail]:
    """Two containers on chains 3 and 7 appending in turn (rows 1-6), then sealed."""
    engine = get_engine(database_url)
    migrate(engine)
    a = AuditTrail(engine, key=KEY, seals=seals, chain=3)
    b = AuditTrail(engine, key=KEY, seals=seals, chain=7)
    for n in range(6):
        (a if n % 2 == 0 else b).record(_record(n))
    a.seal_head()
    return engine, a, b


def test_writers_on_two_chains_verify_intact_and_one_seal_names_both_heads(
    database_url: str, seals: SealStore
) -> None:
    # GIVEN two writers that appended in turn
    engine, a, b = _two_writers(database_url, seals)

    # THEN each chain numbers its own rows, the seal names both heads, and it verifies
    heads = a.heads()
    assert {c: pos for c, (_seq, pos, _h) in heads.items()} == {"c03": 3, "c07": 3}
    latest = seals.latest()
    assert latest is not None and latest.seq == 6
    assert latest.heads == heads
    report = verify_audit(engine, key=KEY, seals=seals)
    assert report.ok and report.rows == 6 and report.chains == 2, str(report)
    assert "in 2 chains" in str(report)


@pytest.mark.parametrize(
    ("tamper", "bad_row", "says"),
    [
        # the last row of chain c03 (row 5), not the last of the trail (row 6)
        (lambda c: c.execute(delete(T).where(T.c.seq == 5)), 5, "of chain c03 were removed"),
        # a middle row of chain c07: named by the row after the gap
        (
            lambda c: c.execute(delete(T).where(T.c.seq == 4)),
            6,
            "row(s) 2 of chain c07 are missing before row 6",
        ),
        # a row moved to the other chain's next place, re-hashed
        (
            lambda c: c.execute(
                text("UPDATE audit.decisions SET chain_id = 'c07', chain_seq = 4 WHERE seq = 5")
            ),
            5,
            "",
        ),
    ],
)
def test_tampering_with_one_chain_is_named_against_the_seal(
    database_url: str, seals: SealStore, tamper: Any, bad_row: int, says: str
) -> None:
    # GIVEN two sealed chains, and a database user who lifts the guard
    engine, _a, _b = _two_writers(database_url, seals)
    with engine.begin() as conn:
        _unguard(conn)
        tamper(conn)

    # WHEN the trail is verified against the newest seal
    report = verify_audit(engine, key=KEY, seals=seals)

    # THEN it is broken at the row, naming the chain
    assert not report.ok
    assert report.first_bad_seq == bad_row, str(report)
    assert says in str(report)


def test_rows_from_before_chains_stay_one_chain_under_an_old_seal(
    database_url: str, seals: SealStore
) -> None:
    # GIVEN three rows as the trail wrote them before chains (no chain, hashed without
    # one) and sealed the old way
    engine = get_engine(database_url)
    migrate(engine)
    prev = GENESIS
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            row: dict[str, Any] = {
                "seq": seq,
                "at": datetime.now(UTC),
                "caller": "ops@tests",
                "role": "admin",
                "request_id": f"old{seq}",
                "action": "promote",
                "customer_key": None,
                "model_version": None,
                "artifact_sha256": None,
                "input_sha256": "b" * 64,
                "output": canonical_json({}),
                "prev_hash": prev,
            }
            row["row_hash"] = prev = row_hash(row)
            row["row_mac"] = row_mac(KEY, row["row_hash"])
            conn.execute(insert(T), row)
    if is_postgres(engine):  # as revision 0008 leaves it: the sequence after the rows
        with engine.begin() as conn:
            conn.execute(text("SELECT setval('audit.decisions_seq', 3)"))
    old_seal = Seal(seq=3, row_hash=prev, sealed_at="2026-01-01T00:00:00", reason="rows")
    seals.store.put(BUCKET, seal_object_key(3), old_seal.signed(KEY))
    assert verify_audit(engine, key=KEY, seals=seals).ok

    # WHEN a writer on a chain appends after them, and the heads are sealed
    trail = AuditTrail(engine, key=KEY, seals=seals, chain=0)
    trail.record(_record(1))
    trail.seal_head()

    # THEN the seal names both the old chain and the new one, and the trail verifies
    latest = seals.latest()
    assert latest is not None and set(latest.heads) == {"", "c00"}
    assert latest.heads[""] == (3, 3, prev)
    assert verify_audit(engine, key=KEY, seals=seals).ok
    # AND a deleted old row is still named
    with engine.begin() as conn:
        _unguard(conn)
        conn.execute(delete(T).where(T.c.seq == 2))
    report = verify_audit(engine, key=KEY, seals=seals)
    assert not report.ok and report.first_bad_seq == 2, str(report)


@pytest.mark.postgres
def test_a_writer_on_another_chain_does_not_wait_for_an_open_append(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's write lock holds every writer back, whatever its chain")
    # GIVEN a container whose append to chain 1 is still in its transaction
    engine = get_engine(database_url)
    migrate(engine)
    holder = engine.connect()
    holder.begin()
    AuditTrail(engine, key=KEY, chain=1).append(holder, _record(0))
    try:
        # WHEN a container on chain 2 appends, THEN it commits at once
        started = time.monotonic()
        AuditTrail(engine, key=KEY, chain=2).record(_record(1))
        assert time.monotonic() - started < 2.0

        # AND one on the same chain waits for the first to commit (it would chain to it)
        _waits_until(lambda: AuditTrail(engine, key=KEY, chain=1).record(_record(2)), holder.commit)
    finally:
        holder.close()
    rows = {r["request_id"]: r for r in AuditTrail(engine, chain=0).rows()}
    assert rows["r2"]["chain_seq"] == 2 and rows["r2"]["prev_hash"] == rows["r0"]["row_hash"]


@pytest.mark.postgres
def test_an_append_waits_for_its_chains_lock_within_its_one_insert(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the chains' advisory locks are Postgres's; SQLite has its write lock")
    # GIVEN a writer that knows its chain's head, and another session holding that
    # chain's advisory lock (with no row of its own in the trail)
    engine = get_engine(database_url)
    migrate(engine)
    trail = AuditTrail(engine, key=KEY, chain=4)
    trail.record(_record(0))
    holder = engine.connect()
    holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _QUEUE_KEY + 4})
    statements = _Statements(engine)
    try:
        # WHEN the writer appends, THEN it waits until the lock is let go
        _waits_until(lambda: trail.record(_record(1)), holder.rollback)
    finally:
        holder.close()
        statements.close()
    # AND the wait was in its insert: its number, then the insert, no statement of its own
    assert statements.seen == ["SELECT", "INSERT"]
    assert [r["request_id"] for r in _chain_rows(engine, 4)] == ["r0", "r1"]


def _waits_until(append: Callable[[], Any], release: Callable[[], Any]) -> None:
    """``append``, run in a thread, is still waiting after a second, and done soon after
    ``release`` runs."""
    done = threading.Event()

    def run() -> None:
        append()
        done.set()

    writer = threading.Thread(target=run)
    writer.start()
    assert not done.wait(1.0)
    release()
    assert done.wait(10.0)
    writer.join()


def _chain_rows(engine: Engine, chain: int) -> list[dict[str, Any]]:
    return [r for r in AuditTrail(engine, chain=0).rows() if r["chain_id"] == chain_name(chain)]


def _assert_one_unbroken_chain(rows: list[dict[str, Any]]) -> None:
    """Places 1..n in seq order, each row chained to the one before it."""
    assert [r["chain_seq"] for r in rows] == list(range(1, len(rows) + 1))
    for before, row in zip([None, *rows], rows, strict=False):
        assert row["prev_hash"] == (GENESIS if before is None else before["row_hash"])


class _Statements:
    """The statements an engine runs, by their first word and table (for counting)."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.seen.append(statement.split(None, 1)[0].upper())

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def test_two_writers_on_one_chain_take_turns_and_the_chain_stays_unbroken(
    database_url: str, seals: SealStore
) -> None:
    # GIVEN two containers that picked the same chain, each remembering its own last row
    engine = get_engine(database_url)
    migrate(engine)
    a = AuditTrail(engine, key=KEY, seals=seals, chain=5)
    b = AuditTrail(engine, key=KEY, seals=seals, chain=5)
    a.record(_record(0))
    b.record(_record(1))  # b had no head: it reads it
    statements = _Statements(engine)
    try:
        # WHEN they append in turn, each after the other's row (its own head is stale)
        for n in range(2, 8):
            (a if n % 2 == 0 else b).record(_record(n))
        stale = list(statements.seen)
        statements.seen.clear()
        # AND one appends twice running (its head is current)
        b.record(_record(8))
        b.record(_record(9))
        current = list(statements.seen)
    finally:
        statements.close()

    # THEN every row has its own place and chains to the row before it, and it verifies
    rows = _chain_rows(engine, 5)
    assert [r["request_id"] for r in rows] == [f"r{n}" for n in range(10)]
    _assert_one_unbroken_chain(rows)
    a.seal_head()
    assert verify_audit(engine, key=KEY, seals=seals).ok
    # AND an append after a stale head lost its place once and took the next one
    assert stale.count("INSERT") == 12
    # AND an append after its own committed row does not read the head: its number and
    # one insert (which takes the chain's lock itself on Postgres)
    assert current.count("INSERT") == 2 and len(current) == 4


def test_a_rolled_back_append_leaves_the_head_its_writer_appends_after(
    database_url: str, seals: SealStore
) -> None:
    # GIVEN a writer with two rows, whose third append is rolled back with its request
    engine = get_engine(database_url)
    migrate(engine)
    trail = AuditTrail(engine, key=KEY, seals=seals, chain=2)
    trail.record(_record(0))
    trail.record(_record(1))
    with pytest.raises(RuntimeError), engine.begin() as conn:
        trail.append(conn, _record(2))
        raise RuntimeError("the request failed after its audit row")

    # WHEN it appends again
    statements = _Statements(engine)
    try:
        row = trail.record(_record(3))
    finally:
        statements.close()

    # THEN the row takes the third place, after the second row, at the first attempt
    assert row["chain_seq"] == 3 and statements.seen.count("INSERT") == 1
    rows = _chain_rows(engine, 2)
    assert [r["request_id"] for r in rows] == ["r0", "r1", "r3"]
    _assert_one_unbroken_chain(rows)
    trail.seal_head()
    assert verify_audit(engine, key=KEY, seals=seals).ok


def test_an_append_never_chains_to_a_row_that_is_not_in_the_trail(
    database_url: str, seals: SealStore
) -> None:
    # GIVEN a writer told that a rolled-back row had committed (a caller's mistake)
    engine = get_engine(database_url)
    migrate(engine)
    trail = AuditTrail(engine, key=KEY, seals=seals, chain=4)
    trail.record(_record(0))
    with engine.connect() as conn:
        conn.begin()
        never = trail.append(conn, _record(1))
        conn.rollback()
    trail.seal_if_due(never)

    # WHEN it appends after that row, THEN the append is refused and writes nothing
    with pytest.raises(TransientError, match="not in the trail"), engine.begin() as conn:
        trail.append(conn, _record(2))
    assert [r["request_id"] for r in _chain_rows(engine, 4)] == ["r0"]
    # AND its next append reads the head and chains to the row that is there
    trail.record(_record(3))
    rows = _chain_rows(engine, 4)
    assert [r["request_id"] for r in rows] == ["r0", "r3"]
    _assert_one_unbroken_chain(rows)
    trail.seal_head()
    assert verify_audit(engine, key=KEY, seals=seals).ok


def test_writers_appending_at_once_to_one_chain_leave_it_unbroken(
    database_url: str, seals: SealStore
) -> None:
    # GIVEN four containers on one chain
    engine = get_engine(database_url)
    migrate(engine)
    trails = [AuditTrail(engine, key=KEY, seals=seals, chain=6) for _ in range(4)]
    errors: list[BaseException] = []

    def appends(w: int) -> None:
        try:
            for n in range(15):
                trails[w].record(_record(100 * w + n))
        except BaseException as exc:  # reported below
            errors.append(exc)

    # WHEN they append at the same time
    threads = [threading.Thread(target=appends, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # THEN every append took a place of its own, the chain is unbroken, and it verifies
    assert errors == []
    rows = _chain_rows(engine, 6)
    assert len(rows) == 60
    _assert_one_unbroken_chain(rows)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    trails[0].seal_head()
    report = verify_audit(engine, key=KEY, seals=seals)
    assert report.ok and report.rows == 60, str(report)
