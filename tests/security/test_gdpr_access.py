"""Finding 6: GDPR access is complete and audited.

A row refused at ingestion for a cell other than the customer number (an income out of
range) is in staging quarantine with the customer's personal data, and must come back
to the admin who asks for the customer's data, and go at erasure. Every answer to such
a request leaves an audit row: who looked at whose data, and how much of it.
"""

from __future__ import annotations

import json
from typing import Any

from functional.api.conftest import ApiWorld

from conftest import to_csv_bytes
from credit_risk.data.ingestion import Ingestor, LandedObject
from credit_risk.data.pseudonymise import pseudonym
from credit_risk.governance.audit import AuditTrail, verify_audit
from credit_risk.runtime import get_runtime


def _ingest_with_a_refused_row(api: ApiWorld) -> tuple[str, str]:
    """Ingest a file of the portfolio's first applications through the real ingestion,
    one of them refused for its income; return the refused row's customer and e-mail."""
    rt = get_runtime()
    frame = api.models.data.applications.head(20).astype(object).copy()
    frame.loc[frame.index[5], "annual_income"] = -1  # out of range: the row is refused
    customer, email = str(frame.iloc[5]["customer_id"]), str(frame.iloc[5]["email"])
    # the artifacts bucket: no upload notification starts a pipeline run beside this test
    bucket, key = api.cloud.artifacts_bucket, "applications/with-one-refused.csv"
    rt.store.put(bucket, key, to_csv_bytes(frame), "text/csv")
    result = Ingestor(engine=rt.engine, contract=rt.contract, store=rt.store).ingest(
        LandedObject(bucket=bucket, key=key, etag="e1")
    )
    assert result.rows_quarantined == 1
    return customer, email


def _quarantined_for(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["data"]["staging.quarantine"]


def test_access_returns_rows_refused_at_ingestion_for_another_cell(api: ApiWorld) -> None:
    # GIVEN a customer whose application was refused for its income
    customer, _ = _ingest_with_a_refused_row(api)

    # WHEN an admin asks for the customer's data
    answer = api.call("GET", f"/api/customers/{customer}/data")

    # THEN the refused row's quarantine record comes back with the customer's data
    assert answer.status == 200, answer.body
    quarantined = _quarantined_for(answer.body)
    assert [(r["column_name"], r["value"]) for r in quarantined] == [("annual_income", "-1")]
    assert {r["customer_id"] for r in quarantined} == {customer}

    # WHEN the customer is erased: the refused row goes too
    erased = api.call("DELETE", f"/api/customers/{customer}")
    assert erased.status == 200, erased.body
    assert erased.body["erased"]["staging.quarantine"] == 1
    after = api.call("GET", f"/api/customers/{customer}/data")
    assert after.status == 200 and after.body["erased"] is True and after.body["data"] == {}


def test_reading_a_customers_data_leaves_an_audit_row(api: ApiWorld) -> None:
    # GIVEN a customer with data held
    customer, email = _ingest_with_a_refused_row(api)

    # WHEN an admin reads the customer's data
    answer = api.call("GET", f"/api/customers/{customer}/data")
    assert answer.status == 200, answer.body

    # THEN one audit row says who read whose data, and how many rows of each table
    rows = list(AuditTrail(get_runtime().engine).rows())
    assert [r["action"] for r in rows] == ["data_access"]
    row = rows[0]
    assert (row["caller"], row["role"]) == ("admin@tests", "admin")
    assert row["request_id"] == answer.body["request_id"]
    assert row["customer_key"] == pseudonym(customer, get_runtime().pseudonym_key)
    output = json.loads(row["output"])
    assert output["rows"] == {t: len(v) for t, v in answer.body["data"].items()}
    # AND it holds none of the data it gave out
    assert customer not in row["output"] and email not in row["output"]
    rt = get_runtime()
    assert rt.audit_seal_key is not None and rt.audit_seals is not None
    assert verify_audit(rt.engine, key=rt.audit_seal_key, seals=rt.audit_seals).ok
