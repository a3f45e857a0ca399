"""The stacked candidate: weights from out-of-fold margins, served by its lean form with
the full model's PDs and reasons (the members' exact contributions, weighted)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost as xgb
import yaml
from sklearn.metrics import roc_auc_score

from credit_risk.contract import Contract, load_contract
from credit_risk.data.etl import application_features
from credit_risk.data.features import build_features
from credit_risk.data.generator import generate
from credit_risk.decisions.columnar import ColumnarScorer
from credit_risk.decisions.policy import load_decision_policy, make_decision
from credit_risk.decisions.scoring import LoadedModel, decide_rows
from credit_risk.models.lean import LeanModel, StackedLeanModel
from credit_risk.models.training.export import to_lean
from credit_risk.models.training.pipelines import CalibratedModel
from credit_risk.models.training.stacking import (
    StackedModel,
    cv_splits,
    fit_stack,
    fit_stack_weights,
)
from credit_risk.models.training.trainer import TrainingResult, train_candidates
from credit_risk.models.versions import ModelVersion

pytestmark = pytest.mark.slow

FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"
BOOK_ROWS = 2000


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(scope="module")
def result(contract: Contract) -> TrainingResult:
    config = yaml.safe_load(FAST_MODELS.read_text())
    config["stack"] = {"complexity": 4}
    data = generate(3000, seed=5, as_of="2025-01-01")
    X = build_features(contract, data.applications)
    return train_candidates(
        contract,
        X,
        data.outcomes["defaulted"].to_numpy(),
        data.applications["application_date"],
        config=config,
        seed=5,
    )


@pytest.fixture(scope="module")
def book(contract: Contract) -> pd.DataFrame:
    """Loans the models never saw, with thin files and missing values."""
    apps = generate(BOOK_ROWS, seed=23).applications.copy()
    apps.loc[apps.index[::7], "bureau_score"] = None
    apps.loc[apps.index[::11], "employment_years"] = None
    return application_features(contract, apps, b"test-key", "book")


def _loaded(lean: LeanModel) -> LoadedModel:
    now = datetime.now(UTC)
    version = ModelVersion(
        "credit-default", "v-stack", "stack", "champion", "s3://a/b", "0", "0", "t", {}, {},
        None, now, now,
    )  # fmt: skip
    return LoadedModel(version, lean)


def _member_contributions(member: CalibratedModel, X: pd.DataFrame) -> pd.DataFrame:
    """A member's exact per-feature contributions, from its scikit-learn pipeline:
    coefficient times distance from the training mean, or xgboost's TreeSHAP."""
    prepare = member.pipeline.named_steps["prepare"]
    estimator = member.pipeline.named_steps["model"]
    design = prepare.transform(X)
    if isinstance(estimator, xgb.XGBModel):
        shap = estimator.get_booster().predict(xgb.DMatrix(design), pred_contribs=True)
        per_column = np.asarray(shap)[:, :-1]
    else:
        assert member.column_means is not None
        per_column = (design - member.column_means) * estimator.coef_[0]
    owners: list[str] = []
    numeric = prepare.named_transformers_["numeric"]
    names = list(numeric.feature_names_in_)
    owners += names
    owners += [names[i] for i in numeric.named_steps["impute"].indicator_.features_]
    encoder = prepare.named_transformers_["categorical"]
    for name, cats in zip(encoder.feature_names_in_, encoder.categories_, strict=True):
        owners += [str(name)] * len(cats)
    frame = pd.DataFrame(per_column, columns=range(per_column.shape[1]))
    return frame.T.groupby(np.asarray(owners)).sum().T


