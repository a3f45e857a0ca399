"""GDPR access and erasure: an admin sees everything held about a customer and can erase
the customer's personal data, keeping the pseudonymised credit-decision records."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import MetaData, Table, insert, inspect, select

from credit_risk.data.etl import Etl
from credit_risk.data.pseudonymise import erased, pseudonym
from credit_risk.db import schema
from credit_risk.db.bulk import load_frame
from credit_risk.governance.audit import AuditTrail, verify_chain
from credit_risk.runtime import get_runtime
from fixtures.portfolio import PORTFOLIO_ROWS
from functional.api.conftest import ApiWorld

PERSONAL = ("full_name", "email", "phone", "national_id", "address")


def _stage(api: ApiWorld) -> None:
    """The portfolio's raw applications in staging, as ingestion leaves them, and a
    rejected row of the first customer (and one of another) in quarantine."""
    rt = get_runtime()
    frame = api.models.data.applications.head(PORTFOLIO_ROWS).copy()
    frame.insert(0, "_row_number", range(1, len(frame) + 1))
    frame.insert(0, "_batch_id", "applications-1")
    customer, other = _customer(api), str(frame["customer_id"].iloc[-1])
    quarantined = [
        ("q-1", 3, "customer_id", customer, "duplicate"),
        ("q-1", 3, "email", "not-an-email@@x", "pattern"),
        ("q-1", 4, "customer_id", other, "duplicate"),
    ]
    with rt.engine.begin() as conn:
        load_frame(conn, schema.staging_table(rt.contract, "applications", MetaData()), frame)
        conn.execute(
            insert(schema.quarantine),
            [
                {"batch_id": b, "key": "in/x.csv", "row_number": r, "column_name": c}
                | {"value": v, "rule": rule}
                for b, r, c, v, rule in quarantined
            ],
        )


def _customer(api: ApiWorld) -> str:
    counts = api.models.data.applications.head(PORTFOLIO_ROWS)["customer_id"].value_counts()
    return str(counts.index[0])  # one with several applications


def _raw(api: ApiWorld, customer: str) -> pd.DataFrame:
    apps = api.models.data.applications.head(PORTFOLIO_ROWS)
    return apps[apps["customer_id"] == customer]


def _staging_cells() -> set[str]:
    """Every cell of every staging table, as text."""
    engine = get_runtime().engine
    meta = MetaData()
    cells: set[str] = set()
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names(schema="staging"):
            table = Table(name, meta, schema="staging", autoload_with=conn)
            for row in conn.execute(select(table)):
                cells.update(str(v) for v in row if v is not None)
    return cells


def _scored(api: ApiWorld, customer: str) -> dict[str, Any]:
    answer = api.call("POST", "/api/predict", role="scorer", body={"customer_id": customer})
    assert answer.status == 200, answer.body
    return answer.body


def test_access_returns_everything_held_about_the_customer(api: ApiWorld) -> None:
    # GIVEN a customer with applications in staging and analytics, a quarantined row and
    # a score
    _stage(api)
    customer = _customer(api)
    decision = _scored(api, customer)
    raw = _raw(api, customer)

    # WHEN an admin asks for the customer's data
    answer = api.call("GET", f"/api/customers/{customer}/data")

    # THEN the raw staging rows, the quarantined cells, the features and the score come back
    assert answer.status == 200, answer.body
    data = answer.body["data"]
    staged = data["staging.applications"]
    assert sorted(r["application_id"] for r in staged) == sorted(raw["application_id"])
    assert {r["email"] for r in staged} == set(raw["email"])
    assert {(r["batch_id"], r["row_number"]) for r in data["staging.quarantine"]} == {("q-1", 3)}
    assert len(data["staging.quarantine"]) == 2
    key = pseudonym(customer, get_runtime().pseudonym_key)
    features = data["analytics.application_features"]
    assert len(features) == len(raw) and {f["customer_key"] for f in features} == {key}
    assert [s["application_id"] for s in data["ml.scores"]] == [decision["application_id"]]
    assert answer.body["audit"] == {"audit.decisions": 1}


def test_access_to_an_unknown_customer_is_a_404(api: ApiWorld) -> None:
    assert api.call("GET", "/api/customers/NOBODY/data").status == 404
    assert api.call("DELETE", "/api/customers/NOBODY").status == 404


def test_erasure_removes_personal_data_from_staging_and_keeps_the_scores(
    api: ApiWorld,
) -> None:
    # GIVEN a customer with raw personal data in staging and a score
    _stage(api)
    customer = _customer(api)
    _scored(api, customer)
    raw = _raw(api, customer)
    personal = {str(v) for c in PERSONAL for v in raw[c]} | {customer, "not-an-email@@x"}
    assert personal <= _staging_cells()

    # WHEN an admin erases the customer
    answer = api.call("DELETE", f"/api/customers/{customer}")

    # THEN every application and the quarantined row are erased
    assert answer.status == 200, answer.body
    assert answer.body["customer"] == customer
    assert answer.body["erased"] == {
        "staging.applications": len(raw),
        "staging.quarantine": 2,
    }
    # AND no raw personal value of the customer is left anywhere in staging
    assert not personal & _staging_cells()
    # AND the staging rows stay, joinable by the pseudonym, with their other columns
    key = pseudonym(customer, get_runtime().pseudonym_key)
    rt = get_runtime()
    table = schema.staging_table(rt.contract, "applications", MetaData())
    ids = [str(i) for i in raw["application_id"]]
    with rt.engine.connect() as conn:
        staged = [
            dict(r)
            for r in conn.execute(select(table).where(table.c.application_id.in_(ids))).mappings()
        ]
    assert sorted(r["application_id"] for r in staged) == sorted(raw["application_id"])
    assert all(r["customer_id"] == erased(key) for r in staged)
    assert all(r[c] is None for r in staged for c in (*PERSONAL, "date_of_birth"))
    # AND so is every raw protected attribute (analytics keeps only their pseudonyms)
    assert all(r[c] is None for r in staged for c in ("age_band", "applicant_group"))
    assert raw["age_band"].notna().all()  # they were there before
    assert {r["annual_income"] for r in staged} == set(raw["annual_income"])
    # AND the other customer's quarantined row is untouched
    assert str(api.models.data.applications.head(PORTFOLIO_ROWS)["customer_id"].iloc[-1]) in (
        _staging_cells()
    )
    # AND the pseudonymised records are kept, and say why
    kept = answer.body["kept"]
    assert kept["ml.scores"]["rows"] == 1
    assert kept["analytics.application_features"]["rows"] == len(raw)
    assert {k["reason"] for k in kept.values()} == {
        "pseudonymised; retained for credit-decision records"
    }
    # AND afterwards the customer is gone: data access says so, no score is returned
    after = api.call("GET", f"/api/customers/{customer}/data").body
    assert after["erased"] is True and after["kept"]["ml.scores"]["rows"] == 1
    assert api.call("GET", f"/api/risk-score/{customer}", role="viewer").status == 410


def test_etl_rerun_after_erasure_keys_rows_as_before(api: ApiWorld) -> None:
    # GIVEN an erased customer whose batch is rebuilt (a re-run of ETL)
    _stage(api)
    customer = _customer(api)
    assert api.call("DELETE", f"/api/customers/{customer}").status == 200
    rt = get_runtime()
    Etl(engine=rt.engine, contract=rt.contract, pseudonym_key=rt.pseudonym_key).run(
        "applications-1", "applications"
    )

    # THEN the rebuilt rows carry the same pseudonym, not a pseudonym of the pseudonym
    key = pseudonym(customer, rt.pseudonym_key)
    features = schema.features_table(rt.contract, MetaData())
    with rt.engine.connect() as conn:
        keys = set(
            conn.execute(
                select(features.c.customer_key).where(
                    features.c.application_id.in_(list(_raw(api, customer)["application_id"]))
                )
            ).scalars()
        )
    assert keys == {key}


def test_erasure_is_idempotent(api: ApiWorld) -> None:
    _stage(api)
    customer = _customer(api)
    first = api.call("DELETE", f"/api/customers/{customer}")
    second = api.call("DELETE", f"/api/customers/{customer}")
    assert first.status == second.status == 200
    assert sum(first.body["erased"].values()) > 0
    assert second.body["erased"] == {"staging.applications": 0, "staging.quarantine": 0}


def test_erasure_is_audited_without_the_raw_customer_id(api: ApiWorld) -> None:
    _stage(api)
    customer = _customer(api)
    answer = api.call("DELETE", f"/api/customers/{customer}")
    rows = list(AuditTrail(get_runtime().engine).rows())
    assert [r["action"] for r in rows] == ["erasure"]
    row = rows[0]
    assert (row["caller"], row["role"]) == ("admin@tests", "admin")
    assert row["request_id"] == answer.body["request_id"]
    assert row["customer_key"] == pseudonym(customer, get_runtime().pseudonym_key)
    assert customer not in row["output"]
    assert json.loads(row["output"])["erased"] == answer.body["erased"]
    assert verify_chain(get_runtime().engine).ok


def test_only_an_admin_may_see_or_erase_a_customer(api: ApiWorld) -> None:
    _stage(api)
    customer = _customer(api)
    for role in ("viewer", "scorer"):
        assert api.call("GET", f"/api/customers/{customer}/data", role=role).status == 403
        assert api.call("DELETE", f"/api/customers/{customer}", role=role).status == 403
    assert customer in _staging_cells()
    assert list(AuditTrail(get_runtime().engine).rows()) == []
