"""Scoring in columns: a chunk of loans decided at once, as arrays, written with Arrow.

The re-score state machine scores a whole book in chunks of thousands of loans. A chunk
never becomes a Python dict per row: the features arrive as an Arrow table, and
encoding, PD, the top reasons, score points, grade, decision and expected loss are numpy
operations over the whole chunk; the result is an Arrow table again (Parquet for S3,
CSV for Postgres COPY).

Same numbers as the one-row path (:func:`credit_risk.decisions.scoring.decide_rows`): the
design matrix is built with the same arithmetic, margins and contributions come from the
same :meth:`LeanModel.contributions_of`, and score, grade, decision and expected loss
follow :mod:`credit_risk.decisions.policy` operation for operation (a test holds them
equal on thousands of rows for a linear and a tree champion).

Rows that cannot be scored are *refused*, each with a reason naming the column and the
rule (never the value): a missing key, a value outside the contract, an exposure that is
negative, a model that gave no probability.

Pure: no boto3, no SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_risk.contract import Contract
from credit_risk.decisions.policy import PD_FLOOR, DecisionPolicy
from credit_risk.decisions.scoring import LoadedModel

ID = "application_id"
KEY = "customer_key"
SCORE_COLUMNS = (
    ID,
    KEY,
    "probability_of_default",
    "score",
    "grade",
    "decision",
    "expected_loss",
    "reasons",
    "model_version",
)
"""The decision columns of a scored chunk, in ``ml.scores`` order."""

type Column = np.ndarray | pa.Array | pa.ChunkedArray


@dataclass(frozen=True)
class ChunkDecisions:
    """What a chunk came to: the scored rows and the refused rows with their reasons."""

    scored: pa.Table
    refused: pa.Table

    @property
    def rows_in(self) -> int:
        """Rows the chunk was given: scored plus refused."""
        return self.scored.num_rows + self.refused.num_rows


def _as_array(values: Column) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, from_pandas=True)


def _floats(values: Column | None, n: int) -> np.ndarray:
    """A numeric column as float64 with NaN for missing values."""
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    array = _as_array(values)
    if not pa.types.is_floating(array.type):
        array = pc.cast(array, pa.float64())
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _strings(values: Column | None, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, pa.string())
    array = _as_array(values)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    return array


class ColumnarScorer:
    """Decides chunks with one loaded model, contract and policy (prepared once)."""

    def __init__(self, loaded: LoadedModel, contract: Contract, policy: DecisionPolicy) -> None:
        self.loaded = loaded
        self.contract = contract
        self.policy = policy
        model = loaded.model
        self._numeric = list(model.numeric)
        self._medians = np.asarray(model.medians, dtype=np.float64)
        self._indicators = np.asarray(
            [model.numeric.index(f) for f in model.indicators], dtype=np.intp
        )
        self._center = None if model.center is None else np.asarray(model.center, np.float64)
        self._scale = None if model.scale is None else np.asarray(model.scale, np.float64)
        dense = len(model.numeric) + len(model.indicators)
        self._offsets = np.cumsum([dense] + [len(c) for c in model.categories]).tolist()
        # Category lookups: the known values, and the column of "missing" when training saw
        # missing values (otherwise a missing value encodes as all zeros).
        self._category_values = [
            pa.array([c for c in cats if c is not None]) for cats in model.categories
        ]
        self._category_columns = [
            np.asarray([i for i, c in enumerate(cats) if c is not None], dtype=np.intp)
            for cats in model.categories
        ]
        self._missing_column = [
            cats.index(None) if None in cats else -1 for cats in model.categories
        ]
        self._prepare_reasons()
        bounds = [g.max_pd for g in policy.grades]
        self._grade_bounds = np.asarray(bounds, dtype=np.float64)
        self._grades = np.asarray([g.grade for g in policy.grades], dtype=object)
        by_grade = policy.decision_by_grade
        if by_grade:
            self._decision_bounds = self._grade_bounds
            self._decisions = np.asarray([by_grade[g.grade] for g in policy.grades], dtype=object)
        else:
            self._decision_bounds = np.asarray(
                [b.max_pd or 1.0 for b in policy.decisions], dtype=np.float64
            )
            self._decisions = np.asarray([b.decision for b in policy.decisions], dtype=object)

    # --- encoding ----------------------------------------------------------------------

    def encode(self, columns: Mapping[str, Column], n_rows: int) -> np.ndarray:
        """The design matrix of :meth:`LeanModel.encode` for features given as columns."""
        model = self.loaded.model
        if model.encodes_itself:
            # A scorecard's design is its bins, a stack of such members' their designs side
            # by side: the lean model encodes the same values.
            binned = {
                f: _floats(columns.get(f), n_rows)
                if f in self._numeric
                else _strings(columns.get(f), n_rows).to_numpy(zero_copy_only=False)
                for f in model.features
            }
            return model.encode_columns(binned, n_rows=n_rows)
        design = np.zeros((n_rows, model.n_columns), dtype=np.float64)
        if self._numeric:
            values = np.column_stack([_floats(columns.get(f), n_rows) for f in self._numeric])
            missing = np.isnan(values)
            dense = np.where(missing, self._medians, values)
            if len(self._indicators):
                dense = np.hstack([dense, missing[:, self._indicators].astype(np.float64)])
            if self._center is not None and self._scale is not None:
                dense = (dense - self._center) / self._scale
            design[:, : dense.shape[1]] = dense
        rows = np.arange(n_rows)
        for j, name in enumerate(model.categorical):
            text = _strings(columns.get(name), n_rows)
            found = pc.index_in(text, value_set=self._category_values[j])
            codes = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.float64)
            known = ~np.isnan(codes)
            offset = self._offsets[j]
            design[
                rows[known], offset + self._category_columns[j][codes[known].astype(np.intp)]
            ] = 1.0
            if self._missing_column[j] >= 0:
                absent = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool)
                design[rows[absent], offset + self._missing_column[j]] = 1.0
        return design

    # --- refusals ----------------------------------------------------------------------

    def refusals(self, table: pa.Table) -> list[tuple[np.ndarray, str]]:
        """(rows, reason) for every rule a row of ``table`` breaks before scoring."""
        n = table.num_rows
        found: list[tuple[np.ndarray, str]] = []

        def null(name: str) -> np.ndarray:
            if name not in table.column_names:
                return np.ones(n, dtype=bool)
            return np.asarray(pc.is_null(table[name]).to_numpy(zero_copy_only=False), dtype=bool)

        found.append((null(ID), f"{ID}: required value is missing"))
        found.append((null(KEY), f"{KEY}: required value is missing"))
        columns = self.contract.applications.columns
        for name in self.contract.numeric_features:
            values = _floats(table[name] if name in table.column_names else None, n)
            spec = columns.get(name)
            found.append((np.isinf(values), f"{name}: not a finite number"))
            if spec is None:
                continue
            if not spec.nullable:
                found.append((np.isnan(values), f"{name}: required value is missing"))
            with np.errstate(invalid="ignore"):
                if spec.min is not None:
                    found.append((values < spec.min, f"{name}: below minimum {spec.min:g}"))
                if spec.max is not None:
                    found.append((values > spec.max, f"{name}: above maximum {spec.max:g}"))
        for name in self.contract.categorical_features:
            spec = columns[name]
            text = _strings(table[name] if name in table.column_names else None, n)
            absent = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool)
            if not spec.nullable:
                found.append((absent, f"{name}: required value is missing"))
            if spec.categories is not None:
                known = pc.is_in(text, value_set=pa.array(spec.categories))
                outside = ~np.asarray(known.to_numpy(zero_copy_only=False), dtype=bool) & ~absent
                found.append((outside, f"{name}: not one of: {', '.join(spec.categories)}"))
        ead = self.policy.ead_feature
        if ead is not None and ead in table.column_names:
            exposure = _floats(table[ead], n)
            with np.errstate(invalid="ignore"):
                unusable = (exposure < 0) | np.isinf(exposure)
            found.append((unusable, f"{ead}: exposure at default is not a non-negative amount"))
        return [(mask, reason) for mask, reason in found if mask.any()]

    # --- decisions ---------------------------------------------------------------------

    def decide(self, table: pa.Table) -> ChunkDecisions:
        """Score every row of ``table`` that can be scored; refuse the rest with reasons.

        ``table`` holds ``application_id``, ``customer_key``, the model's features and
        the policy's exposure column.
        """
        n = table.num_rows
        broken = self.refusals(table)
        bad = np.zeros(n, dtype=bool)
        for mask, _ in broken:
            bad |= mask
        keep = np.flatnonzero(~bad)
        good = table.take(pa.array(keep)) if bad.any() else table
        model = self.loaded.model
        columns = {f: good[f] for f in model.features if f in good.column_names}
        design = self.encode(columns, good.num_rows)
        margins, contributions, _ = model.contributions_of(design)
        pds = np.asarray(model.calibration(margins), dtype=np.float64)
        no_pd = ~((pds >= 0.0) & (pds <= 1.0))  # also true for NaN
        if no_pd.any():
            late = np.zeros(n, dtype=bool)
            late[keep[no_pd]] = True
            broken.append((late, "the model gave no probability of default"))
            bad |= late
            ok = np.flatnonzero(~no_pd)
            keep, good = keep[ok], good.take(pa.array(ok))
            pds, contributions = pds[ok], contributions[ok]
        scored = self._scored(good, pds, contributions)
        return ChunkDecisions(scored=scored, refused=_refused(table, bad, broken))

    def _scored(self, good: pa.Table, pds: np.ndarray, contributions: np.ndarray) -> pa.Table:
        policy = self.policy
        value = np.clip(pds, PD_FLOOR, 1.0 - PD_FLOOR)
        raw = policy.points_offset + policy.points_factor * np.log((1.0 - value) / value)
        score = np.round(raw)  # half to even, as Python's round()
        if policy.scaling.min_score is not None:
            score = np.maximum(score, policy.scaling.min_score)
        if policy.scaling.max_score is not None:
            score = np.minimum(score, policy.scaling.max_score)
        grade_at = np.minimum(
            np.searchsorted(self._grade_bounds, pds, side="left"), len(self._grades) - 1
        )
        decision_at = np.minimum(
            np.searchsorted(self._decision_bounds, pds, side="left"), len(self._decisions) - 1
        )
        ead = policy.ead_feature
        loss: pa.Array
        if ead is not None and ead in good.column_names:
            exposure = _floats(good[ead], good.num_rows)
            loss = pa.array(_round_cents(pds * policy.lgd * exposure), mask=np.isnan(exposure))
        else:
            loss = pa.nulls(good.num_rows, pa.float64())
        return pa.table(
            {
                ID: _strings(good[ID], good.num_rows),
                KEY: _strings(good[KEY], good.num_rows),
                "probability_of_default": pa.array(pds),
                "score": pa.array(score.astype(np.int64)),
                "grade": pa.array(self._grades[grade_at], type=pa.string()),
                "decision": pa.array(self._decisions[decision_at], type=pa.string()),
                "expected_loss": loss,
                "reasons": self._reasons_json(contributions),
                "model_version": pa.repeat(
                    pa.scalar(self.loaded.version.version, pa.string()), good.num_rows
                ),
            }
        )

    # --- reasons -----------------------------------------------------------------------

    def _prepare_reasons(self) -> None:
        features = self.loaded.model.features
        eligible = [i for i, f in enumerate(features) if f in set(self.contract.features)]
        # Columns in name order, so that a stable order by value breaks ties by name.
        self._reason_columns = np.asarray(sorted(eligible, key=lambda i: features[i]), np.intp)
        names = [features[i] for i in self._reason_columns]
        self._reason_heads = pa.array(
            [f'{{"feature": {json.dumps(n)}, "contribution": ' for n in names]
        )
        self._reason_tails = pa.array(
            [f', "text": {json.dumps(self.contract.reason_text(n))}}}' for n in names]
        )

    def _reasons_json(self, contributions: np.ndarray) -> pa.Array:
        """Each row's principal reasons as the JSON text ``ml.scores.reasons`` holds."""
        n = contributions.shape[0]
        k = self.policy.max_reasons
        ranked = contributions[:, self._reason_columns]  # a copy, in name order
        ranked[ranked <= max(self.policy.min_reason_contribution, 0.0)] = -np.inf
        order, top = top_reasons(ranked, k)
        # One text piece per (row, reason), in row order, then joined per row as a list.
        valid = np.isfinite(top)
        index = pa.array(order[valid])
        pieces = pc.binary_join_element_wise(
            pc.take(self._reason_heads, index),
            pc.cast(pa.array(top[valid]), pa.string()),
            pc.take(self._reason_tails, index),
            "",
        )
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(valid.sum(axis=1), out=offsets[1:])
        lists = pa.ListArray.from_arrays(pa.array(offsets), pieces)
        return pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")


