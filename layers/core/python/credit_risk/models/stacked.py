"""The stacked serving model: members' lean models and the weights that combine them.

A stack's margin is a weighted sum of its members' raw margins (log-odds before their own
calibration), ``margin = sum_i w_i * margin_i``, with non-negative weights learnt by a
logistic regression on the members' out-of-fold margins; its PD is
``1 / (1 + exp(-(margin + intercept)))``. Because the combination is linear, its reasons
are exact: each feature's contribution is the weighted sum of the members' exact
contributions (coefficient times distance from the mean for a linear member, TreeSHAP for
a tree member), and ``base + sum(contributions) == margin`` as for any lean model.

Every member was fitted on the same training rows through the same ``prepare`` step, so
they share one encoding (medians, missing-value indicators, one-hot categories); only a
linear member standardises the dense columns, and it does so itself here. The stack
therefore encodes a row once, exactly as :class:`~credit_risk.models.lean.LeanModel` does,
and every scoring path (one row, a batch, columnar chunks) works on it unchanged.

Bytes: a zip with ``model.json`` (the encoding, weights, member names, calibration) and
``member-00.bin``, ``member-01.bin``, … (each member's own lean bytes). numpy only.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from credit_risk.models.lean import _ZIP_DATE, CalibrationMap, LeanModel


def shares_encoding(a: LeanModel, b: LeanModel) -> bool:
    """Whether lean model ``b`` (a linear or tree model) encodes a row into the same
    (unstandardised) columns as ``a``."""
    return (
        b.kind in ("linear", "xgboost")
        and a.numeric == b.numeric
        and a.medians == b.medians
        and a.indicators == b.indicators
        and a.categorical == b.categorical
        and a.categories == b.categories
    )


@dataclass
class StackedLeanModel(LeanModel):
    """Members' lean models combined by non-negative weights (see the module docstring)."""

    members: list[LeanModel] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    member_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.members) < 2:
            raise ValueError("a stack needs at least two members")
        if len(self.weights) != len(self.members) or len(self.member_names) != len(self.members):
            raise ValueError("one weight and one name per member")
        if any(not np.isfinite(w) or w < 0 for w in self.weights):
            raise ValueError("stack weights must be finite and non-negative")
        if self.center is not None:
            raise ValueError("a stack's own encoding is not standardised")
        for member in self.members:
            if not shares_encoding(self, member):
                raise ValueError("every stack member must share the stack's encoding")
        self._weights = np.asarray(self.weights, dtype=np.float64)

    @classmethod
    def combine(
        cls,
        members: Mapping[str, LeanModel],
        weights: Sequence[float],
        intercept: float,
        *,
        metadata: dict[str, Any] | None = None,
        threads: int = 1,
    ) -> StackedLeanModel:
        """The stack of ``members`` (by name) with ``weights`` and ``intercept``."""
        first = next(iter(members.values()))
        return cls(
            kind="stack",
            numeric=list(first.numeric),
            medians=list(first.medians),
            indicators=list(first.indicators),
            categorical=list(first.categorical),
            categories=[list(c) for c in first.categories],
            calibration=CalibrationMap("sigmoid", a=1.0, b=float(intercept)),
            metadata=dict(metadata or {}),
            threads=threads,
            members=list(members.values()),
            weights=[float(w) for w in weights],
            member_names=list(members),
        )

    # --- scoring ---------------------------------------------------------------------

    def _member_design(self, member: LeanModel, design: np.ndarray) -> np.ndarray:
        """The stack's design as ``member`` encodes it (a linear member standardises)."""
        if member.center is None or member.scale is None:
            return design
        width = len(member.center)
        out = design.copy()
        out[:, :width] = (design[:, :width] - np.asarray(member.center)) / np.asarray(member.scale)
        return out

    def member_margins(self, design: np.ndarray) -> np.ndarray:
        """Each member's raw margin, shaped ``(rows, members)``."""
        return np.column_stack([m.margin_of(self._member_design(m, design)) for m in self.members])

    def margin_of(self, design: np.ndarray) -> np.ndarray:
        """The stack's margin: the weighted sum of its members' margins."""
        return np.einsum("ij,j->i", self.member_margins(design), self._weights)

    def contributions_of(self, design: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Exact per-feature contributions: the members' own, weighted."""
        margins, contributions, base = [], [], 0.0
        for member, weight in zip(self.members, self._weights, strict=True):
            m, c, b = member.contributions_of(self._member_design(member, design))
            margins.append(m)
            contributions.append(c)
            base += float(weight) * b
        combined = np.einsum("ij,j->i", np.column_stack(margins), self._weights)
        by_feature = np.einsum("kij,k->ij", np.stack(contributions), self._weights)
        return combined, by_feature, base

    # --- bytes -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The stack's numbers (members are stored beside it, as their own bytes)."""
        out = super().to_dict()
        out["weights"] = [float(w) for w in self.weights]
        out["members"] = list(self.member_names)
        return out

    def to_bytes(self) -> bytes:
        """A zip: ``model.json`` plus each member's lean bytes, ``member-NN.bin``."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            text = json.dumps(self.to_dict(), sort_keys=True, allow_nan=False, indent=1)
            archive.writestr(zipfile.ZipInfo("model.json", _ZIP_DATE), text)
            for i, member in enumerate(self.members):
                archive.writestr(
                    zipfile.ZipInfo(f"member-{i:02d}.bin", _ZIP_DATE), member.to_bytes()
                )
        return buffer.getvalue()

    @classmethod
    def from_parts(
        cls, spec: Mapping[str, Any], members: Sequence[bytes], *, threads: int = 1
    ) -> StackedLeanModel:
        """A stack from its ``model.json`` and its members' bytes (in member order)."""
        names = list(spec["members"])
        if len(members) != len(names):
            raise ValueError(f"a stack of {len(names)} members holds {len(members)}")
        loaded = {
            n: LeanModel.from_bytes(b, threads=threads) for n, b in zip(names, members, strict=True)
        }
        return cls.combine(
            loaded,
            spec["weights"],
            CalibrationMap.from_dict(spec["calibration"]).b,
            metadata=spec.get("metadata", {}),
            threads=threads,
        )
