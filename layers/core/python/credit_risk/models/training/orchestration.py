"""The training state machine's steps: snapshot, train one candidate, evaluate, promote.

Payloads between states carry ids and S3 URIs only. Artifacts of a run are written under
``runs/<run_id>/`` first; only the chosen candidate is registered (copied to its immutable
``models/<name>/<version>/`` prefix, then its registry row inserted), and the champion
changes only in :func:`decide_promotion`'s caller, the "Promote champion" state, in one
transaction. A failure anywhere leaves the champion untouched.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, MetaData, select

from credit_risk import __version__
from credit_risk.adapters.aws import ObjectStore, parse_s3_uri
from credit_risk.adapters.observability import logger
from credit_risk.contract import Contract
from credit_risk.contract.files import load_yaml_model
from credit_risk.data.drift import baseline_summary
from credit_risk.data.pseudonymise import pseudonym
from credit_risk.db import schema
from credit_risk.db.bulk import read_frame
from credit_risk.errors import (
    ArtifactIntegrityError,
    InsufficientDataError,
    NotFoundError,
    SearchIncompleteError,
    describe_failure,
)
from credit_risk.models.card import render_model_card
from credit_risk.models.fairness import fairness_refusals, fairness_report, fairness_verdict
from credit_risk.models.lean import LeanModel
from credit_risk.models.registry import MODEL_NAME, ModelVersion, Registry, sha256_hex
from credit_risk.models.shadow_gate import ShadowRequirement, shadow_refusal
from credit_risk.models.training.candidate import FittedCandidate
from credit_risk.models.training.config import STACK_NAME, TrainingConfig, load_training_config
from credit_risk.models.training.export import to_lean
from credit_risk.models.training.metrics import ranking_metrics
from credit_risk.models.training.selection import (
    Contender,
    Selection,
    fold_aucs,
    select_champion,
)
from credit_risk.models.training.stacking import stacked_candidate
from credit_risk.models.training.trainer import (
    FoldResult,
    HoldoutSplit,
    SearchItem,
    SearchStage,
    cross_validate_item,
    fit_from_folds,
    grid_items,
    imbalance_items,
    sample_for_training,
    split_holdout,
)

MIN_TRAINING_ROWS = 200


class PromotionPolicy(BaseModel):
    """When a candidate may replace the champion."""

    model_config = ConfigDict(extra="forbid")

    min_auc_gain: float = 0.002
    max_calibration_gap: float = 0.03
    calibration_z: float = 2.58
    max_cv_auc_std: float = 0.03
    # Fairness (per protected attribute of the contract, on the holdout's decisions):
    min_adverse_impact_ratio: float = Field(default=0.8, ge=0.0, le=1.0)
    max_air_drop: float = Field(default=0.05, ge=0.0, le=1.0)
    air_z: float = Field(default=1.96, ge=0.0)
    require_shadow: ShadowRequirement | None = None  # off: see credit_risk.models.shadow_gate


PROTECTED_PREFIX = "_protected_"
"""Snapshot columns holding a protected attribute's pseudonym (never a model input)."""

Approve = Callable[[np.ndarray], np.ndarray]
"""The decision policy as a function of PDs: True where a PD is approved."""


def load_promotion_policy(path: str | None = None) -> PromotionPolicy:
    """The promotion policy (``promotion.yaml`` beside the model config by default)."""
    return load_yaml_model(
        PromotionPolicy,
        path,
        default="promotion.yaml",
        what="promotion policy",
    )


# --------------------------------------------------------------------------- snapshot


