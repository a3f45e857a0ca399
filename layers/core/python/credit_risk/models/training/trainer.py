"""Training the candidate models: search, calibrate, evaluate on a holdout, pick the best.

Input is the feature frame ``credit_risk.data.features.build_features`` returns, a 0/1 target
and, optionally, each row's event date. The latest ~20% of rows by date are the holdout
(out of time); without dates it is a stratified random 20%. Everything else happens on the
training part only:

1. **Search.** Each candidate's small search space (``models.yaml``) and then its class
   imbalance options (none, class weights, random under-sampling, SMOTE) are compared by
   repeated stratified cross-validated ROC AUC. Samplers are pipeline steps, so they
   resample training folds only (see :mod:`credit_risk.models.training.pipelines`).
2. **Calibration.** A sigmoid or isotonic map from the chosen configuration's out-of-fold
   margins to observed defaults, so PDs are real default rates whatever the resampling.
3. **Cutoff.** The PD cutoff for precision/recall/F1/accuracy: the one maximising F1 on
   the out-of-fold PDs, or a configured PD.
4. **Refit** on the whole training part, then **evaluate** on the holdout.

The champion is chosen by repeated-CV AUC, the simplest first, with a paired DeLong test on
the holdout before a more complex candidate replaces a simpler one (see
:mod:`credit_risk.models.training.selection`); a stacked candidate of the others'
out-of-fold margins (:mod:`credit_risk.models.training.stacking`) competes last, when the
config has a ``stack``, tested by a corrected resampled t-test on every candidate's
per-fold AUCs (``cv.search_auc.per_fold``, the same folds for all) with the holdout as a
veto.

Why the random forest is ``xgboost.XGBRFClassifier``
    It is a genuine random forest: one round of many parallel, deep trees, each grown on a
    row subsample (``subsample``, bootstrap-like) with features sampled at every split
    (``colsample_bynode``), averaged. Building it with xgboost rather than scikit-learn
    means both tree candidates serve through the same small runtime (numpy + xgboost, no
    scikit-learn or pandas, which do not fit a Lambda zip beside it) and both get exact
    TreeSHAP attributions from xgboost's ``pred_contribs`` for the principal reasons.

Each candidate trains independently (:func:`train_one`) so a Step Functions Map can train
them in parallel, one per Lambda; the holdout split is deterministic, so every branch
holds out the same rows. :func:`choose_best` applies the selection rule to their results.

Pure code: no boto3, no SQLAlchemy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from credit_risk.contract import Contract
from credit_risk.errors import ContractError, InsufficientDataError, ValidationError
from credit_risk.models.lean import LeanModel
from credit_risk.models.training import metrics as m
from credit_risk.models.training.calibration import choose_calibration, fit_calibration
from credit_risk.models.training.candidate import FittedCandidate
from credit_risk.models.training.config import (
    STACK_NAME,
    CandidateSpec,
    ImbalanceOption,
    TrainingConfig,
    load_training_config,
)
from credit_risk.models.training.export import check_agreement, feature_columns, to_lean
from credit_risk.models.training.pipelines import (
    CalibratedModel,
    build_pipeline,
    feature_ranges,
    raw_margin,
)
from credit_risk.models.training.scorecard import is_scorecard, scorecard_summary
from credit_risk.models.training.selection import (
    Contender,
    Selection,
    fold_aucs,
    select_champion,
)
from credit_risk.models.training.stacking import StackedModel, stacked_candidate

Progress = Callable[[str], None]
ConfigSource = str | Path | Mapping[str, Any] | TrainingConfig | None

MIN_CLASS_ROWS = 10
"""Fewest defaults (and non-defaults) each of the training part and the holdout needs."""


def _quiet(_: str) -> None:
    return None


# --- holdout ---------------------------------------------------------------------------


@dataclass
class HoldoutSplit:
    """Which rows (positions) train and which are held out, and how they were chosen."""

    train: np.ndarray
    holdout: np.ndarray
    kind: Literal["out_of_time", "stratified"]
    first_holdout_date: str | None = None
    note: str = ""


def split_holdout(
    y: np.ndarray,
    event_dates: Sequence[Any] | np.ndarray | pd.Series | None = None,
    *,
    fraction: float = 0.2,
    seed: int = 42,
) -> HoldoutSplit:
    """Hold out the latest ``fraction`` of rows by date, else a stratified random sample.

    Rows sharing a date stay on one side. Rows without a date always train. The split
    falls back to stratified (saying why in ``note``) when dates cannot give a holdout
    with enough defaults and non-defaults on both sides.
    """
    y = np.asarray(y)
    n = len(y)
    note = ""
    if event_dates is not None:
        dates = pd.to_datetime(pd.Series(np.asarray(event_dates)), errors="coerce").to_numpy()
        valid = ~np.isnat(dates)
        if valid.sum() >= 2:
            ordered = np.sort(dates[valid])
            threshold = ordered[min(int(np.floor((1 - fraction) * len(ordered))), len(ordered) - 1)]
            holdout = valid & (dates >= threshold)
            if holdout.mean() > 2 * fraction:  # a large tie at the threshold date
                holdout = valid & (dates > threshold)
            if _enough_classes(y, holdout):
                first = pd.Timestamp(dates[holdout].min()).date().isoformat()
                return HoldoutSplit(
                    train=np.flatnonzero(~holdout),
                    holdout=np.flatnonzero(holdout),
                    kind="out_of_time",
                    first_holdout_date=first,
                )
            note = "dates cannot give a holdout with enough defaults on both sides"
        else:
            note = "fewer than two rows have a date"
    _require_classes(y, "the data")
    train, holdout_idx = train_test_split(
        np.arange(n), test_size=fraction, stratify=y, random_state=seed
    )
    return HoldoutSplit(
        train=np.sort(train), holdout=np.sort(holdout_idx), kind="stratified", note=note
    )


def _enough_classes(y: np.ndarray, holdout: np.ndarray) -> bool:
    if not holdout.any() or holdout.all():
        return False
    counts = [np.bincount(y[part].astype(np.int64), minlength=2) for part in (holdout, ~holdout)]
    return all(c.min() >= MIN_CLASS_ROWS for c in counts)


def _require_classes(y: np.ndarray, what: str, minimum: int = MIN_CLASS_ROWS) -> None:
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=2)
    if counts.min() < minimum:
        raise InsufficientDataError(
            f"{what} has {counts[1]} defaults and {counts[0]} non-defaults; "
            f"training needs at least {minimum} of each",
            defaults=int(counts[1]),
            non_defaults=int(counts[0]),
        )


def sample_for_training(
    frame: pd.DataFrame, target: str, max_rows: int | None, *, seed: int = 42
) -> pd.DataFrame:
    """``frame`` itself when it has at most ``max_rows`` rows, else a sample of that many,
    stratified by ``target`` (so the default rate holds), in the frame's own row order.

    Every row keeps its date, so the out-of-time holdout still holds out the latest loans.
    """
    if max_rows is None or len(frame) <= max_rows:
        return frame
    keep, _ = train_test_split(
        np.arange(len(frame)), train_size=max_rows, stratify=frame[target], random_state=seed
    )
    return frame.iloc[np.sort(keep)].reset_index(drop=True)


# --- results ---------------------------------------------------------------------------


@dataclass
class TrainingResult:
    """Every candidate trained on one split, the champion and how it was selected."""

    candidates: dict[str, FittedCandidate]
    best: str
    split: HoldoutSplit
    seconds: float = 0.0
    selection: Selection | None = None

    @property
    def champion(self) -> FittedCandidate:
        """The best candidate."""
        return self.candidates[self.best]

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each candidate's metrics by name."""
        return {name: c.metrics for name, c in self.candidates.items()}


