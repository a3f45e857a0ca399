"""Finding 7: the audit chain's tail is protected outside the database.

An attacker with database rights lifts the append-only guard, then edits, deletes,
truncates, forges or garbles audit rows; the verifier (``python -m credit_risk
verify-audit``) checks the chain against the newest HMAC-signed seal in the Object Lock
bucket and every row's signature, names the first bad row, and never crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from functional.api.conftest import ApiWorld
from sqlalchemy import Connection, delete, insert, inspect, text, update

from credit_risk.__main__ import seal_audit_command, verify_audit_command
from credit_risk.db import migrations, schema
from credit_risk.db.engine import get_engine, is_postgres
from credit_risk.governance.audit import AuditRecord, AuditTrail, row_hash, verify_audit
from credit_risk.governance.seal import SEAL_PREFIX, Seal, SealStore, seal_object_key
from credit_risk.runtime import get_runtime, reset_runtime

T = schema.decisions_audit
EVERY_ROWS = 3


@pytest.fixture
def sealed_api(monkeypatch: pytest.MonkeyPatch, api_cloud: Any) -> None:
    """Seal the head every three rows (set before the API's runtime is built)."""
    monkeypatch.setenv("AUDIT_SEAL_EVERY_ROWS", str(EVERY_ROWS))


def _bucket() -> str:
    bucket = get_runtime().settings.audit_seal_bucket
    assert bucket is not None
    return bucket


def _decide(api: ApiWorld, n: int) -> None:
    for c in api.models.data.applications["customer_id"].head(n):
        answer = api.call("POST", "/api/predict", role="scorer", body={"customer_id": str(c)})
        assert answer.status == 200, answer.body


def _rows() -> dict[int, dict[str, Any]]:
    return {int(r["seq"]): r for r in AuditTrail(get_runtime().engine).rows()}


def _unprotect(conn: Connection) -> None:
    """What an attacker with database rights does first: lift every guard."""
    if is_postgres(conn.engine):
        conn.execute(text("ALTER TABLE audit.decisions DISABLE TRIGGER USER"))
        for column in ("at", "row_hash", "output"):
            conn.execute(text(f"ALTER TABLE audit.decisions ALTER COLUMN {column} DROP NOT NULL"))
    else:
        conn.execute(text("DROP TRIGGER audit.decisions_no_update"))
        conn.execute(text("DROP TRIGGER audit.decisions_no_delete"))


def _verify(api: ApiWorld, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The operator's command, with its defaults (checked against the newest seal)."""
    capsys.readouterr()
    status = verify_audit_command(["--database-url", api.database_url])
    return status, capsys.readouterr().out


def _forged_row(rows: dict[int, dict[str, Any]], *, mac: str | None) -> dict[str, Any]:
    head = rows[max(rows)]
    forged = head | {
        "seq": head["seq"] + 1,
        "chain_seq": head["chain_seq"] + 1,  # the next place in the head's chain
        "caller": "attacker",
        "prev_hash": head["row_hash"],
    }
    return forged | {"row_hash": row_hash(forged), "row_mac": mac}


def _set(conn: Connection, seq: int, column: str, postgres: str, sqlite: str) -> None:
    value = postgres if is_postgres(conn.engine) else sqlite
    conn.execute(text(f"UPDATE audit.decisions SET {column} = {value} WHERE seq = {seq}"))


def _garble_timestamp(conn: Connection) -> None:
    value = "NULL" if is_postgres(conn.engine) else "'yesterday at noon'"
    conn.execute(text(f"UPDATE audit.decisions SET at = {value} WHERE seq = 4"))


TAMPERING: dict[str, tuple[Callable[[Connection, dict[int, dict[str, Any]]], Any], int, str]] = {
    "edit": (
        lambda c, rows: c.execute(update(T).where(T.c.seq == 3).values(caller="someone-else")),
        3,
        "changed",
    ),
    "edit and re-hash": (
        lambda c, rows: c.execute(
            update(T)
            .where(T.c.seq == 3)
            .values(caller="x", row_hash=row_hash(rows[3] | {"caller": "x"}))
        ),
        3,
        "",
    ),
    "deletion": (lambda c, rows: c.execute(delete(T).where(T.c.seq == 3)), 3, "missing"),
    "truncation": (lambda c, rows: c.execute(delete(T).where(T.c.seq >= 6)), 6, "removed"),
    "forged tail, unsigned": (
        lambda c, rows: c.execute(insert(T), _forged_row(rows, mac=None)),
        8,
        "forged",
    ),
    "forged tail, signature copied": (
        lambda c, rows: c.execute(insert(T), _forged_row(rows, mac=rows[7]["row_mac"])),
        8,
        "forged",
    ),
    "bad timestamp": (lambda c, rows: _garble_timestamp(c), 4, "timestamp"),
    "non-hex hash": (
        lambda c, rows: c.execute(update(T).where(T.c.seq == 4).values(row_hash="z" * 64)),
        4,
        "hex",
    ),
    # SQLite keeps NOT NULL unless the table is rebuilt: there, a value of another type
    "null hash": (lambda c, rows: _set(c, 5, "row_hash", "NULL", "12345"), 5, "hex"),
    "null output": (lambda c, rows: _set(c, 2, "output", "NULL", "x'00ff'"), 2, "output"),
}


def test_the_head_is_sealed_every_n_rows_and_at_each_erasure(
    sealed_api: None, api: ApiWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN seven decisions with a seal due every three rows
    _decide(api, 7)
    rt = get_runtime()
    bucket = _bucket()
    keys = [o["Key"] for o in rt.store.keys(bucket, SEAL_PREFIX)]
    # THEN the first append, row 4 and row 7 are sealed, signed with the key
    assert keys == [seal_object_key(s) for s in (1, 4, 7)]
    assert rt.audit_seals is not None
    latest = rt.audit_seals.latest()
    assert latest is not None and (latest.seq, latest.row_hash) == (7, _rows()[7]["row_hash"])
    # AND the seal bucket keeps every version under Object Lock
    lock = api.cloud.client("s3").get_object_lock_configuration(Bucket=bucket)
    assert lock["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    assert lock["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"

    # WHEN a customer is erased: the erasure row is sealed at once
    customer = str(api.models.data.applications["customer_id"].iloc[0])
    assert api.call("DELETE", f"/api/customers/{customer}").status == 200
    latest = rt.audit_seals.latest()
    assert latest is not None and (latest.seq, latest.reason) == (8, "erasure")
    # AND the verifier checks the chain against it
    assert _verify(api, capsys) == (0, _intact(8))


def _intact(rows: int) -> str:
    head = _rows()[rows]
    return (
        f"audit chain intact: {rows} rows, head {rows}:{head['row_hash']}, "
        f"sealed up to row {rows}\n"
    )


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_each_kind_of_tampering_is_detected_and_its_row_named(
    kind: str, sealed_api: None, api: ApiWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN seven audited decisions, sealed up to row 7, and a database user who lifts
    # the guard
    _decide(api, 7)
    before = _verify(api, capsys)
    assert before[0] == 0, before
    rows = _rows()
    tamper, bad_row, says = TAMPERING[kind]
    with get_runtime().engine.begin() as conn:
        _unprotect(conn)
        tamper(conn, rows)

    # WHEN the operator verifies the trail
    status, out = _verify(api, capsys)

    # THEN it fails, naming the first bad row, without a traceback
    assert status == 1, out
    assert f"BROKEN at row {bad_row}:" in out
    assert says in out


def test_a_forged_or_replayed_seal_is_refused(
    sealed_api: None, api: ApiWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a sealed trail of four rows
    _decide(api, 4)
    rt = get_runtime()
    bucket = _bucket()
    head = _rows()[4]
    # WHEN someone writes a seal signed with another key, naming a later row
    forged = Seal(seq=9, row_hash=head["row_hash"], sealed_at="2030-01-01T00:00:00", reason="x")
    rt.store.put(bucket, seal_object_key(9), forged.signed(b"not-the-key"))
    status, out = _verify(api, capsys)
    assert status == 1 and "not signed with the audit seal key" in out
    # WHEN an old genuine seal is copied under a higher key (to hide a truncation)
    genuine = rt.store.get(bucket, seal_object_key(4))
    rt.store.put(bucket, seal_object_key(10), genuine)
    status, out = _verify(api, capsys)
    assert status == 1 and "a copy of another seal" in out


def test_a_seal_is_due_after_m_minutes_with_new_rows(api: ApiWorld) -> None:
    # GIVEN a trail sealing every 1000 rows or 5 minutes, on a clock the test moves
    rt = get_runtime()
    assert rt.audit_seals is not None and rt.audit_seal_key is not None
    now = [0.0]
    trail = AuditTrail(
        rt.engine,
        key=rt.audit_seal_key,
        seals=rt.audit_seals,
        seal_every_rows=1000,
        seal_every_seconds=300,
        clock=lambda: now[0],
    )

    def append() -> Seal | None:
        record = AuditRecord("ops@tests", "admin", "r", "promote", "0" * 64, {"n": now[0]})
        with rt.engine.begin() as conn:
            row = trail.append(conn, record)
        return trail.seal_if_due(row)

    sealed = [append()]  # the first append in a process seals
    now[0] = 299
    sealed.append(append())
    now[0] = 301
    sealed.append(append())
    assert [None if s is None else (s.seq, s.reason) for s in sealed] == [
        (1, "first append"),
        None,
        (3, "time"),
    ]
    report = verify_audit(rt.engine, key=rt.audit_seal_key, seals=rt.audit_seals)
    assert report.ok and report.sealed_seq == 3


def test_the_verifier_refuses_to_run_unsealed_by_default(
    api: ApiWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SealStore(get_runtime().store, _bucket(), b"k")
    assert store.latest() is None
    monkeypatch.delenv("AUDIT_SEAL_BUCKET")
    reset_runtime()
    assert verify_audit_command(["--database-url", api.database_url]) == 2
    assert "--no-seal" in capsys.readouterr().err
    assert verify_audit_command(["--database-url", api.database_url, "--no-seal"]) == 0


def test_a_database_built_before_signed_rows_gains_them(database_url: str) -> None:
    # GIVEN a database migrated before rows were signed and quarantine kept the customer
    engine = get_engine(database_url)
    assert migrations.migrate(engine, "0003") == [1, 2, 3]
    with engine.begin() as conn:  # as migration 1 built them then
        conn.execute(text("DROP INDEX staging.ix_quarantine_customer"))
        conn.execute(text("ALTER TABLE staging.quarantine DROP COLUMN customer_id"))
        conn.execute(text("ALTER TABLE audit.decisions DROP COLUMN row_mac"))

    # WHEN it is migrated to the head revision
    assert migrations.migrate(engine) == list(range(4, int(migrations.HEAD_REVISION) + 1))

    # THEN the columns are there, and an append signs its row
    columns = {c["name"] for c in inspect(engine).get_columns("decisions", schema="audit")}
    assert "row_mac" in columns
    quarantine = {c["name"] for c in inspect(engine).get_columns("quarantine", schema="staging")}
    assert "customer_id" in quarantine
    row = AuditTrail(engine, key=b"k").record(
        AuditRecord("ops@tests", "admin", "r", "promote", "0" * 64, {})
    )
    assert row["row_mac"] is not None


def test_seal_audit_seals_the_head_now(api: ApiWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN two decisions with the default policy (the first append sealed row 1 only)
    _decide(api, 2)
    # WHEN an operator seals the head, and a database user later deletes the last row
    assert seal_audit_command(["--database-url", api.database_url]) == 0
    assert "sealed row 2:" in capsys.readouterr().out
    with get_runtime().engine.begin() as conn:
        _unprotect(conn)
        conn.execute(delete(T).where(T.c.seq == 2))
    # THEN the verifier names the removed row
    status, out = _verify(api, capsys)
    assert status == 1 and "BROKEN at row 2:" in out and "removed from the end" in out
