"""The training configuration: candidates, their search spaces and selection rules.

The packaged ``models.yaml`` is the default; a user passes another file (or a mapping) to
try other candidates or spaces without touching code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from credit_risk.contract.files import read_yaml_mapping, validate_model
from credit_risk.errors import ConfigurationError

EstimatorKind = Literal["logistic_regression", "xgboost_random_forest", "xgboost", "scorecard"]
ImbalanceKind = Literal["none", "class_weight", "scale_pos_weight", "undersample", "smote"]
CalibrationMethod = Literal["sigmoid", "isotonic", "auto"]

_WEIGHT_OPTION: dict[str, str] = {
    "logistic_regression": "class_weight",
    "xgboost_random_forest": "scale_pos_weight",
    "xgboost": "scale_pos_weight",
    "scorecard": "class_weight",
}


class ImbalanceOption(BaseModel):
    """One way to handle class imbalance, with its sampler parameters if any."""

    model_config = ConfigDict(extra="forbid")

    kind: ImbalanceKind
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short readable name, e.g. ``undersample(sampling_strategy=0.5)``."""
        if not self.params:
            return self.kind
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({inner})"


class CutoffPolicy(BaseModel):
    """How the decision cutoff on PD is chosen for precision, recall, F1 and accuracy."""

    model_config = ConfigDict(extra="forbid")

    policy: Literal["max_f1", "fixed"] = "max_f1"
    pd: float | None = Field(default=None, gt=0, lt=1)

    def model_post_init(self, __context: Any) -> None:
        if self.policy == "fixed" and self.pd is None:
            raise ValueError("a fixed cutoff needs 'pd'")


AUTO_REPEAT_ROWS = 12_500
"""``repeats: auto`` repeats the folds on data sets with fewer rows than this (training part
plus holdout: a training part under about 10,000 rows at the default holdout fraction)."""
AUTO_MIN_FITS = 10
"""``repeats: auto`` on a small data set: enough repeats for at least this many fold fits."""


