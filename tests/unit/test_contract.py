"""The dataset contract: a second lender's shape, malformed contracts, quarantined cells."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_risk.contract import Contract, load_contract
from credit_risk.data.features import build_features
from credit_risk.data.validation import validate_frame
from credit_risk.errors import ContractError

OTHER_LENDER = Path(__file__).resolve().parents[1] / "fixtures" / "other_lender"


def _fixture_module() -> ModuleType:
    """The other lender's data maker, loaded from its file (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "other_lender_data", OTHER_LENDER / "make_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_other_lender: Callable[[int, int], tuple[pd.DataFrame, pd.DataFrame]] = (
    _fixture_module().make_other_lender
)


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(OTHER_LENDER / "contract.yaml")


@pytest.fixture(scope="module")
def other_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_other_lender(4_000, 3)


def _as_csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a landed CSV reads: every cell text, missing cells empty."""
    text = frame.to_csv(index=False, date_format="%Y-%m-%d")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# --- the second lender ------------------------------------------------------------------


def test_other_lender_contract_loads_with_its_own_names(contract: Contract) -> None:
    # THEN its keys, target, window and features are its own, not the default contract's
    assert contract.applications.id == "deal_ref"
    assert contract.applications.customer_key == "borrower_no"
    assert contract.applications.event_date == "contract_start"
    assert contract.outcomes.target == "charged_off"
    assert contract.maturity.window_months == 6
    assert "vehicle_age_months" in contract.numeric_features
    assert contract.categorical_features == ["dealer_channel", "vehicle_type", "credit_band"]
    assert set(contract.applications.pii_columns) == {
        "borrower_no",
        "borrower_name",
        "borrower_postcode",
    }


@pytest.mark.parametrize("dataset", ["applications", "outcomes"])
def test_other_lender_data_validates_cleanly(
    contract: Contract, other_data: tuple[pd.DataFrame, pd.DataFrame], dataset: str
) -> None:
    frame = dict(zip(("applications", "outcomes"), other_data, strict=True))[dataset]
    # WHEN both the typed frame and its CSV text are validated
    for raw in (frame, _as_csv_text(frame)):
        result = validate_frame(contract.dataset(dataset), raw)
        # THEN nothing is quarantined
        assert result.violations == []
        assert len(result.good) == len(frame)


def test_build_features_gives_exactly_the_contract_features(
    contract: Contract, other_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    # GIVEN the other lender's applications, typed by its contract
    applications = validate_frame(contract.applications, _as_csv_text(other_data[0])).good
    # WHEN features are built
    features = build_features(contract, applications)
    # THEN the columns are the contract's features, in order, numeric ones as floats
    assert list(features.columns) == contract.features
    assert (features[contract.numeric_features].dtypes == "float64").all()
    # AND gaps in the inputs stay gaps rather than becoming numbers
    assert features["deposit_share"].isna().sum() == applications["deposit"].isna().sum()
    brand_new = applications["vehicle_registered"].isna()
    assert features.loc[brand_new, "vehicle_age_months"].isna().all()
    assert (features.loc[~brand_new, "vehicle_age_months"] > 0).all()
    ratio = applications["financed_amount"] / applications["vehicle_price"]
    np.testing.assert_allclose(features["loan_to_value"], ratio.astype(float))


def test_other_lender_data_carries_a_learnable_signal(
    other_data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    applications, outcomes = other_data
    rate_by_band = outcomes["charged_off"].groupby(applications["credit_band"]).mean()
    # THEN worse credit bands charge off more often
    assert rate_by_band["A"] < rate_by_band["C"] < rate_by_band["E"]


# --- malformed contracts ----------------------------------------------------------------


def _write_variant(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    raw = yaml.safe_load((OTHER_LENDER / "contract.yaml").read_text())
    change(raw)
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _columns(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["applications"]["columns"]


def test_a_feature_not_known_at_application_is_refused(tmp_path: Path) -> None:
    # GIVEN a feature column marked as only known later
    path = _write_variant(
        tmp_path, lambda raw: _columns(raw)["deposit"].update(known_at_application=False)
    )
    # THEN loading names the column and the problem
    with pytest.raises(ContractError, match=r"'deposit' is not known at application time"):
        load_contract(path)


def test_a_derived_feature_reading_personal_data_is_refused(tmp_path: Path) -> None:
    # GIVEN a derived feature that reads a personal-data column
    def change(raw: dict[str, Any]) -> None:
        _columns(raw)["borrower_age"] = {"type": "float", "pii": True}
        raw["derived"]["age_to_term"] = {"expr": "borrower_age / term_months"}

    path = _write_variant(tmp_path, change)
    # THEN loading names the derived feature and the column it may not read
    with pytest.raises(ContractError, match=r"'age_to_term' reads \['borrower_age'\]"):
        load_contract(path)


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    # GIVEN a misspelt key in a column spec
    path = _write_variant(tmp_path, lambda raw: _columns(raw)["deposit"].update(nulable=True))
    # THEN loading points at the key
    with pytest.raises(ContractError, match=r"deposit\.nulable: Extra inputs are not permitted"):
        load_contract(path)


def test_a_derived_feature_reading_a_later_one_is_refused(tmp_path: Path) -> None:
    # GIVEN a derived feature that reads one defined after it (features build in order)
    def change(raw: dict[str, Any]) -> None:
        raw["derived"] = {
            "doubled_ltv": {"expr": "loan_to_value * 2"},
            "loan_to_value": {"expr": "financed_amount / vehicle_price"},
        }

    path = _write_variant(tmp_path, change)
    with pytest.raises(ContractError, match=r"'doubled_ltv' reads \['loan_to_value'\]"):
        load_contract(path)


def test_a_constant_in_scientific_notation_is_not_read_as_a_column(tmp_path: Path) -> None:
    # GIVEN a derived feature scaled by 1e-3
    path = _write_variant(
        tmp_path, lambda raw: raw["derived"].update(price_k={"expr": "vehicle_price * 1e-3"})
    )
    # WHEN it is loaded and features are built
    contract = load_contract(path)
    applications = make_other_lender(5, 1)[0]
    features = build_features(contract, applications)
    # THEN the constant is a number, not a missing column
    assert contract.derived["price_k"].inputs() == {"vehicle_price"}
    np.testing.assert_allclose(features["price_k"], applications["vehicle_price"] / 1000)


def test_a_missing_target_is_refused(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, lambda raw: raw["outcomes"].pop("target"))
    with pytest.raises(ContractError, match="outcomes needs a 'target' column"):
        load_contract(path)


# --- quarantine -------------------------------------------------------------------------


def test_validate_frame_quarantines_bad_cells_and_keeps_good_rows(contract: Contract) -> None:
    # GIVEN a landed file where rows 2-6 each break one rule
    raw = _as_csv_text(make_other_lender(10, 1)[0])
    raw.loc[1, "financed_amount"] = "-5"
    raw.loc[2, "vehicle_type"] = "hovercraft"
    raw.loc[3, "vehicle_price"] = "12,5k"
    raw.loc[4, "contract_start"] = ""
    raw.loc[5, "deal_ref"] = raw.loc[0, "deal_ref"]
    # WHEN it is validated
    result = validate_frame(contract.applications, raw)
    # THEN each bad cell is recorded with its row, column and rule
    found = [(v.row_number, v.column, v.rule) for v in result.violations]
    assert found == [
        (2, "financed_amount", "below minimum 500"),
        (3, "vehicle_type", "not one of: new, used, electric, van, motorcycle"),
        (4, "vehicle_price", "not a number"),
        (5, "contract_start", "required value is missing"),
        (6, "deal_ref", "duplicate value in file"),
    ]
    assert result.violations[2].value == "12,5k"
    # AND the other rows pass, typed
    assert result.bad_row_numbers == [2, 3, 4, 5, 6]
    assert result.good["_row_number"].tolist() == [1, 7, 8, 9, 10]
    assert result.good["term_months"].dtype == "Int64"


def test_validate_frame_flags_fractional_integers_and_bad_booleans(contract: Contract) -> None:
    raw = _as_csv_text(make_other_lender(4, 1)[0])
    raw.loc[0, "term_months"] = "36.5"
    raw.loc[1, "homeowner"] = "maybe"
    result = validate_frame(contract.applications, raw)
    found = [(v.row_number, v.column, v.rule) for v in result.violations]
    assert found == [(1, "term_months", "not an integer"), (2, "homeowner", "not a boolean")]
    assert result.good["_row_number"].tolist() == [3, 4]


def test_the_yaml_boolean_trap_is_named_with_its_fix(tmp_path: Path) -> None:
    import yaml

    from credit_risk.contract import load_contract
    from credit_risk.contract.files import read_yaml_mapping
    from credit_risk.errors import ContractError

    raw, _ = read_yaml_mapping(None, default="contract.yaml", what="contract")
    raw["applications"]["columns"]["has_guarantor"] = {
        "type": "category",
        "categories": [False, True],
    }
    path = tmp_path / "contract.yaml"
    path.write_text(
        yaml.safe_dump(raw).replace("- false\n", "- no\n").replace("- true\n", "- yes\n")
    )
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    message = str(caught.value)
    assert "has_guarantor.categories.0" in message
    assert "unquoted yes, no, on, off, true or false as the boolean false" in message
    assert "quote it" in message


def test_an_unknown_column_type_lists_the_allowed_types(tmp_path: Path) -> None:
    import yaml

    from credit_risk.contract import load_contract
    from credit_risk.contract.files import read_yaml_mapping
    from credit_risk.errors import ContractError

    raw, _ = read_yaml_mapping(None, default="contract.yaml", what="contract")
    raw["applications"]["columns"]["annual_income"]["type"] = "money"
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ContractError,
        match=r"annual_income\.type: Input should be 'string', 'integer', 'float', 'date', "
        r"'category' or 'boolean'",
    ):
        load_contract(path)
