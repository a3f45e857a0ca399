"""The lean form of a WoE-binned logistic scorecard: bins and points as plain numbers.

A scorecard gives every application a number of points per characteristic (model
input), from the bin its value falls in; the total maps to a PD through the logistic
link of the points-to-double-odds scaling::

    log-odds of default = (offset - total points) / factor,   PD = 1 / (1 + exp(-that))

The calibration the trainer fitted is folded into the points, so the table alone gives
the PD. Each characteristic's columns in the encoded design, in order:

- numeric: one bin per interval of ``splits`` (bin ``i`` holds ``splits[i-1] <= x <
  splits[i]``, the first from minus infinity, the last to plus infinity), then the
  special bin (values equal to one of ``special_codes``) and the missing bin;
- categorical: one bin per group of categories, then the special and missing bins, then
  the bin of a category no training row had (``unknown``).

A characteristic's reason weight is the points it lost against its best bin (the most
points any bin that held training rows gives), so the reasons of a decision are the
characteristics that cost the most points. This module imports numpy only: it is what
the API serves, while the binning itself is fitted with optbinning at training time only
(:mod:`credit_risk.models.training.scorecard`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

CharacteristicKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Characteristic:
    """One model input's bins, each bin's weight of evidence and points.

    ``woe``, ``points`` and ``counts`` run over every bin in design order (regular bins,
    special, missing, and for a categorical one the unknown category); ``labels`` name
    them for the points table."""

    name: str
    kind: CharacteristicKind
    points: tuple[float, ...]
    woe: tuple[float, ...]
    counts: tuple[int, ...]
    splits: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    special_codes: tuple[float | str, ...] = ()

    def __post_init__(self) -> None:
        regular = len(self.splits) + 1 if self.kind == "numeric" else len(self.groups)
        width = regular + (2 if self.kind == "numeric" else 3)
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"characteristic '{self.name}': unknown kind '{self.kind}'")
        if not (len(self.points) == len(self.woe) == len(self.counts) == width):
            raise ValueError(
                f"characteristic '{self.name}' needs {width} points, WoE values and counts"
            )
        if any(b <= a for a, b in zip(self.splits, self.splits[1:], strict=False)):
            raise ValueError(f"characteristic '{self.name}': splits must increase")
        if self.kind == "categorical" and not self.groups:
            raise ValueError(f"characteristic '{self.name}' has no category group")
        if not any(c > 0 for c in self.counts):
            raise ValueError(f"characteristic '{self.name}': no bin held a training row")

    @property
    def width(self) -> int:
        """How many design columns (bins) it has."""
        return len(self.points)

    @property
    def regular(self) -> int:
        """How many bins hold ordinary values (intervals or category groups)."""
        return len(self.splits) + 1 if self.kind == "numeric" else len(self.groups)

    @property
    def best_points(self) -> float:
        """The most points any bin that held training rows gives."""
        return max(p for p, c in zip(self.points, self.counts, strict=True) if c > 0)

    @property
    def labels(self) -> list[str]:
        """A readable name per bin: ``[a, b)``, ``{x, y}``, special, missing, unknown."""
        if self.kind == "numeric":
            edges = [-math.inf, *self.splits, math.inf]
            names = [f"[{_num(lo)}, {_num(hi)})" for lo, hi in zip(edges, edges[1:], strict=False)]
            return [*names, "special", "missing"]
        names = ["{" + ", ".join(group) + "}" for group in self.groups]
        return [*names, "special", "missing", "unknown category"]

    def bins_of(self, values: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
        """The bin (column within this characteristic) of each of ``n`` values; numeric
        values come as floats with NaN for a missing one."""
        if self.kind == "numeric":
            return self._numeric_bins(values, n)
        lookup = {c: i for i, group in enumerate(self.groups) for c in group}
        special = {str(c) for c in self.special_codes}
        out = np.empty(n, dtype=np.intp)
        raw = [None] * n if values is None else values
        for i, value in enumerate(raw):
            if _is_missing(value):
                out[i] = self.regular + 1
            elif str(value) in special:
                out[i] = self.regular
            else:
                out[i] = lookup.get(str(value), self.regular + 2)
        return out

    def _numeric_bins(self, values: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
        x = np.full(n, np.nan) if values is None else np.asarray(values, dtype=np.float64)
        out = np.digitize(np.nan_to_num(x, nan=0.0), np.asarray(self.splits, dtype=np.float64))
        out = out.astype(np.intp)
        if self.special_codes:
            out[np.isin(x, np.asarray(self.special_codes, dtype=np.float64))] = self.regular
        out[np.isnan(x)] = self.regular + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {
            "name": self.name,
            "kind": self.kind,
            "splits": [float(s) for s in self.splits],
            "groups": [list(g) for g in self.groups],
            "special_codes": list(self.special_codes),
            "woe": [float(w) for w in self.woe],
            "points": [float(p) for p in self.points],
            "counts": [int(c) for c in self.counts],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Characteristic:
        """The inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            kind=data["kind"],
            splits=tuple(float(s) for s in data.get("splits", ())),
            groups=tuple(tuple(str(c) for c in g) for g in data.get("groups", ())),
            special_codes=tuple(data.get("special_codes", ())),
            woe=tuple(float(w) for w in data["woe"]),
            points=tuple(float(p) for p in data["points"]),
            counts=tuple(int(c) for c in data["counts"]),
        )


