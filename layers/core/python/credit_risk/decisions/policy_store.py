"""Promoted decision policies, the book a policy is simulated over, and simulations.

- :class:`PolicyStore`: every promoted policy by version in ``ml.decision_policies``; one
  is active. A version is immutable: promoting a version again with other settings is
  refused, promoting an older version again makes it active again (a rollback).
- :class:`PolicyLoader`: the policy the serving path decides by, per container: the
  active one (the packaged default before the first promotion), re-read every
  ``refresh_seconds`` so a promotion reaches every container without a restart.
- :func:`read_book`: the champion's stored scores (``ml.scores``, written by the re-score
  and pipeline paths), the outcomes (``analytics.labels``) and the exposure columns.
- :func:`simulate_policy`: a proposed policy against the active one over the book, stored
  in ``ml.policy_simulations`` (the dashboard draws the newest one's frontier).

I/O (SQLAlchemy).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from sqlalchemy import Connection, Engine, MetaData, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from credit_risk.adapters.observability import logger
from credit_risk.contract.files import validate_model
from credit_risk.db import schema
from credit_risk.decisions.policy import DecisionPolicy, fit_policy, load_decision_policy
from credit_risk.decisions.simulation import DEFAULT_MARGIN, Book, simulate
from credit_risk.errors import ConflictError, CreditRiskError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from credit_risk.contract import Contract

ACTIVE = "active"
RETIRED = "retired"
MAX_POLICY_BYTES = 64 * 1024
MAX_VERSION_CHARS = 80
"""A policy version is stored in ``ml.decision_policies.version`` (80 characters)."""


def parse_policy(
    raw: Any,
    contract: Contract,
    *,
    source: str = "decision policy",
    error: type[CreditRiskError] = ValidationError,
) -> DecisionPolicy:
    """A decision policy from YAML text or a mapping, fitted to ``contract``; ``error``
    naming the setting when it is not a valid policy."""
    if isinstance(raw, bytes | str):
        text = raw.decode() if isinstance(raw, bytes) else raw
        if len(text.encode()) > MAX_POLICY_BYTES:
            raise error(f"{source} is larger than {MAX_POLICY_BYTES} bytes", field="policy")
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise error(f"{source} is not valid YAML: {exc}", field="policy") from exc
    if not isinstance(raw, dict):
        raise error(f"{source} must be a mapping of decision policy settings", field="policy")
    policy = validate_model(DecisionPolicy, raw, source, error=error)
    if len(policy.version) > MAX_VERSION_CHARS:
        raise error(f"{source}: version: at most {MAX_VERSION_CHARS} characters", field="version")
    try:
        return fit_policy(policy, contract)
    except CreditRiskError as exc:
        raise error(exc.message, **exc.details) from exc


def policy_json(policy: DecisionPolicy) -> str:
    """The policy as canonical JSON (sorted keys): what is stored and hashed."""
    return json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def policy_sha256(policy: DecisionPolicy) -> str:
    """The SHA-256 of the policy's canonical JSON."""
    return hashlib.sha256(policy_json(policy).encode()).hexdigest()


class PolicyStore:
    """Promoted decision policies in ``ml.decision_policies``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.table = schema.decision_policies

    def active(self) -> DecisionPolicy | None:
        """The active policy, or None before the first promotion."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(self.table.c.policy).where(self.table.c.status == ACTIVE)
            ).first()
        return None if row is None else DecisionPolicy.model_validate(json.loads(row[0]))

    def versions(self) -> list[dict[str, Any]]:
        """Every promoted version, newest promotion first."""
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.c.version,
                    t.c.status,
                    t.c.policy_sha256,
                    t.c.promoted_at,
                    t.c.promoted_by,
                    t.c.reason,
                ).order_by(t.c.promoted_at.desc())
            ).mappings()
            return [
                {
                    **row,
                    "promoted_at": row["promoted_at"].isoformat() if row["promoted_at"] else None,
                }
                for row in rows
            ]

    def promote(
        self,
        policy: DecisionPolicy,
        *,
        by: str,
        reason: str,
        at: datetime | None = None,
        conn: Connection | None = None,
    ) -> dict[str, Any]:
        """Make ``policy`` the active one (inside ``conn``'s transaction when given);
        returns the promotion (version, hash, the previous version). :class:`ConflictError`
        when the version is already active, or was promoted before with other settings."""
        if conn is None:
            with self.engine.begin() as own:
                return self.promote(policy, by=by, reason=reason, at=at, conn=own)
        t = self.table
        now = at or datetime.now(UTC)
        body, digest = policy_json(policy), policy_sha256(policy)
        found = conn.execute(
            select(t.c.status, t.c.policy_sha256).where(t.c.version == policy.version)
        ).first()
        if found is not None and found.policy_sha256 != digest:
            raise ConflictError(
                f"decision policy version '{policy.version}' was promoted before with "
                "other settings; a version is immutable: give the changed policy a new "
                "version",
                field="version",
                rule="immutable_version",
            )
        if found is not None and found.status == ACTIVE:
            raise ConflictError(
                f"decision policy version '{policy.version}' is already active",
                field="version",
                rule="already_active",
            )
        previous = conn.execute(select(t.c.version).where(t.c.status == ACTIVE)).first()
        conn.execute(update(t).where(t.c.status == ACTIVE).values(status=RETIRED))
        values = {"status": ACTIVE, "promoted_at": now, "promoted_by": by[:200]}
        if found is None:
            conn.execute(
                insert(t).values(
                    version=policy.version,
                    policy=body,
                    policy_sha256=digest,
                    reason=reason,
                    **values,
                )
            )
        else:  # the same settings again: a rollback to that version
            conn.execute(
                update(t).where(t.c.version == policy.version).values(reason=reason, **values)
            )
        return {
            "version": policy.version,
            "policy_sha256": digest,
            "previous_version": None if previous is None else previous[0],
            "promoted_at": now.isoformat(),
            "reason": reason,
        }


