"""Validating a landed file's rows against the dataset contract, cell by cell."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_risk.contract import ColumnSpec, DatasetSpec
from credit_risk.errors import FileUnreadableError


@dataclass
class Violation:
    """One broken rule in one cell: the quarantine record for a bad row. ``value`` is
    None for a personal column: a reason names the row, column and rule, never personal
    data."""

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
        # Only contract names are quoted: a file without a header has data in its first
        # line, and that may be personal.
        named = [c for c in duplicated if c in spec.columns]
        others = len(duplicated) - len(named)
        listed = ", ".join(named + ([f"{others} other name(s)"] if others else []))
        raise FileUnreadableError(f"header repeats columns: {listed}")
    return [c for c in columns if c not in spec.columns]


def _as_text(raw: pd.Series) -> pd.Series:
    text = raw.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def _to_numbers(text: pd.Series) -> pd.Series:
    """Parse numbers: Arrow's vectorised cast when every cell parses (the usual case),
    pandas' cell-by-cell coercion otherwise."""
    try:
        parsed = pc.cast(pa.array(text, from_pandas=True), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pd.to_numeric(text, errors="coerce")
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _to_dates(text: pd.Series) -> pd.Series:
    """Parse ISO dates: a vectorised yyyy-mm-dd pass, then pandas for anything else."""
    parsed = pc.strptime(
        pa.array(text, from_pandas=True), format="%Y-%m-%d", unit="s", error_is_null=True
    )
    values = pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index)
    values = pd.to_datetime(values)
    rest = text.notna() & values.isna()
    if rest.any():
        others = pd.to_datetime(text[rest], errors="coerce", format="ISO8601")
        values = values.astype("datetime64[us]")
        values[rest] = others.dt.tz_localize(None).astype("datetime64[us]")
    return values


def _coerce(name: str, col: ColumnSpec, raw: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    """Convert one raw column; return values, a mask of unparseable cells and the rule."""
    text = _as_text(raw)
    present = text.notna()
    if col.type in ("integer", "float"):
        values = _to_numbers(text)
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
        values = _to_dates(text).dt.normalize()
        return values, present & values.isna(), "not an ISO date"
    return text, pd.Series(False, index=raw.index), ""


_RUN_HASHES = 1 << 20
"""Hashes in one sorted run of a file's earlier unique values (8 MiB)."""


def _in_sorted(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in the sorted array ``sorted_unique`` (a binary search
    each: no copy of the large array)."""
    if not len(sorted_unique):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_unique, values)
    return sorted_unique[np.minimum(at, len(sorted_unique) - 1)] == values


def _seen_before(hashes: np.ndarray, runs: list[np.ndarray]) -> np.ndarray:
    """Which of ``hashes`` are in any of the sorted ``runs``."""
    found = np.zeros(len(hashes), dtype=bool)
    for run in runs:
        found |= _in_sorted(hashes, run)
    return found


def _remember(runs: list[np.ndarray], hashes: np.ndarray) -> None:
    """Add ``hashes`` to the sorted ``runs``: into the last run while it is short, else
    as a new run. Memory is 8 bytes a value plus one run's copy, never a copy of them all
    (a file's hashes grow part by part; re-sorting them all each time would not keep up)."""
    new = np.unique(hashes)
    new = new[~_seen_before(new, runs)]
    if runs and len(runs[-1]) < _RUN_HASHES:
        last = runs[-1]
        runs[-1] = np.insert(last, np.searchsorted(last, new), new)
    else:
        runs.append(new)


def validate_frame(
    spec: DatasetSpec,
    raw: pd.DataFrame,
    *,
    first_row_number: int = 1,
    seen: dict[str, list[np.ndarray]] | None = None,
) -> ValidatedFrame:
    """Check every cell of ``raw`` against ``spec``.

    Returns the rows that pass, typed, plus a violation for every broken rule. Row numbers
    count data rows from ``first_row_number`` (1 = the first row after the header). A file
    validated in parts passes the same ``seen`` to every part: the 64-bit hashes of the
    unique columns' earlier values (sorted runs per column, 8 bytes a value), so a value
    repeated across parts is a duplicate too.
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
        if spec.columns[column].pii or spec.columns[column].protected:
            violations.extend(
                Violation(int(rows[i]), column, None, rule) for i in np.flatnonzero(mask)
            )
            return
        raw_values = raw[column].to_numpy(dtype=object)
        for i in np.flatnonzero(mask):
            value = raw_values[i]
            text = (
                None
                if value is None or (isinstance(value, float) and np.isnan(value))
                else str(value)
            )
            violations.append(Violation(int(rows[i]), column, text, rule))

    for name, col in spec.columns.items():
        values, unparseable, rule = _coerce(name, col, raw[name])
        record(name, unparseable.fillna(False), rule)
        values = values.mask(unparseable.fillna(False).to_numpy())
        if not col.nullable:
            record(name, values.isna() & ~unparseable.fillna(False), "required value is missing")
        if col.min is not None:
            low = (
                (values < col.min).fillna(False)
                if col.type != "date"
                else pd.Series(False, index=values.index)
            )
            record(name, low, f"below minimum {col.min:g}")
        if col.max is not None and col.type != "date":
            record(name, (values > col.max).fillna(False), f"above maximum {col.max:g}")
        if col.categories is not None:
            outside = values.notna() & ~values.isin(col.categories)
            record(name, outside.fillna(False), f"not one of: {', '.join(col.categories)}")
        if col.unique:
            dup = values.notna() & values.duplicated(keep="first")
            if seen is not None:
                present = values.notna().to_numpy(dtype=bool)
                hashes = pd.util.hash_array(values.astype("string").fillna("").to_numpy(object))
                runs = seen.setdefault(name, [])
                dup |= pd.Series(_seen_before(hashes, runs) & present, index=values.index)
                _remember(runs, hashes[present])
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