def choose_best(
    candidates: Mapping[str, FittedCandidate] | Sequence[FittedCandidate],
    X_holdout: pd.DataFrame,
    y_holdout: np.ndarray,
    config: TrainingConfig,
) -> Selection:
    """The champion by the selection rule (:mod:`.selection`): repeated-CV AUC, the
    simplest first, a holdout DeLong test at ``config.selection.alpha`` before a more
    complex candidate replaces a simpler one, and for the stack a corrected resampled
    t-test on the CV folds with the holdout as a veto."""
    items = list(candidates.values()) if isinstance(candidates, Mapping) else list(candidates)
    if not items:
        raise InsufficientDataError("no candidate was trained")
    contenders = [
        Contender(
            name=c.name,
            complexity=_complexity(config, c.name),
            cv_auc=float(c.metrics["cv"]["search_auc"]["mean"]),
            cv_auc_std=float(c.metrics["cv"]["search_auc"]["std"]),
            holdout_pd=c.model.predict_proba(X_holdout)[:, 1],
            stack=c.estimator == STACK_NAME,
            **fold_aucs(c.metrics),
        )
        for c in items
    ]
    return select_champion(contenders, y_holdout, alpha=config.selection.alpha)


def _complexity(config: TrainingConfig, name: str) -> int:
    if name == STACK_NAME and config.stack is not None:
        return config.stack.complexity
    return config.candidate(name).complexity


# --- public entry points -----------------------------------------------------------------


