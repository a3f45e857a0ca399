"""The data-quality gate: declarative checks on a batch, with a report an operator can read.

Each check has a name (``null_share[bureau_score]``), a kind and a severity. A failed
``critical`` check stops the pipeline; a failed ``warning`` is recorded in the report.
Thresholds come from a YAML file (the packaged ``defaults/quality.yaml`` by default), and
every column-level check is driven by the dataset contract, so nothing here knows the
synthetic lender's columns.

This module is pure: it imports neither boto3 nor SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict, Field, model_validator

from credit_risk.contract import ColumnSpec, Contract
from credit_risk.contract.files import load_yaml_model
from credit_risk.data.drift import as_floats, psi, psi_band, psi_categorical
from credit_risk.errors import QualityGateFailedError

Severity = Literal["critical", "warning"]
CheckKind = Literal[
    "min_rows",
    "schema",
    "id_unique",
    "referential_integrity",
    "label_rate",
    "null_share",
    "range",
    "drift",
]
KINDS: tuple[str, ...] = get_args(CheckKind)

_EXAMPLES = 3


# --------------------------------------------------------------------------- config


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: Severity = "critical"
    enabled: bool = True


class MinRowsCheck(_Check):
    """A batch needs at least this many rows for its statistics to mean anything."""

    applications: int = Field(default=100, ge=0)
    outcomes: int = Field(default=100, ge=0)


class SchemaCheck(_Check):
    """Columns present with the dtypes the contract implies."""


class IdUniqueCheck(_Check):
    """The dataset's id column has no duplicate and no missing value."""


class NullShareCheck(_Check):
    """Largest allowed share of missing values, overall and per column."""

    max_share: float = Field(default=0.2, ge=0, le=1)
    columns: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shares_are_shares(self) -> NullShareCheck:
        for name, share in self.columns.items():
            if not 0 <= share <= 1:
                raise ValueError(f"columns.{name}: {share} is not a share between 0 and 1")
        return self

    def limit(self, column: str) -> float:
        """The threshold for one column."""
        return self.columns.get(column, self.max_share)


class ReferentialIntegrityCheck(_Check):
    """Largest allowed share of outcomes whose id is not a known application."""

    max_orphan_share: float = Field(default=0.0, ge=0, le=1)


