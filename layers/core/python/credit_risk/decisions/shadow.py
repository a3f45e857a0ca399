"""The shadow challenger: a second model that scores each API request beside the champion.

The challenger never decides anything: its PD and the decision it would have made are
stored in ``ml.shadow_scores`` beside the champion's, in the request's own transaction,
so that champion and challenger can be compared on the same loans
(:mod:`credit_risk.monitoring.shadow`). Which model shadows is a setting
(``SHADOW_CHALLENGER``): ``off``; ``auto`` (or ``best-rejected``), the registered version
with the best holdout AUC that was never promoted; or a version id.

Nothing here may change an answer or fail a request: a challenger that cannot be found,
loaded or scored is logged (its version and the error's class, never an input value) and
the request goes on without a shadow row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from credit_risk.adapters.observability import logger
from credit_risk.decisions.policy import DecisionPolicy, decide
from credit_risk.decisions.scoring import LoadedModel, outside_training_range
from credit_risk.models.lean import LeanModel
from credit_risk.models.versions import ModelVersion

if TYPE_CHECKING:  # the registry is handed in: this module does no I/O of its own
    from credit_risk.models.registry import Registry

OFF = "off"
AUTO = ("auto", "best-rejected")
NEVER_PROMOTED = ("candidate", "rejected")
"""Statuses of versions that never served as champion (retired ones did)."""


def holdout_auc(version: ModelVersion) -> float | None:
    """A version's holdout AUC as its registry row records it, or None."""
    auc = version.summary().get("auc")
    return float(auc) if isinstance(auc, int | float) else None


def pick_challenger(
    versions: Sequence[ModelVersion], setting: str, champion_version: str
) -> ModelVersion | None:
    """The version that should shadow ``champion_version`` under ``setting``, or None.

    ``auto``/``best-rejected``: among versions never promoted, the best holdout AUC (the
    newest on a tie); a version id: that version unless it is the champion or unknown.
    """
    if setting == OFF:
        return None
    others = [v for v in versions if v.version != champion_version]
    if setting in AUTO:
        scored = [
            (auc, v.version, v)
            for v in others
            if v.status in NEVER_PROMOTED and v.promoted_at is None
            for auc in [holdout_auc(v)]
            if auc is not None
        ]
        return max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None
    return next((v for v in others if v.version == setting), None)


class ChallengerLoader:
    """The challenger, chosen from the registry and loaded once per container.

    The choice is re-read every ``refresh_seconds`` (as the champion's is); a challenger
    that fails to load is not retried before the next refresh, so a broken artifact costs
    one attempt per interval, not one per request.
    """

    def __init__(self, registry: Registry, setting: str, *, refresh_seconds: float = 30.0) -> None:
        self.registry = registry
        self.setting = setting
        self.refresh_seconds = refresh_seconds
        self._loaded: LoadedModel | None = None
        self._for_champion: str | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def get(self, champion: LoadedModel) -> LoadedModel | None:
        """The challenger to shadow ``champion`` with, or None (off, none, or broken)."""
        if self.setting == OFF:
            return None
        now = time.monotonic()
        with self._lock:
            fresh = now - self._checked < self.refresh_seconds
            if fresh and self._for_champion == champion.version.version:
                return self._loaded
            self._checked, self._for_champion = now, champion.version.version
            try:
                chosen = pick_challenger(
                    self.registry.versions(champion.version.model_name),
                    self.setting,
                    champion.version.version,
                )
                if chosen is None:
                    self._loaded = None
                elif self._loaded is None or self._loaded.version.version != chosen.version:
                    self._loaded = None
                    body = self.registry.load_artifact(chosen)
                    self._loaded = LoadedModel(chosen, LeanModel.from_bytes(body, threads=1))
            except Exception as exc:  # a shadow must never fail the request
                self._loaded = None
                logger.warning(
                    "shadow challenger not loaded",
                    extra={"setting": self.setting, "error": type(exc).__name__},
                )
            return self._loaded

    def refresh(self) -> None:
        """Re-read the registry on the next request (after a promotion in this container)."""
        with self._lock:
            self._checked = float("-inf")


def shadow_row(
    challenger: LoadedModel,
    row: Mapping[str, Any],
    answer: Mapping[str, Any],
    policy: DecisionPolicy,
    *,
    request_id: str,
    scored_at: datetime,
) -> dict[str, Any] | None:
    """The ``ml.shadow_scores`` row of one request: the challenger's PD and decision on the
    champion's feature ``row`` beside the champion's ``answer``; None if it cannot score.

    The challenger's decision follows the same policy bands and sends an input outside its
    own training range to review, as the champion's does.
    """
    started = time.perf_counter()
    try:
        pd = float(challenger.model.predict([row])[0])
        decision = decide(pd, policy)
        if outside_training_range(challenger.model, row):
            decision = "review"
    except Exception as exc:  # a shadow must never fail the request
        logger.warning(
            "shadow challenger could not score",
            extra={"challenger": challenger.version.version, "error": type(exc).__name__},
        )
        return None
    return {
        "request_id": request_id[:80],
        "application_id": str(answer["application_id"])[:200],
        "champion_version": str(answer["model_version"]),
        "champion_pd": float(answer["probability_of_default"]),
        "champion_decision": str(answer["decision"]),
        "challenger_version": challenger.version.version,
        "challenger_pd": pd,
        "challenger_decision": decision,
        "challenger_ms": round((time.perf_counter() - started) * 1000, 4),
        "scored_at": scored_at,
    }
