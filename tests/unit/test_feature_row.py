"""One application's features without pandas equal the batch features, bit for bit."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_risk.contract import Contract, load_contract
from credit_risk.contract.expressions import compile_expression
from credit_risk.data.features import (
    build_feature_row,
    build_feature_variant_columns,
    build_feature_variants,
    build_features,
)
from credit_risk.data.generator import generate
from credit_risk.errors import ContractError

OTHER_LENDER = Path(__file__).resolve().parents[1] / "fixtures" / "other_lender"
REPO = Path(__file__).resolve().parents[2]


def _assert_rows_equal(contract: Contract, frame: pd.DataFrame) -> int:
    """Every feature of every row equal (NaN in the batch is None in the row)."""
    batch = build_features(contract, frame)
    records = frame.to_dict("records")
    for i, record in enumerate(records):
        row = build_feature_row(contract, record)
        assert list(row) == contract.features
        for name in contract.numeric_features:
            expected = batch[name].iloc[i]
            if np.isnan(expected):
                assert row[name] is None, (i, name, row[name])
            else:
                assert row[name] == expected, (i, name, row[name], expected)
        for name in contract.categorical_features:
            assert row[name] == batch[name].iloc[i], (i, name)
    return len(records)


def test_rows_equal_the_batch_on_generated_applications() -> None:
    # GIVEN 3,000 synthetic applications (thin files, zero rates, all categories)
    contract = load_contract()
    applications = generate(3000, seed=5).applications
    # THEN each one-row build equals its row of the pandas batch exactly
    assert _assert_rows_equal(contract, applications) == 3000


def test_rows_equal_the_batch_for_another_lenders_contract() -> None:
    # GIVEN the motor-finance lender with gaps in several features
    spec = importlib.util.spec_from_file_location("other_lender", OTHER_LENDER / "make_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    contract = load_contract(OTHER_LENDER / "contract.yaml")
    deals, _ = module.make_other_lender(1500, 4)
    # THEN its own expressions and dates give the same features both ways
    assert _assert_rows_equal(contract, deals) == 1500


_BASE = generate(1, seed=1).applications.iloc[0].to_dict()
_AMOUNTS = st.one_of(
    st.none(),
    st.just(0.0),
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.integers(min_value=0, max_value=10**6),
)
_DATES = st.one_of(st.none(), st.dates(min_value=date(1950, 1, 1), max_value=date(2030, 1, 1)))


_EDGE_ROW = st.fixed_dictionaries(
    {
        "annual_income": _AMOUNTS,
        "monthly_debt_payments": _AMOUNTS,
        "loan_amount": _AMOUNTS,
        "interest_rate": st.one_of(st.none(), st.just(0.0), st.floats(0, 1)),
        "loan_term_months": st.one_of(st.none(), st.integers(0, 480)),
        "revolving_balance": _AMOUNTS,
        "revolving_limit": _AMOUNTS,
        "first_credit_date": _DATES,
        "application_date": _DATES,
        "loan_purpose": st.one_of(st.none(), st.sampled_from(["car", "other", "unknown"])),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_EDGE_ROW, min_size=1, max_size=50))
def test_rows_equal_the_batch_at_the_edges(rows: list[dict[str, Any]]) -> None:
    # GIVEN applications with zeros (ratios over zero), gaps and odd dates
    contract = load_contract()
    frame = pd.DataFrame([{**_BASE, **row} for row in rows])
    for column in ("first_credit_date", "application_date"):
        frame[column] = pd.to_datetime(frame[column])
    # THEN the row builder agrees with pandas, undefined values included
    _assert_rows_equal(contract, frame)


def test_dates_may_be_iso_text_and_missing_inputs_are_missing() -> None:
    contract = load_contract()
    row = build_feature_row(
        contract,
        {
            "first_credit_date": "2020-01-01",
            "application_date": "2021-01-01",
            "annual_income": 0,
            "monthly_debt_payments": 100,
        },
    )
    assert row["credit_history_months"] == pytest.approx(366 / 30.4375)
    assert row["debt_to_income"] is None  # over a zero income
    assert row["bureau_score"] is None
    assert row["employment_status"] is None


@pytest.mark.parametrize(
    ("expr", "env", "expected"),
    [
        ("a / b", {"a": 1.0, "b": 0.0}, math.inf),
        ("a / b", {"a": -1.0, "b": 0.0}, -math.inf),
        ("a / b", {"a": 0.0, "b": 0.0}, math.nan),
        ("1 / (a / b)", {"a": 1.0, "b": 0.0}, 0.0),  # numpy carries inf on, as IEEE says
        ("(-a) ** 0.5", {"a": 4.0}, math.nan),
        ("a ** -1", {"a": 0.0}, math.inf),
        ("10 ** a", {"a": 400.0}, math.inf),
        ("-a ** 2", {"a": 3.0}, -9.0),
        ("a // b + a % b", {"a": 7.0, "b": 2.0}, 4.0),
        ("missing * 2", {}, math.nan),
    ],
)
def test_expressions_follow_numpy_float_rules(
    expr: str, env: dict[str, float], expected: float
) -> None:
    value = compile_expression(expr)(env)
    frame = pd.DataFrame({k: [v] for k, v in env.items()} or {"_": [0.0]})
    with np.errstate(all="ignore"):
        batch = (
            float(pd.eval(expr, local_dict={k: frame[k] for k in env}, engine="python")[0])
            if env
            else math.nan
        )
    if math.isnan(expected):
        assert math.isnan(value) and math.isnan(batch)
    else:
        assert value == expected == batch


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('true')",
        "a.real",
        "a[0]",
        "a if b else c",
        "a < b",
        "'text' * 3",
        "lambda: 1",
        "abs(a)",
        "True + a",
        "a +",
    ],
)
def test_expressions_refuse_anything_but_arithmetic(expr: str) -> None:
    with pytest.raises(ContractError):
        compile_expression(expr)


def test_the_row_builder_does_not_load_pandas() -> None:
    # The API imports features for the row builder; pandas must stay out of its process.
    code = (
        "import sys; from credit_risk.data.features import build_feature_row; "
        "from credit_risk.contract import load_contract; "
        "build_feature_row(load_contract(), {'loan_amount': 1}); "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO / "layers/core/python"), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "False"


def test_variants_equal_whole_rows_with_the_changes_applied() -> None:
    # GIVEN synthetic applications and changes to the loan's terms (on which derived
    # features such as the instalment burden depend) and to a column nothing derives from
    contract = load_contract()
    records = generate(200, seed=8).applications.to_dict("records")
    changes = [
        {"loan_amount": 1_000},
        {"loan_term_months": 60},
        {"loan_amount": 12_345.5, "loan_term_months": 24},
        {"loan_amount": None},
        {},
    ]
    for record in records:
        # WHEN the variants are built incrementally
        variants = build_feature_variants(contract, record, changes)
        # THEN each equals the whole build of the changed application, key for key
        for change, variant in zip(changes, variants, strict=True):
            assert variant == build_feature_row(contract, {**record, **change}), change


def test_variant_columns_equal_the_variant_rows_bit_for_bit() -> None:
    # GIVEN applications with gaps and a ladder of changes to the loan's terms, as the
    # counterfactual search builds them (one term, then both)
    contract = load_contract()
    frame = generate(150, seed=9).applications
    frame.loc[frame.index[::5], "annual_income"] = None
    changes = [{"loan_amount": 500 + 750 * i} for i in range(20)]
    changes += [{"loan_term_months": t} for t in (12, 24, 60, 84)]
    changes += [{"loan_amount": 2_000, "loan_term_months": 48}, {"loan_amount": None}, {}]
    for record in frame.to_dict("records"):
        # WHEN they are built column-wise, all changes at once
        columns = build_feature_variant_columns(contract, record, changes)
        rows = build_feature_variants(contract, record, changes)
        # THEN every value equals the row-wise build's (NaN where the row has None)
        for name in contract.numeric_features:
            expected = [math.nan if r[name] is None else r[name] for r in rows]
            got = columns[name]
            assert all(
                (math.isnan(a) and math.isnan(b)) or a == b
                for a, b in zip(got.tolist(), expected, strict=True)
            ), name
        for name in contract.categorical_features:
            assert columns[name] == [r[name] for r in rows]


def test_an_expression_over_arrays_equals_it_row_by_row() -> None:
    # GIVEN expressions with every operator, over values with zeros, negatives and NaN
    a = [0.0, 1.5, -2.0, 3.0, math.nan, 7.25, 0.0]
    b = [0.0, 0.0, 4.0, -0.5, 2.0, 3.0, -1.0]
    for text in ("a / b", "a ** b", "a // b", "a % b", "-a + b * 2 - +b", "(a + 1) ** -b / 12"):
        expression = compile_expression(text)
        # WHEN evaluated over the columns at once
        over = expression.over_arrays({"a": np.array(a), "b": np.array(b)}, len(a))
        # THEN each value is the one-row value, bit for bit (NaN where it is NaN)
        for i in range(len(a)):
            one = expression({"a": a[i], "b": b[i]})
            assert (math.isnan(one) and math.isnan(over[i])) or one == over[i], (text, i)
