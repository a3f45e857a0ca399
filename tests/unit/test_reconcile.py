"""Reconciling a re-score run from its chunks' result objects."""

from __future__ import annotations

from typing import Any

from credit_risk.decisions.rescore import reconcile

PLAN = {"run_id": "rescore-test", "tolerated_failure_percentage": 5.0}


def _item(chunk: str, rows: int = 100, kind: str = "analytics") -> dict[str, Any]:
    return {"chunk": chunk, "rows": rows, "source": {"kind": kind}}


def _result(chunk: str, rows_in: int = 100, scored: int = 100, refused: int = 0) -> dict[str, Any]:
    return {
        "chunk": chunk,
        "status": "succeeded",
        "rows_in": rows_in,
        "scored": scored,
        "refused": refused,
        "refused_rows": [{"application_id": f"A{i}", "reason": "x: rule"} for i in range(refused)],
        "refused_reasons": {"x: rule": refused} if refused else {},
    }


def test_a_run_whose_chunks_add_up_reconciles_in_total() -> None:
    manifest = [_item("00000"), _item("00001")]
    results = {"00000": _result("00000"), "00001": _result("00001", scored=99, refused=1)}
    report = reconcile(PLAN, manifest, results)
    assert report.status == "reconciled"
    assert (report.rows_in, report.rows_scored, report.rows_refused) == (200, 199, 1)
    assert report.refused_rows == [{"chunk": "00001", "application_id": "A0", "reason": "x: rule"}]


def test_a_chunk_whose_rows_do_not_add_up_is_a_mismatch() -> None:
    report = reconcile(PLAN, [_item("00000")], {"00000": _result("00000", scored=98, refused=1)})
    assert report.status == "mismatch"
    assert report.mismatches == ["chunk 00000: 100 rows in but 98 scored + 1 refused"]


def test_a_file_chunk_that_read_other_rows_than_its_pinned_version_is_a_mismatch() -> None:
    manifest = [_item("00000", rows=120, kind="object")]
    report = reconcile(PLAN, manifest, {"00000": _result("00000")})
    assert report.status == "mismatch"
    assert "the manifest counted 120" in report.mismatches[0]


def test_failed_chunks_within_the_tolerance_leave_their_rows_unscored() -> None:
    manifest = [_item(f"{i:05d}") for i in range(40)]
    results = {i["chunk"]: _result(i["chunk"]) for i in manifest[1:]}
    results["00000"] = {"chunk": "00000", "status": "failed", "error": "E", "cause": "c"}
    report = reconcile(PLAN, manifest, results)
    assert report.status == "reconciled"  # 1 of 40 is 2.5%
    assert (report.rows_in, report.rows_scored, report.rows_unscored) == (4000, 3900, 100)
    assert report.failed == [{"chunk": "00000", "rows": 100, "error": "E", "cause": "c"}]


def test_failures_beyond_the_tolerance_name_the_chunks() -> None:
    manifest = [_item("00000"), _item("00001")]
    report = reconcile(PLAN, manifest, {"00001": _result("00001", scored=90, refused=10)})
    assert report.status == "over_tolerance"
    assert report.over_tolerance == [
        "1 of 2 chunks have no result (50.0%): 00000 (NoResult)",
        "chunk 00001 refused 10 of 100 rows (10.0%)",
    ]
