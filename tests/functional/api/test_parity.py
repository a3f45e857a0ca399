"""The same application scored by the pipeline's batch path and by the API: the same PD."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from credit_risk.contract import load_contract
from credit_risk.db import schema
from credit_risk.decisions.policy import load_decision_policy
from credit_risk.decisions.serving import score_batch
from credit_risk.runtime import get_runtime, reset_runtime
from fixtures.portfolio import client_application
from functional.api.conftest import ApiWorld

SAMPLE = 40


@pytest.mark.parametrize("candidate", ["logistic_regression", "xgboost"])
def test_batch_and_api_decide_the_same_application_identically(
    bare_api: ApiWorld, candidate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an API that takes the portfolio's own (past) application dates
    monkeypatch.setenv("APPLICATION_DATE_WINDOW_DAYS", "36500")
    reset_runtime()
    # AND a champion of each kind, and the portfolio scored by the batch path
    api = bare_api
    api.register(champion=candidate)
    rt = get_runtime()
    summary = score_batch(
        engine=rt.engine,
        contract=rt.contract,
        registry=api.registry,
        policy=load_decision_policy(contract=load_contract()),
        batch_id="portfolio-1",
    )
    assert summary["scored"] > SAMPLE
    with rt.engine.connect() as conn:
        batch = {r.application_id: r for r in conn.execute(select(schema.scores))}
    applications = api.models.data.applications.head(summary["scored"])

    # WHEN the same applications are sent whole to the API as new applicants
    for _, row in applications.head(SAMPLE).iterrows():
        application = client_application(row)
        application.pop("customer_id", None)  # on file already: a whole application is 409
        answer = api.call("POST", "/api/predict", role="scorer", body={"application": application})
        assert answer.status == 200, answer.body
        stored = batch[row["application_id"]]
        # THEN the PD is the same to the last bit, and so is everything derived from it
        assert answer.body["probability_of_default"] == stored.probability_of_default
        assert (answer.body["score"], answer.body["grade"], answer.body["decision"]) == (
            stored.score,
            stored.grade,
            stored.decision,
        )
        assert answer.body["expected_loss"] == stored.expected_loss
        assert answer.body["reasons"] == json.loads(stored.reasons)

    # WHEN customers on file ask again on their latest application's own terms and date
    latest = (
        applications.sort_values(["application_date", "application_id"])
        .groupby("customer_id")
        .tail(1)
        .head(SAMPLE)
    )
    for _, row in latest.iterrows():
        body = {"customer_id": row["customer_id"]}
        body["application_date"] = row["application_date"].date().isoformat()
        answer = api.call("POST", "/api/predict", role="scorer", body=body)
        # THEN the features rebuilt from analytics give the batch's PD too
        stored = batch[row["application_id"]]
        assert answer.body["probability_of_default"] == stored.probability_of_default