class PolicyLoader:
    """The decision policy in force, fitted to the contract, re-read every
    ``refresh_seconds`` (and at once after :meth:`refresh`)."""

    def __init__(
        self, store: PolicyStore, contract: Contract, *, refresh_seconds: float = 30.0
    ) -> None:
        self.store = store
        self.contract = contract
        self.refresh_seconds = refresh_seconds
        self._policy: DecisionPolicy | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> DecisionPolicy:
        """The active policy (the packaged default before the first promotion)."""
        now = time.monotonic()
        with self._lock:
            if self._policy is not None and now - self._checked < self.refresh_seconds:
                return self._policy
            try:
                active = self.store.active()
            except SQLAlchemyError:
                if self._policy is None:
                    raise
                # Keep deciding by the policy last read; the next request tries again.
                logger.warning("cannot re-read the decision policy; keeping the one in force")
                return self._policy
            if active is None:
                self._policy = load_decision_policy(contract=self.contract)
            elif self._policy is None or policy_json(active) != policy_json(self._policy):
                self._policy = fit_policy(active, self.contract)
            self._checked = now
            return self._policy

    def refresh(self) -> DecisionPolicy:
        """Re-read the active policy now (after a promotion in this container)."""
        with self._lock:
            self._checked = float("-inf")
        return self.get()


def _floats(values: Iterable[Any]) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def read_book(
    engine: Engine, contract: Contract, model_version: str, exposure_columns: Iterable[str]
) -> Book:
    """Every application with a stored score of ``model_version`` (its latest), its
    outcome when its loan matured, and the exposure columns policies read.

    :class:`NotFoundError` when the model has scored nothing (re-score the book first)."""
    scores = schema.scores
    meta = MetaData()
    features = schema.features_table(contract, meta)
    labels = schema.labels_table(meta)
    columns = sorted({c for c in exposure_columns if c in features.c})
    with engine.connect() as conn:
        latest: dict[str, float] = {}
        for app_id, pd in conn.execute(
            select(scores.c.application_id, scores.c.probability_of_default)
            .where(scores.c.model_version == model_version)
            .order_by(scores.c.scored_at)
        ):
            latest[app_id] = pd
        outcomes = {
            app_id: (target, bool(matured))
            for app_id, target, matured in conn.execute(
                select(labels.c.application_id, labels.c.target, labels.c.matured)
            )
        }
        exposures: dict[str, tuple[Any, ...]] = {}
        if columns:
            for row in conn.execute(
                select(features.c.application_id, *(features.c[c] for c in columns))
            ):
                exposures[row[0]] = tuple(row[1:])
    if not latest:
        raise NotFoundError(
            f"model {model_version} has scored no application yet: re-score the book "
            "(`./run rescore`) before simulating a policy",
            field="model_version",
            rule="no_scores",
        )
    ids = sorted(latest)
    matured = np.asarray([outcomes.get(i, (None, False))[1] for i in ids], dtype=bool)
    outcome = _floats(outcomes.get(i, (None, False))[0] for i in ids)
    outcome[~matured] = np.nan  # an outcome still inside its window is not an outcome yet
    missing = (None,) * len(columns)
    book_columns = {
        name: _floats(exposures.get(i, missing)[j] for i in ids) for j, name in enumerate(columns)
    }
    return Book(
        pd=_floats(latest[i] for i in ids),
        outcome=outcome,
        matured=matured,
        columns=book_columns,
        model_version=model_version,
    )


def new_simulation_id(now: datetime) -> str:
    """A sortable simulation id: ``p`` and the UTC time to the microsecond."""
    return now.strftime("p%Y%m%dT%H%M%S%f")


def simulate_policy(
    engine: Engine,
    contract: Contract,
    *,
    current: DecisionPolicy,
    proposed: DecisionPolicy,
    model_version: str,
    margin: float = DEFAULT_MARGIN,
    store: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``proposed`` against ``current`` over the book the champion scored; stored in
    ``ml.policy_simulations`` unless ``store`` is False."""
    exposure = [p.ead_feature for p in (current, proposed) if p.ead_feature]
    book = read_book(engine, contract, model_version, exposure)
    at = now or datetime.now(UTC)
    result = simulate(book, current, proposed, margin=margin)
    result["simulation_id"] = new_simulation_id(at)
    result["simulated_at"] = at.isoformat()
    if store:
        with engine.begin() as conn:
            conn.execute(
                insert(schema.policy_simulations).values(
                    simulation_id=result["simulation_id"],
                    created_at=at,
                    current_version=current.version,
                    proposed_version=proposed.version,
                    model_version=model_version,
                    result=json.dumps(result),
                )
            )
    return result