def test_the_stack_is_trained_from_out_of_fold_margins_and_offered_to_selection(
    result: TrainingResult,
) -> None:
    # GIVEN training with a stack configured
    stack = result.candidates["stack"]

    # THEN it combines every single candidate with non-negative weights, its CV AUC is
    # cross-fitted, and the selection took it into account with the corrected t-test on
    # the folds and the holdout DeLong test as a veto
    assert isinstance(stack.model, StackedModel)
    assert list(stack.model.members) == ["logistic_regression", "random_forest", "xgboost"]
    assert (stack.model.weights >= 0).all() and stack.model.weights.sum() > 0
    assert stack.metrics["stack"]["weights"].keys() == stack.model.members.keys()
    assert 0.5 < stack.metrics["cv"]["search_auc"]["mean"] < 1.0
    assert result.selection is not None
    step = next(s for s in result.selection.steps if s["candidate"] == "stack")
    alpha = result.selection.alpha
    n_folds = stack.metrics["cv"]["folds"] * stack.metrics["cv"]["repeats"]
    assert step["tests"].keys() == set(step["against"])

    def passes(test: dict[str, Any]) -> bool:
        cv, holdout = test["cv"], test["holdout"]
        assert cv["df"] == n_folds - 1
        vetoed = holdout["difference"] < 0 and holdout["p_value"] < alpha
        return cv["difference"] > 0 and cv["p_value"] < alpha and not vetoed

    assert step["chosen"] == all(passes(t) for t in step["tests"].values())
    assert (result.best == "stack") == step["chosen"]
    assert result.champion.metrics["selection"]["champion"] == result.best