class LabelRateCheck(_Check):
    """Bounds on the share of defaults among outcomes."""

    min: float = Field(default=0.01, ge=0, le=1)
    max: float = Field(default=0.6, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LabelRateCheck:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class RangeCheck(_Check):
    """Largest allowed share of values outside the contract's bounds or categories."""

    max_share: float = Field(default=0.0, ge=0, le=1)


class DriftCheck(_Check):
    """Largest allowed population stability index of a column against a reference."""

    severity: Severity = "warning"
    max_psi: float = Field(default=0.25, gt=0)
    bins: int = Field(default=10, ge=2, le=100)


class QualityConfig(BaseModel):
    """Every check's severity and threshold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    version: int = 1
    min_rows: MinRowsCheck = Field(default_factory=MinRowsCheck)
    schema_: SchemaCheck = Field(default_factory=SchemaCheck, alias="schema")
    id_unique: IdUniqueCheck = Field(default_factory=IdUniqueCheck)
    null_share: NullShareCheck = Field(default_factory=NullShareCheck)
    referential_integrity: ReferentialIntegrityCheck = Field(
        default_factory=ReferentialIntegrityCheck
    )
    label_rate: LabelRateCheck = Field(default_factory=LabelRateCheck)
    range: RangeCheck = Field(default_factory=RangeCheck)
    drift: DriftCheck = Field(default_factory=DriftCheck)

    def check(self, kind: str) -> _Check:
        """The settings of one kind of check."""
        rule: _Check = getattr(self, "schema_" if kind == "schema" else kind)
        return rule


def load_quality_config(path: str | Path | None = None) -> QualityConfig:
    """Read a quality-gate YAML; the packaged defaults when ``path`` is None."""
    return load_yaml_model(QualityConfig, path, default="quality.yaml", what="quality config")


@cache
def _default_config() -> QualityConfig:
    return load_quality_config()


# --------------------------------------------------------------------------- results


def _fmt(value: Any) -> str:
    """A number as an operator reads it: 0.41, 1000, 0.0031."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)
    if np.isnan(number):
        return "nan"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if abs(number) >= 100:
        return f"{number:.1f}"
    return f"{number:.3g}"


def _plain(value: Any) -> Any:
    """A JSON-able version of a number or list of numbers (NaN becomes None)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    number = float(value)
    return None if np.isnan(number) else number


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one batch."""

    name: str
    kind: str
    severity: Severity
    passed: bool
    observed: float | int | None
    threshold: float | int | list[float] | None
    message: str
    column: str | None = None

    @property
    def limit(self) -> str:
        """The threshold with its direction: ``<= 0.2``, ``>= 100``, ``in [0.01, 0.6]``."""
        if self.threshold is None:
            return "-"
        if isinstance(self.threshold, list):
            return f"in {_fmt(self.threshold)}"
        op = ">=" if self.kind == "min_rows" else "<="
        return f"{op} {_fmt(self.threshold)}"

    def brief(self) -> str:
        """One short phrase: ``null_share[bureau_score] 0.41 > 0.2``."""
        if self.kind == "schema" or self.observed is None or self.threshold is None:
            return f"{self.name}: {self.message}"
        if isinstance(self.threshold, list):
            relation = "outside" if not self.passed else "within"
            return f"{self.name} {_fmt(self.observed)} {relation} {_fmt(self.threshold)}"
        if self.kind == "min_rows":
            op = "<" if not self.passed else ">="
        else:
            op = ">" if not self.passed else "<="
        return f"{self.name} {_fmt(self.observed)} {op} {_fmt(self.threshold)}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity,
            "passed": bool(self.passed),
            "observed": _plain(self.observed),
            "threshold": _plain(self.threshold),
            "message": self.message,
            "column": self.column,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """Rebuild a result from :meth:`to_dict` output."""
        return cls(
            name=data["name"],
            kind=data["kind"],
            severity=data["severity"],
            passed=data["passed"],
            observed=data.get("observed"),
            threshold=data.get("threshold"),
            message=data.get("message", ""),
            column=data.get("column"),
        )


@dataclass
class QualityReport:
    """Every check's result for one dataset batch."""

    dataset: str
    contract_name: str
    rows: int
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no critical check failed (warnings do not stop a pipeline)."""
        return not self.critical_failures

    @property
    def critical_failures(self) -> list[CheckResult]:
        """Failed checks whose severity is critical."""
        return [r for r in self.results if not r.passed and r.severity == "critical"]

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed checks whose severity is warning."""
        return [r for r in self.results if not r.passed and r.severity == "warning"]

    def summary(self) -> str:
        """One line: what failed, with the numbers."""
        critical, warnings = self.critical_failures, self.warnings
        parts = []
        if critical:
            noun = "check" if len(critical) == 1 else "checks"
            parts.append(
                f"{len(critical)} critical {noun} failed: " + "; ".join(r.brief() for r in critical)
            )
        if warnings:
            noun = "warning" if len(warnings) == 1 else "warnings"
            parts.append(f"{len(warnings)} {noun}: " + "; ".join(r.brief() for r in warnings))
        if not parts:
            return f"all {len(self.results)} checks passed on {self.rows:,} {self.dataset} rows"
        return " | ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict, as stored with the pipeline run."""
        return {
            "dataset": self.dataset,
            "contract": self.contract_name,
            "rows": int(self.rows),
            "passed": self.passed,
            "summary": self.summary(),
            "critical_failures": len(self.critical_failures),
            "warnings": len(self.warnings),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(
            dataset=data["dataset"],
            contract_name=data["contract"],
            rows=int(data["rows"]),
            results=[CheckResult.from_dict(r) for r in data["results"]],
        )

    def to_text(self, *, verbose: bool = False) -> str:
        """A one-screen table for a terminal: failures in full, then each kind at a glance.

        With ``verbose`` every check gets its own row.
        """
        status = "PASSED" if self.passed else "FAILED"
        lines = [
            f"Data quality {status}: {self.dataset}, {self.rows:,} rows "
            f"(contract {self.contract_name})",
            self.summary(),
            "",
        ]
        shown = self.results if verbose else [r for r in self.results if not r.passed]
        if shown:
            rows = [("STATUS", "CHECK", "OBSERVED", "LIMIT", "MESSAGE")]
            for r in shown:
                state = "ok" if r.passed else r.severity.upper()
                rows.append((state, r.name, _fmt(r.observed), r.limit, r.message))
            lines += _table(rows, right_aligned={2})
            lines.append("")
        overview = [("KIND", "CHECKS", "FAILED", "WORST")]
        for kind in KINDS:
            of_kind = [r for r in self.results if r.kind == kind]
            if not of_kind:
                continue
            failed = sum(not r.passed for r in of_kind)
            overview.append((kind, str(len(of_kind)), str(failed), _worst(of_kind).brief()))
        lines += _table(overview, right_aligned={1, 2})
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`QualityGateFailedError` carrying this report when the gate fails."""
        if not self.passed:
            raise QualityGateFailedError(self.summary(), report=self.to_dict())


def _worst(results: list[CheckResult]) -> CheckResult:
    """The result closest to (or furthest past) its threshold."""

    def badness(r: CheckResult) -> tuple[int, float]:
        if r.observed is None:
            return (2, 0.0)
        observed = float(r.observed)
        if np.isnan(observed):
            return (2, 0.0)
        if r.kind == "min_rows":
            return (int(not r.passed), -observed)
        if isinstance(r.threshold, list):
            low, high = r.threshold
            return (int(not r.passed), max(low - observed, observed - high))
        return (int(not r.passed), observed - float(r.threshold or 0))

    return max(results, key=badness)


def _table(rows: Sequence[Sequence[str]], *, right_aligned: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right_aligned else cell.ljust(widths[i])
            for i, cell in enumerate(row[:-1])
        ]
        out.append(("  " + "  ".join(cells) + "  " + row[-1]).rstrip())
    return out


# --------------------------------------------------------------------------- checks


def _expected_kind(col: ColumnSpec) -> str:
    return "string" if col.type == "category" else col.type


def _expected_columns(contract: Contract, dataset: str) -> dict[str, str]:
    """Column name -> the kind of dtype it must have in the frame the gate receives."""
    spec = contract.dataset(dataset)
    if dataset == "applications":
        expected = {spec.id: _expected_kind(spec.columns[spec.id])}
        expected.update({name: "float" for name in contract.numeric_features})
        expected.update({name: "string" for name in contract.categorical_features})
        return expected
    return {name: _expected_kind(col) for name, col in spec.columns.items()}


def _dtype_ok(series: pd.Series, kind: str) -> bool:
    dtype = series.dtype
    if kind == "string":
        return bool(
            ptypes.is_object_dtype(dtype)
            or ptypes.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        )
    if kind == "date":
        return bool(ptypes.is_datetime64_any_dtype(dtype))
    if kind == "boolean":
        return bool(ptypes.is_bool_dtype(dtype))
    numeric = ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype)
    if kind == "integer" and numeric and not ptypes.is_integer_dtype(dtype):
        values = as_floats(series)
        values = values[~np.isnan(values)]
        return bool(np.all(values == np.round(values)))
    return bool(numeric)


def _dtype_name(kind: str) -> str:
    return {"float": "numeric", "string": "text or category"}.get(kind, kind)


def _examples(values: Iterable[Any]) -> str:
    shown = [str(v) for v in list(values)[:_EXAMPLES]]
    return ", ".join(shown)


class _Gate:
    """Runs the checks of one batch, collecting results."""

    def __init__(
        self, contract: Contract, dataset: str, frame: pd.DataFrame, config: QualityConfig
    ):
        self.contract = contract
        self.dataset = dataset
        self.spec = contract.dataset(dataset)
        self.frame = frame
        self.config = config
        self.results: list[CheckResult] = []
        self.rows = len(frame)
        self.unusable: set[str] = set()

    def enabled(self, kind: str) -> bool:
        return self.config.check(kind).enabled

    def add(
        self,
        kind: str,
        passed: bool,
        observed: float | int | None,
        threshold: float | int | list[float] | None,
        message: str,
        column: str | None = None,
    ) -> None:
        name = f"{kind}[{column}]" if column else kind
        severity = self.config.check(kind).severity
        self.results.append(
            CheckResult(name, kind, severity, bool(passed), observed, threshold, message, column)
        )

    @property
    def checked_columns(self) -> list[str]:
        """Columns that null-share and drift look at: model inputs, or the target."""
        if self.dataset == "applications":
            names = self.contract.features
        else:
            assert self.spec.target is not None
            names = [self.spec.target]
        return [n for n in names if n in self.frame.columns and n not in self.unusable]

    def min_rows(self) -> None:
        rule = self.config.min_rows
        minimum = rule.applications if self.dataset == "applications" else rule.outcomes
        passed = self.rows >= minimum
        verdict = "at least" if passed else "fewer than the"
        self.add(
            "min_rows",
            passed,
            self.rows,
            minimum,
            f"{self.rows:,} rows, {verdict} {minimum:,} required",
        )

    def schema(self) -> None:
        problems = []
        for name, kind in _expected_columns(self.contract, self.dataset).items():
            if name not in self.frame.columns:
                problems.append(f"missing column {name}")
                self.unusable.add(name)
            elif not _dtype_ok(self.frame[name], kind):
                problems.append(
                    f"{name} has dtype {self.frame[name].dtype}, expected {_dtype_name(kind)}"
                )
                self.unusable.add(name)
        message = "; ".join(problems) if problems else "all contract columns present and typed"
        self.add("schema", not problems, len(problems), 0, message)

    def id_unique(self) -> None:
        name = self.spec.id
        if name not in self.frame.columns:
            return
        ids = self.frame[name]
        missing = int(ids.isna().sum())
        duplicated = ids.notna() & ids.duplicated(keep="first")
        count = int(duplicated.sum())
        problems = count + missing
        message = f"{name}: {count:,} duplicate values, {missing:,} missing"
        if count:
            message += f" (e.g. {_examples(ids[duplicated].unique())})"
        self.add("id_unique", problems == 0, problems, 0, message, name)

    def referential_integrity(self, known_ids: set[str]) -> None:
        name = self.spec.id
        if name not in self.frame.columns:
            return
        rule = self.config.referential_integrity
        ids = self.frame[name].dropna().astype(str)
        orphan = ~ids.isin(known_ids)
        count = int(orphan.sum())
        share = count / len(ids) if len(ids) else 0.0
        message = (
            f"{name}: {count:,} of {len(ids):,} outcomes ({share:.1%}) name no known application"
        )
        if count:
            message += f" (e.g. {_examples(ids[orphan].unique())})"
        passed = share <= rule.max_orphan_share
        self.add("referential_integrity", passed, share, rule.max_orphan_share, message, name)

    def label_rate(self) -> None:
        target = self.spec.target
        if target is None or target not in self.frame.columns or target in self.unusable:
            return
        rule = self.config.label_rate
        labels = as_floats(self.spec.labels(self.frame[target]))
        labels = labels[~np.isnan(labels)]
        bounds = [rule.min, rule.max]
        if labels.size == 0:
            self.add("label_rate", False, None, bounds, f"{target}: no labels to count", target)
            return
        rate = float(labels.mean())
        passed = rule.min <= rate <= rule.max
        verdict = "within" if passed else "outside"
        message = (
            f"{target}: default rate {rate:.1%} ({int(labels.sum()):,} of {labels.size:,}), "
            f"{verdict} {rule.min:.1%}-{rule.max:.1%}"
        )
        self.add("label_rate", passed, rate, bounds, message, target)

    def null_share(self) -> None:
        rule = self.config.null_share
        for name in self.checked_columns:
            missing = int(self.frame[name].isna().sum())
            share = missing / self.rows if self.rows else 0.0
            limit = rule.limit(name)
            passed = share <= limit
            verdict = "within" if passed else "above"
            message = (
                f"{name}: {share:.1%} missing ({missing:,} of {self.rows:,} rows), "
                f"{verdict} the {limit:.1%} allowed"
            )
            self.add("null_share", passed, share, limit, message, name)

    def ranges(self) -> None:
        rule = self.config.range
        for name in self.checked_columns:
            col = self.spec.columns.get(name)
            if col is None or col.type == "date":
                continue
            values = self.frame[name]
            present = values.notna()
            total = int(present.sum())
            if col.categories is not None:
                outside = present & ~values.astype(object).isin(col.categories)
                allowed = f"one of {len(col.categories)} categories"
                examples = values[outside].astype(str).unique()
            elif col.min is not None or col.max is not None:
                numbers = pd.Series(as_floats(values), index=values.index)
                low = numbers < col.min if col.min is not None else False
                high = numbers > col.max if col.max is not None else False
                outside = present & (low | high)
                lo = _fmt(col.min) if col.min is not None else "-inf"
                hi = _fmt(col.max) if col.max is not None else "inf"
                allowed = f"[{lo}, {hi}]"
                examples = [_fmt(v) for v in numbers[outside].unique()]
            else:
                continue
            count = int(outside.sum())
            share = count / total if total else 0.0
            message = f"{name}: {count:,} of {total:,} values ({share:.1%}) outside {allowed}"
            if count:
                message += f" (e.g. {_examples(examples)})"
            self.add("range", share <= rule.max_share, share, rule.max_share, message, name)

    def drift(self, reference: pd.DataFrame) -> None:
        rule = self.config.drift
        numeric = set(self.contract.numeric_features) if self.dataset == "applications" else set()
        for name in self.checked_columns:
            if name not in reference.columns or len(reference) == 0 or self.rows == 0:
                continue
            if name in numeric:
                value = psi(reference[name], self.frame[name], bins=rule.bins)
            else:
                value = psi_categorical(reference[name], self.frame[name])
            passed = value <= rule.max_psi
            message = (
                f"{name}: PSI {value:.3f} against the reference ({psi_band(value)}), "
                f"{'within' if passed else 'above'} {_fmt(rule.max_psi)}"
            )
            self.add("drift", passed, value, rule.max_psi, message, name)


def run_checks(
    contract: Contract,
    dataset: str,
    frame: pd.DataFrame,
    *,
    config: QualityConfig | None = None,
    reference: pd.DataFrame | None = None,
    known_ids: set[str] | None = None,
) -> QualityReport:
    """Run every enabled check on one batch and report.

    ``frame`` is, for ``applications``, the feature frame (``build_features`` output) plus
    the id column; for ``outcomes``, the typed outcomes frame. Drift runs only with a
    ``reference`` frame of the same shape, and referential integrity (outcomes only) only
    with ``known_ids``, the application ids the outcomes may refer to.
    """
    config = config if config is not None else _default_config()
    gate = _Gate(contract, dataset, frame, config)
    if gate.enabled("min_rows"):
        gate.min_rows()
    if gate.enabled("schema"):
        gate.schema()
    if gate.enabled("id_unique"):
        gate.id_unique()
    if dataset == "outcomes":
        if known_ids is not None and gate.enabled("referential_integrity"):
            gate.referential_integrity(known_ids)
        if gate.enabled("label_rate"):
            gate.label_rate()
    if gate.enabled("null_share"):
        gate.null_share()
    if gate.enabled("range"):
        gate.ranges()
    if reference is not None and gate.enabled("drift"):
        gate.drift(reference)
    return QualityReport(
        dataset=dataset, contract_name=contract.name, rows=gate.rows, results=gate.results
    )
