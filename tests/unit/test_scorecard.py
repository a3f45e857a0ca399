"""The WoE-binned logistic scorecard: monotone bins, points that give the PD, a lean form
equal to the optbinning model, and its points table in the model card."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from credit_risk.decisions.columnar import ColumnarScorer
from credit_risk.decisions.policy import load_decision_policy, score_points
from credit_risk.decisions.scoring import LoadedModel, decide_rows
from credit_risk.errors import ConfigurationError
from credit_risk.models.card import render_model_card
from credit_risk.models.lean import LeanModel
from credit_risk.models.training.config import load_training_config
from credit_risk.models.training.export import feature_columns
from credit_risk.models.training.pipelines import build_pipeline
from credit_risk.models.training.scorecard import (
    WoeBinning,
    WoeLogisticRegression,
    characteristic_points,
    monotonic_trend,
    points_table,
)
from credit_risk.models.versions import ModelVersion
from fixtures.scorecard import SCORECARD_CONFIG, TrainedScorecard, trained_scorecard

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def card() -> TrainedScorecard:
    return trained_scorecard()


def _event_rates(fitted: Any) -> np.ndarray:
    """Event rate of each regular bin of a fitted OptimalBinning, in bin order."""
    table = fitted.binning_table.build()
    n_regular = len(fitted.splits) + 1
    return table["Event rate"].iloc[:n_regular].to_numpy(dtype=np.float64)


# --- binning ------------------------------------------------------------------------------


def test_the_declared_direction_sets_the_binning_trend() -> None:
    assert monotonic_trend("increasing") == "ascending"
    assert monotonic_trend("decreasing") == "descending"
    assert monotonic_trend(None) == "auto_asc_desc"


def test_every_declared_feature_is_binned_monotone_in_its_direction(card: TrainedScorecard) -> None:
    # GIVEN the scorecard trained on the default contract (ten declared monotone features)
    contract = card.models.contract
    binning = card.fitted.model.pipeline.named_steps["prepare"]
    assert len(contract.monotone) == 10

    # THEN each declared feature's event rate runs the declared way across its bins
    for name, direction in contract.monotone.items():
        steps = np.diff(_event_rates(binning.binnings_[name]))
        assert (steps >= 0).all() if direction == "increasing" else (steps <= 0).all(), name
    # AND undeclared numeric features are monotone one way or the other
    for name in set(contract.numeric_features) - set(contract.monotone):
        steps = np.diff(_event_rates(binning.binnings_[name]))
        assert (steps >= 0).all() or (steps <= 0).all(), name
    # AND the model card's probe finds the fitted scorecard honouring every direction
    checks = card.fitted.metrics["monotonicity"]
    assert set(checks) == set(contract.monotone)
    assert all(c["holds"] and c["enforced"] for c in checks.values())


def test_a_declared_direction_wins_over_data_that_runs_the_other_way() -> None:
    # GIVEN a feature whose default rate falls as it grows, but is declared increasing
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, 4000)
    y = (rng.random(4000) < 0.4 - 0.3 * x).astype(int)
    X = pd.DataFrame({"x": x, "channel": rng.choice(["a", "b"], 4000)})
    # WHEN it is binned under the declaration
    binning = WoeBinning(["x"], ["channel"], {"x": "increasing"}, max_n_bins=6).fit(X, y)

    # THEN its event rate does not fall across the bins (they merge instead)
    rates = _event_rates(binning.binnings_["x"])
    assert (np.diff(rates) >= 0).all()
    # AND without the declaration the binning follows the data down
    free = WoeBinning(["x"], ["channel"], {}, max_n_bins=6).fit(X, y)
    assert len(_event_rates(free.binnings_["x"])) > 2
    assert (np.diff(_event_rates(free.binnings_["x"])) < 0).all()
    assert len(rates) < len(_event_rates(free.binnings_["x"]))


def test_a_characteristic_with_a_wrong_sign_is_dropped() -> None:
    # GIVEN a WoE column and its exact mirror image (higher means riskier)
    rng = np.random.default_rng(0)
    woe = rng.normal(size=3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(1.5 + woe))).astype(int)
    X = np.column_stack([woe, -woe])

    # WHEN the scorecard's regression is fitted
    model = WoeLogisticRegression(C=1.0).fit(X, y)

    # THEN no coefficient is positive: the mirror is dropped, the real one carries the risk
    assert model.dropped_ == [1]
    assert model.coef_[0][1] == 0.0 and model.coef_[0][0] < -0.5


def test_a_scorecard_without_sigmoid_calibration_is_refused() -> None:
    raw = json.loads(json.dumps(SCORECARD_CONFIG))
    raw["candidates"]["scorecard"]["calibration"] = "isotonic"
    with pytest.raises((ConfigurationError, ValueError), match="sigmoid"):
        load_training_config(raw)


def test_unknown_scorecard_parameters_are_named(card: TrainedScorecard) -> None:
    spec = load_training_config(SCORECARD_CONFIG).candidate("scorecard")
    with pytest.raises(ConfigurationError, match="max_depth"):
        build_pipeline("scorecard", ["x"], [], {"max_depth": 3}, spec.imbalance[0])


# --- points and the lean form ------------------------------------------------------------


def test_the_packaged_scorecard_scales_its_points_as_the_decision_policy_does() -> None:
    scaling = load_decision_policy().scaling
    params = load_training_config().candidate("scorecard").params
    assert (params["base_score"], params["base_odds"], params["pdo"]) == (
        scaling.base_score,
        scaling.base_odds,
        scaling.pdo,
    )
    default = WoeLogisticRegression()
    assert (default.base_score, default.base_odds, default.pdo) == (
        scaling.base_score,
        scaling.base_odds,
        scaling.pdo,
    )


def test_a_configured_scaling_changes_the_points_not_the_pd(card: TrainedScorecard) -> None:
    # GIVEN the fitted scorecard with its points to double the odds doubled
    model = card.fitted.model
    wider = copy.deepcopy(model.pipeline)
    wider.named_steps["model"].pdo = 40.0
    X = card.models.features.head(300)

    # WHEN both points tables are built
    base, other = (
        points_table(model.pipeline, model.calibration),
        points_table(wider, model.calibration),
    )

    # THEN the factor doubles, every row's points move, and its PD does not
    assert other.factor == pytest.approx(2 * base.factor)
    a = characteristic_points(model.pipeline, model.calibration, base, X).sum(axis=1)
    b = characteristic_points(wider, model.calibration, other, X).sum(axis=1)
    assert np.allclose(base.pd_of_points(a), other.pd_of_points(b), atol=1e-12)
    assert not np.allclose(a, b)


def test_the_points_of_each_characteristic_sum_to_the_pd(card: TrainedScorecard) -> None:
    # GIVEN the fitted scorecard and every training application
    X = card.models.features
    model = card.fitted.model
    table = card.lean().points_table
    assert table is not None

    # WHEN each row's points per characteristic come from optbinning's own bins
    points = characteristic_points(model.pipeline, model.calibration, table, X)

    # THEN their total, through the logistic link of the scaling, is the model's PD
    total = points.sum(axis=1)
    assert np.allclose(table.pd_of_points(total), model.predict_proba(X)[:, 1], atol=1e-12)
    # AND it is the score the decision policy gives that PD (within rounding)
    policy = load_decision_policy()
    for pd_, t in zip(model.predict_proba(X.head(200))[:, 1], total[:200], strict=True):
        assert abs(score_points(float(pd_), policy) - t) <= 0.5 + 1e-9
    # AND the scorecard points span a real range (the table is not flat)
    assert total.max() - total.min() > 3 * table.pdo


def test_the_lean_scorecard_gives_the_full_models_pd_and_reasons(card: TrainedScorecard) -> None:
    # GIVEN the lean scorecard as serving loads it, and rows with gaps and an unseen category
    lean = card.lean()
    model = card.fitted.model
    X = card.models.features.copy()
    X.loc[X.index[::5], "bureau_score"] = np.nan
    X.loc[X.index[::9], "employment_years"] = np.nan
    X.loc[X.index[::13], "loan_purpose"] = None
    assert lean.kind == "scorecard" and lean.points_table is not None

    # WHEN both score all 2,000 rows
    design = lean.encode_columns(feature_columns(X, lean.features))
    lean_pd = lean.calibration(lean.margin_of(design))
    lost = lean.points_lost_of(design)
    full_points = characteristic_points(model.pipeline, model.calibration, lean.points_table, X)
    full_lost = lean.points_table.best_vector() - full_points

    # THEN the PDs agree to float precision, and so do the points lost per characteristic
    assert np.max(np.abs(lean_pd - model.predict_proba(X)[:, 1])) < 1e-12
    assert np.max(np.abs(lost - full_lost)) < 1e-9
    # AND so do the reasons: the characteristics that lost the most points, in order
    for i in range(len(X)):
        assert np.argsort(-lost[i], kind="stable")[:4].tolist() == (
            np.argsort(-full_lost[i], kind="stable")[:4].tolist()
        )
    # AND a contribution is the log-odds its points lost: never negative on a bin with rows
    _, contributions, base = lean.contributions_of(design)
    assert np.allclose(contributions * lean.points_table.factor, lost)
    assert np.allclose(base + contributions.sum(axis=1), lean.margin_of(design))
    assert contributions.min() >= -1e-12


def test_the_lean_scorecard_round_trips_and_needs_no_optbinning(card: TrainedScorecard) -> None:
    # GIVEN the artifact's bytes
    again = LeanModel.from_bytes(LeanModel.from_bytes(card.artifact).to_bytes())
    assert again.to_bytes() == card.artifact
    # THEN the serving side loads and scores it in a process without optbinning imported
    code = (
        "import sys, json\n"
        "from credit_risk.models.lean import LeanModel\n"
        "import credit_risk.decisions.scoring, credit_risk.models.training.scorecard\n"
        "m = LeanModel.from_bytes(open(sys.argv[1], 'rb').read())\n"
        "print(json.dumps([float(m.predict([{}])[0]), 'optbinning' in sys.modules]))\n"
    )
    with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
        handle.write(card.artifact)
        handle.flush()
        out = subprocess.run(
            [sys.executable, "-c", code, handle.name], check=True, capture_output=True, text=True
        )
    pd_, imported = json.loads(out.stdout)
    # an application with every value missing falls in every missing bin
    assert 0 < pd_ < 1 and imported is False


def test_a_scorecard_chunk_decides_every_row_as_the_one_row_path_does(
    card: TrainedScorecard,
) -> None:
    # GIVEN a scorecard champion and the training book with gaps
    contract = card.models.contract
    policy = load_decision_policy(contract=contract)
    now = datetime.now(UTC)
    version = ModelVersion(
        "credit-default", "v-sc", "scorecard", "champion", "s3://a/b", "0", "0", "t", {}, {},
        None, now, now,
    )  # fmt: skip
    loaded = LoadedModel(version, card.lean())
    book = card.models.features.head(400).copy()
    book.loc[book.index[::7], "bureau_score"] = np.nan
    book["application_id"] = [f"a{i}" for i in range(len(book))]
    book["customer_key"] = [f"c{i}" for i in range(len(book))]

    # WHEN it is decided in columns and row by row
    chunk = ColumnarScorer(loaded, contract, policy).decide(pa.Table.from_pandas(book))
    rows = book[contract.features].astype(object).where(book[contract.features].notna(), None)
    one_by_one = [
        decide_rows(loaded, [row], contract, policy)[0] for row in rows.to_dict("records")
    ]

    # THEN both give the same PDs and reasons
    scored = chunk.scored.to_pylist()
    assert len(scored) == len(book)
    for got, want in zip(scored, one_by_one, strict=True):
        assert got["probability_of_default"] == want["probability_of_default"]
        assert json.loads(got["reasons"]) == want["reasons"]
    assert sum(bool(d["reasons"]) for d in one_by_one) > len(book) // 2


# --- the model card ----------------------------------------------------------------------


def test_the_model_card_shows_the_points_table(card: TrainedScorecard) -> None:
    # WHEN the scorecard's model card is rendered
    metrics = json.loads(json.dumps(card.fitted.metrics))  # as the registry keeps them
    html = render_model_card({"name": "credit-default", "candidate": "scorecard"}, metrics)

    # THEN it has the points table: a row per bin with its WoE and points, and the scaling
    table = metrics["points_table"]
    assert 'id="points-table"' in html
    assert html.count("<tr><th><code>") >= len(table["rows"])
    first = table["rows"][0]
    assert f"<code>{first['bin']}</code>" in html.replace("&#x27;", "'")
    assert f"{first['points']:.2f}" in html
    assert "every 20 more points double the odds" in html
    for name in card.models.contract.features:
        assert any(r["characteristic"] == name for r in table["rows"])
    # AND other models' cards have no such section
    assert 'id="points-table"' not in render_model_card({}, {"auc": 0.7})
