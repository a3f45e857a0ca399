"""The promotion gate's shadow requirement: how much shadow evidence a candidate needs.

Set in ``promotion.yaml`` (off by default)::

    require_shadow: {min_decisions: 500, min_matured: 0}

A candidate is promoted only once it has scored at least ``min_decisions`` API requests
as the shadow challenger (:mod:`credit_risk.decisions.shadow`) and at least
``min_matured`` of those loans have a matured outcome. A version a training run has just
registered has never served, so with the requirement on the run rejects it, with the
reason, and it becomes the challenger (``SHADOW_CHALLENGER=auto`` picks the best version
never promoted); once ``./run models`` shows the evidence, an admin promotes it
(``POST /api/models/{version}/promote``), and the same requirement is checked there.

Pure: the counts come from :func:`credit_risk.monitoring.shadow_store.shadow_evidence`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from credit_risk.contract.files import load_yaml_model


class ShadowRequirement(BaseModel):
    """The shadow evidence a candidate needs before it may be promoted."""

    model_config = ConfigDict(extra="forbid")

    min_decisions: int = Field(default=500, ge=0)
    min_matured: int = Field(default=0, ge=0)


class _PromotionShadow(BaseModel):
    """``promotion.yaml`` read for its shadow requirement only (the rest is the training
    gate's: :class:`credit_risk.models.training.orchestration.PromotionPolicy`)."""

    model_config = ConfigDict(extra="ignore")

    require_shadow: ShadowRequirement | None = None


def load_shadow_requirement(path: str | Path | None = None) -> ShadowRequirement | None:
    """The shadow requirement of the promotion policy, or None when it is off."""
    return load_yaml_model(
        _PromotionShadow, path, default="promotion.yaml", what="promotion policy"
    ).require_shadow


def shadow_refusal(
    evidence: Mapping[str, int], requirement: ShadowRequirement | None
) -> str | None:
    """Why a candidate with this shadow ``evidence`` (``decisions``, ``matured``) may not be
    promoted yet, or None when it has enough (or nothing is required)."""
    if requirement is None:
        return None
    decisions, matured = int(evidence.get("decisions", 0)), int(evidence.get("matured", 0))
    if decisions >= requirement.min_decisions and matured >= requirement.min_matured:
        return None
    return (
        f"not enough shadow evidence: {decisions} of {requirement.min_decisions} shadow "
        f"decisions and {matured} of {requirement.min_matured} matured loans "
        "(require_shadow); it can serve as the shadow challenger until it has them"
    )
