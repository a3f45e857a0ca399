"""Feature engineering driven by the contract: application rows in, model inputs out.

Pure code. :func:`build_features` builds a whole batch with pandas (ETL, training);
:func:`build_feature_row` builds one application with plain Python (the API, where pandas
is not loaded). Both read the same contract and give the same numbers, so training and
serving cannot drift apart (a test holds them equal on generated rows).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from credit_risk.contract import Contract
from credit_risk.contract.expressions import Expression, compile_expression

if TYPE_CHECKING:  # pandas is imported inside the batch functions: the API never loads it
    import pandas as pd

_DAYS_PER_MONTH = 30.4375


def months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Whole and fractional months from ``start`` to ``end`` (missing where either is)."""
    import pandas as pd

    start = pd.to_datetime(start, errors="coerce")
    end = pd.to_datetime(end, errors="coerce")
    days = (end - start).dt.days.astype("float64")
    return days / _DAYS_PER_MONTH


def _numeric_frame(contract: Contract, applications: pd.DataFrame) -> pd.DataFrame:
    """Columns the derived expressions may read, as float64 (dates stay dates)."""
    import pandas as pd

    out = {}
    for name, col in contract.applications.columns.items():
        if name not in applications.columns or col.pii:
            continue
        series = applications[name]
        if col.type in ("integer", "float", "boolean"):
            out[name] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif col.type == "date":
            out[name] = pd.to_datetime(series, errors="coerce")
        else:
            out[name] = series
    return pd.DataFrame(out, index=applications.index)


def build_features(contract: Contract, applications: pd.DataFrame) -> pd.DataFrame:
    """Model inputs for each application: ``contract.features`` columns, in that order.

    Numeric features are float64 with NaN for missing or undefined values (a ratio over
    zero); categorical features are Python strings or None.
    """
    import pandas as pd

    base = _numeric_frame(contract, applications)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, feat in contract.derived.items():
            if feat.months_between is not None:
                start, end = feat.months_between
                values = months_between(base[start], base[end])
            else:
                assert feat.expr is not None
                values = base.eval(feat.expr, engine="python")
            values = pd.to_numeric(values, errors="coerce").astype("float64")
            base[name] = values.replace([np.inf, -np.inf], np.nan)
    features = pd.DataFrame(index=applications.index)
    for name in contract.numeric_features:
        features[name] = base[name].astype("float64")
    for name in contract.categorical_features:
        values = applications[name].astype("object")
        features[name] = values.where(pd.notna(values), None)
    return features


# --- one application, without pandas -----------------------------------------------------


def _as_number(value: Any) -> float:
    """A cell as float64 the way ``pd.to_numeric(errors="coerce")`` reads it (nan if not)."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _as_datetime(value: Any) -> datetime | None:
    """A cell as a datetime the way ``pd.to_datetime(errors="coerce")`` reads ISO dates."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class _Step:
    name: str
    expression: Expression | None
    between: tuple[str, str] | None