def train_candidates(
    contract: Contract,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray | pd.Series,
    event_dates: Sequence[Any] | np.ndarray | pd.Series | None = None,
    *,
    config: ConfigSource = None,
    seed: int = 42,
    cv: tuple[int, int] | None = None,
    candidates: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train every configured candidate (or those named), the stack when configured, and
    choose the champion (:func:`choose_best`).

    ``X`` is ``build_features(contract, applications)``; ``y`` the 0/1 default flags;
    ``event_dates`` (optional) makes the holdout out of time. ``cv`` is
    ``(folds, repeats)`` (default from the config: 3 folds, 1 repeat). ``progress``
    receives human-readable lines as the work goes.
    """
    started = time.perf_counter()
    say = progress or _quiet
    cfg = load_training_config(config)
    names = list(candidates) if candidates is not None else list(cfg.candidates)
    for name in names:
        cfg.candidate(name)
    X, y_arr = _prepare_inputs(contract, X, y, event_dates)
    split = split_holdout(y_arr, event_dates, fraction=cfg.holdout_fraction, seed=seed)
    say(_describe_split(split, y_arr))
    fitted = {}
    for i, name in enumerate(names, start=1):
        say(f"candidate {i}/{len(names)}: {name}")
        fitted[name] = _train_on_split(
            contract, name, cfg, X, y_arr, split, seed=seed, cv=cv, say=say
        )
    stack = _train_stack(contract, cfg, fitted, X, y_arr, split, seed=seed, cv=cv, say=say)
    if stack is not None:
        fitted[STACK_NAME] = stack
    X_ho, y_ho = X.iloc[split.holdout], y_arr[split.holdout]
    selection = choose_best(fitted, X_ho, y_ho, cfg)
    for line in selection.lines():
        say(f"selection: {line}")
    best = selection.champion
    _paired_tests(fitted, best, X_ho, y_ho, say, alpha=selection.alpha)
    fitted[best].metrics["selection"] = selection.to_dict()
    seconds = time.perf_counter() - started
    low, high = fitted[best].metrics["auc_ci95"]
    say(
        f"champion: {best} (CV AUC {fitted[best].metrics['cv']['search_auc']['mean']:.4f}; "
        f"holdout AUC {fitted[best].metrics['auc']:.4f}, 95% CI {low:.3f}-{high:.3f}); "
        f"all candidates in {seconds:.1f} s"
    )
    return TrainingResult(
        candidates=fitted, best=best, split=split, seconds=seconds, selection=selection
    )


def _train_stack(
    contract: Contract,
    cfg: TrainingConfig,
    fitted: Mapping[str, FittedCandidate],
    X: pd.DataFrame,
    y: np.ndarray,
    split: HoldoutSplit,
    *,
    seed: int,
    cv: tuple[int, int] | None,
    say: Progress,
) -> FittedCandidate | None:
    """The stacked candidate of the configured members' out-of-fold margins, or None when
    no stack is configured or fewer than two members can be stacked (said why)."""
    if cfg.stack is None:
        return None
    started = time.perf_counter()
    wanted = cfg.stack.members or list(fitted)
    members: dict[str, CalibratedModel] = {}
    leans: dict[str, LeanModel] = {}
    oof: dict[str, np.ndarray] = {}
    for name in wanted:
        candidate = fitted.get(name)
        if candidate is None or candidate.oof_margins is None:
            continue
        if not isinstance(candidate.model, CalibratedModel):
            continue
        # Any kind of member: each encodes rows itself when they do not share one design.
        lean = to_lean(candidate.model, contract, threads=cfg.threads or 0)
        members[name], leans[name], oof[name] = candidate.model, lean, candidate.oof_margins
    if len(members) < 2:
        say(f"[{STACK_NAME}] not trained: fewer than two candidates to stack")
        return None
    problem = _problem(contract, next(iter(members)), cfg, X, y, split, seed=seed, cv=cv)
    fit, lean_stack, metrics, params = stacked_candidate(
        contract,
        cfg,
        leans,
        oof,
        X_tr=problem.X_tr,
        y_tr=problem.y_tr,
        X_ho=problem.X_ho,
        y_ho=problem.y_ho,
        folds=problem.folds,
        repeats=problem.repeats,
        holdout_kind=split.kind,
        first_holdout_date=split.first_holdout_date,
        seed=seed,
    )
    model = StackedModel(members, fit.weights, fit.intercept)
    rows = np.random.default_rng(seed).permutation(len(problem.y_ho))[: cfg.importance_rows]
    check_agreement(lean_stack, model, problem.X_ho.iloc[np.sort(rows)])
    weights = ", ".join(f"{n} {w:.3f}" for n, w in zip(fit.names, fit.weights, strict=True))
    say(
        f"[{STACK_NAME}] weights {weights}, intercept {fit.intercept:.3f}; cross-fitted CV AUC "
        f"{fit.auc_mean:.4f} ± {fit.auc_std:.4f}"
    )
    seconds = time.perf_counter() - started
    say(
        f"[{STACK_NAME}] holdout AUC {metrics['auc']:.4f}, Brier {metrics['brier']:.4f}, "
        f"mean PD {metrics['mean_pd']:.3f}; {seconds:.1f} s"
    )
    return FittedCandidate(
        name=STACK_NAME,
        estimator=STACK_NAME,
        model=model,
        params=params,
        metrics=metrics,
        search=[],
        seconds=seconds,
        oof_margins=fit.oof_margins,
    )


def _paired_tests(
    fitted: Mapping[str, FittedCandidate],
    best: str,
    X_ho: pd.DataFrame,
    y_ho: np.ndarray,
    say: Callable[[str], None],
    *,
    alpha: float,
) -> None:
    """DeLong's paired test of the best candidate's holdout AUC against each other's, on
    the same rows, kept in the best's metrics (``paired_tests``) and said, significant at
    the configured ``selection.alpha``."""
    scores = {n: c.model.predict_proba(X_ho)[:, 1] for n, c in fitted.items()}
    tests = {}
    for name in fitted:
        if name == best:
            continue
        tests[name] = m.paired_auc_test(y_ho, scores[best], scores[name])
        verdict = "significant" if tests[name]["p_value"] < alpha else "not significant"
        say(
            f"{best} vs {name}: holdout AUC {tests[name]['difference']:+.4f}, DeLong "
            f"p = {tests[name]['p_value']:.3f} ({verdict} at {alpha * 100:g}%)"
        )
    fitted[best].metrics["paired_tests"] = tests


def train_one(
    contract: Contract,
    name: str,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray | pd.Series,
    event_dates: Sequence[Any] | np.ndarray | pd.Series | None = None,
    *,
    config: ConfigSource = None,
    seed: int = 42,
    cv: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> FittedCandidate:
    """Train one named candidate on the same deterministic split as :func:`train_candidates`.

    ``metrics`` of the result is JSON-able. Holdout figures at the top level: auc, gini,
    ks, brier, log_loss, precision, recall, f1, accuracy (at ``cutoff``), cutoff,
    cutoff_policy, mean_pd, holdout_default_rate, confusion_matrix {tn, fp, fn, tp},
    calibration [{bin, mean_pd, observed_rate, count}] (10 equal-count bins), roc_curve
    {fpr, tpr} (101 points), score_distribution {edges, defaults, non_defaults},
    feature_importance [{feature, importance}] (mean absolute contribution to the
    log-odds on holdout rows, per contract feature, largest first); then n_train,
    n_holdout, default_rate (of the training part, which PDs are calibrated to),
    holdout_kind (``out_of_time`` or ``stratified``), first_holdout_date (out of time);
    and ``cv``: {folds, repeats, <metric>: {mean, std, n}} for the scalar metrics.
    """
    say = progress or _quiet
    cfg = load_training_config(config)
    cfg.candidate(name)
    X, y_arr = _prepare_inputs(contract, X, y, event_dates)
    split = split_holdout(y_arr, event_dates, fraction=cfg.holdout_fraction, seed=seed)
    say(_describe_split(split, y_arr))
    return _train_on_split(contract, name, cfg, X, y_arr, split, seed=seed, cv=cv, say=say)


# --- one candidate -----------------------------------------------------------------------


@dataclass
class _CvRun:
    """Out-of-fold margins (one row per repeat) and fold AUCs of one configuration."""

    margins: np.ndarray
    fold_auc: list[float]
    seconds: float

    @property
    def auc_mean(self) -> float:
        return float(np.mean(self.fold_auc))

    @property
    def auc_std(self) -> float:
        return float(np.std(self.fold_auc))


@dataclass
class _Trial:
    params: dict[str, Any]
    imbalance: ImbalanceOption
    run: _CvRun
    searched: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.searched,
            "imbalance": self.imbalance.label,
            "cv_auc_mean": self.run.auc_mean,
            "cv_auc_std": self.run.auc_std,
            "seconds": round(self.run.seconds, 3),
        }


@dataclass
class _Problem:
    """One candidate's training problem on a split: its parts, folds and pipelines."""

    name: str
    spec: CandidateSpec
    cfg: TrainingConfig
    contract: Contract
    split: HoldoutSplit
    X_tr: pd.DataFrame
    y_tr: np.ndarray
    X_ho: pd.DataFrame
    y_ho: np.ndarray
    folds: int
    repeats: int
    splits: list[tuple[np.ndarray, np.ndarray]]
    pos_weight: float
    seed: int

    def make(self, params: dict[str, Any], imbalance: ImbalanceOption) -> Any:
        """A fresh pipeline for one configuration."""
        return build_pipeline(
            self.spec.estimator,
            self.contract.numeric_features,
            self.contract.categorical_features,
            params,
            imbalance,
            pos_weight=self.pos_weight,
            seed=self.seed,
            threads=self.cfg.threads,
            monotone=self.contract.monotone,
        )


def _problem(
    contract: Contract,
    name: str,
    cfg: TrainingConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    split: HoldoutSplit,
    *,
    seed: int,
    cv: tuple[int, int] | None,
) -> _Problem:
    spec = cfg.candidate(name)
    folds, repeats = cv if cv is not None else cfg.cv.resolve(len(X))
    if folds < 2 or repeats < 1:
        raise ValidationError(f"cv must be (folds >= 2, repeats >= 1), got {cv}")
    X_tr, y_tr = X.iloc[split.train].reset_index(drop=True), y[split.train]
    X_ho, y_ho = X.iloc[split.holdout].reset_index(drop=True), y[split.holdout]
    _require_classes(y_tr, "the training part", max(MIN_CLASS_ROWS, 2 * folds))
    _require_classes(y_ho, "the holdout", 1)
    splits = list(
        RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed).split(
            np.zeros(len(y_tr)), y_tr
        )
    )
    return _Problem(
        name=name,
        spec=spec,
        cfg=cfg,
        contract=contract,
        split=split,
        X_tr=X_tr,
        y_tr=y_tr,
        X_ho=X_ho,
        y_ho=y_ho,
        folds=folds,
        repeats=repeats,
        splits=splits,
        pos_weight=float(np.sum(y_tr == 0) / np.sum(y_tr == 1)),
        seed=seed,
    )