def test_every_candidate_and_the_stack_are_scored_on_the_same_folds(
    contract: Contract, result: TrainingResult
) -> None:
    # GIVEN the training part's outcomes and the folds the stack is cross-fitted on
    data = generate(3000, seed=5, as_of="2025-01-01")
    y_tr = data.outcomes["defaulted"].to_numpy().astype(np.int64)[result.split.train]
    cv = result.candidates["stack"].metrics["cv"]
    splits = cv_splits(y_tr, cv["folds"], cv["repeats"], seed=5)

    # THEN each candidate's per-fold AUC, which the stack's fold test pairs, is the AUC of
    # its out-of-fold margins on those folds' rows, the stack's included
    for name, candidate in result.candidates.items():
        assert candidate.oof_margins is not None
        recomputed = [
            roc_auc_score(y_tr[valid], candidate.oof_margins[k // cv["folds"], valid])
            for k, (_, valid) in enumerate(splits)
        ]
        per_fold = candidate.metrics["cv"]["search_auc"]["per_fold"]
        assert per_fold == pytest.approx(recomputed, abs=1e-12), name


def test_the_stacks_fold_margins_never_saw_the_folds_labels() -> None:
    # GIVEN members' out-of-fold margins and 3 folds x 2 repeats
    rng = np.random.default_rng(3)
    y = (rng.random(600) < 0.3).astype(np.int64)
    oof = {
        "a": np.stack([1.5 * y + rng.normal(size=600) for _ in range(2)]),
        "b": np.stack([0.8 * y + rng.normal(size=600) for _ in range(2)]),
    }
    splits = cv_splits(y, 3, 2, seed=1)
    fit = fit_stack(oof, y, splits, 3)

    # WHEN the labels of one fold's rows are flipped
    _, valid = splits[4]
    flipped = y.copy()
    flipped[valid] = 1 - flipped[valid]
    refit = fit_stack(oof, flipped, splits, 3)

    # THEN the stack's margins on that fold are unchanged: its weights there were fitted
    # on the other folds' rows only (cross-fitted), so its fold AUC is out of fold
    assert np.array_equal(refit.oof_margins[1, valid], fit.oof_margins[1, valid])
    assert not np.array_equal(refit.oof_margins[1], fit.oof_margins[1])


def test_weights_are_non_negative_even_when_a_member_is_anti_informative() -> None:
    # GIVEN two margins, one predictive and one its mirror image with noise
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.3).astype(np.int64)
    good = 2.0 * y + rng.normal(size=2000)
    bad = -good + 0.5 * rng.normal(size=2000)

    # WHEN the stack weights are fitted
    weights, _ = fit_stack_weights(np.column_stack([good, bad]), y)

    # THEN the mirrored member gets weight 0 (it cannot flip its reasons' signs)
    assert weights[0] > 0.5
    assert weights[1] == 0.0


def test_the_api_path_gives_the_full_models_pd_and_reasons(
    result: TrainingResult, contract: Contract, book: pd.DataFrame
) -> None:
    # GIVEN the stack's lean artifact as serving loads it, and thousands of unseen loans
    stack = result.candidates["stack"]
    assert isinstance(stack.model, StackedModel)
    lean = LeanModel.from_bytes(to_lean(stack, contract, check=book.head(200)).to_bytes())
    assert isinstance(lean, StackedLeanModel) and lean.kind == "stack"
    assert lean.shared_design  # linear and tree members: one encoding, the fast path
    policy = load_decision_policy(contract=contract)
    X = book[contract.features]
    rows = X.astype(object).where(X.notna(), None).to_dict("records")

    # WHEN the API path decides each loan
    decided = decide_rows(_loaded(lean), rows, contract, policy)

    # THEN each PD is the full model's, and the reasons are those the full model's own
    # attributions (each member's, from its pipeline, weighted) give
    full_pd = stack.model.predict_proba(X)[:, 1]
    got_pd = np.array([d["probability_of_default"] for d in decided])
    assert np.max(np.abs(got_pd - full_pd)) < 1e-9
    weighted = sum(
        w * _member_contributions(member, X)
        for member, w in zip(stack.model.members.values(), stack.model.weights, strict=True)
    )
    assert isinstance(weighted, pd.DataFrame)
    weighted = weighted[contract.features]
    for i in range(len(rows)):
        want = make_decision(
            float(full_pd[i]),
            dict(zip(contract.features, weighted.iloc[i].tolist(), strict=True)),
            None,
            contract,
            policy,
        ).to_dict()
        assert [r["feature"] for r in decided[i]["reasons"]] == [
            r["feature"] for r in want["reasons"]
        ]
    assert sum(bool(d["reasons"]) for d in decided) > BOOK_ROWS // 2
    _, contributions, _ = lean.contributions_of(lean.encode(rows))
    assert np.max(np.abs(contributions - weighted.to_numpy())) < 1e-6


def test_a_chunk_decides_the_stack_as_the_one_row_path_does(
    result: TrainingResult, contract: Contract, book: pd.DataFrame
) -> None:
    # GIVEN the stack served from its bytes
    lean = LeanModel.from_bytes(to_lean(result.candidates["stack"], contract).to_bytes())
    loaded, policy = _loaded(lean), load_decision_policy(contract=contract)
    head = book.head(500)

    # WHEN a chunk is decided in columns and each loan alone
    chunk = ColumnarScorer(loaded, contract, policy).decide(pa.Table.from_pandas(head))
    X = head[contract.features]
    rows = X.astype(object).where(X.notna(), None).to_dict("records")
    alone = [decide_rows(loaded, [row], contract, policy)[0] for row in rows]

    # THEN both give the same PD and reasons for every loan
    scored = chunk.scored.to_pylist()
    assert len(scored) == len(alone) == 500
    for got, want in zip(scored, alone, strict=True):
        assert got["probability_of_default"] == want["probability_of_default"]
        assert json.loads(got["reasons"]) == want["reasons"]


def test_the_stack_artifact_round_trips_to_the_same_bytes(
    result: TrainingResult, contract: Contract
) -> None:
    # GIVEN the stack's artifact
    body = to_lean(result.candidates["stack"], contract).to_bytes()

    # WHEN loaded and written again, THEN the bytes are the same, and it holds its
    # members' own lean artifacts and the weights as plain JSON
    loaded = LeanModel.from_bytes(body)
    assert loaded.to_bytes() == body
    spec = loaded.to_dict()
    assert spec["kind"] == "stack" and spec["members"] == list(
        result.candidates["stack"].model.members  # type: ignore[union-attr]
    )
    assert all(w >= 0 for w in spec["weights"])


# --- a stack with a scorecard member: each member encodes rows itself ------------------

SCORECARD = {
    "estimator": "scorecard",
    "params": {
        "max_n_prebins": 10, "min_prebin_size": 0.05, "max_n_bins": 5, "C": 1.0,
        "max_iter": 1000, "base_score": 600, "base_odds": 50, "pdo": 20,
    },
    "imbalance": ["none"],
    "calibration": "sigmoid",
}  # fmt: skip


@pytest.fixture(scope="module")
def with_scorecard(contract: Contract) -> tuple[TrainingResult, pd.DataFrame]:
    """Training with a scorecard among the candidates and a stack of them all, and the
    training part's feature rows."""
    config = yaml.safe_load(FAST_MODELS.read_text())
    config["stack"] = {"complexity": 4}
    config["candidates"]["scorecard"] = SCORECARD
    data = generate(3000, seed=5, as_of="2025-01-01")
    X = build_features(contract, data.applications)
    trained = train_candidates(
        contract,
        X,
        data.outcomes["defaulted"].to_numpy(),
        data.applications["application_date"],
        config=config,
        seed=5,
    )
    return trained, X.iloc[trained.split.train]


def _scorecard_contributions(
    member: CalibratedModel, X: pd.DataFrame, X_train: pd.DataFrame
) -> pd.DataFrame:
    """A scorecard's per-feature contributions to its raw margin, from its pipeline: the
    regression coefficient times the bin's WoE, less the least any training row had."""
    woe_train = member.pipeline.named_steps["prepare"].transform(X_train)
    woe = member.pipeline.named_steps["prepare"].transform(X)
    coef = member.pipeline.named_steps["model"].coef_[0]
    reference = (woe_train * coef).min(axis=0)
    names = member.pipeline.named_steps["prepare"].features
    return pd.DataFrame(woe * coef - reference, columns=names)


def test_a_stack_with_a_scorecard_serves_the_full_models_pd_and_reasons(
    with_scorecard: tuple[TrainingResult, pd.DataFrame], contract: Contract, book: pd.DataFrame
) -> None:
    # GIVEN a stack that takes in the scorecard, served from its bytes
    trained, X_train = with_scorecard
    stack = trained.candidates["stack"]
    assert isinstance(stack.model, StackedModel)
    assert list(stack.model.members) == [
        "logistic_regression", "random_forest", "xgboost", "scorecard",
    ]  # fmt: skip
    assert stack.model.weights[3] > 0
    lean = LeanModel.from_bytes(to_lean(stack, contract, check=book.head(200)).to_bytes())
    assert isinstance(lean, StackedLeanModel) and not lean.shared_design
    policy = load_decision_policy(contract=contract)
    X = book[contract.features]
    rows = X.astype(object).where(X.notna(), None).to_dict("records")

    # WHEN the API path decides each of thousands of unseen loans
    decided = decide_rows(_loaded(lean), rows, contract, policy)

    # THEN the PDs are the full model's, and the contributions and reasons are the
    # members' own (from their pipelines: the scorecard's WoE terms too), weighted
    full_pd = stack.model.predict_proba(X)[:, 1]
    got_pd = np.array([d["probability_of_default"] for d in decided])
    assert np.max(np.abs(got_pd - full_pd)) < 1e-9
    parts = []
    for (name, member), w in zip(stack.model.members.items(), stack.model.weights, strict=True):
        own = (
            _scorecard_contributions(member, X, X_train[contract.features])
            if name == "scorecard"
            else _member_contributions(member, X)
        )
        parts.append(w * own[contract.features].to_numpy())
    weighted = np.sum(parts, axis=0)
    _, contributions, _ = lean.contributions_of(lean.encode(rows))
    assert np.max(np.abs(contributions - weighted)) < 1e-6
    for i in range(len(rows)):
        want = make_decision(
            float(full_pd[i]),
            dict(zip(contract.features, weighted[i].tolist(), strict=True)),
            None,
            contract,
            policy,
        ).to_dict()
        assert [r["feature"] for r in decided[i]["reasons"]] == [
            r["feature"] for r in want["reasons"]
        ]
    assert sum(bool(d["reasons"]) for d in decided) > BOOK_ROWS // 2

    # AND a chunk decided in columns gives every loan the PD and reasons it got alone
    head = book.head(500)
    chunk = ColumnarScorer(_loaded(lean), contract, policy).decide(pa.Table.from_pandas(head))
    scored = chunk.scored.to_pylist()
    alone = [decide_rows(_loaded(lean), [row], contract, policy)[0] for row in rows[:500]]
    assert len(scored) == len(alone) == 500
    for got, want_one in zip(scored, alone, strict=True):
        assert got["probability_of_default"] == want_one["probability_of_default"]
        assert json.loads(got["reasons"]) == want_one["reasons"]

    # AND its bytes round-trip unchanged
    assert LeanModel.from_bytes(lean.to_bytes()).to_bytes() == lean.to_bytes()
