"""The dataset contract: what a credit team's files look like and how to read them.

A contract is a YAML file with two datasets, ``applications`` (known at application time)
and ``outcomes`` (what happened to each loan later). Everything downstream, validation,
staging tables, features, training and scoring, is driven by it, so a lender with other
columns writes a contract and runs the same pipeline.

This module is pure: it imports neither boto3 nor SQLAlchemy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credit_risk.errors import ContractError, FileUnreadableError

ColumnType = Literal["string", "integer", "float", "date", "category", "boolean"]
DATASETS = ("applications", "outcomes")
# Not after a digit or dot, so the exponent of a constant such as 1e-3 is not a name.
_IDENTIFIER = re.compile(r"(?<![0-9.])[A-Za-z_][A-Za-z0-9_]*")


class ColumnSpec(BaseModel):
    """One column: its type, what values are allowed and what role it plays."""

    model_config = ConfigDict(extra="forbid")

    type: ColumnType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    unique: bool = False
    pii: bool = False
    feature: bool = False
    known_at_application: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _categories_for_categoricals(self) -> ColumnSpec:
        if self.type == "category" and not self.categories:
            raise ValueError("a category column needs a non-empty 'categories' list")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class DatasetSpec(BaseModel):
    """One dataset (file family): its columns and which of them are keys."""

    model_config = ConfigDict(extra="forbid")

    id: str
    customer_key: str | None = None
    event_date: str | None = None
    target: str | None = None
    columns: dict[str, ColumnSpec]

    @model_validator(mode="after")
    def _keys_are_columns(self) -> DatasetSpec:
        for role in ("id", "customer_key", "event_date", "target"):
            name = getattr(self, role)
            if name is not None and name not in self.columns:
                raise ValueError(f"{role} '{name}' is not a declared column")
        return self

    @property
    def pii_columns(self) -> list[str]:
        """Columns holding personal data, which never reach analytics raw."""
        return [n for n, c in self.columns.items() if c.pii]


class DerivedFeature(BaseModel):
    """A feature computed from other columns.

    ``expr`` is an arithmetic expression over columns (``a * 12 / b``); ``months_between``
    takes two date columns ``[start, end]``. Division by zero gives a missing value.
    """

    model_config = ConfigDict(extra="forbid")

    expr: str | None = None
    months_between: tuple[str, str] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _exactly_one_op(self) -> DerivedFeature:
        if (self.expr is None) == (self.months_between is None):
            raise ValueError("give exactly one of 'expr' or 'months_between'")
        return self

    def inputs(self) -> set[str]:
        """The column names this feature reads."""
        if self.months_between is not None:
            return set(self.months_between)
        assert self.expr is not None
        return set(_IDENTIFIER.findall(self.expr))


class Maturity(BaseModel):
    """When an outcome counts as a label: defaulted, or observed for the whole window."""

    model_config = ConfigDict(extra="forbid")

    observed_until: str
    window_months: int = Field(default=12, ge=1)


class Contract(BaseModel):
    """A whole dataset contract."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = 1
    applications: DatasetSpec
    outcomes: DatasetSpec
    maturity: Maturity
    derived: dict[str, DerivedFeature] = Field(default_factory=dict)
    reason_texts: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        apps, outs = self.applications, self.outcomes
        if outs.target is None:
            raise ValueError("outcomes needs a 'target' column")
        if apps.event_date is None:
            raise ValueError("applications needs an 'event_date' column")
        if outs.id != apps.id:
            raise ValueError(
                f"outcomes id '{outs.id}' must be the applications id '{apps.id}' to join"
            )
        if self.maturity.observed_until not in outs.columns:
            raise ValueError(f"maturity.observed_until '{self.maturity.observed_until}' is not an outcomes column")
        for name, col in apps.columns.items():
            if col.feature and not col.known_at_application:
                raise ValueError(
                    f"column '{name}' is not known at application time and cannot be a feature"
                )
            if col.feature and col.pii:
                raise ValueError(f"column '{name}' is personal data and cannot be a feature")
        known = {n for n, c in apps.columns.items() if c.known_at_application and not c.pii}
        earlier: set[str] = set()  # features are built in order: read only earlier ones
        for name, feat in self.derived.items():
            if name in apps.columns:
                raise ValueError(f"derived feature '{name}' shadows a column")
            missing = feat.inputs() - known - earlier
            if missing:
                raise ValueError(
                    f"derived feature '{name}' reads {sorted(missing)}, which are not "
                    "application-time, non-personal columns or earlier derived features"
                )
            earlier.add(name)
        return self

    def dataset(self, name: str) -> DatasetSpec:
        """The spec of ``applications`` or ``outcomes``."""
        if name not in DATASETS:
            raise ContractError(f"unknown dataset '{name}'; expected one of {', '.join(DATASETS)}")
        spec: DatasetSpec = getattr(self, name)
        return spec

    @property
    def numeric_features(self) -> list[str]:
        """Model inputs that are numbers: numeric feature columns, then derived features."""
        cols = [
            n
            for n, c in self.applications.columns.items()
            if c.feature and c.type in ("integer", "float", "boolean")
        ]
        return cols + list(self.derived)

    @property
    def categorical_features(self) -> list[str]:
        """Model inputs that are categories."""
        return [
            n
            for n, c in self.applications.columns.items()
            if c.feature and c.type in ("category", "string")
        ]

    @property
    def features(self) -> list[str]:
        """All model inputs, numeric first."""
        return self.numeric_features + self.categorical_features

    def reason_text(self, feature: str) -> str:
        """Plain-language text for a feature that pushed a decision towards default."""
        return self.reason_texts.get(feature, f"{feature.replace('_', ' ').capitalize()}")


