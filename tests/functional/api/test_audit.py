"""The audit trail: a chained row for every decision and lookup; tampering is pinpointed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, text, update
from sqlalchemy.exc import DBAPIError

from chalicelib.requests import RequestModels
from credit_risk.__main__ import verify_audit_command as main
from credit_risk.data.pseudonymise import pseudonym
from credit_risk.db import schema
from credit_risk.db.engine import is_postgres
from credit_risk.governance.audit import AuditTrail, input_hash, row_hash, verify_chain
from credit_risk.runtime import get_runtime
from functional.api.conftest import ApiWorld

T = schema.decisions_audit


def _customers(api: ApiWorld, n: int) -> list[str]:
    return [str(c) for c in api.models.data.applications["customer_id"].head(n)]


def _decide(api: ApiWorld, n: int) -> list[dict[str, Any]]:
    return [
        api.call("POST", "/api/predict", role="scorer", body={"customer_id": c}).body
        for c in _customers(api, n)
    ]


def _rows() -> list[dict[str, Any]]:
    return list(AuditTrail(get_runtime().engine).rows())


def test_every_decision_and_lookup_leaves_a_chained_audit_row(api: ApiWorld) -> None:
    # GIVEN two decisions and two lookups, one of them of a customer with no score
    customer = _customers(api, 1)[0]
    bodies = [
        {"customer_id": customer, "loan_amount": 12000},
        {"customer_id": customer, "loan_amount": 90000, "loan_purpose": "business"},
    ]
    decisions = [api.call("POST", "/api/predict", role="scorer", body=b).body for b in bodies]
    found = api.call("GET", f"/api/risk-score/{customer}", role="viewer")
    missing = api.call("GET", "/api/risk-score/NOBODY", role="viewer")
    assert (found.status, missing.status) == (200, 404)

    # THEN one row each, in order, saying who, which request, which model, what came out
    rows = _rows()
    assert [r["action"] for r in rows] == ["predict", "predict", "risk_score", "risk_score"]
    models = RequestModels(get_runtime().contract)
    key = pseudonym(customer, get_runtime().pseudonym_key)
    for row, decision, body in zip(rows, decisions, bodies, strict=False):
        assert (row["caller"], row["role"]) == ("scorer@tests", "scorer")
        assert row["request_id"] == decision["request_id"]
        assert row["customer_key"] == key
        assert row["model_version"] == decision["model_version"]
        assert row["artifact_sha256"] == decision["artifact_sha256"]
        inputs = models.parse_predict(body).model_dump(mode="json")
        assert row["input_sha256"] == input_hash(inputs, get_runtime().pseudonym_key)
        output = json.loads(row["output"])
        assert output["probability_of_default"] == decision["probability_of_default"]
        assert output["reasons"] == decision["reasons"]
        assert set(output["features"]) == set(get_runtime().contract.features)
    assert (rows[2]["caller"], rows[2]["request_id"]) == ("viewer@tests", found.body["request_id"])
    assert json.loads(rows[3]["output"]) == {"found": False}
    # AND the rows chain from the first to the last
    assert [r["prev_hash"] for r in rows[1:]] == [r["row_hash"] for r in rows[:-1]]
    report = verify_chain(get_runtime().engine)
    assert report.ok and report.rows == 4 and report.head_hash == rows[-1]["row_hash"]


def test_the_database_refuses_to_change_or_delete_audit_rows(api: ApiWorld) -> None:
    _decide(api, 1)
    engine = get_runtime().engine
    for statement in (update(T).values(output="{}"), delete(T)):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    assert len(_rows()) == 1


def _unprotect(conn: Connection) -> None:
    """What an attacker with database rights does first: lift the append-only guard."""
    if is_postgres(conn.engine):
        conn.execute(text("ALTER TABLE audit.decisions DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER audit.decisions_no_update"))
        conn.execute(text("DROP TRIGGER audit.decisions_no_delete"))


def test_tampering_is_detected_and_the_row_pinpointed(api: ApiWorld) -> None:
    # GIVEN six audited decisions and a database user who lifts the guard
    _decide(api, 6)
    engine = get_runtime().engine
    original = {r["seq"]: r for r in _rows()}
    head = (6, original[6]["row_hash"])
    with engine.begin() as conn:
        _unprotect(conn)

    def tamper(*statements: Any) -> Any:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
        return verify_chain(engine, anchor=head)

    def restore() -> None:
        with engine.begin() as conn:
            conn.execute(delete(T))
            conn.execute(insert(T), list(original.values()))
        assert verify_chain(engine, anchor=head).ok

    # WHEN row 3's decision is changed: THEN row 3 is named
    forged = json.loads(original[3]["output"]) | {"decision": "approve"}
    report = tamper(update(T).where(T.c.seq == 3).values(output=json.dumps(forged)))
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "changed" in str(report)
    restore()

    # WHEN row 3 is changed and its hash recomputed to match: row 3 is still named
    changed = original[3] | {"caller": "someone-else"}
    report = tamper(
        update(T).where(T.c.seq == 3).values(caller="someone-else", row_hash=row_hash(changed))
    )
    assert (report.ok, report.first_bad_seq) == (False, 3)
    restore()

    # WHEN row 3 is deleted: the gap is named
    report = tamper(delete(T).where(T.c.seq == 3))
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "missing" in str(report)
    restore()

    # WHEN the last row is deleted: only the anchor kept elsewhere can tell
    with engine.begin() as conn:
        conn.execute(delete(T).where(T.c.seq == 6))
    assert verify_chain(engine).ok
    report = verify_chain(engine, anchor=head)
    assert (report.ok, report.first_bad_seq) == (False, 6)


def test_the_command_reports_the_chain_and_fails_when_broken(
    api: ApiWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    _decide(api, 3)
    url = api.database_url
    assert main(["--database-url", url]) == 0
    assert "audit chain intact: 3 rows" in capsys.readouterr().out
    engine = get_runtime().engine
    with engine.begin() as conn:
        _unprotect(conn)
        conn.execute(update(T).where(T.c.seq == 2).values(caller="nobody"))
    assert main(["--database-url", url]) == 1
    assert "BROKEN at row 2" in capsys.readouterr().out