class CvSettings(BaseModel):
    """Repeated stratified k-fold settings.

    ``repeats: auto`` sizes the repeats to the data: on fewer than :data:`AUTO_REPEAT_ROWS`
    rows, ``ceil(AUTO_MIN_FITS / folds)`` repeats (3 folds: 4 repeats, 12 fits), else 1.
    On a small data set a 3-fold CV AUC moves by a few hundredths with the split alone,
    enough to reorder candidates; averaging over repeats shrinks that split noise (by
    about ``1 / sqrt(repeats)``) at ``repeats`` times the search's fits, which is cheap
    exactly when the data are small."""

    model_config = ConfigDict(extra="forbid")

    folds: int = Field(default=3, ge=2)
    repeats: int | Literal["auto"] = Field(default=1)

    @field_validator("repeats")
    @classmethod
    def _positive_repeats(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("repeats must be at least 1, or 'auto'")
        return value

    def resolve(self, rows: int | None) -> tuple[int, int]:
        """``(folds, repeats)`` for a data set of ``rows`` rows (training part plus
        holdout); ``rows`` is needed only when ``repeats`` is ``auto``."""
        if self.repeats != "auto":
            return self.folds, int(self.repeats)
        if rows is None:
            raise ValueError("cv repeats 'auto' needs the number of training rows")
        if rows < AUTO_REPEAT_ROWS:
            return self.folds, max(1, math.ceil(AUTO_MIN_FITS / self.folds))
        return self.folds, 1


DEFAULT_COMPLEXITY: dict[str, int] = {
    "logistic_regression": 1,
    "xgboost_random_forest": 2,
    "xgboost": 3,
    "scorecard": 1,
}
"""A candidate's complexity when its spec does not say (lower is simpler): what the
champion selection prefers when a more complex model is not significantly better."""


class CandidateSpec(BaseModel):
    """One candidate: estimator, default parameters, search space, imbalance options, and
    its ``complexity`` (lower is simpler; see :class:`SelectionSettings`)."""

    model_config = ConfigDict(extra="forbid")

    estimator: EstimatorKind
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, list[Any]] = Field(default_factory=dict)
    imbalance: list[ImbalanceOption] = Field(
        default_factory=lambda: [ImbalanceOption(kind="none")], min_length=1
    )
    calibration: CalibrationMethod | None = None
    complexity: int = Field(
        default=1,
        ge=0,
        description="How complex the candidate is to explain (lower is simpler): a more "
        "complex one replaces a simpler one only when significantly better.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_complexity(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "complexity" not in value:
            known = DEFAULT_COMPLEXITY.get(str(value.get("estimator")))
            if known is not None:
                return {**value, "complexity": known}
        return value

    @field_validator("imbalance", mode="before")
    @classmethod
    def _options_from_names(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out: list[Any] = []
        for item in value:
            if isinstance(item, str):
                out.append({"kind": item})
            elif isinstance(item, Mapping) and "params" not in item:
                params = {k: v for k, v in item.items() if k != "kind"}
                out.append({"kind": item.get("kind"), "params": params})
            else:
                out.append(item)
        return out

    @field_validator("search")
    @classmethod
    def _non_empty_lists(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, options in value.items():
            if not options:
                raise ValueError(f"search '{name}' has no values")
        return value

    def model_post_init(self, __context: Any) -> None:
        weight = _WEIGHT_OPTION[self.estimator]
        for option in self.imbalance:
            if option.kind in ("class_weight", "scale_pos_weight") and option.kind != weight:
                raise ValueError(
                    f"imbalance '{option.kind}' does not apply to {self.estimator}; use '{weight}'"
                )
            if option.kind in ("none", "class_weight", "scale_pos_weight") and option.params:
                raise ValueError(f"imbalance '{option.kind}' takes no parameters")

    def grid(self) -> list[dict[str, Any]]:
        """Every parameter combination of the search space, merged over the defaults."""
        names = list(self.search)
        combos = itertools.product(*(self.search[n] for n in names)) if names else [()]
        return [{**self.params, **dict(zip(names, combo, strict=True))} for combo in combos]


STACK_NAME = "stack"
"""The name the stacked candidate goes by in results, metrics and the registry."""


class StackSpec(BaseModel):
    """The stacked candidate: a non-negative logistic stack of its members' out-of-fold
    margins (see :mod:`credit_risk.models.training.stacking`)."""

    model_config = ConfigDict(extra="forbid")

    members: list[str] | None = Field(
        default=None,
        description="Candidates it combines (default: every trained candidate whose serving "
        "model shares the common encoding); at least two must be trained.",
    )
    complexity: int = Field(default=4, ge=0)
    l2: float = Field(default=1e-3, ge=0, description="Ridge penalty on the stack weights.")

    @field_validator("members")
    @classmethod
    def _two_members(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) < 2:
            raise ValueError("a stack needs at least two distinct members")
        return value


class SelectionSettings(BaseModel):
    """How the champion is chosen among the trained candidates (and the stack)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Significance level of the holdout DeLong test a more complex single "
        "candidate must pass to replace a simpler one, and of the stack's tests (the "
        "corrected resampled t-test on the CV folds; the holdout DeLong veto).",
    )


class TrainingConfig(BaseModel):
    """The whole training configuration."""

    model_config = ConfigDict(extra="forbid")

    cv: CvSettings = Field(default_factory=CvSettings)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=0.9)
    calibration: CalibrationMethod = "sigmoid"
    cutoff: CutoffPolicy = Field(default_factory=CutoffPolicy)
    importance_rows: int = Field(default=1000, ge=10)
    threads: int | None = Field(default=None, ge=1)
    max_rows: int | None = Field(
        default=None,
        ge=1000,
        description="Most matured loans one training run uses; a larger book is sampled "
        "(stratified by outcome) so that every search item fits one Lambda.",
    )
    candidates: dict[str, CandidateSpec] = Field(min_length=1)
    stack: StackSpec | None = None
    selection: SelectionSettings = Field(default_factory=SelectionSettings)

    @model_validator(mode="after")
    def _stack_members_known(self) -> TrainingConfig:
        if self.stack is not None:
            if STACK_NAME in self.candidates:
                raise ValueError(f"'{STACK_NAME}' is the stacked candidate's name")
            unknown = [n for n in self.stack.members or [] if n not in self.candidates]
            if unknown:
                raise ValueError(f"stack members are not candidates: {', '.join(unknown)}")
        return self

    def model_post_init(self, __context: Any) -> None:
        # A scorecard's points are its calibrated log-odds: only a sigmoid keeps them so.
        for name, spec in self.candidates.items():
            method = spec.calibration or self.calibration
            if spec.estimator == "scorecard" and method != "sigmoid":
                raise ValueError(
                    f"candidate '{name}': a scorecard needs calibration 'sigmoid' (its points "
                    f"map to PD through the logistic link), not '{method}'"
                )

    def candidate(self, name: str) -> CandidateSpec:
        """The spec of one candidate, or a clear error naming the known ones."""
        if name not in self.candidates:
            known = ", ".join(self.candidates)
            raise ConfigurationError(f"unknown candidate '{name}'; configured: {known}")
        return self.candidates[name]

    def calibration_for(self, name: str) -> CalibrationMethod:
        """The calibration method of a candidate (its own, else the default)."""
        return self.candidate(name).calibration or self.calibration


def load_training_config(
    source: str | Path | Mapping[str, Any] | TrainingConfig | None = None,
) -> TrainingConfig:
    """Read the training configuration; the packaged ``models.yaml`` when ``source`` is None.

    ``source`` may be a path to a YAML file, an already parsed mapping, or a config.
    """
    if isinstance(source, TrainingConfig):
        return source
    if isinstance(source, Mapping):
        raw, where = dict(source), "training config"
    else:
        raw, where = read_yaml_mapping(
            source,
            default="models.yaml",
            what="training config",
        )
    flat = {**dict(raw.get("defaults") or {}), **{k: v for k, v in raw.items() if k != "defaults"}}
    return validate_model(TrainingConfig, flat, where)
