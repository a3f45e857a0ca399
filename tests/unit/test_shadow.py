"""The shadow challenger's pure parts: which version shadows, how champion and challenger
compare, the promotion gate's shadow requirement, and the dashboard panel."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credit_risk.decisions.shadow import pick_challenger
from credit_risk.models.shadow_gate import (
    ShadowRequirement,
    load_shadow_requirement,
    shadow_refusal,
)
from credit_risk.models.versions import ModelVersion
from credit_risk.monitoring.dashboard import render_dashboard
from credit_risk.monitoring.figures import auc
from credit_risk.monitoring.shadow import compare_shadow, comparison_lines, rank_auc

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _version(version: str, status: str, auc_: float | None, promoted: bool = False) -> ModelVersion:
    return ModelVersion(
        model_name="credit-default",
        version=version,
        candidate="xgboost",
        status=status,
        artifact_uri=f"s3://a/models/credit-default/{version}/model.bin",
        artifact_sha256="0" * 64,
        data_snapshot_hash="0" * 64,
        code_version="tests",
        params={},
        metrics={} if auc_ is None else {"holdout": {"auc": auc_}},
        reason=None,
        created_at=T0,
        promoted_at=T0 if promoted else None,
    )


VERSIONS = [
    _version("v5", "candidate", 0.70),
    _version("v4", "rejected", 0.74),
    _version("v3", "champion", 0.80, promoted=True),
    _version("v2", "retired", 0.90, promoted=True),
    _version("v1", "rejected", None),
]


@pytest.mark.parametrize("setting", ["auto", "best-rejected"])
def test_auto_picks_the_best_version_never_promoted(setting: str) -> None:
    # v2 has the best AUC but served as champion; v1 has no AUC to rank by
    chosen = pick_challenger(VERSIONS, setting, "v3")
    assert chosen is not None and chosen.version == "v4"


def test_a_named_challenger_is_used_unless_it_is_the_champion_or_unknown() -> None:
    assert pick_challenger(VERSIONS, "v2", "v3").version == "v2"  # type: ignore[union-attr]
    assert pick_challenger(VERSIONS, "v3", "v3") is None
    assert pick_challenger(VERSIONS, "v9", "v3") is None
    assert pick_challenger(VERSIONS, "off", "v3") is None
    assert pick_challenger([VERSIONS[2]], "auto", "v3") is None


def _row(i: int, champion: tuple[float, str], challenger: tuple[float, str]) -> dict[str, Any]:
    return {
        "application_id": f"A{i}",
        "champion_version": "v3",
        "champion_pd": champion[0],
        "champion_decision": champion[1],
        "challenger_version": "v4",
        "challenger_pd": challenger[0],
        "challenger_decision": challenger[1],
        "challenger_ms": 0.1 + i / 1000,
        "scored_at": T0 + timedelta(minutes=i),
    }


def test_agreement_and_swaps_count_every_request() -> None:
    rows = [
        _row(0, (0.02, "approve"), (0.03, "approve")),
        _row(1, (0.04, "approve"), (0.40, "decline")),
        _row(2, (0.50, "decline"), (0.05, "approve")),
        _row(3, (0.50, "decline"), (0.12, "review")),
        _row(4, (0.30, "decline"), (0.35, "decline")),
    ]
    [c] = compare_shadow(rows, {})
    assert (c["champion_version"], c["challenger_version"], c["decisions"]) == ("v3", "v4", 5)
    assert c["agreement"] == 0.4
    assert c["swaps"] == {"approve_to_decline": 1, "decline_to_approve": 1, "other_changes": 1}
    assert c["matured"] == 0 and c["champion"]["auc"] is None
    assert c["champion"]["mean_pd"] == pytest.approx(0.272)
    assert "no matured outcome yet" in comparison_lines([c])[1]


def test_matured_loans_give_both_models_auc_and_calibration_each_loan_once() -> None:
    rng = random.Random(3)
    rows, outcomes = [], {}
    for i in range(400):
        truth = rng.random() * 0.6
        outcomes[f"A{i}"] = int(rng.random() < truth)
        good = min(0.99, max(0.01, truth + rng.gauss(0, 0.05)))
        poor = min(0.99, max(0.01, rng.random() * 0.6))
        rows.append(_row(i, (good, "approve"), (poor, "approve")))
    # the same loan asked about again later: its latest request is the one compared
    rows.append(_row(1000, (outcomes["A0"] * 0.9, "approve"), (0.3, "approve")))
    rows[-1]["application_id"] = "A0"
    del outcomes["A399"]  # not matured
    [c] = compare_shadow(rows, outcomes)
    assert c["decisions"] == 401 and c["matured"] == 399
    latest = {r["application_id"]: r for r in rows}
    ids = sorted(outcomes)
    y = [outcomes[a] for a in ids]
    champion = auc(y, [latest[a]["champion_pd"] for a in ids])
    challenger = auc(y, [latest[a]["challenger_pd"] for a in ids])
    assert c["champion"]["auc"] == pytest.approx(champion, abs=1e-4)
    assert c["challenger"]["auc"] == pytest.approx(challenger, abs=1e-4)
    assert c["champion"]["auc"] > c["challenger"]["auc"] + 0.1
    observed = sum(y) / len(y)
    assert c["observed_default_rate"] == pytest.approx(observed, abs=1e-4)
    mean = sum(latest[a]["champion_pd"] for a in ids) / len(ids)
    assert c["champion"]["calibration_gap"] == pytest.approx(mean - observed, abs=1e-4)
    assert "on 399 matured loans" in comparison_lines([c])[1]


def test_rank_auc_counts_ties_half_as_the_monitoring_auc_does() -> None:
    y = [0, 1, 0, 1, 1, 0, 0]
    pds = [0.1, 0.4, 0.4, 0.4, 0.9, 0.2, 0.1]
    assert rank_auc(y, pds) == pytest.approx(auc(y, pds))
    assert rank_auc([1, 1], [0.2, 0.3]) is None


def test_each_pair_is_compared_apart_the_latest_first() -> None:
    older = [_row(i, (0.1, "approve"), (0.1, "approve")) for i in range(3)]
    newer = [_row(10 + i, (0.1, "approve"), (0.5, "decline")) for i in range(2)]
    for r in newer:
        r["challenger_version"] = "v5"
    comparisons = compare_shadow(older + newer, {})
    assert [(c["challenger_version"], c["decisions"]) for c in comparisons] == [
        ("v5", 2),
        ("v4", 3),
    ]


def test_the_gate_refuses_too_little_shadow_evidence_and_says_how_much() -> None:
    needed = ShadowRequirement(min_decisions=500, min_matured=50)
    assert shadow_refusal({"decisions": 10_000, "matured": 50}, needed) is None
    assert shadow_refusal({"decisions": 0, "matured": 0}, None) is None
    reason = shadow_refusal({"decisions": 499, "matured": 60}, needed)
    assert reason is not None and "499 of 500 shadow decisions" in reason
    assert "60 of 50 matured" in reason
    assert shadow_refusal({"decisions": 900, "matured": 3}, needed) is not None


def test_the_packaged_policy_requires_no_shadow_and_a_file_can(tmp_path: Any) -> None:
    assert load_shadow_requirement() is None  # the demo keeps promoting
    path = tmp_path / "promotion.yaml"
    path.write_text("min_auc_gain: 0.01\nrequire_shadow: {min_decisions: 200}\n")
    assert load_shadow_requirement(str(path)) == ShadowRequirement(min_decisions=200)


def test_the_dashboard_panel_shows_the_comparison_or_says_there_is_none() -> None:
    rows = [
        _row(0, (0.04, "approve"), (0.40, "decline")),
        _row(1, (0.05, "approve"), (0.06, "approve")),
    ]
    page = render_dashboard(
        {"snapshot": None, "models": [], "executions": [], "shadow": compare_shadow(rows, {})}
    )
    panel = page.split('id="shadow"')[1].split("</section>")[0]
    assert "Champion vs shadow challenger" in panel
    assert "v3" in panel and "v4" in panel and "50.0%" in panel
    empty = render_dashboard({"snapshot": None, "models": [], "executions": []})
    assert "No shadow challenger has scored a request yet" in empty
