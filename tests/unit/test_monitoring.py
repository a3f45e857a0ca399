"""Monitoring computations on small frames whose figures can be checked by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_risk.data import drift as stability
from credit_risk.data.drift import psi, psi_band, psi_categorical
from credit_risk.errors import ConfigurationError
from credit_risk.monitoring import figures as m

GRADES = ["A", "B", "C"]
DECISIONS = ["approve", "review", "decline"]


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """A portfolio frame: (month, pd, grade, decision, target, matured, income, region)."""
    frame = pd.DataFrame(
        rows,
        columns=[
            "month",
            "probability_of_default",
            "grade",
            "decision",
            "target",
            "matured",
            "income",
            "region",
        ],
    )
    frame["application_id"] = [f"A{i}" for i in range(len(frame))]
    frame["expected_loss"] = frame["probability_of_default"] * 1000
    frame["model_version"] = "v1"
    return frame


# --------------------------------------------------------------------------- PSI and bands


@pytest.mark.parametrize(
    ("actual", "expected_psi", "band"),
    [
        # (0.6-0.5) ln(0.6/0.5) + (0.4-0.5) ln(0.4/0.5) = 0.0182 + 0.0223
        ([0.6, 0.4], 0.0405, "stable"),
        # 0.2 ln 1.4 + 0.2 ln(1/0.6) = 0.0673 + 0.1022
        ([0.7, 0.3], 0.1695, "watch"),
        # 0.3 ln 1.6 + 0.3 ln 2.5 = 0.1410 + 0.2749
        ([0.8, 0.2], 0.4159, "shifted"),
    ],
)
def test_psi_of_shares_and_its_band(actual: list[float], expected_psi: float, band: str) -> None:
    value = stability.psi_from_shares([0.5, 0.5], actual)
    assert value == pytest.approx(expected_psi, abs=1e-4)
    assert psi_band(value) == band


def test_psi_against_a_baseline_bins_by_the_training_quantiles() -> None:
    # GIVEN a training sample 1..4 (median edge 2.5) and a sample with 70% below it
    baseline = stability.baseline_summary(
        pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), [0.1] * 4, bins=2
    )
    assert baseline["features"]["x"]["edges"] == [2.5]
    assert baseline["features"]["x"]["shares"] == [0.5, 0.5, 0.0]  # last share: missing
    # THEN the PSI is the [0.5, 0.5] -> [0.7, 0.3] figure, in the watch band
    drift = stability.feature_drift(baseline, pd.DataFrame({"x": [1.0] * 7 + [3.0] * 3}))
    assert drift == [
        {"feature": "x", "kind": "numeric", "psi": pytest.approx(0.1695, abs=1e-4), "band": "watch"}
    ]


def test_psi_against_a_baseline_equals_psi_against_the_training_sample() -> None:
    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        {
            "income": np.where(rng.random(2000) < 0.05, np.nan, rng.lognormal(10, 0.5, 2000)),
            "region": rng.choice(["north", "south", None], 2000, p=[0.5, 0.4, 0.1]),
        }
    )
    now = pd.DataFrame(
        {
            "income": rng.lognormal(10.3, 0.5, 500),
            "region": rng.choice(["north", "south", "east"], 500, p=[0.3, 0.5, 0.2]),
        }
    )
    baseline = stability.baseline_summary(train, rng.random(2000))
    by_feature = {row["feature"]: row["psi"] for row in stability.feature_drift(baseline, now)}
    assert by_feature["income"] == pytest.approx(psi(train["income"], now["income"]), rel=1e-9)
    assert by_feature["region"] == pytest.approx(
        psi_categorical(train["region"], now["region"]), rel=1e-9
    )


def test_a_baseline_is_small_json_and_describes_the_score() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=50_000), "c": rng.choice(list("abc"), 50_000)})
    baseline = stability.baseline_summary(frame, rng.beta(1, 8, 50_000))
    assert len(json.dumps(baseline)) < 5_000
    assert baseline["rows"] == 50_000
    assert baseline["features"]["c"] == {
        "kind": "categorical",
        "shares": pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, abs=0.01),
    }
    histogram = baseline["score"]["histogram"]
    assert len(histogram["edges"]) == stability.SCORE_HISTOGRAM_BINS + 1
    assert sum(histogram["shares"]) == pytest.approx(1.0)


def test_a_baseline_refuses_mismatched_pds() -> None:
    with pytest.raises(ValueError, match="3 feature rows but 2 PDs"):
        stability.baseline_summary(pd.DataFrame({"x": [1, 2, 3]}), [0.1, 0.2])


# --------------------------------------------------------------------------- ranking


def test_auc_and_ks_on_a_hand_checked_example() -> None:
    # Pairs (default, payer): (0.35 > 0.1), (0.35 < 0.4), (0.8 > 0.1), (0.8 > 0.4): 3 of 4
    y = [0, 0, 1, 1]
    score = [0.1, 0.4, 0.35, 0.8]
    assert m.auc(y, score) == 0.75
    # Below 0.35 sit half the payers and no default: KS 0.5
    assert m.ks(y, score) == 0.5


def test_auc_counts_ties_as_half() -> None:
    assert m.auc([0, 1], [0.3, 0.3]) == 0.5
    assert m.ks([0, 1], [0.3, 0.3]) == 0.0


def test_auc_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="one default and one non-default"):
        m.auc([1, 1], [0.2, 0.3])


# --------------------------------------------------------------------------- outcomes


def test_vintage_default_rates_count_matured_loans_only() -> None:
    # 2024-01: four matured loans, one default -> 25%
    # 2024-02: two matured (one default) and one still open -> 50%
    # 2024-03: nothing matured yet -> no rate
    frame = _frame(
        [
            ("2024-01", 0.10, "A", "approve", 0, True, 1.0, "n"),
            ("2024-01", 0.10, "A", "approve", 0, True, 1.0, "n"),
            ("2024-01", 0.20, "B", "review", 0, True, 1.0, "n"),
            ("2024-01", 0.40, "C", "decline", 1, True, 1.0, "n"),
            ("2024-02", 0.10, "A", "approve", 1, True, 1.0, "n"),
            ("2024-02", 0.30, "B", "review", 0, True, 1.0, "n"),
            ("2024-02", 0.50, "C", "decline", None, False, 1.0, "n"),
            ("2024-03", 0.10, "A", "approve", None, False, 1.0, "n"),
        ]
    )
    rows = {r["month"]: r for r in m.vintage_default_rates(frame)}
    assert (rows["2024-01"]["matured"], rows["2024-01"]["defaults"]) == (4, 1)
    assert rows["2024-01"]["default_rate"] == 0.25
    assert rows["2024-01"]["mean_pd"] == pytest.approx(0.2)
    assert rows["2024-02"]["applications"] == 3 and rows["2024-02"]["matured"] == 2
    assert rows["2024-02"]["default_rate"] == 0.5
    assert rows["2024-03"]["default_rate"] is None


def test_performance_on_matured_loans_against_the_holdout() -> None:
    # GIVEN eight matured loans whose PDs rank 15 of 16 default/payer pairs right
    rows = [
        ("2024-01", p, "A", "approve", t, True, 1.0, "n")
        for p, t in [(0.1, 0), (0.2, 0), (0.3, 0), (0.5, 0), (0.4, 1), (0.6, 1), (0.7, 1), (0.8, 1)]
    ]
    rows.append(("2024-02", 0.9, "C", "decline", None, False, 1.0, "n"))  # not matured
    perf = m.performance(
        _frame(rows), grades=GRADES, holdout={"auc": 0.99}, min_matured=8, min_defaults=4
    )
    # THEN AUC is 15/16 on the matured loans only, and its drop from the holdout shows
    assert perf["matured"] == 8 and perf["defaults"] == 4
    assert perf["auc"] == pytest.approx(15 / 16)
    assert perf["auc_drop"] == pytest.approx(0.99 - 15 / 16)
    assert perf["ks"] == 0.75
    assert perf["default_rate"] == 0.5
    assert perf["calibration_ratio"] == pytest.approx(0.5 / 0.45)


def test_loans_the_champion_trained_on_are_left_out_of_its_ranking() -> None:
    # GIVEN the same 15/16 loans applied for after the holdout began, and four earlier
    # (training) loans that the model ranks perfectly, which would flatter it
    rows = [
        ("2024-01", p, "A", "approve", t, True, 1.0, "n")
        for p, t in [(0.1, 0), (0.2, 0), (0.3, 0), (0.5, 0), (0.4, 1), (0.6, 1), (0.7, 1), (0.8, 1)]
    ]
    early = [("2023-01", p, "A", "approve", t, True, 1.0, "n") for p, t in [(0.01, 0)] * 2]
    early += [("2023-01", p, "E", "decline", t, True, 1.0, "n") for p, t in [(0.99, 1)] * 2]
    frame = _frame(early + rows)
    frame["event_date"] = pd.to_datetime(frame["month"] + "-15")
    holdout = {"auc": 0.99, "first_holdout_date": "2024-01-01"}

    perf = m.performance(frame, grades=GRADES, holdout=holdout, min_matured=8, min_defaults=4)

    # THEN only the unseen loans count
    assert perf["excluded_training_loans"] == 4
    assert perf["matured"] == 8
    assert perf["auc"] == pytest.approx(15 / 16)


def test_performance_waits_for_enough_matured_loans() -> None:
    frame = _frame([("2024-01", 0.1, "A", "approve", 1, True, 1.0, "n")] * 3)
    perf = m.performance(frame, grades=GRADES, holdout={}, min_matured=200, min_defaults=20)
    assert perf["auc"] is None and "needs at least 200 matured loans" in perf["note"]


# --------------------------------------------------------------------------- portfolio


def test_the_latest_score_of_each_application_counts() -> None:
    scores = pd.DataFrame(
        {
            "application_id": ["A1", "A1", "A2"],
            "probability_of_default": [0.5, 0.1, 0.2],
            "score": [500, 600, 580],
            "grade": ["C", "A", "B"],
            "decision": ["decline", "approve", "approve"],
            "expected_loss": [10.0, 2.0, 4.0],
            "model_version": ["v1", "v2", "v2"],
            "source": ["batch"] * 3,
            "scored_at": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-03-01"], utc=True),
        }
    )
    features = pd.DataFrame(
        {
            "application_id": ["A1", "A2"],
            "customer_key": ["k", "k"],
            "event_date": [pd.Timestamp("2023-12-30"), pd.Timestamp("2024-02-02")],
        }
    )
    labels = pd.DataFrame({"application_id": ["A1"], "target": [0], "matured": [True]})
    frame = m.portfolio_frame(scores, features, labels).set_index("application_id")
    assert frame.loc["A1", "probability_of_default"] == 0.1
    assert frame.loc["A1", "month"] == "2023-12" and frame.loc["A2", "month"] == "2024-02"
    assert bool(frame.loc["A1", "matured"]) and not bool(frame.loc["A2", "matured"])


def test_the_window_widens_until_it_holds_enough_rows() -> None:
    months = pd.Series(["2024-01"] * 50 + ["2024-02"] * 30 + ["2024-03"] * 40)
    assert m.select_window(months, min_months=1, min_rows=30) == ["2024-03"]
    assert m.select_window(months, min_months=1, min_rows=60) == ["2024-02", "2024-03"]
    assert m.select_window(months, min_months=2, min_rows=1) == ["2024-02", "2024-03"]
    assert m.select_reference(months, exclude=["2024-03"], min_rows=60) == ["2024-01", "2024-02"]


def test_grade_mix_expected_loss_and_decision_rates() -> None:
    frame = _frame(
        [
            ("2024-01", 0.01, "A", "approve", None, False, 1.0, "north"),
            ("2024-01", 0.03, "A", "approve", None, False, 1.0, "south"),
            ("2024-01", 0.30, "C", "decline", None, False, 1.0, "south"),
            ("2024-01", 0.10, "B", "review", None, False, 1.0, None),
        ]
    )
    mix = {row["grade"]: row for row in m.grade_mix(frame, GRADES)}
    assert (mix["A"]["count"], mix["A"]["share"]) == (2, 0.5)
    assert mix["A"]["expected_loss"] == pytest.approx(40.0)
    assert m.decision_rates(frame["decision"], DECISIONS) == {
        "approve_rate": 0.5,
        "review_rate": 0.25,
        "decline_rate": 0.25,
    }
    by_region = {row["segment"]: row for row in m.expected_loss_by(frame, "region")}
    assert by_region["south"]["expected_loss"] == pytest.approx(330.0)
    assert by_region["south"]["el_share"] == pytest.approx(330 / 440)
    assert by_region[m.MISSING]["count"] == 1


# --------------------------------------------------------------------------- snapshot


def _book(n_months: int = 4, per_month: int = 400, shift_last: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    parts = []
    for i in range(n_months):
        shifted = shift_last and i == n_months - 1
        pds = rng.beta(2, 12, per_month) * (3 if shifted else 1)
        pds = np.clip(pds, 0, 0.99)
        grade = np.where(pds < 0.1, "A", np.where(pds < 0.2, "B", "C"))
        parts.append(
            pd.DataFrame(
                {
                    "month": f"2024-{i + 1:02d}",
                    "probability_of_default": pds,
                    "grade": grade,
                    "decision": pd.Series(grade).map(
                        {"A": "approve", "B": "review", "C": "decline"}
                    ),
                    "target": (rng.random(per_month) < pds).astype(float),
                    "matured": i < 2,
                    "income": rng.lognormal(10 - (0.5 if shifted else 0), 0.3, per_month),
                    "region": rng.choice(["n", "s"], per_month),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["application_id"] = [f"A{i}" for i in range(len(frame))]
    frame["expected_loss"] = frame["probability_of_default"] * 5000
    frame["model_version"] = "v1"
    return frame


def _snapshot(frame: pd.DataFrame, champion: m.Champion | None, **config) -> dict:
    cfg = m.MonitoringConfig.model_validate({"window": {"months": 1, "min_rows": 100}, **config})
    return m.compute_snapshot(
        frame,
        features=["income", "region"],
        categorical=["region"],
        grades=GRADES,
        decisions=DECISIONS,
        champion=champion,
        config=cfg,
        as_of=datetime(2024, 5, 1, tzinfo=UTC),
    )


def test_without_a_baseline_the_oldest_months_are_the_reference() -> None:
    # GIVEN a champion without a training baseline and a last month of riskier applicants
    champion = m.Champion("v1", "logistic", {"holdout": {"auc": 0.7}})
    snapshot = _snapshot(_book(shift_last=True), champion)
    # THEN drift is measured against the oldest month, and the last month is shifted
    assert snapshot["reference"]["kind"] == "oldest_months"
    assert snapshot["reference"]["months"] == ["2024-01"]
    assert snapshot["window"]["months"] == ["2024-04"]
    assert snapshot["drift"]["score"]["band"] == "shifted"
    income = next(f for f in snapshot["drift"]["features"] if f["feature"] == "income")
    assert income["band"] == "shifted"
    assert snapshot["status"] == "alert"
    assert [a["rule"] for a in snapshot["alerts"]][:1] == ["score_psi"]


def test_a_training_baseline_is_preferred_and_a_steady_book_is_calm() -> None:
    frame = _book()
    train = frame[frame["month"] == "2024-01"]
    baseline = stability.baseline_summary(
        train[["income", "region"]], train["probability_of_default"]
    )
    snapshot = _snapshot(frame, m.Champion("v1", "xgboost", {"baseline": baseline}))
    assert snapshot["reference"]["kind"] == "training_baseline"
    assert snapshot["drift"]["score"]["band"] == "stable"
    assert snapshot["alerts"] == []
    assert snapshot["portfolio"]["applications"] == 1600
    assert snapshot["by_month"][0]["default_rate"] is not None


def test_no_scores_yet_gives_an_empty_calm_snapshot() -> None:
    snapshot = _snapshot(_book().iloc[0:0], None)
    assert snapshot["status"] == "ok" and snapshot["alerts"] == []
    assert snapshot["notes"] == ["no scored applications yet"]


# --------------------------------------------------------------------------- alerts


def _with(**parts) -> dict:
    base = {
        "window": {"start": "2024-04", "end": "2024-04"},
        "reference": {"label": "training baseline of v1"},
        "drift": {"score": None, "features": []},
        "portfolio": {"window_rates": {"approve_rate": 0.6, "decline_rate": 0.2}},
        "performance": {},
    }
    base.update(parts)
    return base


def test_thresholds_become_alerts_with_their_numbers() -> None:
    snapshot = _with(
        drift={
            "score": {"psi": 0.31, "band": "shifted"},
            "features": [
                {"feature": "income", "psi": 0.4, "band": "shifted"},
                {"feature": "region", "psi": 0.12, "band": "watch"},
            ],
        },
        performance={
            "auc": 0.70,
            "auc_drop": 0.09,
            "holdout_auc": 0.79,
            "matured": 900,
            "calibration_ratio": 1.0,
            "default_rate": 0.1,
            "mean_pd": 0.1,
        },
    )
    alerts = {a.rule: a for a in m.evaluate_alerts(snapshot, m.MonitoringConfig())}
    assert set(alerts) == {"score_psi", "feature_psi", "auc_drop"}
    assert alerts["score_psi"].severity == "critical" and alerts["score_psi"].observed == 0.31
    assert "income 0.400" in alerts["feature_psi"].message
    assert "region" not in alerts["feature_psi"].message
    assert alerts["auc_drop"].threshold == "<= 0.05"
    assert m.evaluate_alerts(snapshot)[0].severity == "critical"


def test_a_rule_without_bounds_or_disabled_never_fires() -> None:
    snapshot = _with(portfolio={"window_rates": {"approve_rate": 0.05, "decline_rate": 0.9}})
    assert m.evaluate_alerts(snapshot, m.MonitoringConfig()) == []
    strict = m.MonitoringConfig.model_validate(
        {"rules": {"decline_rate": {"max": 0.5}, "approval_rate": {"min": 0.3, "enabled": False}}}
    )
    assert [a.rule for a in m.evaluate_alerts(snapshot, strict)] == ["decline_rate"]


def test_the_packaged_config_loads_and_a_bad_one_is_named(tmp_path: Path) -> None:
    config = m.load_monitoring_config()
    assert config.rules.score_psi.max == 0.25 and config.rules.score_psi.retrain
    assert config.retrain.enabled is False
    bad = tmp_path / "monitoring.yaml"
    bad.write_text("rules:\n  score_psi: {max: high}\n")
    with pytest.raises(ConfigurationError, match="rules.score_psi.max"):
        m.load_monitoring_config(bad)


# --------------------------------------------------------------------------- terminal


def test_the_terminal_table_shows_the_key_figures() -> None:
    champion = m.Champion("v1", "logistic", {"holdout": {"auc": 0.7}})
    text = m.monitoring_table(_snapshot(_book(shift_last=True), champion))
    assert text.startswith("Credit risk monitoring, 2024-05-01T00:00 UTC: ALERT")
    assert "Window 2024-04 to 2024-04 (400 applications)" in text
    assert "(probability of default)" in text and "shifted" in text
    assert "[critical] score_psi" in text
    assert max(len(line) for line in text.splitlines() if "[" not in line) <= 100
