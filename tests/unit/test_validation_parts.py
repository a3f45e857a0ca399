"""A file validated a part at a time finds the same duplicates as validated whole."""

from __future__ import annotations

import numpy as np

from credit_risk.contract import load_contract
from credit_risk.data.generator import generate
from credit_risk.data.validation import validate_frame


def test_an_id_repeated_in_a_later_part_is_a_duplicate() -> None:
    # GIVEN 200 applications whose row 150 repeats the id of row 10
    spec = load_contract().applications
    raw = generate(200, seed=5).applications.astype(str)
    raw.loc[149, "application_id"] = raw.loc[9, "application_id"]

    # WHEN validated whole, and in two parts sharing what was seen
    whole = validate_frame(spec, raw)
    seen: dict[str, np.ndarray] = {}
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
