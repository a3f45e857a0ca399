"""A landed file without one customer's rows, in each format ingest reads."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credit_risk.data.reading import read_raw
from credit_risk.data.row_removal import without_customer

COLUMNS = {"customer_id"}
CSV = (
    b"application_id,customer_id,email\n"
    b"a1,C7,seven@example.org\n"
    b"a2,C8,eight@example.org\n"
    b"a3, C7 ,seven@example.org\n"
)


def test_a_csv_loses_the_customer_s_rows_and_keeps_the_others_as_they_were() -> None:
    scan = without_customer(CSV, "applications/x.csv", COLUMNS, "C7")
    assert scan.rows == 2 and scan.names_customer and scan.kept is not None
    kept = read_raw(scan.kept, "applications/x.csv")
    assert kept.to_dict("records") == [
        {"application_id": "a2", "customer_id": "C8", "email": "eight@example.org"}
    ]


def test_a_gzip_csv_is_written_back_gzipped() -> None:
    scan = without_customer(gzip.compress(CSV), "applications/x.csv.gz", COLUMNS, "C8")
    assert scan.rows == 1 and scan.kept is not None and scan.kept[:2] == b"\x1f\x8b"
    kept = read_raw(scan.kept, "applications/x.csv.gz")
    assert kept["customer_id"].str.strip().tolist() == ["C7", "C7"]


def test_a_parquet_file_keeps_its_schema() -> None:
    table = pa.table({"customer_id": ["C7", "C8", None], "amount": [1.5, 2.5, 3.5]})
    out = io.BytesIO()
    pq.write_table(table, out)
    scan = without_customer(out.getvalue(), "applications/x.parquet", COLUMNS, "C7")
    assert scan.rows == 1 and scan.kept is not None
    kept = pq.read_table(pa.BufferReader(scan.kept))
    assert kept.schema == table.schema
    assert kept.to_pydict() == {"customer_id": ["C8", None], "amount": [2.5, 3.5]}


def test_a_quarantine_copy_s_formula_escaped_id_still_matches() -> None:
    body = b"_row_number,_reasons,customer_id\n3,x,'=C7\n4,y,C8\n"
    scan = without_customer(body, "quarantine/applications/b/rows.csv", COLUMNS, "=C7")
    assert scan.rows == 1 and scan.kept is not None
    assert pd.read_csv(io.BytesIO(scan.kept), dtype=str)["customer_id"].tolist() == ["C8"]


def test_a_file_of_only_the_customer_leaves_nothing_to_write() -> None:
    scan = without_customer(CSV, "applications/x.csv", COLUMNS, "C7")
    only = without_customer(scan.kept or b"", "applications/x.csv", COLUMNS, "C8")
    assert only.rows == 1 and only.names_customer and only.kept is None


def test_a_file_without_the_customer_is_not_touched() -> None:
    scan = without_customer(CSV, "applications/x.csv", COLUMNS, "C9")
    assert (scan.rows, scan.names_customer, scan.kept) == (0, False, None)
    no_column = without_customer(b"a,b\n1,C7\n", "applications/x.csv", COLUMNS, "C7")
    assert not no_column.names_customer


def test_an_unreadable_file_says_whether_its_bytes_show_the_id() -> None:
    shown = without_customer(CSV, "applications/x.txt", COLUMNS, "C7")
    assert shown.unreadable and shown.names_customer and shown.kept is None
    truncated = gzip.compress(CSV)[:-12]  # no trailer: ingest refuses it
    assert without_customer(truncated, "applications/x.csv.gz", COLUMNS, "C8").names_customer
    # a whole token only: C7 is not found inside C77
    assert not without_customer(b"C77", "applications/x.txt", COLUMNS, "C7").names_customer
