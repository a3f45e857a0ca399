"""A WoE scorecard as champion: the API serves its PD from points and its reasons as the
characteristics that lost the most points, and the batch path agrees."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select

from credit_risk.contract import load_contract
from credit_risk.db import schema
from credit_risk.decisions.policy import load_decision_policy, score_points
from credit_risk.decisions.serving import score_batch
from credit_risk.models.training.export import feature_columns
from credit_risk.runtime import get_runtime, reset_runtime
from fixtures.portfolio import client_application
from fixtures.scorecard import register_scorecard, trained_scorecard
from functional.api.conftest import ApiWorld

SAMPLE = 25
POLICY = load_decision_policy(contract=load_contract())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_serves_a_scorecard_champion(
    bare_api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an API that takes the portfolio's own (past) application dates
    monkeypatch.setenv("APPLICATION_DATE_WINDOW_DAYS", "36500")
    reset_runtime()
    # AND a scorecard trained on the portfolio's applications, promoted to champion
    api = bare_api
    scorecard = trained_scorecard()
    champion = register_scorecard(api.registry, scorecard)
    lean = scorecard.lean()
    table = lean.points_table
    assert table is not None

    # THEN health names a scorecard champion
    health = api.call("GET", "/api/health", role="viewer")
    assert health.status == 200, health.body
    assert health.body["checks"]["champion"]["kind"] == "scorecard"
    assert health.body["checks"]["champion"]["version"] == champion.version
    # AND its metrics carry the points table of the model it serves
    metrics = api.call("GET", "/api/model-metrics", role="viewer")
    assert metrics.status == 200, metrics.body
    served = metrics.body["metrics"]["points_table"]
    assert [(r["characteristic"], r["bin"]) for r in served["rows"]] == [
        (r["characteristic"], r["bin"]) for r in table.rows()
    ]

    # WHEN whole applications are sent to the API as new applicants
    applications = api.models.data.applications
    features = api.models.features
    design = lean.encode_columns(feature_columns(features, lean.features))
    points = np.einsum("ij,j->i", design, table.points_vector())
    lost = lean.points_lost_of(design)
    answers = {}
    for i in range(SAMPLE):
        application = client_application(applications.iloc[i])
        application.pop("customer_id", None)
        answer = api.call("POST", "/api/predict", role="scorer", body={"application": application})
        assert answer.status == 200, answer.body
        body = answer.body
        answers[applications["application_id"].iloc[i]] = body
        # THEN the PD is the logistic link of the application's total points
        assert body["probability_of_default"] == pytest.approx(
            float(table.pd_of_points(points[i])), abs=1e-12
        )
        assert body["score"] == score_points(body["probability_of_default"], POLICY)
        assert abs(body["score"] - points[i]) <= 0.5 + 1e-9
        # AND the reasons are the characteristics that lost the most points, in order
        order = [
            lean.features[j]
            for j in np.argsort(-lost[i], kind="stable")
            if lost[i][j] / table.factor > POLICY.min_reason_contribution
        ][: POLICY.max_reasons]
        assert [r["feature"] for r in body["reasons"]] == order
        for reason in body["reasons"]:
            j = lean.features.index(reason["feature"])
            assert reason["contribution"] == pytest.approx(lost[i][j] / table.factor)
    assert any(a["reasons"] for a in answers.values())

    # WHEN the portfolio is scored by the batch path with the same champion
    rt = get_runtime()
    summary = score_batch(
        engine=rt.engine,
        contract=rt.contract,
        registry=api.registry,
        policy=POLICY,
        batch_id="portfolio-1",
    )
    assert summary["scored"] >= SAMPLE
    with rt.engine.connect() as conn:
        batch = {r.application_id: r for r in conn.execute(select(schema.scores))}
    # THEN each application gets the API's PD and reasons
    for application_id, body in answers.items():
        stored = batch[application_id]
        assert stored.probability_of_default == body["probability_of_default"]
        assert json.loads(stored.reasons) == body["reasons"]
