"""The dataset contract: what a credit team's files look like and how to read them.

A contract is a YAML file with two datasets, ``applications`` (known at application time)
and ``outcomes`` (what happened to each loan later). Everything downstream, validation,
staging tables, features, training and scoring, is driven by it, so a lender with other
columns writes a contract and runs the same pipeline.

This module is pure and light: no boto3, SQLAlchemy, numpy or pandas, so the API can
read a contract without loading the data stack. Validating frames against it lives in
:mod:`credit_risk.data.validation`.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from credit_risk.contract.files import load_yaml_model
from credit_risk.errors import ContractError

ColumnType = Literal["string", "integer", "float", "date", "category", "boolean"]
Monotone = Literal["increasing", "decreasing"]
"""A declared direction of risk: ``increasing`` means the PD must not decrease as the
value grows, ``decreasing`` that it must not increase."""
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
    monotone: Monotone | None = None
    protected: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _categories_for_categoricals(self) -> ColumnSpec:
        if self.type == "category" and not self.categories:
            raise ValueError("a category column needs a non-empty 'categories' list")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Actionable(BaseModel):
    """A loan term an applicant could change to get approved (a counterfactual): which way,
    by what step or to which values, within what bounds."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["decrease", "increase", "any"] = "any"
    step: float | None = Field(default=None, gt=0)
    values: list[float] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _step_or_values(self) -> Actionable:
        if (self.step is None) == (self.values is None):
            raise ValueError("give exactly one of 'step' or 'values'")
        return self


class DatasetSpec(BaseModel):
    """One dataset (file family): its columns and which of them are keys."""

    model_config = ConfigDict(extra="forbid")

    id: str
    customer_key: str | None = None
    event_date: str | None = None
    target: str | None = None
    positive: list[str] | None = Field(
        default=None,
        description="The target's values that mean a default (e.g. [bad]); without it the "
        "target must be 0/1.",
    )
    exposure: str | None = Field(
        default=None,
        description="The numeric column that is the exposure at default (the amount lent); "
        "expected loss is PD x LGD x this.",
    )
    columns: dict[str, ColumnSpec]

    @model_validator(mode="after")
    def _keys_are_columns(self) -> DatasetSpec:
        for role in ("id", "customer_key", "event_date", "target", "exposure"):
            name = getattr(self, role)
            if name is not None and name not in self.columns:
                raise ValueError(f"{role} '{name}' is not a declared column")
        if self.exposure is not None and self.columns[self.exposure].type not in (
            "integer",
            "float",
        ):
            raise ValueError(f"exposure '{self.exposure}' must be an integer or float column")
        return self

    def labels(self, values: Any) -> Any:
        """The target column (a pandas Series) as 1 (default) / 0, through ``positive``
        when the contract maps the target's values; a missing value stays missing."""
        if self.positive is None:
            return values
        wanted = {str(v) for v in self.positive}
        mapped = values.astype(str).isin(wanted).astype(float)
        return mapped.where(values.notna())

    @property
    def pii_columns(self) -> list[str]:
        """Columns holding personal data, which never reach analytics raw."""
        return [n for n, c in self.columns.items() if c.pii]

    @property
    def protected_columns(self) -> list[str]:
        """Protected attributes (age band, group): never a model input, stored
        pseudonymised, used only to measure fairness."""
        return [n for n, c in self.columns.items() if c.protected]