@dataclass(frozen=True)
class PointsTable:
    """Every characteristic's bins and points, and the scaling that turns points to PD.

    ``factor`` is points per unit of log-odds (PDO / ln 2) and ``offset`` the points at
    even odds; ``base_score``, ``base_odds`` and ``pdo`` record where they came from."""

    characteristics: tuple[Characteristic, ...]
    factor: float
    offset: float
    base_score: float
    base_odds: float
    pdo: float

    def __post_init__(self) -> None:
        if not self.characteristics:
            raise ValueError("a points table needs at least one characteristic")
        if not self.factor > 0:
            raise ValueError("the points factor must be positive")

    @property
    def names(self) -> list[str]:
        """Characteristic names in design order."""
        return [c.name for c in self.characteristics]

    @property
    def width(self) -> int:
        """Width of the one-hot bin design."""
        return sum(c.width for c in self.characteristics)

    def column_feature(self) -> list[int]:
        """For each design column, the position of its characteristic."""
        return [i for i, c in enumerate(self.characteristics) for _ in range(c.width)]

    def column_names(self) -> list[str]:
        """``name: bin label`` per design column."""
        return [f"{c.name}: {label}" for c in self.characteristics for label in c.labels]

    def points_vector(self) -> np.ndarray:
        """The points of every design column."""
        return np.asarray([p for c in self.characteristics for p in c.points], dtype=np.float64)

    def best_vector(self) -> np.ndarray:
        """Each characteristic's best points, in characteristic order."""
        return np.asarray([c.best_points for c in self.characteristics], dtype=np.float64)

    def encode(self, columns: Mapping[str, Sequence[Any] | np.ndarray], n: int) -> np.ndarray:
        """The one-hot bin design for ``n`` rows given column-wise."""
        design = np.zeros((n, self.width), dtype=np.float64)
        rows = np.arange(n)
        offset = 0
        for c in self.characteristics:
            design[rows, offset + c.bins_of(columns.get(c.name), n)] = 1.0
            offset += c.width
        return design

    def points_of(self, design: np.ndarray) -> np.ndarray:
        """Total points of each encoded row."""
        return np.einsum("ij,j->i", design, self.points_vector())

    def pd_of_points(self, points: np.ndarray) -> np.ndarray:
        """PD from total points through the logistic link of the scaling."""
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-(self.offset - np.asarray(points)) / self.factor))

    def rows(self) -> list[dict[str, Any]]:
        """The points table: one row per bin (characteristic, bin, count, WoE, points)."""
        return [
            {
                "characteristic": c.name,
                "bin": label,
                "count": count,
                "woe": woe,
                "points": points,
            }
            for c in self.characteristics
            for label, count, woe, points in zip(c.labels, c.counts, c.woe, c.points, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {
            "factor": float(self.factor),
            "offset": float(self.offset),
            "base_score": float(self.base_score),
            "base_odds": float(self.base_odds),
            "pdo": float(self.pdo),
            "characteristics": [c.to_dict() for c in self.characteristics],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointsTable:
        """The inverse of :meth:`to_dict`."""
        return cls(
            characteristics=tuple(Characteristic.from_dict(c) for c in data["characteristics"]),
            factor=float(data["factor"]),
            offset=float(data["offset"]),
            base_score=float(data["base_score"]),
            base_odds=float(data["base_odds"]),
            pdo=float(data["pdo"]),
        )


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or type(value).__name__ == "NAType"
    )


def _num(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"