class FeatureRowBuilder:
    """Builds one application's feature row from a contract, with plain Python.

    Prepared once per contract (expressions compiled, column kinds looked up); calling it
    costs tens of microseconds.
    """

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        columns = contract.applications.columns
        self._numeric = [
            n for n, c in columns.items() if not c.pii and c.type in ("integer", "float", "boolean")
        ]
        self._dates = [n for n, c in columns.items() if not c.pii and c.type == "date"]
        self._steps = [
            _Step(
                name,
                None if feat.expr is None else compile_expression(feat.expr),
                feat.months_between,
            )
            for name, feat in contract.derived.items()
        ]
        self._numeric_features = contract.numeric_features
        self._categorical_features = contract.categorical_features
        self._dependent: dict[frozenset[str], list[_Step]] = {}

    def __call__(self, application: Mapping[str, Any]) -> dict[str, Any]:
        """``contract.features`` for one application: floats (None when missing or
        undefined, such as a ratio over zero) and categories (None when missing)."""
        env: dict[str, float] = {n: _as_number(application.get(n)) for n in self._numeric}
        dates = {n: _as_datetime(application.get(n)) for n in self._dates}
        self._derive(env, dates, self._steps)
        return self._row(env, application)

    def variants(
        self, application: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The feature rows of ``application`` with each of ``changes`` applied (a few
        columns changed to other values): ``[self({**application, **c}) for c in
        changes]``, computed once for the application and then, per change, only for
        the derived features that depend on a changed column."""
        env: dict[str, float] = {n: _as_number(application.get(n)) for n in self._numeric}
        dates = {n: _as_datetime(application.get(n)) for n in self._dates}
        self._derive(env, dates, self._steps)
        numeric, date_columns = set(self._numeric), set(self._dates)
        rows = []
        for change in changes:
            changed_env = dict(env)
            changed_dates = dates
            for name, value in change.items():
                if name in numeric:
                    changed_env[name] = _as_number(value)
                elif name in date_columns:
                    changed_dates = {**changed_dates, name: _as_datetime(value)}
            self._derive(changed_env, changed_dates, self._depending_on(frozenset(change)))
            rows.append(self._row(changed_env, {**application, **change}))
        return rows

    def variant_columns(
        self, application: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """:meth:`variants` column-wise: ``contract.features`` as float64 arrays (NaN where
        a row has None) and lists of categories, the derived features that depend on a
        changed numeric column computed over all changes at once."""
        n = len(changes)
        changed = frozenset(name for change in changes for name in change)
        steps = self._depending_on(changed)
        if not changed <= set(self._numeric) or any(s.between is not None for s in steps):
            rows = self.variants(application, changes)  # a date or a category changes
            return {f: [row[f] for row in rows] for f in self.contract.features}
        env = {c: _as_number(application.get(c)) for c in self._numeric}
        self._derive(env, {c: _as_datetime(application.get(c)) for c in self._dates}, self._steps)
        arrays: dict[str, Any] = dict(env)
        for name in changed:
            column = np.full(n, env[name])
            for i, change in enumerate(changes):
                if name in change:
                    column[i] = _as_number(change[name])
            arrays[name] = column
        for step in steps:
            assert step.expression is not None
            values = step.expression.over_arrays(arrays, n)
            arrays[step.name] = np.where(np.isfinite(values), values, np.nan)
        columns: dict[str, Any] = {}
        for name in self._numeric_features:
            value = arrays[name]
            columns[name] = value if isinstance(value, np.ndarray) else np.full(n, value)
        for name in self._categorical_features:
            category = application.get(name)
            columns[name] = [None if _is_missing(category) else category] * n
        return columns

    def _depending_on(self, changed: frozenset[str]) -> list[_Step]:
        """The derived steps whose value depends, directly or through an earlier derived
        feature, on a column in ``changed`` (in evaluation order)."""
        steps = self._dependent.get(changed)
        if steps is None:
            dirty, steps = set(changed), []
            for step in self._steps:
                inputs = set(step.between) if step.between is not None else set()
                if step.expression is not None:
                    inputs |= step.expression.names
                if inputs & dirty:
                    steps.append(step)
                    dirty.add(step.name)
            self._dependent[changed] = steps
        return steps

    @staticmethod
    def _derive(
        env: dict[str, float], dates: Mapping[str, datetime | None], steps: Sequence[_Step]
    ) -> None:
        for step in steps:
            if step.between is not None:
                start, end = dates.get(step.between[0]), dates.get(step.between[1])
                value = math.nan if start is None or end is None else (end - start).days
                env[step.name] = value / _DAYS_PER_MONTH
            else:
                assert step.expression is not None
                value = step.expression(env)
                env[step.name] = value if math.isfinite(value) else math.nan

    def _row(self, env: Mapping[str, float], application: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name in self._numeric_features:
            value = env[name]
            row[name] = None if math.isnan(value) else value
        for name in self._categorical_features:
            category = application.get(name)
            row[name] = None if _is_missing(category) else category
        return row


_builders: dict[int, FeatureRowBuilder] = {}
_builders_lock = threading.Lock()


def build_feature_row(contract: Contract, application: Mapping[str, Any]) -> dict[str, Any]:
    """Model inputs for one application (a mapping of contract column to value).

    The one-row counterpart of :func:`build_features`, without pandas: the same
    ``contract.features`` keys and the same values, with None where the batch has NaN.
    Dates may be ``date``/``datetime`` objects or ISO strings.
    """
    return _builder(contract)(application)


def build_feature_variants(
    contract: Contract, application: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """:func:`build_feature_row` of ``application`` with each of ``changes`` applied
    (``{**application, **change}``), recomputing per change only what depends on it."""
    return _builder(contract).variants(application, changes)


def build_feature_variant_columns(
    contract: Contract, application: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """:func:`build_feature_variants` column-wise (float64 arrays with NaN for missing
    numbers, lists of categories), for scoring many variants of one application at once."""
    return _builder(contract).variant_columns(application, changes)


def _builder(contract: Contract) -> FeatureRowBuilder:
    builder = _builders.get(id(contract))
    if builder is None or builder.contract is not contract:
        builder = FeatureRowBuilder(contract)
        with _builders_lock:
            if len(_builders) > 16:
                _builders.clear()
            _builders[id(contract)] = builder
    return builder