def _train_on_split(
    contract: Contract,
    name: str,
    cfg: TrainingConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    split: HoldoutSplit,
    *,
    seed: int,
    cv: tuple[int, int] | None,
    say: Progress,
) -> FittedCandidate:
    started = time.perf_counter()
    problem = _problem(contract, name, cfg, X, y, split, seed=seed, cv=cv)
    trials = _search(problem, say)
    return _finish(problem, trials, say, started)


def _finish(
    problem: _Problem, trials: list[_Trial], say: Progress, started: float
) -> FittedCandidate:
    """Choose the best configuration, calibrate it, refit it and evaluate it."""
    name, cfg, contract, seed = problem.name, problem.cfg, problem.contract, problem.seed
    X_tr, y_tr, X_ho, y_ho = problem.X_tr, problem.y_tr, problem.X_ho, problem.y_ho
    chosen = max(trials, key=lambda t: t.run.auc_mean)  # first of equals: simplest option
    say(f"[{name}] chose {_label(chosen)}: CV AUC {chosen.run.auc_mean:.4f}")

    # Calibration and cutoff from out-of-fold margins of the chosen configuration.
    stacked = chosen.run.margins.reshape(-1)
    y_stacked = np.tile(y_tr, problem.repeats)
    method = cfg.calibration_for(name)
    if method == "auto":
        method = choose_calibration(stacked, y_stacked, seed=seed)
    calibration = fit_calibration(stacked, y_stacked, method, seed=seed)
    oof_pd = calibration(stacked)
    if cfg.cutoff.policy == "fixed":
        assert cfg.cutoff.pd is not None
        cutoff = float(cfg.cutoff.pd)
    else:
        cutoff = m.max_f1_cutoff(y_stacked, oof_pd)
    cv_metrics = _cv_metrics(chosen.run, y_tr, problem.splits, problem.folds, method, cutoff, seed)

    # Refit on the whole training part, then evaluate on the holdout.
    t0 = time.perf_counter()
    pipeline = problem.make(chosen.params, chosen.imbalance)
    pipeline.fit(X_tr, y_tr)
    column_means = np.asarray(pipeline.named_steps["prepare"].transform(X_tr).mean(axis=0))
    model = CalibratedModel(
        pipeline,
        calibration,
        column_means=column_means,
        feature_ranges=feature_ranges(X_tr, contract.numeric_features),
    )
    say(f"[{name}] refitted on {len(y_tr)} rows in {time.perf_counter() - t0:.1f} s")
    holdout_pd = model.predict_proba(X_ho)[:, 1]
    holdout = m.evaluate(y_ho, holdout_pd, cutoff)

    # Importance: mean |contribution| on holdout rows, through the lean serving model,
    # which the exporter first proves equal to the pipeline on those rows.
    rows = np.random.default_rng(seed).permutation(len(y_ho))[: cfg.importance_rows]
    sample = X_ho.iloc[np.sort(rows)]
    lean = to_lean(model, contract, check=sample, threads=cfg.threads or 0)
    _, contributions, _ = lean.contributions_of(
        lean.encode_columns(feature_columns(sample, lean.features))
    )
    importance = m.feature_importance(lean.features, contributions)

    metrics: dict[str, Any] = {
        **holdout,
        "cutoff_policy": cfg.cutoff.policy,
        "holdout_default_rate": float(np.mean(y_ho)),
        "n_train": int(len(y_tr)),
        "n_holdout": int(len(y_ho)),
        "default_rate": float(np.mean(y_tr)),
        "holdout_kind": problem.split.kind,
        "feature_importance": importance,
        "cv": {
            "folds": problem.folds,
            "repeats": problem.repeats,
            **cv_metrics,
            **_search_auc(chosen.run, cv_metrics, method),
        },
    }
    if contract.monotone:
        metrics["monotonicity"] = _monotonicity(problem, model)
    if lean.points_table is not None:  # a scorecard: its points table for the model card
        metrics["points_table"] = scorecard_summary(model.pipeline, lean.points_table)
    if problem.split.first_holdout_date is not None:
        metrics["first_holdout_date"] = problem.split.first_holdout_date
    params = {
        "estimator_params": dict(chosen.params),
        "imbalance": chosen.imbalance.label,
        "calibration": method,
        "cutoff": cutoff,
        "seed": seed,
    }
    if "auc_note" in metrics["cv"]:
        say(f"[{name}] {metrics['cv']['auc_note']}")
    seconds = time.perf_counter() - started
    say(
        f"[{name}] holdout AUC {holdout['auc']:.4f}, Brier {holdout['brier']:.4f}, "
        f"mean PD {holdout['mean_pd']:.3f} vs default rate {np.mean(y_ho):.3f} "
        f"({problem.split.kind}, {len(y_ho)} rows); calibration {method}, cutoff {cutoff:.3f}; "
        f"{seconds:.1f} s"
    )
    return FittedCandidate(
        name=name,
        estimator=problem.spec.estimator,
        model=model,
        params=params,
        metrics=metrics,
        search=[t.to_dict() for t in trials],
        seconds=seconds,
        oof_margins=chosen.run.margins,
    )