def training_frame(engine: Engine, contract: Contract) -> pd.DataFrame:
    """Matured labels joined to features of batches that passed the quality gate."""
    meta = MetaData()
    features = schema.features_table(contract, meta)
    labels = schema.labels_table(meta)
    passed = select(schema.quality_reports.c.batch_id).where(
        schema.quality_reports.c.passed.is_(True)
    )
    cols: list[Any] = [features.c.application_id, features.c.event_date]
    cols += [features.c[f] for f in contract.features]
    protected = schema.protected_table(contract, meta)
    cols += [
        protected.c[n].label(PROTECTED_PREFIX + n) for n in contract.applications.protected_columns
    ]
    query = (
        select(*cols, labels.c.target)
        .join(labels, labels.c.application_id == features.c.application_id)
        .outerjoin(protected, protected.c.application_id == features.c.application_id)
        .where(labels.c.matured.is_(True), features.c._batch_id.in_(passed))
        .order_by(features.c.application_id)
    )
    with engine.connect() as conn:
        frame = read_frame(conn, query)
    for name in contract.numeric_features:
        frame[name] = pd.to_numeric(frame[name]).astype("float64")
    frame["event_date"] = pd.to_datetime(frame["event_date"])
    frame["target"] = frame["target"].astype(int)
    return frame


