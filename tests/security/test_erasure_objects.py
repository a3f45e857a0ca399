"""Security issue 12, item 3: erasure reaches every store.

After ``DELETE /api/customers/{id}`` no version of any object in the raw bucket (landed
files, their older versions, quarantine copies) holds the customer's name, e-mail,
national id or customer number; the other customers' rows are still there, intact; the
rewrite is not loaded again by ingest; and the answer says what was removed where.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
from typing import Any

import pandas as pd
from functional.api.conftest import ApiWorld
from sqlalchemy import func, select

from conftest import to_csv_bytes
from credit_risk.data.erasure import LANDED, QUARANTINE
from credit_risk.data.reading import read_raw
from credit_risk.db import schema
from credit_risk.runtime import get_runtime


def _people(api: ApiWorld, tag: str) -> pd.DataFrame:
    """Five valid applications of three new customers (A, B, C; A and B twice), with
    personal values no other test uses."""
    frame = api.models.data.applications.tail(5).astype(object).copy().reset_index(drop=True)
    for i, who in enumerate(["A", "B", "C", "A", "B"]):
        frame.loc[i, "application_id"] = f"app-{tag}-{i}"
        frame.loc[i, "customer_id"] = f"cust-{tag}-{who}"
        frame.loc[i, "full_name"] = f"Person{who} Surname{tag}"
        frame.loc[i, "email"] = f"person{who}.{tag}@example.org"
        frame.loc[i, "national_id"] = f"NI{who}{tag}"
    return frame


def _personal(frame: pd.DataFrame, who: str) -> list[str]:
    row = frame[frame["customer_id"].str.endswith(f"-{who}")].iloc[0]
    return [str(row[c]) for c in ("customer_id", "full_name", "email", "national_id")]


def _every_version(api: ApiWorld) -> dict[tuple[str, str], bytes]:
    """Every version of every object in the raw bucket, as text (gzip inflated)."""
    s3, bucket = api.cloud.client("s3"), api.cloud.raw_bucket
    found = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
            data = body["Body"].read()
            found[(v["Key"], v["VersionId"])] = (
                gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            )
    return found


def _current(api: ApiWorld, key: str) -> pd.DataFrame:
    body = api.cloud.client("s3").get_object(Bucket=api.cloud.raw_bucket, Key=key)
    return read_raw(body["Body"].read(), key)


def _ledger_counts() -> tuple[int, int]:
    rt = get_runtime()
    with rt.engine.connect() as conn:
        objects = conn.execute(select(func.count()).select_from(schema.objects)).scalar_one()
        keys = conn.execute(select(func.count()).select_from(schema.object_keys)).scalar_one()
    return int(objects), int(keys)


def _land(api: ApiWorld, key: str, body: bytes) -> None:
    api.cloud.upload(key, body)
    api.cloud.wait_for_idle()


def _landed_files(api: ApiWorld, tag: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """A file landed twice (a second version with a refused row of A and one of B), a
    gzip file and a file ingest cannot read that names A; return the people and keys."""
    people = _people(api, tag)
    keys = {
        "csv": f"applications/erase-{tag}.csv",
        "gz": f"applications/erase-{tag}.csv.gz",
        "unreadable": f"applications/erase-{tag}.txt",
    }
    _land(api, keys["csv"], to_csv_bytes(people.iloc[[0, 1]]))
    second = people.iloc[[0, 1, 2]].copy()
    second["application_id"] = second["application_id"] + "-v2"
    refused = people.iloc[[3, 4]].copy()
    refused["annual_income"] = -1  # out of range: both rows go to quarantine
    _land(api, keys["csv"], to_csv_bytes(pd.concat([second, refused])))
    gz = people.iloc[[0, 2]].copy()
    gz["application_id"] = gz["application_id"] + "-gz"
    _land(api, keys["gz"], gzip.compress(to_csv_bytes(gz)))
    _land(api, keys["unreadable"], to_csv_bytes(people.iloc[[0]]))  # .txt: rejected
    return people, keys


def test_erasure_removes_the_customer_from_every_object_version(api: ApiWorld) -> None:
    # GIVEN three customers' files in the raw bucket: two versions of a CSV, a refused row
    # of A (and of B) in quarantine, a gzip file, and a rejected copy naming A
    tag = uuid.uuid4().hex[:8]
    people, keys = _landed_files(api, tag)
    gone, others = _personal(people, "A"), _personal(people, "B") + _personal(people, "C")
    before = _every_version(api)
    assert any(v in body.decode() for body in before.values() for v in gone)  # it was there
    quarantined = {
        k
        for (k, _), body in before.items()
        if k.startswith("quarantine/") and gone[0] in body.decode()
    }
    (rows_copy,) = [k for k in quarantined if k.endswith("/rows.csv")]
    assert len(quarantined) == 2  # the refused rows and the rejected file
    ledger = _ledger_counts()
    b_rows = _current(api, keys["csv"]).query("customer_id != @gone[0]")

    # WHEN A is erased
    answer = api.call("DELETE", f"/api/customers/{gone[0]}")
    api.cloud.wait_for_idle()

    # THEN no version of any object holds A's customer number, name, e-mail or national id
    assert answer.status == 200, answer.body
    after = _every_version(api)
    leaks = [(k, v) for (k, _), body in after.items() for v in gone if v in body.decode()]
    assert leaks == []
    # ... B's and C's rows are still there, cell for cell
    assert others and all(any(v in b.decode() for b in after.values()) for v in others)
    kept = _current(api, keys["csv"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, b_rows.reset_index(drop=True))
    assert _current(api, keys["gz"])["customer_id"].tolist() == [f"cust-{tag}-C"]
    assert _current(api, rows_copy)["customer_id"].tolist() == [f"cust-{tag}-B"]
    # ... each rewritten object has one version left, and the rejected copies are gone
    assert {k for k, _ in after if tag in k or k in quarantined} == {
        keys["csv"],
        keys["gz"],
        rows_copy,
    }
    assert sum(1 for k, _ in after if k == keys["csv"]) == 1
    # ... ingest saw the rewrites and loaded nothing again
    assert _ledger_counts()[0] == ledger[0]
    # the two rewritten landed files: the hash recorded before, the ETag ingest saw after
    assert _ledger_counts()[1] == ledger[1] + 4

    # ... and the answer says what was removed where, with no personal value in it
    objects = answer.body["objects"]
    assert objects["removed_anything"] is True and "rewritten" in objects["mechanism"]
    assert objects["stores"][LANDED] == {
        "objects": 3,  # the CSV, the gzip file, the unreadable file
        "rewritten": 2,
        "deleted": 1,
        "rows_removed": 3,  # A's good and refused rows of the CSV, A's gzip row
        "versions_deleted": 4,  # both CSV versions, the gzip's, the unreadable file's
        "unreadable_left": 0,
    }
    assert objects["stores"][QUARANTINE] == {
        "objects": 2,  # the refused rows' copy, the rejected file's copy
        "rewritten": 1,
        "deleted": 1,
        "rows_removed": 1,
        "versions_deleted": 2,
        "unreadable_left": 0,
    }
    text = json.dumps({k: v for k, v in answer.body.items() if k != "customer"})
    assert not [v for v in gone if v in text]
    # AND it says which stores hold no personal value at all, and why
    assert set(answer.body["without_personal_values"]) == {
        "training snapshots (S3 artifacts)",
        "quality reports",
        "alerts, logs and execution histories",
    }


def test_a_second_erasure_touches_no_object_and_says_so(api: ApiWorld) -> None:
    # GIVEN a customer already erased
    tag = uuid.uuid4().hex[:8]
    people, _ = _landed_files(api, tag)
    customer = _personal(people, "A")[0]
    assert api.call("DELETE", f"/api/customers/{customer}").status == 200
    api.cloud.wait_for_idle()
    before = _every_version(api)

    # WHEN the erasure is asked again
    again = api.call("DELETE", f"/api/customers/{customer}")

    # THEN it removes nothing, says so, and no object version changed
    assert again.status == 200, again.body
    assert again.body["already_erased"] is True
    assert again.body["objects"]["removed_anything"] is False
    counts: dict[str, Any] = again.body["objects"]["stores"]
    assert all(n == 0 for store in counts.values() for n in store.values())
    assert _every_version(api) == before


def test_the_rewrite_is_csv_text_a_spreadsheet_still_reads(api: ApiWorld) -> None:
    # GIVEN a landed file of three customers; WHEN one is erased
    tag = uuid.uuid4().hex[:8]
    people = _people(api, tag).iloc[[0, 1, 2]]
    key = f"applications/plain-{tag}.csv"
    _land(api, key, to_csv_bytes(people))
    assert api.call("DELETE", f"/api/customers/cust-{tag}-A").status == 200
    # THEN the file is still a CSV with the same header and the two other rows
    body = api.cloud.client("s3").get_object(Bucket=api.cloud.raw_bucket, Key=key)["Body"]
    frame = pd.read_csv(io.BytesIO(body.read()), dtype=str)
    assert list(frame.columns) == list(people.columns)
    assert frame["customer_id"].tolist() == [f"cust-{tag}-B", f"cust-{tag}-C"]
