"""The lean serving model: same PDs as the trained pipeline, exact reasons, safe bytes."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from credit_risk.contract import Contract, load_contract
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.errors import ArtifactIntegrityError, ValidationError
from credit_risk.models.lean import CalibrationMap, LeanModel
from credit_risk.models.training.export import to_lean
from credit_risk.models.training.trainer import TrainingResult, train_candidates

pytestmark = pytest.mark.slow

CANDIDATES = ("logistic_regression", "random_forest", "xgboost")


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(scope="module")
def frames(contract: Contract):
    data = generate(2500, seed=5, as_of="2025-01-01")
    X = build_features(contract, data.applications)
    return X, data.outcomes["defaulted"].to_numpy(), data.applications["application_date"]


@pytest.fixture(scope="module")
def result(contract: Contract, frames) -> TrainingResult:
    X, y, dates = frames
    return train_candidates(contract, X, y, dates, cv=(2, 1), seed=1)


@pytest.fixture(scope="module")
def leans(result: TrainingResult, contract: Contract) -> dict[str, LeanModel]:
    return {name: to_lean(c, contract) for name, c in result.candidates.items()}


@pytest.fixture(scope="module")
def holdout(result: TrainingResult, frames):
    X, _, _ = frames
    return X.iloc[result.split.holdout].reset_index(drop=True)


def records(X) -> list[dict]:
    return X.to_dict("records")


def edge_rows() -> list[dict]:
    """Rows a trained model never saw: unknown categories, missing and absent values."""
    base = {
        "employment_status": "employed",
        "employment_years": 4.0,
        "annual_income": 42000.0,
        "monthly_debt_payments": 900.0,
        "housing_status": "rent",
        "region": "north",
        "bureau_score": 640.0,
        "open_accounts": 4.0,
        "delinquencies_24m": 0.0,
        "inquiries_6m": 1.0,
        "public_records": 0.0,
        "loan_amount": 12000.0,
        "loan_term_months": 36.0,
        "debt_to_income": 0.26,
        "loan_to_income": 0.29,
        "instalment_burden": 0.1,
        "utilisation": 0.4,
        "credit_history_months": 80.0,
        "delinquency_inquiry_index": 1.0,
        "loan_purpose": "car",
    }
    unknown = {**base, "region": "atlantis", "loan_purpose": "yacht"}
    missing = {**base, "bureau_score": None, "employment_years": float("nan"), "region": None}
    absent = {k: v for k, v in base.items() if k not in ("utilisation", "housing_status")}
    return [base, unknown, missing, absent]


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("name", CANDIDATES)
def test_lean_model_gives_the_pipelines_pd(result, leans, holdout, name):
    expected = result.candidates[name].model.predict_proba(holdout)[:, 1]

    got = leans[name].predict(records(holdout))

    assert np.max(np.abs(got - expected)) < 1e-6


@pytest.mark.parametrize("name", CANDIDATES)
def test_unseen_categories_and_missing_values_score_like_the_pipeline(
    result, leans, contract, name
):
    import pandas as pd

    rows = edge_rows()
    frame = pd.DataFrame(rows, columns=contract.features)
    frame[contract.numeric_features] = frame[contract.numeric_features].astype("float64")
    frame[contract.categorical_features] = (
        frame[contract.categorical_features].astype(object).where(frame.notna(), None)
    )
    expected = result.candidates[name].model.predict_proba(frame)[:, 1]

    got = leans[name].predict(rows)

    assert np.all((got > 0) & (got < 1))
    assert np.max(np.abs(got - expected)) < 1e-6


@pytest.mark.parametrize("name", CANDIDATES)
def test_one_row_encodes_to_the_bit_as_in_a_batch(leans, holdout, name):
    # GIVEN holdout rows, the edge rows, and values the one-row path hands on: a blank,
    # a number as text, a boolean, a value that is a list
    lean = leans[name]
    odd = edge_rows()[0]
    rows = records(holdout.head(500)) + edge_rows()
    rows += [{**odd, "annual_income": " "}, {**odd, "annual_income": "41000.5"}]
    rows += [{**odd, "open_accounts": True}]
    rows += [{**odd, **{f: [1.0] for f in lean.numeric}}]
    batch = lean.encode_columns(
        {f: [row.get(f) for row in rows[:-1]] for f in lean.features}, n_rows=len(rows) - 1
    )

    # WHEN each row is encoded alone, THEN it is the batch's row, bit for bit
    for i, row in enumerate(rows[:-1]):
        assert np.array_equal(lean.encode([row]), batch[i : i + 1], equal_nan=True), i
    # AND a one-element list where a number belongs is taken as the column-wise path takes it
    alone = lean.encode_columns({f: [rows[-1].get(f)] for f in lean.features}, n_rows=1)
    assert np.array_equal(lean.encode([rows[-1]]), alone, equal_nan=True)


def test_a_thin_file_is_riskier_than_a_strong_bureau_score(leans):
    strong = {**edge_rows()[0], "bureau_score": 800.0}
    thin_file = {**strong, "bureau_score": None}

    for lean in leans.values():
        assert lean.predict([thin_file])[0] > lean.predict([strong])[0]


def test_a_non_numeric_value_names_the_feature(leans):
    row = {**edge_rows()[0], "annual_income": "a lot"}

    with pytest.raises(ValidationError, match="annual_income"):
        leans["logistic_regression"].predict([row])


# --------------------------------------------------------------------------- reasons


@pytest.mark.parametrize("name", CANDIDATES)
def test_contributions_and_base_add_up_to_the_margin(leans, holdout, name):
    lean = leans[name]
    design = lean.encode(records(holdout.head(200)))

    margins, contributions, base = lean.contributions_of(design)

    assert contributions.shape == (200, len(lean.features))
    assert np.max(np.abs(base + contributions.sum(axis=1) - margins)) < 1e-4
    assert np.allclose(lean.calibration(margins), lean.predict(records(holdout.head(200))))


@pytest.mark.parametrize("name", CANDIDATES)
def test_explain_names_every_contract_feature(leans, contract, name):
    row = edge_rows()[2]

    pd, contributions, base_value = leans[name].explain(row)

    assert set(contributions) == set(contract.features)
    margin = leans[name].margin_of(leans[name].encode([row]))[0]
    assert base_value + sum(contributions.values()) == pytest.approx(margin, abs=1e-4)
    assert pd == pytest.approx(leans[name].predict([row])[0], abs=1e-12)


def test_linear_contribution_is_coefficient_times_distance_from_the_mean(leans):
    lean = leans["logistic_regression"]
    row = edge_rows()[0]
    low, high = {**row, "bureau_score": 500.0}, {**row, "bureau_score": 800.0}

    delta = lean.explain(high).contributions["bureau_score"]
    delta -= lean.explain(low).contributions["bureau_score"]
    margin_delta = lean.explain(high).margin - lean.explain(low).margin

    # only the bureau score changed, so its contribution carries the whole change
    assert delta == pytest.approx(margin_delta, abs=1e-9)
    assert delta < 0  # a better score lowers the risk


# --------------------------------------------------------------------------- bytes


@pytest.mark.parametrize("name", CANDIDATES)
def test_bytes_round_trip_scores_the_same(leans, holdout, name):
    lean = leans[name]
    data = lean.to_bytes()

    again = LeanModel.from_bytes(data)

    rows = records(holdout.head(300))
    assert np.array_equal(again.predict(rows), lean.predict(rows))
    assert again.to_bytes() == data  # deterministic: same model, same bytes, same hash


def test_artifact_is_json_and_xgboost_model_not_pickle(leans):
    with zipfile.ZipFile(io.BytesIO(leans["xgboost"].to_bytes())) as archive:
        names = sorted(archive.namelist())
        spec = json.loads(archive.read("model.json"))

    assert names == ["booster.ubj", "model.json"]
    assert spec["kind"] == "xgboost"
    assert spec["calibration"]["kind"] in ("sigmoid", "isotonic")
    with zipfile.ZipFile(io.BytesIO(leans["logistic_regression"].to_bytes())) as archive:
        assert archive.namelist() == ["model.json"]


def test_corrupt_bytes_are_refused():
    with pytest.raises(ArtifactIntegrityError):
        LeanModel.from_bytes(b"not a model")


def test_scoring_needs_neither_pandas_nor_scikit_learn(leans, tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(leans["logistic_regression"].to_bytes())
    code = (
        "import sys\n"
        "from credit_risk.models.lean import LeanModel\n"
        f"m = LeanModel.from_bytes(open({str(path)!r}, 'rb').read())\n"
        "pd = m.predict([{'annual_income': 40000.0, 'region': 'north'}])[0]\n"
        "assert 0 < pd < 1\n"
        "heavy = [x for x in ('pandas', 'sklearn', 'xgboost', 'scipy') if x in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------- calibration


def test_calibration_maps_are_monotone_plain_numbers():
    sigmoid = CalibrationMap("sigmoid", a=0.9, b=-0.2)
    isotonic = CalibrationMap("isotonic", x=(-2.0, 0.0, 1.0), y=(0.01, 0.1, 0.4))
    margins = np.linspace(-5, 5, 101)

    for mapping in (sigmoid, isotonic):
        pd = mapping(margins)
        assert np.all(np.diff(pd) >= 0)
        assert CalibrationMap.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping
    assert sigmoid(np.array([0.0]))[0] == pytest.approx(1 / (1 + math.exp(0.2)))
    assert isotonic(np.array([-9.0, 0.5, 9.0])).tolist() == pytest.approx([0.01, 0.25, 0.4])


# --------------------------------------------------------------------------- tree table


@pytest.mark.parametrize("name", ["random_forest", "xgboost"])
def test_a_few_rows_walked_in_numpy_give_xgboosts_margins_to_the_bit(leans, frames, name):
    from credit_risk.models.tree_table import WALK_BUDGET

    model = leans[name]
    X, _, _ = frames
    design = model.encode(records(X))  # 2,500 rows, missing values and unseen categories
    assert model._trees is not None, "the booster's trees were not taken"

    expected = np.asarray(model._booster.inplace_predict(design, predict_type="margin"))
    walked = model._trees.margins(design)
    one_by_one = np.concatenate([model.margin_of(design[i : i + 1]) for i in range(300)])

    assert walked.dtype == np.float32
    assert np.array_equal(walked, expected)
    assert np.array_equal(one_by_one, expected[:300].astype(np.float64))
    few = max(1, WALK_BUDGET // (len(model._trees.roots) * model._trees.depth))
    assert model._trees.walks(design[:few]) and not model._trees.walks(design[: few * 3])
    too_large = design[:1].copy()
    too_large[0, 0] = 1e300  # infinite as float32: xgboost's own rule applies
    assert not model._trees.walks(too_large)
    with_nan = design[:few].copy()
    with_nan[::2, 0] = np.nan  # the default direction of every split on a missing value
    assert np.array_equal(
        model.margin_of(with_nan),
        np.asarray(model._booster.inplace_predict(with_nan, predict_type="margin"), np.float64),
    )


def test_a_booster_the_walk_does_not_reproduce_is_left_to_xgboost():
    import xgboost as xgb

    from credit_risk.models.tree_table import TreeTable

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(400, 4)), rng.integers(0, 2, 400)
    squared = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(X, y), 5)
    logistic = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, y), 5)

    assert TreeTable.of(squared, 4) is None  # another objective: another base margin
    assert TreeTable.of(logistic, 3) is None  # splits on a column the design does not have
    assert TreeTable.of(logistic, 4) is not None