class DerivedFeature(BaseModel):
    """A feature computed from other columns.

    ``expr`` is an arithmetic expression over columns (``a * 12 / b``); ``months_between``
    takes two date columns ``[start, end]``. Division by zero gives a missing value.
    """

    model_config = ConfigDict(extra="forbid")

    expr: str | None = None
    months_between: tuple[str, str] | None = None
    monotone: Monotone | None = None
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
    """When an outcome counts as a label: once the loan was observed for the whole window.

    ``window_months: 0`` takes every outcome as final as given (a file cut after every
    loan ended, such as a research dataset); ``observed_until`` is then the event date."""

    model_config = ConfigDict(extra="forbid")

    observed_until: str
    window_months: int = Field(default=12, ge=0)


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
    loan_terms: list[str] = Field(
        default_factory=list,
        description="Application columns a client may set when an existing customer asks "
        "for a new loan (amount, term, rate, purpose); the rest comes from the customer's "
        "latest application.",
    )
    actionable: dict[str, Actionable] = Field(
        default_factory=dict,
        description="Numeric loan terms a declined applicant may be told to change "
        "(counterfactuals), each with its direction and step or values.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        apps, outs = self.applications, self.outcomes
        if outs.target is None:
            raise ValueError("outcomes needs a 'target' column")
        target = outs.columns[outs.target]
        if outs.positive is None and target.type not in ("integer", "boolean"):
            raise ValueError(
                f"outcomes target '{outs.target}' is a {target.type} column: say which of its "
                "values mean a default with 'positive' (e.g. positive: [bad]), or make it 0/1"
            )
        if outs.positive is not None and target.categories is not None:
            unknown = sorted(set(outs.positive) - set(target.categories))
            if unknown:
                raise ValueError(f"positive {unknown} are not categories of '{outs.target}'")
        if apps.event_date is None:
            raise ValueError("applications needs an 'event_date' column")
        if outs.id != apps.id:
            raise ValueError(
                f"outcomes id '{outs.id}' must be the applications id '{apps.id}' to join"
            )
        if self.maturity.observed_until not in outs.columns:
            raise ValueError(
                f"maturity.observed_until '{self.maturity.observed_until}' "
                "is not an outcomes column"
            )
        for name, col in apps.columns.items():
            if col.feature and not col.known_at_application:
                raise ValueError(
                    f"column '{name}' is not known at application time and cannot be a feature"
                )
            if col.feature and col.pii:
                raise ValueError(f"column '{name}' is personal data and cannot be a feature")
            if col.monotone is not None and not (col.feature and col.type in ("integer", "float")):
                raise ValueError(
                    f"column '{name}' declares monotone '{col.monotone}' but only a numeric "
                    "(integer or float) feature column can"
                )
        _check_protected(self)
        known = {
            n
            for n, c in apps.columns.items()
            if c.known_at_application and not c.pii and not c.protected
        }
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
        keys = {apps.id, apps.customer_key, apps.event_date}
        for name in self.loan_terms:
            term = apps.columns.get(name)
            if term is None or term.pii or not term.known_at_application or name in keys:
                raise ValueError(
                    f"loan term '{name}' must be a non-personal, application-time "
                    "applications column other than the id, customer key and event date"
                )
        for name in self.actionable:
            term = apps.columns.get(name)
            if name not in self.loan_terms or term is None or term.type not in ("integer", "float"):
                raise ValueError(
                    f"actionable '{name}' must be a numeric column listed in loan_terms"
                )
        return self

    def dataset(self, name: str) -> DatasetSpec:
        """The spec of ``applications`` or ``outcomes``."""
        if name not in DATASETS:
            raise ContractError(f"unknown dataset '{name}'; expected one of {', '.join(DATASETS)}")
        spec: DatasetSpec = getattr(self, name)
        return spec

    @cached_property
    def numeric_features(self) -> list[str]:
        """Model inputs that are numbers: numeric feature columns, then derived features."""
        cols = [
            n
            for n, c in self.applications.columns.items()
            if c.feature and c.type in ("integer", "float", "boolean")
        ]
        return cols + list(self.derived)

    @cached_property
    def monotone(self) -> dict[str, Monotone]:
        """The declared direction of risk of each monotone model input, by name."""
        declared: dict[str, Monotone] = {
            n: c.monotone for n, c in self.applications.columns.items() if c.monotone
        }
        declared.update({n: d.monotone for n, d in self.derived.items() if d.monotone})
        return declared

    @cached_property
    def categorical_features(self) -> list[str]:
        """Model inputs that are categories."""
        return [
            n
            for n, c in self.applications.columns.items()
            if c.feature and c.type in ("category", "string")
        ]

    @cached_property
    def features(self) -> list[str]:
        """All model inputs, numeric first."""
        return self.numeric_features + self.categorical_features

    @cached_property
    def input_columns(self) -> list[str]:
        """Non-personal application columns that are not model features themselves but
        that derived features read (rates, balances, dates): kept in analytics so a
        feature row can be rebuilt when a loan's terms change."""
        spec = self.applications
        keys = {spec.id, spec.customer_key, spec.event_date}
        features = set(self.features)
        return [
            n
            for n, c in spec.columns.items()
            if not c.pii
            and not c.protected
            and c.known_at_application
            and n not in keys
            and n not in features
        ]

    def reason_text(self, feature: str) -> str:
        """Plain-language text for a feature that pushed a decision towards default."""
        return self.reason_texts.get(feature, f"{feature.replace('_', ' ').capitalize()}")


def _check_protected(contract: Contract) -> None:
    """A protected attribute is a category column that no model input may read: not a
    feature, not read by a derived feature, not a loan term, not a key (and not in
    outcomes, which are not known when the decision is made)."""
    apps = contract.applications
    for name, col in contract.outcomes.columns.items():
        if col.protected:
            raise ValueError(
                f"column '{name}' is protected: declare it in applications, not outcomes"
            )
    keys = {apps.id, apps.customer_key, apps.event_date, apps.exposure}
    for name in apps.protected_columns:
        col = apps.columns[name]
        if col.feature:
            raise ValueError(
                f"column '{name}' is protected and cannot be a feature (a model must not "
                "read a protected attribute)"
            )
        if col.type != "category":
            raise ValueError(
                f"column '{name}' is protected but a {col.type} column: a protected "
                "attribute must be a category column listing its groups"
            )
        if name in keys or name in contract.loan_terms:
            raise ValueError(
                f"column '{name}' is protected and cannot be a key, the exposure or a loan term"
            )
        readers = sorted(d for d, feat in contract.derived.items() if name in feat.inputs())
        if readers:
            raise ValueError(
                f"column '{name}' is protected and cannot be read by derived features {readers}"
            )


def load_contract(path: str | Path | None = None) -> Contract:
    """Read a contract YAML; the packaged default contract when ``path`` is None."""
    return load_yaml_model(
        Contract, path, default="contract.yaml", what="contract", error=ContractError
    )
