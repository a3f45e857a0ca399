"""The shadow challenger: one stored challenger row per request, and never a changed answer.

The challenger is scored after the champion's answer is made and written with the audit
row; whether it is on, off, missing, unloadable or unable to score, the caller gets the
same answer (never a 500).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from credit_risk.adapters.aws import parse_s3_uri
from credit_risk.db import schema
from credit_risk.decisions.policy import decide, load_decision_policy
from credit_risk.models.lean import LeanModel
from credit_risk.runtime import get_runtime, reset_runtime
from fixtures.portfolio import client_application
from functional.api.conftest import ApiWorld

# What differs between two requests for the same application: their ids and times.
PER_REQUEST = {"request_id", "scored_at", "application_id"}


def _requests(api: ApiWorld) -> list[dict[str, Any]]:
    """Existing customers with new terms (some declined or reviewed) and a new applicant."""
    apps = api.models.data.applications
    bodies: list[dict[str, Any]] = [
        {"customer_id": str(apps["customer_id"].iloc[i]), "loan_amount": amount}
        for i, amount in [(0, 25_000), (1, 60_000), (2, 5_000), (3, 250_000), (4, 40_000)]
    ]
    application = client_application(apps.iloc[11])
    application.pop("application_date", None)
    application.pop("customer_id", None)  # a walk-in: nothing stored under a customer
    bodies.append({"application": application})
    return bodies


def _set_challenger(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    """Restart the API's container with ``SHADOW_CHALLENGER`` set, as a redeploy would."""
    monkeypatch.setenv("SHADOW_CHALLENGER", setting)
    reset_runtime()


def _answers(api: ApiWorld, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for body in bodies:
        answer = api.call("POST", "/api/predict", role="scorer", body=body)
        assert answer.status == 200, answer.body
        out.append(answer.body)
    return out


def _decided(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k not in PER_REQUEST} for a in answers]


def _shadow_rows() -> list[dict[str, Any]]:
    with get_runtime().engine.connect() as conn:
        rows = conn.execute(select(schema.shadow_scores).order_by(schema.shadow_scores.c.id))
        return [dict(r) for r in rows.mappings()]


