"""From a probability of default to a decision a credit team can act on and explain.

PD -> score points (points-to-double-odds scaling) -> risk grade -> decision (approve,
review, decline) -> expected loss (PD x LGD x EAD), plus up to four principal reasons.
Everything is set by a versioned policy YAML (the packaged ``defaults/decisions.yaml`` by
default) and every decision records the policy version it was made under.

This runs on every API request, so it is plain Python: no numpy, no pandas, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from credit_risk.contract.files import load_yaml_model
from credit_risk.errors import ConfigurationError

if TYPE_CHECKING:  # the contract module imports pandas, which the request path avoids
    from credit_risk.contract import Contract

DecisionName = Literal["approve", "review", "decline"]
_DECISION_ORDER: dict[str, int] = {"approve": 0, "review": 1, "decline": 2}
PD_FLOOR = 1e-6
"""PDs are clipped to [PD_FLOOR, 1 - PD_FLOOR] before scaling, so odds stay finite."""


class Scaling(BaseModel):
    """Points-to-double-odds scaling: ``base_score`` at ``base_odds`` good:bad."""

    model_config = ConfigDict(extra="forbid")

    base_score: float
    base_odds: float = Field(gt=0)
    pdo: float = Field(gt=0)
    min_score: int | None = None
    max_score: int | None = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Scaling:
        if (
            self.min_score is not None
            and self.max_score is not None
            and self.min_score > self.max_score
        ):
            raise ValueError(f"min_score {self.min_score} is above max_score {self.max_score}")
        return self


class GradeBand(BaseModel):
    """A risk grade: every PD up to and including ``max_pd`` not in a better grade."""

    model_config = ConfigDict(extra="forbid")

    grade: str = Field(min_length=1)
    max_pd: float = Field(gt=0, le=1)


class DecisionBand(BaseModel):
    """A decision for a PD band (``max_pd``) or a set of grades (``grades``)."""

    model_config = ConfigDict(extra="forbid")

    decision: DecisionName
    max_pd: float | None = Field(default=None, gt=0, le=1)
    grades: list[str] | None = None

    @model_validator(mode="after")
    def _one_basis(self) -> DecisionBand:
        if (self.max_pd is None) == (self.grades is None):
            raise ValueError("give exactly one of 'max_pd' or 'grades'")
        if self.grades is not None and not self.grades:
            raise ValueError("'grades' must not be empty")
        return self


class DecisionPolicy(BaseModel):
    """A versioned decision policy."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    scaling: Scaling
    grades: list[GradeBand] = Field(min_length=1)
    decisions: list[DecisionBand] = Field(min_length=1)
    lgd: float = Field(default=0.45, gt=0, le=1)
    ead_feature: str | None = None
    max_reasons: int = Field(default=4, ge=1, le=4)
    min_reason_contribution: float = Field(default=0.0, ge=0)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # YAML reads `version: 1.0` as a number; a version is a label.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("grades")
    @classmethod
    def _grades_ascend(cls, grades: list[GradeBand]) -> list[GradeBand]:
        names = [g.grade for g in grades]
        if len(set(names)) != len(names):
            raise ValueError(f"grade names repeat: {names}")
        bounds = [g.max_pd for g in grades]
        if any(b >= a for b, a in zip(bounds, bounds[1:], strict=False)):
            raise ValueError(f"max_pd must increase from the best grade to the worst: {bounds}")
        if bounds[-1] != 1.0:
            raise ValueError(f"the last grade must reach max_pd 1.0, not {bounds[-1]}")
        return grades

    @field_validator("decisions")
    @classmethod
    def _decisions_monotone(
        cls, bands: list[DecisionBand], info: ValidationInfo
    ) -> list[DecisionBand]:
        ranks = [_DECISION_ORDER[b.decision] for b in bands]
        if any(b >= a for b, a in zip(ranks, ranks[1:], strict=False)):
            order = [b.decision for b in bands]
            raise ValueError(f"bands must run approve -> review -> decline, each once: {order}")
        by_grade = [b.grades is not None for b in bands]
        if any(by_grade) and not all(by_grade):
            raise ValueError("use either 'max_pd' or 'grades' in every band, not both")
        if all(by_grade):
            grades = info.data.get("grades")
            if grades is None:  # the grades themselves were invalid; reported there
                return bands
            listed = [g for b in bands for g in (b.grades or [])]
            expected = [g.grade for g in grades]
            if listed != expected:
                raise ValueError(
                    f"bands must list every grade once, in grade order {expected}; got {listed}"
                )
        else:
            bounds = [b.max_pd or 0.0 for b in bands]
            if any(b >= a for b, a in zip(bounds, bounds[1:], strict=False)):
                raise ValueError(f"max_pd must increase from approve to decline: {bounds}")
            if bounds[-1] != 1.0:
                raise ValueError(f"the last band must reach max_pd 1.0, not {bounds[-1]}")
        return bands

    # Derived once per policy and read on every decision: cached properties are plain
    # instance attributes after the first read (pydantic private attributes are not).
    @cached_property
    def points_factor(self) -> float:
        """Points per unit of log-odds: PDO / ln 2."""
        return self.scaling.pdo / math.log(2)

    @cached_property
    def points_offset(self) -> float:
        """Points at even odds."""
        return self.scaling.base_score - self.points_factor * math.log(self.scaling.base_odds)

    @cached_property
    def decision_by_grade(self) -> dict[str, str]:
        """Grade → decision when bands are given by grade; empty when by PD."""
        if self.decisions[0].grades is None:
            return {}
        return {g: band.decision for band in self.decisions for g in band.grades or []}


