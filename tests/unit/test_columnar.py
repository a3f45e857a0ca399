"""Chunk scoring in columns gives the one-row path's decisions, row for row."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from credit_risk.contract import load_contract
from credit_risk.data.etl import application_features
from credit_risk.data.generator import generate
from credit_risk.decisions.columnar import ColumnarScorer, _round_cents, top_reasons
from credit_risk.decisions.policy import load_decision_policy
from credit_risk.decisions.scoring import LoadedModel, decide_rows
from credit_risk.models.versions import ModelVersion
from fixtures.champion import trained_models

pytestmark = pytest.mark.slow

ROWS = 3000


def _loaded(name: str) -> LoadedModel:
    now = datetime.now(UTC)
    version = ModelVersion(
        "credit-default",
        f"v-{name}",
        name,
        "champion",
        "s3://a/b",
        "0",
        "0",
        "t",
        {},
        {},
        None,
        now,
        now,
    )
    return LoadedModel(version, trained_models().lean(name))


@pytest.fixture(scope="module")
def book():  # type: ignore[no-untyped-def]
    """3,000 loans the champions never saw, as analytics holds them, with gaps."""
    contract = trained_models().contract
    apps = generate(ROWS, seed=21).applications.copy()
    apps.loc[apps.index[::7], "bureau_score"] = None  # thin files
    apps.loc[apps.index[::11], "employment_years"] = None
    return application_features(contract, apps, b"test-key", "book")


@pytest.mark.parametrize("name", ["logistic_regression", "xgboost"])
def test_a_chunk_decides_every_row_as_the_one_row_path_does(name: str, book) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a linear or a tree champion and thousands of loans
    contract, policy = trained_models().contract, load_decision_policy(contract=load_contract())
    loaded = _loaded(name)

    # WHEN the chunk is decided in columns, and each loan alone as the API decides it
    chunk = ColumnarScorer(loaded, contract, policy).decide(pa.Table.from_pandas(book))
    rows = book[contract.features].astype(object).where(book[contract.features].notna(), None)
    one_by_one = [
        decide_rows(loaded, [row], contract, policy)[0] for row in rows.to_dict("records")
    ]

    # THEN every loan was scored, with identical PD, score, grade, decision, expected loss
    # and reasons (the same floats, in the same order, with the same texts)
    assert chunk.refused.num_rows == 0
    scored = chunk.scored.to_pylist()
    assert len(scored) == ROWS
    for got, want in zip(scored, one_by_one, strict=True):
        assert got["probability_of_default"] == want["probability_of_default"]
        assert (got["score"], got["grade"], got["decision"]) == (
            want["score"],
            want["grade"],
            want["decision"],
        )
        assert got["expected_loss"] == want["expected_loss"]
        assert json.loads(got["reasons"]) == want["reasons"]
        assert got["model_version"] == loaded.version.version
    assert {d["decision"] for d in one_by_one} == {"approve", "review", "decline"}
    assert sum(bool(d["reasons"]) for d in one_by_one) > ROWS // 2


def test_rows_breaking_the_contract_are_refused_with_every_reason(book) -> None:  # type: ignore[no-untyped-def]
    # GIVEN loans with a value above its maximum, an unknown category, a negative exposure
    contract, policy = trained_models().contract, load_decision_policy(contract=load_contract())
    poisoned = book.head(50).copy()
    poisoned.loc[0, "bureau_score"] = 9999.0
    poisoned.loc[0, "region"] = "atlantis"
    poisoned.loc[1, "loan_amount"] = -1.0
    poisoned.loc[2, "annual_income"] = np.inf

    # WHEN the chunk is decided
    chunk = ColumnarScorer(_loaded("logistic_regression"), contract, policy).decide(
        pa.Table.from_pandas(poisoned)
    )

    # THEN those rows are refused, each with all the rules it broke (never its values),
    # and the rest are scored
    refused = {r["application_id"]: r["reason"] for r in chunk.refused.to_pylist()}
    ids = poisoned["application_id"].tolist()
    assert set(refused) == set(ids[:3])
    assert refused[ids[0]] == (
        "bureau_score: above maximum 850; region: not one of: north, south, east, west, central"
    )
    assert "loan_amount: below minimum 100" in refused[ids[1]]
    assert "loan_amount: exposure at default is not a non-negative amount" in refused[ids[1]]
    assert "annual_income: not a finite number" in refused[ids[2]]
    assert "9999" not in json.dumps(refused)
    assert chunk.scored.num_rows == 47 and chunk.rows_in == 50


def test_top_reasons_rank_by_value_and_break_ties_by_column() -> None:
    # GIVEN contributions with ties inside and across the cut of the top four
    rng = np.random.default_rng(4)
    ranked = np.round(rng.normal(size=(2000, 9)), 1)  # coarse values: many ties
    ranked[ranked < 0] = -np.inf  # only positive contributions may be reasons

    # WHEN the top four are picked with argpartition
    order, values = top_reasons(ranked, 4)

    # THEN they equal a full sort by (-value, column), valid ones first
    expected = np.argsort(-ranked, axis=1, kind="stable")[:, :4]
    assert np.array_equal(order[np.isfinite(values)], expected[np.isfinite(values)])
    assert np.array_equal(values, np.take_along_axis(ranked, expected, axis=1))


def test_expected_loss_rounds_to_cents_as_python_does() -> None:
    values = np.array([2.675, 1.005, 0.125, 0.135, 1234.5649999, 10.0 / 3, 1e-9, 7.015])
    assert _round_cents(values).tolist() == [round(float(v), 2) for v in values]