MONOTONE_ROWS = 200
"""Holdout rows the monotonicity probe sweeps each declared feature over."""


def _monotonicity(problem: _Problem, model: CalibratedModel) -> dict[str, dict[str, Any]]:
    """Probe the fitted model along every feature the contract declares monotone (see
    :func:`credit_risk.models.training.metrics.monotonicity`); a logistic regression's
    entries also carry the coefficient of the feature's prepared column, whose sign is the
    direction the linear model has learnt."""
    picked = np.random.default_rng(problem.seed).permutation(len(problem.y_ho))[:MONOTONE_ROWS]
    estimator = model.pipeline.named_steps["model"]
    result = m.monotonicity(
        lambda frame: model.predict_proba(frame)[:, 1],
        problem.X_tr,
        problem.X_ho.iloc[np.sort(picked)],
        problem.contract.monotone,
        enforced=isinstance(estimator, xgb.XGBModel) or is_scorecard(model.pipeline),
    )
    if isinstance(estimator, LogisticRegression):
        numeric = problem.contract.numeric_features
        coef = np.asarray(estimator.coef_).reshape(-1)
        for name, entry in result.items():
            entry["coefficient"] = float(coef[numeric.index(name)])
    return result


def _search(problem: _Problem, say: Progress) -> list[_Trial]:
    """Stage 1: the grid with the first imbalance option; stage 2: the best with the rest."""
    spec = problem.spec
    grid = spec.grid()
    total = len(grid) + len(spec.imbalance) - 1
    trials: list[_Trial] = []

    def run(params: dict[str, Any], imbalance: ImbalanceOption) -> _Trial:
        folds = [_fold(problem, params, imbalance, k) for k in range(len(problem.splits))]
        trial = _trial(problem, params, imbalance, folds)
        trials.append(trial)
        say(
            f"[{problem.name}] {len(trials)}/{total} {_label(trial)}: CV AUC "
            f"{trial.run.auc_mean:.4f} ± {trial.run.auc_std:.4f} ({trial.run.seconds:.1f} s)"
        )
        return trial

    first = [run(params, spec.imbalance[0]) for params in grid]
    best = max(first, key=lambda t: t.run.auc_mean)
    for option in spec.imbalance[1:]:
        run(best.params, option)
    return trials


