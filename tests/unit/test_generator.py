"""The synthetic data generator: reproducible, contract-valid, with a known ceiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from credit_risk.contract import Contract, load_contract
from credit_risk.data.generator import SyntheticData, generate, oracle_auc, write_dataset
from credit_risk.data.validation import validate_frame

ROWS = 20_000


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate(ROWS, seed=7)


def _window_end(applications: pd.DataFrame, months: int = 12) -> pd.Series:
    return applications["application_date"] + pd.DateOffset(months=months)


def _matured(data: SyntheticData) -> pd.Series:
    """Defaulted, or observed for the whole 12-month window."""
    out = data.outcomes
    return (out["defaulted"] == 1) | (out["observation_date"] >= _window_end(data.applications))


def test_same_seed_gives_identical_frames() -> None:
    # GIVEN two runs with the same arguments
    first = generate(3_000, seed=11)
    second = generate(3_000, seed=11)
    # THEN every frame is identical, cell for cell
    pd.testing.assert_frame_equal(first.applications, second.applications)
    pd.testing.assert_frame_equal(first.outcomes, second.outcomes)
    pd.testing.assert_frame_equal(first.true_pd, second.true_pd)


def test_different_seed_gives_different_data() -> None:
    # GIVEN two runs that differ only in the seed
    first = generate(3_000, seed=11)
    second = generate(3_000, seed=12)
    # THEN the drawn values differ (ids are positional, so compare the contents)
    assert not first.applications["annual_income"].equals(second.applications["annual_income"])
    assert not first.applications["full_name"].equals(second.applications["full_name"])
    assert not first.true_pd["true_pd"].equals(second.true_pd["true_pd"])


@pytest.mark.parametrize("dataset", ["applications", "outcomes"])
def test_output_satisfies_the_default_contract(
    data: SyntheticData, contract: Contract, dataset: str
) -> None:
    # GIVEN a generated file and the default contract
    frame = getattr(data, dataset)
    # WHEN it is validated
    result = validate_frame(contract.dataset(dataset), frame)
    # THEN every column is declared, every row passes and none is quarantined
    assert list(frame.columns) == list(contract.dataset(dataset).columns)
    assert result.violations == []
    assert len(result.good) == ROWS


def test_ids_are_unique_and_customers_repeat(data: SyntheticData) -> None:
    apps = data.applications
    # THEN application ids are unique, and about one customer per 1.3 applications
    assert apps["application_id"].is_unique
    assert apps["application_id"].iloc[0] == "A00000001"
    ids = apps["customer_id"]
    assert (ids.str.fullmatch(r"C\d{7}") | (ids == "123")).all()
    assert "123" in set(ids)  # the seed's example customer
    assert apps["customer_id"].nunique() == pytest.approx(ROWS / 1.3, rel=0.01)
    # AND a repeat customer keeps the same personal data
    per_customer = apps.groupby("customer_id")[["full_name", "national_id", "date_of_birth"]]
    assert (per_customer.nunique() == 1).all().all()


def test_about_eight_percent_are_thin_file(data: SyntheticData) -> None:
    # THEN the bureau score is missing for roughly 8% of applications
    assert data.applications["bureau_score"].isna().mean() == pytest.approx(0.08, abs=0.015)


def test_default_rate_is_plausible(data: SyntheticData) -> None:
    # GIVEN the outcomes that are usable labels (matured)
    labels = data.outcomes.loc[_matured(data), "defaulted"]
    # THEN the default rate is that of a real consumer book
    assert 0.10 <= labels.mean() <= 0.25
    assert 0.10 <= data.true_pd["true_pd"].mean() <= 0.25


def test_oracle_auc_is_well_above_chance(data: SyntheticData) -> None:
    # WHEN the true PD ranks the matured outcomes
    auc = oracle_auc(data.outcomes, data.true_pd, applications=data.applications)
    # THEN it separates defaulters clearly
    assert auc > 0.75


def test_linear_model_on_raw_numbers_falls_short_of_the_oracle(
    data: SyntheticData, contract: Contract
) -> None:
    # GIVEN the raw numeric feature columns and matured labels, split in two halves
    raw = [
        name
        for name, col in contract.applications.columns.items()
        if col.feature and col.type in ("integer", "float")
    ]
    matured = _matured(data).to_numpy()
    x = data.applications.loc[matured, raw].astype("float64")
    x = x.fillna(x.median())
    y = data.outcomes.loc[matured, "defaulted"].to_numpy()
    pd_true = data.true_pd.loc[matured, "true_pd"].to_numpy()
    half = len(y) // 2
    # WHEN a logistic regression learns on one half and ranks the other
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x.iloc[:half], y[:half])
    linear_auc = roc_auc_score(y[half:], model.predict_proba(x.iloc[half:])[:, 1])
    oracle = roc_auc_score(y[half:], pd_true[half:])
    # THEN it finds signal but misses the non-linear effects the oracle knows
    assert linear_auc > 0.65
    assert linear_auc < oracle - 0.02


def test_interest_rate_is_priced_from_risk_but_not_exactly(data: SyntheticData) -> None:
    rate = data.applications["interest_rate"]
    pd_true = data.true_pd["true_pd"]
    # THEN riskier loans cost more, with the noise of a real lender's pricing
    correlation = rate.corr(pd_true, method="spearman")
    assert 0.5 < correlation < 0.98


def test_recent_applications_include_unmatured_outcomes(data: SyntheticData) -> None:
    apps, out = data.applications, data.outcomes
    short = out["observation_date"] < _window_end(apps)
    unmatured = short & (out["defaulted"] == 0)
    recent = apps["application_date"] >= pd.Timestamp("2023-07-01")
    early = apps["application_date"] < pd.Timestamp("2023-01-01")
    # THEN the last six months hold loans not yet observed for a whole window
    assert unmatured[recent].mean() > 0.5
    # AND loans from the first year are all observed for the whole window
    assert not short[early].any()


def test_a_late_as_of_matures_every_loan() -> None:
    # GIVEN outcomes observed long after the last application
    data = generate(2_000, seed=3, as_of="2030-01-01")
    # THEN every loan was observed for its whole 12-month window
    window_end = _window_end(data.applications)
    assert (data.outcomes["observation_date"] == window_end).all()


def test_defaults_fall_inside_the_observed_window(data: SyntheticData) -> None:
    apps, out = data.applications, data.outcomes
    defaulted = out["defaulted"] == 1
    # THEN a default date exists exactly for defaulted loans
    assert (out["default_date"].notna() == defaulted).all()
    # AND it lies between 90 days after application and the observation date
    days = (out.loc[defaulted, "default_date"] - apps.loc[defaulted, "application_date"]).dt.days
    assert days.min() >= 90
    assert (out.loc[defaulted, "default_date"] <= out.loc[defaulted, "observation_date"]).all()


def test_as_of_before_the_last_application_is_refused() -> None:
    with pytest.raises(ValueError, match="as_of"):
        generate(100, start="2022-01-01", months=24, as_of="2023-01-01")


def _read_back(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_written_files_read_back_to_the_same_rows(
    tmp_path: Path, contract: Contract, fmt: str
) -> None:
    # GIVEN a small dataset written in one format
    data = generate(500, seed=5)
    paths = write_dataset(data, tmp_path, fmt=fmt)  # type: ignore[arg-type]
    assert sorted(paths) == ["applications", "outcomes", "true_pd"]
    # WHEN each contract file is read back and typed by the contract
    for dataset in ("applications", "outcomes"):
        spec = contract.dataset(dataset)
        read = validate_frame(spec, _read_back(paths[dataset], fmt))
        written = validate_frame(spec, getattr(data, dataset))
        # THEN it holds exactly the rows that were generated
        assert read.violations == []
        pd.testing.assert_frame_equal(read.good, written.good)
    true_pd = _read_back(paths["true_pd"], fmt)
    assert true_pd["application_id"].tolist() == data.true_pd["application_id"].tolist()
    np.testing.assert_array_equal(true_pd["true_pd"].astype(float), data.true_pd["true_pd"])


def test_csv_writes_iso_dates_and_empty_missing_cells(tmp_path: Path) -> None:
    data = generate(500, seed=5)
    path = write_dataset(data, tmp_path, fmt="csv")["outcomes"]
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    # THEN dates are yyyy-mm-dd and a loan that did not default has an empty default date
    assert raw["observation_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert (raw.loc[raw["defaulted"] == "0", "default_date"] == "").all()
