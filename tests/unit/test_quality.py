"""The data-quality gate: each check fails when it should, and the report reads well."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from credit_risk.contract import Contract, load_contract
from credit_risk.data.features import build_features
from credit_risk.data.quality import (
    QualityConfig,
    QualityReport,
    load_quality_config,
    psi,
    psi_band,
    psi_categorical,
    run_checks,
)
from credit_risk.errors import ConfigurationError, QualityGateFailedError

N = 400


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract()


def raw_applications(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Typed application rows that satisfy the default contract."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "application_id": [f"A{seed}-{i:05d}" for i in range(n)],
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "application_date": pd.Timestamp("2024-03-01"),
            "employment_status": rng.choice(["employed", "self_employed", "retired"], n),
            "employment_years": rng.uniform(0, 30, n),
            "annual_income": rng.lognormal(10.6, 0.4, n),
            "monthly_debt_payments": rng.uniform(0, 2000, n),
            "housing_status": rng.choice(["own", "mortgage", "rent"], n),
            "region": rng.choice(["north", "south", "east", "west", "central"], n),
            "bureau_score": rng.normal(680, 50, n).clip(300, 850).round(),
            "first_credit_date": pd.Timestamp("2010-01-01")
            + pd.to_timedelta(rng.integers(0, 4000, n), unit="D"),
            "open_accounts": rng.integers(0, 12, n),
            "revolving_balance": rng.uniform(0, 8000, n),
            "revolving_limit": rng.uniform(8000, 20000, n),
            "delinquencies_24m": rng.poisson(0.3, n),
            "inquiries_6m": rng.poisson(1.0, n),
            "public_records": rng.poisson(0.05, n),
            "loan_amount": rng.uniform(1000, 40000, n),
            "loan_term_months": rng.choice([12, 24, 36, 60], n),
            "interest_rate": rng.uniform(0.03, 0.2, n),
            "loan_purpose": rng.choice(["car", "debt_consolidation", "home_improvement"], n),
        }
    )


def feature_frame(contract: Contract, raw: pd.DataFrame) -> pd.DataFrame:
    """What the gate receives for applications: features plus the id."""
    features = build_features(contract, raw)
    features.insert(0, contract.applications.id, raw[contract.applications.id])
    return features


def outcomes_frame(ids: list[str], default_rate: float = 0.15, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    defaulted = (rng.uniform(size=n) < default_rate).astype("int64")
    observed = pd.Series(pd.Timestamp("2025-03-01"), index=range(n))
    default_date = observed.where(defaulted == 1, pd.NaT) - pd.Timedelta(days=90)
    return pd.DataFrame(
        {
            "application_id": ids,
            "defaulted": pd.array(defaulted, dtype="Int64"),
            "default_date": default_date,
            "observation_date": observed,
        }
    )


def result(report: QualityReport, name: str):
    matches = [r for r in report.results if r.name == name]
    assert matches, f"no check named {name}; have {[r.name for r in report.results]}"
    return matches[0]


# --------------------------------------------------------------------------- clean data


def test_clean_applications_pass_every_check(contract):
    frame = feature_frame(contract, raw_applications())
    reference = feature_frame(contract, raw_applications(seed=1))

    report = run_checks(contract, "applications", frame, reference=reference)

    assert report.passed, report.to_text()
    assert not report.warnings
    kinds = {r.kind for r in report.results}
    assert kinds == {"min_rows", "schema", "id_unique", "null_share", "range", "drift"}
    assert len([r for r in report.results if r.kind == "drift"]) == len(contract.features)


def test_clean_outcomes_pass_every_check(contract):
    ids = [f"A{i}" for i in range(N)]
    report = run_checks(contract, "outcomes", outcomes_frame(ids), known_ids=set(ids))

    assert report.passed, report.to_text()
    assert {r.kind for r in report.results} == {
        "min_rows",
        "schema",
        "id_unique",
        "referential_integrity",
        "label_rate",
        "null_share",
        "range",
    }


def test_generated_data_passes_the_default_gate(contract):
    generator = pytest.importorskip("credit_risk.data.generator")
    data = generator.generate(3000, seed=7)
    frame = feature_frame(contract, data.applications)
    reference = feature_frame(contract, generator.generate(3000, seed=8).applications)

    apps = run_checks(contract, "applications", frame, reference=reference)
    outs = run_checks(
        contract,
        "outcomes",
        data.outcomes,
        known_ids=set(data.applications["application_id"]),
    )

    assert apps.passed and not apps.warnings, apps.to_text()
    assert outs.passed, outs.to_text()


# --------------------------------------------------------------------------- each check


def test_too_few_rows_is_critical(contract):
    frame = feature_frame(contract, raw_applications(n=40))

    report = run_checks(contract, "applications", frame)

    check = result(report, "min_rows")
    assert not check.passed and check.severity == "critical"
    assert "40 rows" in check.message and "100" in check.message
    assert not report.passed


def test_missing_column_and_wrong_dtype_fail_the_schema(contract):
    frame = feature_frame(contract, raw_applications())
    frame = frame.drop(columns=["loan_amount"])
    frame["bureau_score"] = frame["bureau_score"].astype(str)

    report = run_checks(contract, "applications", frame)

    check = result(report, "schema")
    assert not check.passed and check.severity == "critical"
    assert check.observed == 2
    assert "missing column loan_amount" in check.message
    assert "bureau_score has dtype" in check.message and "numeric" in check.message
    # Column checks skip the unusable columns rather than crash on them.
    assert "range[bureau_score]" not in {r.name for r in report.results}


def test_outcome_dates_must_be_dates(contract):
    ids = [f"A{i}" for i in range(N)]
    frame = outcomes_frame(ids)
    frame["observation_date"] = frame["observation_date"].dt.strftime("%Y-%m-%d")

    report = run_checks(contract, "outcomes", frame)

    check = result(report, "schema")
    assert not check.passed
    assert "observation_date" in check.message and "expected date" in check.message


def test_duplicate_and_missing_ids_fail_uniqueness(contract):
    raw = raw_applications()
    raw.loc[1, "application_id"] = raw.loc[0, "application_id"]
    raw.loc[2, "application_id"] = None
    frame = feature_frame(contract, raw)

    report = run_checks(contract, "applications", frame)

    check = result(report, "id_unique[application_id]")
    assert not check.passed and check.severity == "critical"
    assert check.observed == 2
    assert "1 duplicate values, 1 missing" in check.message
    assert raw.loc[0, "application_id"] in check.message


def test_null_share_above_threshold_names_column_and_numbers(contract):
    raw = raw_applications()
    raw.loc[: int(N * 0.41) - 1, "bureau_score"] = np.nan
    frame = feature_frame(contract, raw)

    report = run_checks(contract, "applications", frame)

    check = result(report, "null_share[bureau_score]")
    assert not check.passed and check.severity == "critical"
    assert check.observed == pytest.approx(0.41)
    assert check.threshold == 0.2
    assert "bureau_score: 41.0% missing (164 of 400 rows)" in check.message
    assert report.summary().startswith(
        "1 critical check failed: null_share[bureau_score] 0.41 > 0.2"
    )


def test_per_column_null_threshold_overrides_the_default(contract):
    raw = raw_applications()
    raw.loc[: int(N * 0.3) - 1, "bureau_score"] = np.nan
    config = QualityConfig.model_validate({"null_share": {"columns": {"bureau_score": 0.35}}})

    report = run_checks(contract, "applications", feature_frame(contract, raw), config=config)

    check = result(report, "null_share[bureau_score]")
    assert check.passed and check.threshold == 0.35


def test_out_of_range_and_unknown_category_fail_ranges(contract):
    raw = raw_applications()
    raw.loc[:3, "bureau_score"] = 999.0
    raw.loc[:1, "loan_purpose"] = "yacht"
    frame = feature_frame(contract, raw)

    report = run_checks(contract, "applications", frame)

    score = result(report, "range[bureau_score]")
    assert not score.passed and score.severity == "critical"
    assert score.observed == pytest.approx(4 / N)
    assert "4 of 400 values (1.0%) outside [300, 850]" in score.message
    assert "999" in score.message
    purpose = result(report, "range[loan_purpose]")
    assert not purpose.passed and "yacht" in purpose.message


def test_orphan_outcomes_fail_referential_integrity(contract):
    ids = [f"A{i}" for i in range(N)]
    frame = outcomes_frame(ids)

    report = run_checks(contract, "outcomes", frame, known_ids=set(ids[:-10]))

    check = result(report, "referential_integrity[application_id]")
    assert not check.passed and check.severity == "critical"
    assert check.observed == pytest.approx(10 / N)
    assert "10 of 400 outcomes (2.5%) name no known application" in check.message
    assert "A390" in check.message


def test_referential_integrity_needs_known_ids(contract):
    ids = [f"A{i}" for i in range(N)]

    report = run_checks(contract, "outcomes", outcomes_frame(ids))

    assert "referential_integrity" not in {r.kind for r in report.results}


@pytest.mark.parametrize(("rate", "word"), [(0.0, "0.0%"), (0.8, "80.0%")])
def test_label_rate_outside_bounds_fails(contract, rate, word):
    ids = [f"A{i}" for i in range(N)]
    frame = outcomes_frame(ids)
    frame["defaulted"] = pd.array((np.arange(N) < rate * N).astype(int), dtype="Int64")

    report = run_checks(contract, "outcomes", frame)

    check = result(report, "label_rate[defaulted]")
    assert not check.passed and check.severity == "critical"
    assert check.threshold == [0.01, 0.6]
    assert f"default rate {word}" in check.message and "outside 1.0%-60.0%" in check.message
    assert "outside [0.01, 0.6]" in report.summary()


def test_drift_is_a_warning_by_default(contract):
    frame = feature_frame(contract, raw_applications())
    reference = feature_frame(contract, raw_applications(seed=1))
    frame["annual_income"] = frame["annual_income"] * 3

    report = run_checks(contract, "applications", frame, reference=reference)

    check = result(report, "drift[annual_income]")
    assert not check.passed and check.severity == "warning"
    assert check.observed > 0.25
    assert "annual_income: PSI" in check.message and "shifted" in check.message
    assert report.passed  # a warning does not stop the pipeline
    assert report.warnings == [check]


def test_drift_can_be_made_critical(contract):
    frame = feature_frame(contract, raw_applications())
    reference = feature_frame(contract, raw_applications(seed=1))
    frame["region"] = "north"
    config = QualityConfig.model_validate({"drift": {"severity": "critical"}})

    report = run_checks(contract, "applications", frame, reference=reference, config=config)

    check = result(report, "drift[region]")
    assert not check.passed and check.severity == "critical"
    assert not report.passed
    with pytest.raises(QualityGateFailedError, match=r"drift\[region\]") as caught:
        report.raise_if_failed()
    assert caught.value.details["report"]["passed"] is False


def test_a_disabled_check_does_not_run(contract):
    frame = feature_frame(contract, raw_applications(n=10))
    config = QualityConfig.model_validate({"min_rows": {"enabled": False}})

    report = run_checks(contract, "applications", frame, config=config)

    assert "min_rows" not in {r.kind for r in report.results}


# --------------------------------------------------------------------------- PSI


def test_psi_of_the_same_distribution_is_near_zero():
    rng = np.random.default_rng(3)
    expected, actual = rng.normal(size=20_000), rng.normal(size=20_000)

    assert psi(expected, actual) < 0.01
    assert psi(expected, expected) == pytest.approx(0.0, abs=1e-12)
    assert psi_band(psi(expected, actual)) == "stable"


def test_psi_of_a_shifted_distribution_is_large():
    rng = np.random.default_rng(3)
    value = psi(rng.normal(size=20_000), rng.normal(loc=1.0, size=20_000))

    assert value > 0.25
    assert psi_band(value) == "shifted"


def test_psi_counts_missing_values_as_a_bin():
    rng = np.random.default_rng(3)
    expected = rng.normal(size=10_000)
    actual = rng.normal(size=10_000)
    actual[:3000] = np.nan

    assert psi(expected, actual) > 0.25


def test_psi_is_finite_when_a_bin_is_empty():
    value = psi([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [100, 100, 100])

    assert np.isfinite(value) and value > 1


def test_psi_accepts_nullable_pandas_series():
    expected = pd.Series([1.0, 2.0, None, 4.0] * 50, dtype="Float64")

    assert psi(expected, expected.copy()) == pytest.approx(0.0, abs=1e-12)


def test_categorical_psi():
    same = psi_categorical(["a"] * 50 + ["b"] * 50, ["b"] * 50 + ["a"] * 50)
    shifted = psi_categorical(["a"] * 50 + ["b"] * 50, ["a"] * 90 + ["b"] * 10)
    new_level = psi_categorical(["a"] * 100, ["a"] * 80 + ["c"] * 20)
    missing = psi_categorical(["a"] * 100, ["a"] * 70 + [None] * 30)

    assert same == pytest.approx(0.0)
    assert shifted > 0.25
    assert new_level > 0.25
    assert missing > 0.25


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.099, "stable"), (0.1, "watch"), (0.25, "watch"), (0.26, "shifted")],
)
def test_psi_bands(value, band):
    assert psi_band(value) == band


# --------------------------------------------------------------------------- report


def failing_report(contract: Contract) -> QualityReport:
    raw = raw_applications()
    raw.loc[:199, "bureau_score"] = np.nan
    frame = feature_frame(contract, raw)
    reference = feature_frame(contract, raw_applications(seed=1))
    frame["annual_income"] = frame["annual_income"] * 3
    return run_checks(contract, "applications", frame, reference=reference)


def test_report_dict_is_json_and_round_trips(contract):
    report = failing_report(contract)

    data = json.loads(json.dumps(report.to_dict()))
    again = QualityReport.from_dict(data)

    assert data["passed"] is False
    assert data["summary"] == report.summary()
    assert again.results == report.results
    assert again.to_text() == report.to_text()


def test_report_text_fits_a_screen_and_names_failures(contract):
    report = failing_report(contract)

    text = report.to_text()

    lines = text.splitlines()
    assert lines[0].startswith("Data quality FAILED: applications, 400 rows")
    assert len(lines) < 30
    assert any("CRITICAL" in line and "null_share[bureau_score]" in line for line in lines)
    assert any("WARNING" in line and "drift[annual_income]" in line for line in lines)
    assert any(line.split()[:1] == ["drift"] for line in lines)  # the per-kind overview
    verbose = report.to_text(verbose=True)
    assert len(verbose.splitlines()) > len(report.results)


def test_summary_of_a_clean_report(contract):
    report = run_checks(contract, "applications", feature_frame(contract, raw_applications()))

    assert report.summary() == f"all {len(report.results)} checks passed on 400 applications rows"


# --------------------------------------------------------------------------- config


def test_packaged_config_loads():
    config = load_quality_config()

    assert config.drift.severity == "warning" and config.drift.max_psi == 0.25
    assert config.label_rate.min == 0.01 and config.label_rate.max == 0.6


def test_bad_config_names_the_field(tmp_path):
    path = tmp_path / "quality.yaml"
    path.write_text("null_share:\n  max_share: 1.5\n")

    with pytest.raises(ConfigurationError, match=r"null_share\.max_share"):
        load_quality_config(path)


def test_unknown_severity_is_rejected(tmp_path):
    path = tmp_path / "quality.yaml"
    path.write_text("drift:\n  severity: fatal\n")

    with pytest.raises(ConfigurationError, match=r"drift\.severity"):
        load_quality_config(path)