def test_each_request_stores_one_challenger_row_and_the_answer_is_unchanged(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _requests(api)
    # GIVEN the answers with the shadow off
    _set_challenger(monkeypatch, "off")
    off = _answers(api, bodies)
    assert _shadow_rows() == []
    # WHEN the same requests are made with the default challenger (auto: the registered
    # candidate that was not promoted)
    _set_challenger(monkeypatch, "auto")
    on = _answers(api, bodies)
    # THEN every answer is what it was without the shadow
    assert _decided(on) == _decided(off)
    # AND one challenger row per request, beside the champion's own PD and decision
    rows = _shadow_rows()
    assert [r["request_id"] for r in rows] == [a["request_id"] for a in on]
    champion = api.registry.require_champion()
    challenger = next(v for v in api.versions.values() if v.version != champion.version)
    policy = load_decision_policy(contract=get_runtime().contract)
    for row, answer in zip(rows, on, strict=True):
        assert row["application_id"] == answer["application_id"]
        assert row["champion_version"] == champion.version == answer["model_version"]
        assert row["champion_pd"] == answer["probability_of_default"]
        assert row["champion_decision"] == answer["decision"]
        assert row["challenger_version"] == challenger.version
        assert 0 < row["challenger_pd"] < 1 and row["challenger_pd"] != row["champion_pd"]
        assert row["challenger_decision"] in ("review", decide(row["challenger_pd"], policy))
        assert row["challenger_ms"] >= 0
    # AND each known customer's score is stored beside its shadow row (on Postgres in one
    # statement), the walk-in's shadow row without one
    with get_runtime().engine.connect() as conn:
        stored = conn.execute(
            select(schema.scores.c.application_id, schema.scores.c.probability_of_default)
        ).all()
    scored = dict(stored)
    for answer in on[:5]:
        assert scored[answer["application_id"]] == answer["probability_of_default"]
    assert on[5]["application_id"] not in scored and len(stored) == 2 * 5


def test_a_named_challenger_is_used_and_the_champion_never_shadows_itself(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = api.registry.require_champion()
    other = next(v for v in api.versions.values() if v.version != champion.version)
    bodies = _requests(api)[:2]
    _set_challenger(monkeypatch, other.version)
    _answers(api, bodies)
    assert [r["challenger_version"] for r in _shadow_rows()] == [other.version] * 2
    _set_challenger(monkeypatch, champion.version)
    _answers(api, bodies)
    assert len(_shadow_rows()) == 2  # no row: the champion is not its own challenger


def test_a_challenger_that_fails_to_load_changes_nothing(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _requests(api)
    _set_challenger(monkeypatch, "off")
    off = _answers(api, bodies)
    # GIVEN the challenger's artifact was altered in S3 (its hash no longer matches)
    champion = api.registry.require_champion()
    challenger = next(v for v in api.versions.values() if v.version != champion.version)
    rt = get_runtime()
    bucket, key = parse_s3_uri(challenger.artifact_uri)
    rt.store.put(bucket, key, rt.store.get(bucket, key) + b"tampered")
    # WHEN the same requests are made with that challenger named
    _set_challenger(monkeypatch, challenger.version)
    on = _answers(api, bodies)
    # THEN the answers are unchanged, and no shadow row was stored
    assert _decided(on) == _decided(off)
    assert _shadow_rows() == []


def test_a_challenger_that_fails_to_score_changes_nothing(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _requests(api)
    _set_challenger(monkeypatch, "off")
    off = _answers(api, bodies)
    # GIVEN a registered challenger trained on another contract: it reads a text column
    # as a number, so scoring any of these requests raises
    contract = get_runtime().contract
    text_feature = contract.categorical_features[0]
    base = api.models.lean("logistic_regression")
    broken = LeanModel(
        kind="linear",
        numeric=[text_feature],
        medians=[0.0],
        indicators=[],
        categorical=[],
        categories=[],
        calibration=base.calibration,
        coef=[0.1],
        intercept=-2.0,
        column_means=[0.0],
    )
    version = api.registry.register(
        candidate="other_contract",
        artifact=broken.to_bytes(),
        extra_files={},
        data_snapshot_hash="0" * 64,
        code_version="tests",
        params={},
        metrics={"auc": 0.99},  # the best AUC: auto would pick it too
    )
    for setting in (version.version, "auto"):
        # WHEN the requests are made with it as challenger
        _set_challenger(monkeypatch, setting)
        on = _answers(api, bodies)
        # THEN the answers are unchanged, and no shadow row was stored
        assert _decided(on) == _decided(off)
        assert _shadow_rows() == []
    # AND the audit rows of those requests are written as always
    with get_runtime().engine.connect() as conn:
        audited = conn.execute(
            select(schema.decisions_audit.c.output).where(
                schema.decisions_audit.c.action == "predict"
            )
        ).all()
    assert len(audited) == 3 * len(bodies)
    assert all(json.loads(r.output)["model_version"] == off[0]["model_version"] for r in audited)


def test_with_require_shadow_a_version_is_promoted_only_after_enough_shadow_decisions(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # GIVEN a promotion policy that requires 6 shadow decisions
    policy = tmp_path / "promotion.yaml"
    policy.write_text("require_shadow: {min_decisions: 6, min_matured: 0}\n")
    monkeypatch.setenv("PROMOTION_POLICY_PATH", str(policy))
    _set_challenger(monkeypatch, "auto")
    champion = api.registry.require_champion()
    challenger = next(v for v in api.versions.values() if v.version != champion.version)
    promote = f"/api/models/{challenger.version}/promote"
    # WHEN an admin promotes the challenger before it has shadowed a request
    refused = api.call("POST", promote, body={"reason": "looks better"})
    # THEN it is refused with the evidence it has and needs, and nothing changed
    assert refused.status == 409, refused.body
    assert refused.body["errors"][0]["rule"] == "shadow_evidence"
    assert "0 of 6 shadow decisions" in refused.body["message"]
    assert api.registry.require_champion().version == champion.version
    # WHEN it has shadowed six requests
    _answers(api, _requests(api))
    promoted = api.call("POST", promote, body={"reason": "six shadow decisions"})
    # THEN the promotion goes through
    assert promoted.status == 200, promoted.body
    assert api.registry.require_champion().version == challenger.version
    # AND after a rollback the former champion needs no shadow evidence to return
    assert api.call("POST", "/api/models/rollback").status == 200
    again = api.call("POST", f"/api/models/{challenger.version}/promote", body={"reason": "r"})
    assert again.status == 200  # it served as champion already: gated once
