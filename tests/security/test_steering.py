"""Finding 1: a scorer cannot steer a decision with inputs the model never saw.

The application date of a real-time request is today (UTC); a client-supplied one is
refused unless within ``APPLICATION_DATE_WINDOW_DAYS`` back from today, and never in the
future ("9999-12-31" used to turn a decline into an approve through the length of credit
history). Every numeric input is checked against the range the champion saw in
training: outside it the decision goes to review with ``OUT_OF_TRAINING_RANGE:<field>``
(``OUT_OF_RANGE=review``, the default) or the request is refused (``OUT_OF_RANGE=refuse``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from functional.api.conftest import ApiWorld

from credit_risk.decisions.scoring import any_outside_training_range, outside_training_range
from credit_risk.models.lean import LeanModel
from credit_risk.runtime import reset_runtime
from fixtures.champion import TrainedModels
from fixtures.portfolio import client_application

# Tests that never reach the database past the champion run on SQLite only.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _today() -> datetime:
    return datetime.now(UTC)


def _customer(api: ApiWorld, i: int = 0) -> str:
    return str(api.models.data.applications["customer_id"].iloc[i])


def _new_applicant(api: ApiWorld, **changes: Any) -> dict[str, Any]:
    body = client_application(api.models.data.applications.iloc[5])
    body.pop("customer_id", None)
    body.pop("application_date", None)
    body.update(changes)
    return {"application": body}


@SQLITE
@pytest.mark.parametrize("when", ["9999-12-31", "tomorrow"])
def test_a_future_application_date_is_refused(api: ApiWorld, when: str) -> None:
    day = (_today() + timedelta(days=1)).date().isoformat() if when == "tomorrow" else when
    for body in (
        {"customer_id": _customer(api), "application_date": day},
        _new_applicant(api, application_date=day),
    ):
        answer = api.call("POST", "/api/predict", role="scorer", body=body)
        assert answer.status == 400, answer.body
        assert answer.body["errors"][0]["field"] == "application_date"
        assert answer.body["errors"][0]["rule"] == "future_date"


@SQLITE
def test_a_date_before_the_window_is_refused_and_one_inside_it_is_taken(
    api: ApiWorld,
) -> None:
    old = (_today() - timedelta(days=31)).date().isoformat()
    recent = (_today() - timedelta(days=5)).date().isoformat()
    body = {"customer_id": _customer(api), "application_date": old}
    answer = api.call("POST", "/api/predict", role="scorer", body=body)
    assert (answer.status, answer.body["errors"][0]["rule"]) == (400, "date_window")
    assert "30 days" in answer.body["message"]
    body["application_date"] = recent
    assert api.call("POST", "/api/predict", role="scorer", body=body).status == 200


@SQLITE
def test_without_a_date_the_decision_is_todays_and_a_claimed_today_is_the_same(
    api: ApiWorld,
) -> None:
    body: dict[str, Any] = {"customer_id": _customer(api, 2)}
    implicit = api.call("POST", "/api/predict", role="scorer", body=body).body
    body["application_date"] = _today().date().isoformat()
    explicit = api.call("POST", "/api/predict", role="scorer", body=body).body
    assert implicit["probability_of_default"] == explicit["probability_of_default"]


def test_an_input_outside_the_training_range_goes_to_review(api: ApiWorld) -> None:
    # GIVEN a loan far larger than any the champion was trained on (the contract allows it)
    customer = _customer(api, 4)
    body = {"customer_id": customer, "loan_amount": 1_990_000}
    # WHEN it is scored
    answer = api.call("POST", "/api/predict", role="scorer", body=body)
    # THEN it is not extrapolated silently: the decision is review, saying why
    assert answer.status == 200, answer.body
    assert answer.body["decision"] == "review"
    assert "OUT_OF_TRAINING_RANGE:loan_amount" in answer.body["reason_codes"]
    # AND the stored score says review too
    stored = api.call("GET", f"/api/risk-score/{customer}", role="viewer").body
    assert stored["decision"] == "review"
    # AND an ordinary request carries no such code
    plain = api.call("POST", "/api/predict", role="scorer", body={"customer_id": customer}).body
    assert not any(c.startswith("OUT_OF_TRAINING_RANGE") for c in plain["reason_codes"])


@SQLITE
def test_refuse_mode_answers_400_naming_the_field(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUT_OF_RANGE", "refuse")
    reset_runtime()
    try:
        body = _new_applicant(api, loan_amount=1_990_000)
        answer = api.call("POST", "/api/predict", role="scorer", body=body)
        assert answer.status == 400, answer.body
        assert answer.body["errors"][0]["field"] == "loan_amount"
        assert answer.body["errors"][0]["rule"] == "out_of_training_range"
        # a loan term may be told its training range, as plain numbers
        assert re.search(r"\(\d+(\.\d+)? to \d+(\.\d+)?\)", answer.body["message"])
        # an income far outside training is named, its value never told
        body = _new_applicant(api, annual_income=9_876_543.0)
        answer = api.call("POST", "/api/predict", role="scorer", body=body)
        assert answer.status == 400, answer.body
        income_features = {"annual_income", "debt_to_income", "loan_to_income", "instalment_burden"}
        assert answer.body["errors"][0]["field"] in income_features
        assert "(" not in answer.body["message"]  # no range told for personal data
        assert "9876543" not in str(answer.body) and "9,876,543" not in str(answer.body)
    finally:
        monkeypatch.delenv("OUT_OF_RANGE")
        reset_runtime()


def test_training_keeps_each_numeric_features_range_with_the_model(
    trained: TrainedModels,
) -> None:
    for name in trained.artifacts:
        ranges = trained.lean(name).metadata["feature_ranges"]
        assert set(ranges) == set(trained.contract.numeric_features) & set(ranges)
        assert "loan_amount" in ranges and "credit_history_months" in ranges
        seen = trained.features["loan_amount"]
        assert seen.min() <= ranges["loan_amount"]["min"] <= ranges["loan_amount"]["max"]
        assert ranges["loan_amount"]["max"] <= seen.max()


def test_an_older_model_without_ranges_still_scores(api: ApiWorld) -> None:
    # GIVEN a champion trained before ranges were kept
    lean = api.models.lean(api.models.best)
    lean.metadata.pop("feature_ranges")
    older = LeanModel.from_bytes(lean.to_bytes())
    assert "feature_ranges" not in older.metadata
    version = api.registry.register(
        candidate="older",
        artifact=older.to_bytes(),
        extra_files={},
        data_snapshot_hash="0" * 64,
        code_version="tests",
        params={},
        metrics=api.models.candidates[api.models.best].metrics,
    )
    assert api.call("POST", f"/api/models/{version.version}/promote").status == 200
    # WHEN a large loan is scored THEN it is scored, unchecked, without a crash
    body = {"customer_id": _customer(api), "loan_amount": 1_990_000}
    answer = api.call("POST", "/api/predict", role="scorer", body=body)
    assert answer.status == 200, answer.body
    assert answer.body["model_version"] == version.version
    assert answer.body["reason_codes"] == []


def test_the_many_row_range_check_flags_what_the_one_row_check_names(
    trained: TrainedModels,
) -> None:
    # GIVEN feature rows inside, outside (either end), missing and boolean-valued
    lean = trained.lean(trained.best)
    ranges = lean.metadata["feature_ranges"]
    base = trained.features[trained.contract.features].iloc[0].to_dict()
    rows = [dict(base)]
    for name in ("loan_amount", "credit_history_months"):
        low, high = ranges[name]["min"], ranges[name]["max"]
        rows += [{**base, name: low - 1}, {**base, name: high + 1}, {**base, name: None}]
        rows += [{**base, name: True}, {**base, name: float("inf")}, {**base, name: "x"}]
    # THEN the vectorised check agrees with the one-row check on every row
    flagged = any_outside_training_range(lean, rows)
    assert flagged.tolist() == [bool(outside_training_range(lean, row)) for row in rows]
    assert flagged.sum() == 6
