"""Finding 2: a made-up whole application naming an existing customer's id must not
overwrite that customer's stored score. Such a request is refused with 409; the stored
score stays the one the customer's real data gave."""

from __future__ import annotations

from typing import Any

from functional.api.conftest import ApiWorld

from fixtures.portfolio import client_application


def _made_up(api: ApiWorld, customer: str) -> dict[str, Any]:
    # the safest-looking applicant of the portfolio, relabelled as someone else
    apps = api.models.data.applications
    best = apps.sort_values("bureau_score", ascending=False).iloc[0]
    body = client_application(best)
    body.pop("application_date", None)
    body["customer_id"] = customer
    return {"application": body}


def test_a_whole_application_cannot_replace_a_customers_score(api: ApiWorld) -> None:
    # GIVEN a customer on file with a stored score
    customer = str(api.models.data.applications["customer_id"].iloc[9])
    real = api.call("POST", "/api/predict", role="scorer", body={"customer_id": customer})
    assert real.status == 200, real.body
    # WHEN a scorer sends a made-up whole application under that customer's id
    forged = api.call("POST", "/api/predict", role="scorer", body=_made_up(api, customer))
    # THEN it is refused as a conflict, naming the field
    assert forged.status == 409, forged.body
    assert forged.body["error"] == "ConflictError"
    assert forged.body["errors"][0] == {
        "field": "customer_id",
        "rule": "customer_exists",
        "message": forged.body["message"],
    }
    # AND the customer's stored score is still the real one
    stored = api.call("GET", f"/api/risk-score/{customer}", role="viewer").body
    assert stored["application_id"] == real.body["application_id"]
    assert stored["probability_of_default"] == real.body["probability_of_default"]


def test_a_customer_on_file_without_a_score_is_refused_too(api: ApiWorld) -> None:
    customer = str(api.models.data.applications["customer_id"].iloc[12])
    forged = api.call("POST", "/api/predict", role="scorer", body=_made_up(api, customer))
    assert forged.status == 409, forged.body
    assert api.call("GET", f"/api/risk-score/{customer}", role="viewer").status == 404


def test_a_new_applicant_is_scored_once_then_is_on_file(api: ApiWorld) -> None:
    first = api.call("POST", "/api/predict", role="scorer", body=_made_up(api, "NEW-7"))
    assert first.status == 200, first.body
    again = api.call("POST", "/api/predict", role="scorer", body=_made_up(api, "NEW-7"))
    assert again.status == 409
    stored = api.call("GET", "/api/risk-score/NEW-7", role="viewer").body
    assert stored["application_id"] == first.body["application_id"]