def load_decision_policy(
    path: str | Path | None = None, contract: Contract | None = None
) -> DecisionPolicy:
    """Read a decision policy YAML (the packaged default policy when ``path`` is None);
    with ``contract``, fitted to it (see :func:`fit_policy`)."""
    policy = load_yaml_model(DecisionPolicy, path, default="decisions.yaml", what="decision policy")
    return policy if contract is None else fit_policy(policy, contract)


def fit_policy(policy: DecisionPolicy, contract: Contract) -> DecisionPolicy:
    """The policy for ``contract``: its EAD read from the contract's exposure column unless
    the policy names one; a :class:`ConfigurationError` naming the setting when they do
    not fit."""
    if policy.ead_feature is None and contract.applications.exposure is not None:
        policy = policy.model_copy(update={"ead_feature": contract.applications.exposure})
    validate_policy(policy, contract)
    return policy


def validate_policy(policy: DecisionPolicy, contract: Contract) -> None:
    """Fail with :class:`ConfigurationError` when the policy does not fit the contract."""
    name = policy.ead_feature
    if name is None:
        return
    col = contract.applications.columns.get(name)
    numeric = col is not None and col.type in ("integer", "float")
    if not numeric and name not in contract.derived:
        raise ConfigurationError(
            f"decision policy setting ead_feature '{name}' is not a numeric applications "
            f"column of contract '{contract.name}': name one, or leave it out to use the "
            "contract's applications.exposure",
            field="ead_feature",
        )


def _check_pd(pd: float) -> float:
    value = float(pd)
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise ValueError(f"probability of default must be between 0 and 1, got {pd!r}")
    return value


def score_points(pd: float, policy: DecisionPolicy) -> int:
    """Score points for a PD: higher is safer; doubling the good:bad odds adds ``pdo``."""
    value = min(max(_check_pd(pd), PD_FLOOR), 1.0 - PD_FLOOR)
    score = round(policy.points_offset + policy.points_factor * math.log((1.0 - value) / value))
    scaling = policy.scaling
    if scaling.min_score is not None:
        score = max(score, scaling.min_score)
    if scaling.max_score is not None:
        score = min(score, scaling.max_score)
    return int(score)


def risk_grade(pd: float, policy: DecisionPolicy) -> str:
    """The risk grade whose PD band holds ``pd``."""
    value = _check_pd(pd)
    for band in policy.grades:
        if value <= band.max_pd:
            return band.grade
    return policy.grades[-1].grade


def decide(pd: float, policy: DecisionPolicy) -> str:
    """``approve``, ``review`` or ``decline`` for a PD, by the policy's bands."""
    by_grade = policy.decision_by_grade
    if by_grade:
        return by_grade[risk_grade(pd, policy)]
    value = _check_pd(pd)
    for band in policy.decisions:
        if band.max_pd is not None and value <= band.max_pd:
            return band.decision
    return policy.decisions[-1].decision


def expected_loss(pd: float, ead: float, policy: DecisionPolicy) -> float:
    """PD x LGD x EAD, in the currency of ``ead``."""
    exposure = float(ead)
    if not exposure >= 0.0 or math.isinf(exposure):
        raise ValueError(f"exposure at default must be a non-negative amount, got {ead!r}")
    return _check_pd(pd) * policy.lgd * exposure


def exposure_at_default(application: Mapping[str, Any], policy: DecisionPolicy) -> float | None:
    """The application's exposure at default (its ``ead_feature`` value), or None."""
    if policy.ead_feature is None:
        return None
    value = application.get(policy.ead_feature)
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


class Reason(TypedDict):
    """One principal reason: a feature that pushed the decision towards default."""

    feature: str
    contribution: float
    text: str


def principal_reasons(
    contributions: Mapping[str, float], contract: Contract, policy: DecisionPolicy
) -> list[Reason]:
    """The features that raised the log-odds of default the most, strongest first.

    ``contributions`` maps contract features to their contribution to the log-odds of
    default (one-hot or other expansions summed per feature first). Keys that are not
    contract features, such as a model's bias term, are ignored. Only contributions above
    ``policy.min_reason_contribution`` (and above zero) count; at most
    ``policy.max_reasons`` are returned, each with its plain-language text.
    """
    features = set(contract.features)
    floor = policy.min_reason_contribution
    pushing = [
        (name, float(value))
        for name, value in contributions.items()
        if name in features and value > 0 and value > floor
    ]
    pushing.sort(key=lambda item: (-item[1], item[0]))
    return [
        {"feature": name, "contribution": value, "text": contract.reason_text(name)}
        for name, value in pushing[: policy.max_reasons]
    ]


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything the API returns about one application's risk."""

    probability_of_default: float
    score: int
    grade: str
    decision: str
    expected_loss: float | None
    reasons: list[Reason] = field(default_factory=list)
    policy_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "probability_of_default": self.probability_of_default,
            "score": self.score,
            "grade": self.grade,
            "decision": self.decision,
            "expected_loss": self.expected_loss,
            "reasons": [dict(r) for r in self.reasons],
            "policy_version": self.policy_version,
        }


def make_decision(
    pd: float,
    contributions: Mapping[str, float],
    ead: float | None,
    contract: Contract,
    policy: DecisionPolicy,
) -> Decision:
    """The full decision for one application.

    ``ead`` is the exposure at default (see :func:`exposure_at_default`); without it the
    expected loss is None. The expected loss is rounded to cents.
    """
    value = _check_pd(pd)
    loss = None if ead is None else round(expected_loss(value, ead, policy), 2)
    return Decision(
        probability_of_default=value,
        score=score_points(value, policy),
        grade=risk_grade(value, policy),
        decision=decide(value, policy),
        expected_loss=loss,
        reasons=principal_reasons(contributions, contract, policy),
        policy_version=policy.version,
    )
