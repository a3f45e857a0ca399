"""Request bodies of the decision-policy routes (issue 14)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_FORBID = ConfigDict(extra="forbid", frozen=True)
_POLICY = Field(
    description=(
        "The proposed decision policy: a mapping of the settings of defaults/decisions.yaml "
        "(version, scaling, grades, decisions, lgd, ead_feature, ...) or that YAML as text"
    )
)


class PolicySimulateRequest(BaseModel):
    """A proposed policy to replay over the book beside the one in force."""

    model_config = _FORBID
    policy: dict[str, Any] | str = _POLICY
    margin: float = Field(
        default=0.05,
        ge=0,
        le=1,
        strict=False,
        description="expected profit's margin, as a share of the exposure of a good loan",
    )


class PolicyPromoteRequest(BaseModel):
    """A policy to put in force, and why."""

    model_config = _FORBID
    policy: dict[str, Any] | str = _POLICY
    reason: str = Field(
        default="promoted through the API", min_length=1, max_length=500, strict=True
    )
