"""A file validated a part at a time finds the same duplicates as validated whole."""

from __future__ import annotations

import numpy as np
import pytest

from credit_risk.contract import load_contract
from credit_risk.data import validation
from credit_risk.data.generator import generate
from credit_risk.data.validation import validate_frame


def test_an_id_repeated_in_a_later_part_is_a_duplicate() -> None:
    # GIVEN 200 applications whose row 150 repeats the id of row 10
    spec = load_contract().applications
    raw = generate(200, seed=5).applications.astype(str)
    raw.loc[149, "application_id"] = raw.loc[9, "application_id"]

    # WHEN validated whole, and in two parts sharing what was seen
    whole = validate_frame(spec, raw)
    seen: dict[str, list[np.ndarray]] = {}
    parts = [
        validate_frame(spec, raw.iloc[a : a + 100], first_row_number=a + 1, seen=seen)
        for a in (0, 100)
    ]

    # THEN both quarantine row 150 for the duplicate id, and only that
    duplicate = [(v.row_number, v.rule) for v in whole.violations if v.column == "application_id"]
    in_parts = [
        (v.row_number, v.rule) for p in parts for v in p.violations if v.column == "application_id"
    ]
    assert duplicate == in_parts == [(150, "duplicate value in file")]
    assert sum(len(p.good) for p in parts) == len(whole.good)


def test_ids_repeated_across_many_parts_are_duplicates_however_the_hashes_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN 400 applications whose rows 390 and 395 repeat ids of rows 5 and 205, and
    # earlier hashes kept in runs of about 50 (so across several runs)
    monkeypatch.setattr(validation, "_RUN_HASHES", 50)
    spec = load_contract().applications
    raw = generate(400, seed=6).applications.astype(str)
    raw.loc[389, "application_id"] = raw.loc[4, "application_id"]
    raw.loc[394, "application_id"] = raw.loc[204, "application_id"]

    # WHEN validated whole, and in parts of 20 rows sharing what was seen
    whole = validate_frame(spec, raw)
    seen: dict[str, list[np.ndarray]] = {}
    parts = [
        validate_frame(spec, raw.iloc[a : a + 20], first_row_number=a + 1, seen=seen)
        for a in range(0, 400, 20)
    ]

    # THEN both find the same two duplicates, and the hashes were kept in several runs
    duplicate = [v.row_number for v in whole.violations if v.column == "application_id"]
    in_parts = [v.row_number for p in parts for v in p.violations if v.column == "application_id"]
    assert duplicate == in_parts == [390, 395]
    assert len(seen["application_id"]) > 2
    assert sum(len(r) for r in seen["application_id"]) == 398