@dataclass(frozen=True)
class FoldResult:
    """One configuration fitted on one training fold and scored on its validation rows."""

    fold: int
    valid: np.ndarray
    margins: np.ndarray
    auc: float
    seconds: float


def _fold(
    problem: _Problem, params: dict[str, Any], imbalance: ImbalanceOption, k: int
) -> FoldResult:
    started = time.perf_counter()
    train_idx, valid_idx = problem.splits[k]
    pipeline = problem.make(params, imbalance)
    pipeline.fit(problem.X_tr.iloc[train_idx], problem.y_tr[train_idx])
    margin = np.asarray(raw_margin(pipeline, problem.X_tr.iloc[valid_idx]), dtype=np.float64)
    auc = float(roc_auc_score(problem.y_tr[valid_idx], margin))
    return FoldResult(k, valid_idx, margin, auc, time.perf_counter() - started)


def _trial(
    problem: _Problem,
    params: dict[str, Any],
    imbalance: ImbalanceOption,
    folds: Sequence[FoldResult],
) -> _Trial:
    """A configuration's cross-validation, assembled from its folds (in any order)."""
    ordered = sorted(folds, key=lambda f: f.fold)
    if [f.fold for f in ordered] != list(range(len(problem.splits))):
        raise ValidationError(
            f"[{problem.name}] cross-validation needs folds 0..{len(problem.splits) - 1}, "
            f"got {[f.fold for f in ordered]}"
        )
    margins = np.full((problem.repeats, len(problem.y_tr)), np.nan)
    for f in ordered:
        margins[f.fold // problem.folds, f.valid] = f.margins
    run = _CvRun(
        margins=margins,
        fold_auc=[f.auc for f in ordered],
        seconds=sum(f.seconds for f in ordered),
    )
    return _Trial(params, imbalance, run, {k: params[k] for k in problem.spec.search})


def _cv_metrics(
    run: _CvRun,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    folds: int,
    method: Literal["sigmoid", "isotonic"],
    cutoff: float,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Per-fold metrics, each fold calibrated by a map fitted on the other folds only."""
    per_fold = []
    for k, (_, valid_idx) in enumerate(splits):
        margins = run.margins[k // folds]
        others = np.ones(len(y), dtype=bool)
        others[valid_idx] = False
        calibration = fit_calibration(margins[others], y[others], method, seed=seed)
        per_fold.append(m.headline_metrics(y[valid_idx], calibration(margins[valid_idx]), cutoff))
    return m.summarise_folds(per_fold)


def _search_auc(
    run: _CvRun, cv_metrics: Mapping[str, Mapping[str, float]], method: str
) -> dict[str, Any]:
    """The search's CV AUC (of the uncalibrated margins) beside the calibrated one, and why
    they differ when they do: a calibration map is monotone, so it never reorders loans,
    but isotonic calibration is a step function, and loans whose margins fall in one step
    share one PD. AUC counts a tie as half right, so the calibrated AUC is lower by the
    pairs it tied; the ranking the search chose is the same."""
    search = m.search_auc(run.fold_auc)
    calibrated = cv_metrics.get("auc", {}).get("mean")
    out: dict[str, Any] = {"search_auc": search}
    if calibrated is not None and abs(float(calibrated) - run.auc_mean) >= 5e-5:
        out["auc_note"] = (
            f"CV AUC {float(calibrated):.4f} after {method} calibration against "
            f"{run.auc_mean:.4f} in the search: "
            + (
                "isotonic PDs are steps, so loans in one step share a PD and count as ties "
                "(half a correct pair each); the order of the loans is unchanged"
                if method == "isotonic"
                else "each fold is calibrated by a map fitted on the other folds"
            )
        )
    return out


# --- helpers -----------------------------------------------------------------------------


def _prepare_inputs(
    contract: Contract,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray | pd.Series,
    event_dates: Sequence[Any] | np.ndarray | pd.Series | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    missing = [f for f in contract.features if f not in X.columns]
    if missing:
        raise ContractError(f"the feature frame lacks contract features: {', '.join(missing)}")
    X = X[contract.features].reset_index(drop=True)
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(y_arr) != len(X):
        raise ValidationError(f"{len(X)} feature rows but {len(y_arr)} targets")
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValidationError("the target must be 0 or 1 in every row")
    if event_dates is not None and len(event_dates) != len(X):
        raise ValidationError(f"{len(X)} feature rows but {len(event_dates)} event dates")
    return X, y_arr.astype(np.int64)


def _describe_split(split: HoldoutSplit, y: np.ndarray) -> str:
    text = (
        f"holdout: {split.kind}, {len(split.holdout)} rows "
        f"(default rate {np.mean(y[split.holdout]):.3f}); training on {len(split.train)} rows "
        f"(default rate {np.mean(y[split.train]):.3f})"
    )
    if split.first_holdout_date:
        text += f"; holdout from {split.first_holdout_date}"
    if split.note:
        text += f"; stratified because {split.note}"
    return text


def _label(trial: _Trial) -> str:
    shown = " ".join(f"{k}={v}" for k, v in trial.searched.items())
    return f"{shown} imbalance={trial.imbalance.label}".strip()


# --- the search fanned out ---------------------------------------------------------------
#
# The training state machine runs the search as items of a Distributed Map: each item is
# one configuration of one candidate fitted on one cross-validation fold. Stage "grid"
# holds every parameter combination with the first imbalance option; stage "imbalance"
# the best combination with each other option; then each candidate is finished (chosen,
# calibrated, refitted, evaluated) from its items' fold results. Every function here
# recomputes the same deterministic split and folds, so the fanned-out search chooses and
# fits exactly what :func:`train_one` does in one process (a test holds them equal).

SearchStage = Literal["grid", "imbalance"]


@dataclass(frozen=True)
class SearchItem:
    """One item of the fanned-out search: a candidate's configuration on one fold."""

    candidate: str
    stage: SearchStage
    trial: int
    params: dict[str, Any]
    imbalance: ImbalanceOption
    fold: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (a Map item)."""
        return {
            "candidate": self.candidate,
            "stage": self.stage,
            "trial": self.trial,
            "params": self.params,
            "imbalance": self.imbalance.model_dump(),
            "fold": self.fold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchItem:
        """The inverse of :meth:`to_dict`."""
        return cls(
            candidate=str(data["candidate"]),
            stage=data["stage"],
            trial=int(data["trial"]),
            params=dict(data["params"]),
            imbalance=ImbalanceOption.model_validate(data["imbalance"]),
            fold=int(data["fold"]),
        )

    @property
    def name(self) -> str:
        """``<candidate>/<stage>-<trial>-<fold>``: where its result is kept."""
        return f"{self.candidate}/{self.stage}-{self.trial:03d}-{self.fold:02d}"


def _fold_count(cfg: TrainingConfig, cv: tuple[int, int] | None, rows: int | None) -> int:
    try:
        folds, repeats = cv if cv is not None else cfg.cv.resolve(rows)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    return folds * repeats


def grid_items(
    names: Sequence[str],
    *,
    config: ConfigSource = None,
    cv: tuple[int, int] | None = None,
    rows: int | None = None,
) -> list[SearchItem]:
    """Stage "grid": every parameter combination of every candidate, on every fold
    (``rows``: the data set's rows, which ``repeats: auto`` sizes the folds by)."""
    cfg = load_training_config(config)
    n = _fold_count(cfg, cv, rows)
    return [
        SearchItem(name, "grid", t, params, cfg.candidate(name).imbalance[0], k)
        for name in names
        for t, params in enumerate(cfg.candidate(name).grid())
        for k in range(n)
    ]


def _mean_auc(folds: Sequence[tuple[SearchItem, FoldResult]]) -> float:
    return float(np.mean([f.auc for _, f in sorted(folds, key=lambda p: p[1].fold)]))


def imbalance_items(
    names: Sequence[str],
    grid: Sequence[tuple[SearchItem, FoldResult]],
    *,
    config: ConfigSource = None,
    cv: tuple[int, int] | None = None,
    rows: int | None = None,
) -> list[SearchItem]:
    """Stage "imbalance": each candidate's best grid configuration (by mean fold AUC,
    first of equals) with each of its other imbalance options, on every fold."""
    cfg = load_training_config(config)
    n = _fold_count(cfg, cv, rows)
    items = []
    for name in names:
        spec = cfg.candidate(name)
        by_trial: dict[int, list[tuple[SearchItem, FoldResult]]] = {}
        for item, result in grid:
            if item.candidate == name:
                by_trial.setdefault(item.trial, []).append((item, result))
        if len(by_trial) != len(spec.grid()):
            raise ValidationError(f"[{name}] the grid stage is incomplete")
        best = max(sorted(by_trial), key=lambda t: _mean_auc(by_trial[t]))
        params = by_trial[best][0][0].params
        for j, option in enumerate(spec.imbalance[1:], start=1):
            trial = len(spec.grid()) + j - 1
            items += [SearchItem(name, "imbalance", trial, params, option, k) for k in range(n)]
    return items


def cross_validate_item(
    contract: Contract,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray | pd.Series,
    event_dates: Sequence[Any] | np.ndarray | pd.Series | None,
    item: SearchItem,
    *,
    config: ConfigSource = None,
    seed: int = 42,
    cv: tuple[int, int] | None = None,
) -> FoldResult:
    """Fit one item's configuration on its training fold; score its validation rows."""
    cfg = load_training_config(config)
    X, y_arr = _prepare_inputs(contract, X, y, event_dates)
    split = split_holdout(y_arr, event_dates, fraction=cfg.holdout_fraction, seed=seed)
    problem = _problem(contract, item.candidate, cfg, X, y_arr, split, seed=seed, cv=cv)
    return _fold(problem, item.params, item.imbalance, item.fold)


def fit_from_folds(
    contract: Contract,
    name: str,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray | pd.Series,
    event_dates: Sequence[Any] | np.ndarray | pd.Series | None,
    results: Sequence[tuple[SearchItem, FoldResult]],
    *,
    config: ConfigSource = None,
    seed: int = 42,
    cv: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> FittedCandidate:
    """Finish a candidate from its items' fold results: choose, calibrate, refit, evaluate
    (what :func:`train_one` does after its search)."""
    started = time.perf_counter()
    say = progress or _quiet
    cfg = load_training_config(config)
    X, y_arr = _prepare_inputs(contract, X, y, event_dates)
    split = split_holdout(y_arr, event_dates, fraction=cfg.holdout_fraction, seed=seed)
    problem = _problem(contract, name, cfg, X, y_arr, split, seed=seed, cv=cv)
    by_trial: dict[int, list[tuple[SearchItem, FoldResult]]] = {}
    for item, result in results:
        if item.candidate == name:
            by_trial.setdefault(item.trial, []).append((item, result))
    expected = len(problem.spec.grid()) + len(problem.spec.imbalance) - 1
    if sorted(by_trial) != list(range(expected)):
        raise ValidationError(
            f"[{name}] the search needs trials 0..{expected - 1}, got {sorted(by_trial)}"
        )
    trials = []
    for t in sorted(by_trial):
        first = by_trial[t][0][0]
        trial = _trial(problem, first.params, first.imbalance, [f for _, f in by_trial[t]])
        trials.append(trial)
        say(f"[{name}] {t + 1}/{expected} {_label(trial)}: CV AUC {trial.run.auc_mean:.4f}")
    return _finish(problem, trials, say, started)
