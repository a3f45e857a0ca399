"""Finding 3 (part): after erasure a customer is gone: no decision, no score, and data
access says they were erased and what pseudonymised history is kept and why."""

from __future__ import annotations

from functional.api.conftest import ApiWorld
from functional.api.test_gdpr import _customer, _stage


def test_an_erased_customer_is_410_for_predict_and_risk_score(api: ApiWorld) -> None:
    _stage(api)
    customer = _customer(api)
    assert api.call("GET", f"/api/risk-score/{customer}").status in (200, 404)
    assert api.call("DELETE", f"/api/customers/{customer}").status == 200

    scored = api.call("POST", "/api/predict", role="scorer", body={"customer_id": customer})
    looked_up = api.call("GET", f"/api/risk-score/{customer}")
    for answer in (scored, looked_up):
        assert answer.status == 410, answer.body
        assert answer.body["error"] == "GoneError"
        assert customer not in answer.body["message"]


def test_data_access_after_erasure_says_so_and_lists_what_is_kept(api: ApiWorld) -> None:
    _stage(api)
    customer = _customer(api)
    assert api.call("DELETE", f"/api/customers/{customer}").status == 200
    answer = api.call("GET", f"/api/customers/{customer}/data")
    assert answer.status == 200
    assert answer.body["erased"] is True and answer.body["data"] == {}
    assert answer.body["erased_at"]
    for table, kept in answer.body["kept"].items():
        assert "pseudonymised" in kept["reason"], table
    again = api.call("DELETE", f"/api/customers/{customer}")  # idempotent, still one record
    assert again.status == 200
    (expiring,) = again.body["expiring"].values()  # what erasure leaves to the lifecycle rule
    assert "30 days after landing" in expiring