def snapshot(
    *,
    engine: Engine,
    contract: Contract,
    store: ObjectStore,
    bucket: str,
    run_id: str,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Freeze the training data of a run in S3; refuse too little of it, and sample a book
    larger than the configured ``max_rows`` (see :func:`sample_for_training`)."""
    config = load_training_config(config_path)
    matured = training_frame(engine, contract)
    frame = sample_for_training(matured, "target", config.max_rows)
    defaults = int(frame["target"].sum()) if len(frame) else 0
    if len(frame) < MIN_TRAINING_ROWS or defaults < 20 or len(frame) - defaults < 20:
        raise InsufficientDataError(
            f"only {len(frame)} matured, quality-checked loans ({defaults} defaults); "
            f"training needs {MIN_TRAINING_ROWS} with at least 20 of each outcome"
        )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    body = buffer.getvalue()
    content_hash = hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    ).hexdigest()
    uri = store.put(bucket, f"runs/{run_id}/training.parquet", body)
    logger.info(
        "training snapshot",
        extra={"rows": len(frame), "defaults": defaults, "matured": len(matured)},
    )
    return {
        "matured_rows": len(matured),
        "run_id": run_id,
        "snapshot_uri": uri,
        "snapshot_hash": content_hash,
        "rows": len(frame),
        "defaults": defaults,
        "candidates": list(config.candidates),
    }


def read_snapshot(store: ObjectStore, uri: str) -> pd.DataFrame:
    """A run's training data."""
    bucket, key = parse_s3_uri(uri)
    return pd.read_parquet(io.BytesIO(store.get(bucket, key)))


# --------------------------------------------------------------------------- train


def _write_candidate(
    store: ObjectStore,
    bucket: str,
    run_id: str,
    fitted: FittedCandidate,
    contract: Contract,
    X: pd.DataFrame,
) -> dict[str, Any]:
    lean = to_lean(fitted, contract, check=X.head(200))
    body = lean.to_bytes()
    prefix = f"runs/{run_id}/{fitted.name}"
    artifact_uri = store.put(bucket, f"{prefix}/model.bin", body)
    summary = fitted.summary()
    metrics_uri = store.put_json(bucket, f"{prefix}/metrics.json", summary)
    out = {
        "candidate": fitted.name,
        "artifact_uri": artifact_uri,
        "artifact_sha256": sha256_hex(body),
        "metrics_uri": metrics_uri,
        "auc": fitted.metrics["auc"],
        "seconds": round(fitted.seconds, 2),
    }
    if fitted.oof_margins is not None:
        # What "Evaluate and compare" fits the stacked candidate on.
        buffer = io.BytesIO()
        np.save(buffer, fitted.oof_margins)
        out["oof_uri"] = store.put(bucket, f"{prefix}/oof.npy", buffer.getvalue())
    return out


# --------------------------------------------------------------------------- search

SEARCH_STAGES: tuple[SearchStage, ...] = ("grid", "imbalance")


def _search_key(run_id: str, what: str) -> str:
    return f"runs/{run_id}/search/{what}"


_snapshot_cache: dict[str, pd.DataFrame] = {}


def _snapshot_inputs(
    store: ObjectStore, contract: Contract, uri: str
) -> tuple[pd.DataFrame, Any, Any]:
    """(features, targets, event dates) of a snapshot, read once per container."""
    frame = _snapshot_cache.get(uri)
    if frame is None:
        frame = read_snapshot(store, uri)
        _snapshot_cache.clear()
        _snapshot_cache[uri] = frame
    return frame[contract.features], frame["target"].to_numpy(), frame["event_date"]


def _stage_results(
    store: ObjectStore, bucket: str, run_id: str, stage: SearchStage
) -> list[tuple[SearchItem, FoldResult]]:
    """A stage's items with their fold results; SearchIncompleteError for any missing."""
    items = [
        SearchItem.from_dict(i)
        for i in json.loads(store.get(bucket, _search_key(run_id, f"{stage}.json")))
    ]
    found, missing = [], []
    for item in items:
        key = _search_key(run_id, f"results/{item.name}")
        try:
            record = json.loads(store.get(bucket, f"{key}.json"))
        except NotFoundError:
            record = {"status": "missing"}
        if record["status"] != "succeeded":
            missing.append(f"{item.name} ({record.get('error', 'no result')})")
            continue
        arrays = np.load(io.BytesIO(store.get(bucket, f"{key}.npz")))
        found.append(
            (
                item,
                FoldResult(
                    item.fold,
                    arrays["valid"],
                    arrays["margins"],
                    float(record["auc"]),
                    float(record["seconds"]),
                ),
            )
        )
    if missing:
        raise SearchIncompleteError(
            f"{len(missing)} of {len(items)} {stage} items left no result: "
            + ", ".join(missing[:5])
        )
    return found


def plan_search(
    *,
    store: ObjectStore,
    bucket: str,
    snapshot_info: dict[str, Any],
    stage: SearchStage,
    settings: dict[str, Any] | None = None,
    cv: tuple[int, int] | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Write the manifest of one search stage's items (candidate x configuration x fold)."""
    run_id, names = snapshot_info["run_id"], list(snapshot_info["candidates"])
    if stage == "grid":
        items = grid_items(names, config=config_path, cv=cv, rows=int(snapshot_info["rows"]))
    else:
        grid = _stage_results(store, bucket, run_id, "grid")
        rows = int(snapshot_info["rows"])
        items = imbalance_items(names, grid, config=config_path, cv=cv, rows=rows)
    key = _search_key(run_id, f"{stage}.json")
    base = {"run_id": run_id, "snapshot_uri": snapshot_info["snapshot_uri"]}
    base["step"] = "cross_validate"
    store.put_json(bucket, key, [{**base, **item.to_dict()} for item in items])
    concurrency = int((settings or {}).get("max_concurrency") or 20)
    logger.info("search stage planned", extra={"stage": stage, "items": len(items)})
    return {
        "stage": stage,
        "items": len(items),
        "manifest": {"bucket": bucket, "key": key},
        "max_concurrency": concurrency,
    }


def search_item(
    *,
    contract: Contract,
    store: ObjectStore,
    bucket: str,
    event: dict[str, Any],
    seed: int = 42,
    cv: tuple[int, int] | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Run one search item (a Map item): fit its fold, keep its margins and AUC in S3."""
    item = SearchItem.from_dict(event)
    key = _search_key(event["run_id"], f"results/{item.name}")
    try:
        X, y, dates = _snapshot_inputs(store, contract, event["snapshot_uri"])
        result = cross_validate_item(
            contract, X, y, dates, item, config=config_path, seed=seed, cv=cv
        )
        buffer = io.BytesIO()
        np.savez(buffer, valid=result.valid, margins=result.margins)
        store.put(bucket, f"{key}.npz", buffer.getvalue())
    except Exception as exc:
        failure = {"item": item.name, "status": "failed", **describe_failure(exc)}
        store.put_json(bucket, f"{key}.json", failure)
        raise
    summary = {
        "item": item.name,
        "status": "succeeded",
        "auc": result.auc,
        "seconds": round(result.seconds, 4),
        "rows": int(len(result.valid)),
    }
    store.put_json(bucket, f"{key}.json", summary)
    return summary


def fit_candidate(
    *,
    contract: Contract,
    store: ObjectStore,
    bucket: str,
    snapshot_uri: str,
    run_id: str,
    candidate: str,
    seed: int = 42,
    cv: tuple[int, int] | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Finish a candidate from its search items: choose, calibrate, refit, evaluate; write
    its lean model and metrics under the run, for "Evaluate and compare"."""
    results = [
        pair
        for stage in SEARCH_STAGES
        for pair in _stage_results(store, bucket, run_id, stage)
        if pair[0].candidate == candidate
    ]
    X, y, dates = _snapshot_inputs(store, contract, snapshot_uri)
    fitted = fit_from_folds(
        contract,
        candidate,
        X,
        y,
        dates,
        results,
        config=config_path,
        seed=seed,
        cv=cv,
        progress=lambda line: logger.info(line, extra={"candidate": candidate}),
    )
    return _write_candidate(store, bucket, run_id, fitted, contract, X)


# --------------------------------------------------------------------------- evaluate


@dataclass
class Comparison:
    """A candidate against the champion on the same holdout rows."""

    candidate_auc: float
    champion_auc: float | None
    calibration_gap: float
    cv_auc_std: float
    promote: bool
    reason: str
    fairness: dict[str, Any] | None = None
    champion_fairness: dict[str, Any] | None = None


def protected_groups(frame: pd.DataFrame, contract: Contract, key: bytes) -> dict[str, np.ndarray]:
    """Each protected attribute's group label per row of a snapshot (None where not
    known), from the pseudonyms it holds: the contract's categories pseudonymised under
    ``key`` name them back. Only aggregates of these leave the process."""
    groups: dict[str, np.ndarray] = {}
    for name in contract.applications.protected_columns:
        column = PROTECTED_PREFIX + name
        if column not in frame.columns:
            continue
        labels = contract.applications.columns[name].categories or []
        names = {pseudonym(label, key): label for label in labels}
        groups[name] = np.array([names.get(v) for v in frame[column].tolist()], dtype=object)
    return groups


def _load_run_artifact(store: ObjectStore, result: dict[str, Any]) -> bytes:
    bucket, key = parse_s3_uri(result["artifact_uri"])
    body = store.get(bucket, key)
    if sha256_hex(body) != result["artifact_sha256"]:
        raise ArtifactIntegrityError(f"{result['artifact_uri']} changed since it was trained")
    return body


def compare(
    candidate: LeanModel,
    candidate_metrics: dict[str, Any],
    champion: LeanModel | None,
    holdout: pd.DataFrame,
    contract: Contract,
    policy: PromotionPolicy,
    *,
    protected: Mapping[str, np.ndarray] | None = None,
    approve: Approve | None = None,
) -> Comparison:
    """Decide whether ``candidate`` should replace ``champion`` on ``holdout``.

    With ``protected`` (each protected attribute's group per holdout row) and
    ``approve``, the candidate's fairness figures are measured on its decisions and its
    adverse impact ratios gated by the policy, against the champion's on the same rows."""
    rows = holdout[contract.features]
    columns = {c: rows[c].to_numpy() for c in contract.features}
    y = holdout["target"].to_numpy()
    cand_pd = candidate.predict_columns(columns)
    cand_auc = ranking_metrics(y, cand_pd)["auc"]
    gap = abs(float(np.mean(cand_pd)) - float(np.mean(y)))
    # A small holdout's default rate is itself uncertain: allow the larger of the
    # configured gap and z standard errors of the observed rate.
    rate = float(np.mean(y))
    allowed_gap = max(
        policy.max_calibration_gap,
        policy.calibration_z * float(np.sqrt(rate * (1 - rate) / len(y))),
    )
    cv_std = float(candidate_metrics.get("cv", {}).get("auc", {}).get("std", 0.0))
    champ_auc = None
    champ_pd = None
    if champion is not None:
        champ_pd = champion.predict_columns(columns)
        champ_auc = ranking_metrics(y, champ_pd)["auc"]
    fairness = champion_fairness = None
    if protected and approve is not None:
        categories = {n: contract.applications.columns[n].categories or [] for n in protected}
        fairness = fairness_report(protected, categories, cand_pd, approve(cand_pd), y)
        if champ_pd is not None:
            champion_fairness = fairness_report(
                protected, categories, champ_pd, approve(champ_pd), y
            )
    failures = []
    if gap > allowed_gap:
        failures.append(
            f"mean PD {np.mean(cand_pd):.3f} is {gap:.3f} from the observed default rate "
            f"{rate:.3f} on {len(y)} holdout rows (limit {allowed_gap:.3f})"
        )
    if cv_std > policy.max_cv_auc_std:
        failures.append(f"CV AUC std {cv_std:.3f} above {policy.max_cv_auc_std} (unstable)")
    if champ_auc is not None and cand_auc < champ_auc + policy.min_auc_gain:
        failures.append(
            f"holdout AUC {cand_auc:.4f} does not beat the champion's {champ_auc:.4f} "
            f"by {policy.min_auc_gain}"
        )
    if fairness is not None:
        failures += fairness_refusals(
            fairness,
            champion_fairness,
            min_air=policy.min_adverse_impact_ratio,
            max_air_drop=policy.max_air_drop,
            air_z=policy.air_z,
        )
    if champion is not None:  # the first champion needs no shadow: there was none to run
        # A candidate being compared is not registered yet, so it has never shadowed.
        refusal = shadow_refusal({"decisions": 0, "matured": 0}, policy.require_shadow)
        if refusal is not None:
            failures.append(refusal)
    if failures:
        return Comparison(
            cand_auc,
            champ_auc,
            gap,
            cv_std,
            False,
            "; ".join(failures),
            fairness,
            champion_fairness,
        )
    reason = (
        "first champion"
        if champ_auc is None
        else f"holdout AUC {cand_auc:.4f} beats the champion's {champ_auc:.4f}"
    )
    if fairness is not None:
        reason += ", " + fairness_verdict(
            fairness, min_air=policy.min_adverse_impact_ratio, air_z=policy.air_z
        )
    return Comparison(
        cand_auc,
        champ_auc,
        gap,
        cv_std,
        True,
        reason + ", calibrated and stable",
        fairness,
        champion_fairness,
    )


def evaluate_and_register(
    *,
    contract: Contract,
    store: ObjectStore,
    registry: Registry,
    snapshot_info: dict[str, Any],
    results: list[dict[str, Any]],
    policy: PromotionPolicy | None = None,
    seed: int = 42,
    config_path: str | None = None,
    approve: Approve | None = None,
    pseudonym_key: bytes | None = None,
) -> dict[str, Any]:
    """Choose the run's champion candidate (the stack among them when configured, see
    :func:`select_from_runs`), register it and compare it with the champion.

    With ``approve`` (the decision policy on PDs) and the ``pseudonym_key``, the
    comparison measures fairness per protected group and the promotion policy gates it;
    the figures go into the metrics and the model card."""
    policy = policy or load_promotion_policy()
    frame = read_snapshot(store, snapshot_info["snapshot_uri"])
    config = load_training_config(config_path)
    split = split_holdout(
        frame["target"].to_numpy(), frame["event_date"], fraction=config.holdout_fraction, seed=seed
    )
    holdout = frame.iloc[split.holdout]
    best, body, summary, selection = select_from_runs(
        contract=contract,
        store=store,
        run_id=snapshot_info["run_id"],
        results=results,
        frame=frame,
        split=split,
        config=config,
        seed=seed,
    )
    candidate = LeanModel.from_bytes(body)
    champion_version = registry.champion()
    champion = (
        LeanModel.from_bytes(registry.load_artifact(champion_version)) if champion_version else None
    )
    protected = protected_groups(holdout, contract, pseudonym_key) if pseudonym_key else None
    comparison = compare(
        candidate,
        summary["metrics"],
        champion,
        holdout,
        contract,
        policy,
        protected=protected,
        approve=approve,
    )
    if comparison.fairness is not None:
        summary["metrics"]["fairness"] = comparison.fairness
    metadata = {
        "name": MODEL_NAME,
        "candidate": best["candidate"],
        "params": summary["params"],
        "data_snapshot_hash": snapshot_info["snapshot_hash"],
        "code_version": __version__,
        "contract_name": contract.name,
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
    }
    metrics = dict(summary["metrics"])
    metrics["comparison"] = comparison.__dict__
    train_rows = frame.iloc[split.train]
    metrics["baseline"] = baseline_summary(
        train_rows[contract.features],
        candidate.predict_columns({c: train_rows[c].to_numpy() for c in contract.features}),
    )
    metrics["candidates"] = {r["candidate"]: r["auc"] for r in results}
    if STACK_NAME in {r["candidate"] for r in selection.ranking}:
        metrics["candidates"][STACK_NAME] = next(
            r["holdout_auc"] for r in selection.ranking if r["candidate"] == STACK_NAME
        )
    metrics["selection"] = summary["metrics"]["selection"] = selection.to_dict()
    version = registry.register(
        candidate=best["candidate"],
        artifact=body,
        extra_files={
            "metrics.json": json.dumps(metrics, indent=2, default=str).encode(),
            "feature_schema.json": json.dumps(
                {
                    "contract": contract.name,
                    "numeric": contract.numeric_features,
                    "categorical": contract.categorical_features,
                },
                indent=2,
            ).encode(),
            "model_card.html": render_model_card(
                {**metadata, "version": "pending registration"},
                summary["metrics"],
                summary["metrics"].get("cv"),
            ).encode(),
        },
        data_snapshot_hash=snapshot_info["snapshot_hash"],
        code_version=__version__,
        params=summary["params"],
        metrics=metrics,
    )
    _write_card(store, registry, version, metadata, summary)
    return {
        "model_name": version.model_name,
        "version": version.version,
        "candidate": best["candidate"],
        "promote": comparison.promote,
        "reason": comparison.reason,
        "candidate_auc": comparison.candidate_auc,
        "champion_auc": comparison.champion_auc,
        "champion_version": champion_version.version if champion_version else None,
        "selection": selection.lines(),
    }


def select_from_runs(
    *,
    contract: Contract,
    store: ObjectStore,
    run_id: str,
    results: list[dict[str, Any]],
    frame: pd.DataFrame,
    split: HoldoutSplit,
    config: TrainingConfig,
    seed: int = 42,
) -> tuple[dict[str, Any], bytes, dict[str, Any], Selection]:
    """The run's champion by the selection rule (:mod:`.selection`), computed from the
    fitted candidates' lean models and metrics, with the stacked candidate fitted here
    from the members' out-of-fold margins when the config has a stack. Returns the
    chosen result, its artifact, its summary and the selection."""
    holdout = frame.iloc[split.holdout]
    columns = {c: holdout[c].to_numpy() for c in contract.features}
    y_ho = holdout["target"].to_numpy()
    runs: dict[str, tuple[dict[str, Any], bytes, dict[str, Any]]] = {}
    for result in results:
        bucket, key = parse_s3_uri(result["metrics_uri"])
        summary = json.loads(store.get(bucket, key))
        runs[result["candidate"]] = (result, _load_run_artifact(store, result), summary)
    if config.stack is not None:
        stacked = _stack_from_runs(contract, store, run_id, runs, frame, split, config, seed)
        if stacked is not None:
            runs[STACK_NAME] = stacked
    contenders = []
    for name, (_, body, summary) in runs.items():
        search_auc = summary["metrics"]["cv"]["search_auc"]
        contenders.append(
            Contender(
                name=name,
                complexity=config.stack.complexity
                if name == STACK_NAME and config.stack is not None
                else config.candidate(name).complexity,
                cv_auc=float(search_auc["mean"]),
                cv_auc_std=float(search_auc["std"]),
                holdout_pd=LeanModel.from_bytes(body).predict_columns(columns),
                stack=name == STACK_NAME,
                **fold_aucs(summary["metrics"]),
            )
        )
    selection = select_champion(contenders, y_ho, alpha=config.selection.alpha)
    for line in selection.lines():
        logger.info(f"selection: {line}")
    result, body, summary = runs[selection.champion]
    return result, body, summary, selection


def _stack_from_runs(
    contract: Contract,
    store: ObjectStore,
    run_id: str,
    runs: dict[str, tuple[dict[str, Any], bytes, dict[str, Any]]],
    frame: pd.DataFrame,
    split: HoldoutSplit,
    config: TrainingConfig,
    seed: int,
) -> tuple[dict[str, Any], bytes, dict[str, Any]] | None:
    """The stacked candidate of the run's members (their lean models combined by weights
    fitted on their out-of-fold margins), written under the run like any candidate; None
    when fewer than two members can be stacked."""
    assert config.stack is not None
    started = time.perf_counter()
    members: dict[str, LeanModel] = {}
    oof: dict[str, np.ndarray] = {}
    for name in config.stack.members or list(runs):
        if name not in runs or "oof_uri" not in runs[name][0]:
            continue
        # Any kind of member: each encodes rows itself when they do not share one design.
        lean = LeanModel.from_bytes(runs[name][1], threads=config.threads or 0)
        bucket, key = parse_s3_uri(runs[name][0]["oof_uri"])
        members[name], oof[name] = lean, np.load(io.BytesIO(store.get(bucket, key)))
    if len(members) < 2:
        logger.info(f"[{STACK_NAME}] not trained: fewer than two candidates to stack")
        return None
    cv = runs[next(iter(members))][2]["metrics"]["cv"]
    train, held = frame.iloc[split.train], frame.iloc[split.holdout]
    fit, lean, metrics, params = stacked_candidate(
        contract,
        config,
        members,
        oof,
        X_tr=train[contract.features].reset_index(drop=True),
        y_tr=train["target"].to_numpy().astype(np.int64),
        X_ho=held[contract.features].reset_index(drop=True),
        y_ho=held["target"].to_numpy().astype(np.int64),
        folds=int(cv["folds"]),
        repeats=int(cv["repeats"]),
        holdout_kind=split.kind,
        first_holdout_date=split.first_holdout_date,
        seed=seed,
    )
    body = lean.to_bytes()
    bucket = parse_s3_uri(runs[next(iter(members))][0]["artifact_uri"])[0]
    prefix = f"runs/{run_id}/{STACK_NAME}"
    seconds = time.perf_counter() - started
    summary = {
        "name": STACK_NAME,
        "estimator": STACK_NAME,
        "params": params,
        "metrics": metrics,
        "search": [],
        "seconds": round(seconds, 3),
    }
    result = {
        "candidate": STACK_NAME,
        "artifact_uri": store.put(bucket, f"{prefix}/model.bin", body),
        "artifact_sha256": sha256_hex(body),
        "metrics_uri": store.put_json(bucket, f"{prefix}/metrics.json", summary),
        "auc": metrics["auc"],
        "seconds": round(seconds, 2),
    }
    logger.info(
        f"[{STACK_NAME}] cross-fitted CV AUC {fit.auc_mean:.4f}, holdout AUC "
        f"{metrics['auc']:.4f}; {seconds:.1f} s"
    )
    return result, body, summary


def _write_card(
    store: ObjectStore,
    registry: Registry,
    version: ModelVersion,
    metadata: dict[str, Any],
    summary: dict[str, Any],
) -> None:
    """Re-render the model card with its final version id (the card is documentation,
    not the hashed artifact, so writing it after registration keeps the artifact
    immutable)."""
    html = render_model_card(
        {**metadata, "version": version.version}, summary["metrics"], summary["metrics"].get("cv")
    )
    bucket, key = parse_s3_uri(version.artifact_uri)
    store.put(bucket, key.rsplit("/", 1)[0] + "/model_card.html", html.encode(), "text/html")


def apply_decision(registry: Registry, event: dict[str, Any]) -> dict[str, Any]:
    """Promote or reject the registered candidate as the evaluation decided."""
    if event["action"] == "promote":
        version = registry.promote(event["version"], event["reason"], event["model_name"])
    else:
        version = registry.reject(event["version"], event["reason"], event["model_name"])
    return {
        "status": version.status,
        "version": version.version,
        "candidate": version.candidate,
        "reason": version.reason,
    }