def top_reasons(ranked: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest values of each row, largest first, ties to the lower column.

    ``ranked`` holds one row per loan and ``-inf`` where a column may not be a reason.
    Returns the column positions and their values, shaped ``(rows, min(k, columns))``.
    ``argpartition`` finds the top ``k`` in linear time; the few rows where a tie straddles
    the cut are ordered by a full stable sort, so the result equals sorting by
    ``(-value, column)``.
    """
    n, width = ranked.shape
    k = min(k, width)
    if k == 0:
        return np.zeros((n, 0), np.intp), np.zeros((n, 0))
    if k == width:
        order = np.argsort(-ranked, axis=1, kind="stable")
    else:
        negated = -ranked
        part = np.argpartition(negated, k - 1, axis=1)[:, :k]
        picked = np.take_along_axis(negated, part, axis=1)
        inner = np.lexsort((part, picked), axis=1)
        order = np.take_along_axis(part, inner, axis=1)
        # A value equal to the k-th that was left out means the cut fell inside a tie.
        kth = np.take_along_axis(negated, order[:, -1:], axis=1)
        rest = np.sum(negated <= kth, axis=1) > k
        tied = rest & np.isfinite(kth[:, 0])
        if tied.any():
            order[tied] = np.argsort(negated[tied], axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(ranked, order, axis=1)


def _round_cents(values: np.ndarray) -> np.ndarray:
    """``round(v, 2)`` for each value, as Python rounds (the exact decimal value, half to
    even): numpy's ``round`` scales by 100 first, which moves a few halves."""
    out = np.round(values, 2)
    scaled = values * 100.0
    with np.errstate(invalid="ignore"):
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(near_half):
        out[i] = round(float(values[i]), 2)
    return out


def _refused(table: pa.Table, bad: np.ndarray, broken: list[tuple[np.ndarray, str]]) -> pa.Table:
    rows = np.flatnonzero(bad)
    reasons: list[list[str]] = [[] for _ in rows]
    position = {int(r): i for i, r in enumerate(rows)}
    for mask, reason in broken:
        for r in np.flatnonzero(mask):
            reasons[position[int(r)]].append(reason)
    ids = (
        _strings(table[ID], table.num_rows).take(pa.array(rows))
        if ID in table.column_names
        else pa.nulls(len(rows), pa.string())
    )
    numbers = (
        pc.take(table["row_number"], pa.array(rows))
        if "row_number" in table.column_names
        else pa.nulls(len(rows), pa.int64())
    )
    return pa.table(
        {
            ID: ids,
            "row_number": pc.cast(numbers, pa.int64()),
            "reason": pa.array(["; ".join(r) for r in reasons], type=pa.string()),
        }
    )


def summarise_reasons(refused: pa.Table) -> dict[str, int]:
    """How many refused rows each rule accounts for (a row may break several)."""
    counts: dict[str, int] = {}
    for text in refused["reason"].to_pylist():
        for reason in str(text).split("; "):
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