def load_contract(path: str | Path | None = None) -> Contract:
    """Read a contract YAML; the packaged default contract when ``path`` is None."""
    if path is None:
        text = resources.files("credit_risk.contracts").joinpath("default.yaml").read_text()
        source = "default contract"
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ContractError(f"cannot read contract {path}: {exc.strerror}") from exc
        source = str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{source} is not valid YAML: {exc}") from exc
    try:
        return Contract.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ContractError(f"{source}: {where}: {first['msg']}") from exc


@dataclass
class Violation:
    """One broken rule in one cell: the quarantine record for a bad row."""

    row_number: int
    column: str
    value: str | None
    rule: str


@dataclass
class ValidatedFrame:
    """The outcome of validating a raw frame: typed good rows and every violation."""

    good: pd.DataFrame
    violations: list[Violation] = field(default_factory=list)
    bad_row_numbers: list[int] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def check_header(spec: DatasetSpec, columns: list[str], dataset: str) -> list[str]:
    """Fail on a header missing contract columns; return the extra columns to ignore."""
    missing = [c for c in spec.columns if c not in columns]
    if missing:
        raise FileUnreadableError(
            f"header of {dataset} file is missing contract columns: {', '.join(missing)}"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise FileUnreadableError(f"header repeats columns: {', '.join(duplicated)}")
    return [c for c in columns if c not in spec.columns]


def _as_text(raw: pd.Series) -> pd.Series:
    text = raw.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def _coerce(name: str, col: ColumnSpec, raw: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    """Convert one raw column; return values, a mask of unparseable cells and the rule."""
    text = _as_text(raw)
    present = text.notna()
    if col.type in ("integer", "float"):
        values = pd.to_numeric(text, errors="coerce")
        bad = present & values.isna()
        if col.type == "integer":
            frac = values.notna() & (values != np.floor(values.fillna(0)))
            bad |= frac
            values = values.mask(frac).astype("Float64").round().astype("Int64")
        else:
            values = values.astype("Float64")
        return values, bad, f"not a{'n integer' if col.type == 'integer' else ' number'}"
    if col.type == "boolean":
        lowered = text.str.lower()
        mapping = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        values = lowered.map(mapping).astype("boolean")
        return values, present & values.isna(), "not a boolean"
    if col.type == "date":
        values = pd.to_datetime(text, errors="coerce", format="ISO8601").dt.tz_localize(None)
        values = values.dt.normalize()
        return values, present & values.isna(), "not an ISO date"
    return text, pd.Series(False, index=raw.index), ""


def validate_frame(spec: DatasetSpec, raw: pd.DataFrame, *, first_row_number: int = 1) -> ValidatedFrame:
    """Check every cell of ``raw`` against ``spec``.

    Returns the rows that pass, typed, plus a violation for every broken rule. Row numbers
    count data rows from ``first_row_number`` (1 = the first row after the header).
    """
    ignored = [c for c in raw.columns if c not in spec.columns]
    rows = pd.RangeIndex(first_row_number, first_row_number + len(raw))
    raw = raw.reset_index(drop=True)
    typed: dict[str, pd.Series] = {}
    bad_any = np.zeros(len(raw), dtype=bool)
    violations: list[Violation] = []

    def record(column: str, mask: pd.Series | np.ndarray, rule: str) -> None:
        nonlocal bad_any
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        bad_any |= mask
        raw_values = raw[column].to_numpy(dtype=object)
        for i in np.flatnonzero(mask):
            value = raw_values[i]
            text = None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
            violations.append(Violation(int(rows[i]), column, text, rule))

    for name, col in spec.columns.items():
        values, unparseable, rule = _coerce(name, col, raw[name])
        record(name, unparseable.fillna(False), rule)
        values = values.mask(unparseable.fillna(False).to_numpy())
        if not col.nullable:
            record(name, values.isna() & ~unparseable.fillna(False), "required value is missing")
        if col.min is not None:
            low = (values < col.min).fillna(False) if col.type != "date" else pd.Series(False, index=values.index)
            record(name, low, f"below minimum {col.min:g}")
        if col.max is not None and col.type != "date":
            record(name, (values > col.max).fillna(False), f"above maximum {col.max:g}")
        if col.categories is not None:
            outside = values.notna() & ~values.isin(col.categories)
            record(name, outside.fillna(False), f"not one of: {', '.join(col.categories)}")
        if col.unique:
            dup = values.notna() & values.duplicated(keep="first")
            record(name, dup.fillna(False), "duplicate value in file")
        typed[name] = values

    good = pd.DataFrame(typed)
    good.insert(0, "_row_number", np.asarray(rows, dtype=np.int64))
    good = good.loc[~bad_any].reset_index(drop=True)
    violations.sort(key=lambda v: (v.row_number, v.column))
    return ValidatedFrame(
        good=good,
        violations=violations,
        bad_row_numbers=[int(r) for r in np.asarray(rows)[bad_any]],
        ignored_columns=ignored,
    )
