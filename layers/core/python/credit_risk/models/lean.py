"""The lean serving model: a trained candidate reduced to numbers and, for trees, a booster.

Scoring runs in a zip-packaged Lambda where scikit-learn and pandas do not fit and cost
seconds to import (DESIGN 6 and 11), so a :class:`LeanModel` holds only what the fitted
pipeline learned, as plain numbers:

- feature order; per numeric feature its training median (missing values are imputed with
  it) and whether it has a missing-value indicator column;
- per categorical feature its one-hot category list (an unseen category encodes as all
  zeros; a missing value is its own category when training saw missing values, otherwise
  all zeros too), exactly as scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``;
- for logistic regression the standardisation (mean, scale), coefficients and intercept;
  for tree models (random forest and gradient boosting both are xgboost models) the
  booster, scored with one thread per request (a few rows are walked in numpy by
  :class:`~credit_risk.models.tree_table.TreeTable`, to the same bits);
- the calibration map from the raw margin (log-odds) to a probability of default.

It imports numpy only; xgboost is imported when a tree model is loaded. Models are built
by :func:`credit_risk.models.training.export.to_lean` and travel as bytes
(:meth:`LeanModel.to_bytes`):
a zip holding ``model.json`` (every number above) and, for trees, ``booster.ubj`` (the
xgboost model in its own UBJSON format). No pickle anywhere.

A WoE-binned logistic scorecard (kind ``scorecard``) holds its points table instead
(:class:`~credit_risk.models.scorecard.PointsTable`): the design is one column per bin,
the margin is the log-odds of the total points, and a characteristic's contribution is
the log-odds its points lost against its best bin.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

from credit_risk.errors import ArtifactIntegrityError, ValidationError
from credit_risk.models.scorecard import PointsTable
from credit_risk.models.tree_table import TreeTable

FORMAT = "credit-risk-lean-model"
FORMAT_VERSION = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model always gives the same bytes

ModelKind = Literal["linear", "xgboost", "scorecard", "stack"]
"""``scorecard``: a points table (:mod:`credit_risk.models.scorecard`); ``stack``: a weighted
sum of members' margins (:class:`StackedLeanModel`)."""


@dataclass(frozen=True)
class CalibrationMap:
    """A monotone map from raw margin (log-odds) to probability of default.

    ``sigmoid``: ``pd = 1 / (1 + exp(-(a * margin + b)))``.
    ``isotonic``: piecewise-linear through the knots ``(x[i], y[i])``, flat beyond the ends.
    """

    kind: Literal["sigmoid", "isotonic"]
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "isotonic":
            if len(self.x) < 2 or len(self.x) != len(self.y):
                raise ValueError("an isotonic map needs at least two (x, y) knots")
            if np.any(np.diff(self.x) < 0) or np.any(np.diff(self.y) < 0):
                raise ValueError("isotonic knots must be non-decreasing")
        elif self.kind != "sigmoid":
            raise ValueError(f"unknown calibration kind '{self.kind}'")

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        """Probabilities of default for raw margins."""
        m = np.asarray(margin, dtype=np.float64)
        if self.kind == "sigmoid":
            with np.errstate(over="ignore"):
                return 1.0 / (1.0 + np.exp(-(self.a * m + self.b)))
        return np.interp(m, np.asarray(self.x), np.asarray(self.y))

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers, for JSON."""
        if self.kind == "sigmoid":
            return {"kind": "sigmoid", "a": float(self.a), "b": float(self.b)}
        return {"kind": "isotonic", "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationMap:
        """The inverse of :meth:`to_dict`."""
        if data["kind"] == "sigmoid":
            return cls("sigmoid", a=float(data["a"]), b=float(data["b"]))
        return cls(
            "isotonic",
            x=tuple(float(v) for v in data["x"]),
            y=tuple(float(v) for v in data["y"]),
        )


class Explanation(NamedTuple):
    """Why one application got its PD: contributions to the log-odds, per input feature.

    Unpacks as ``pd, contributions, base_value``;
    ``base_value + sum(contributions.values()) == margin`` and ``pd = calibration(margin)``.
    """

    pd: float
    contributions: dict[str, float]
    base_value: float

    @property
    def margin(self) -> float:
        """The raw margin (log-odds before calibration)."""
        return self.base_value + sum(self.contributions.values())


@dataclass
class LeanModel:
    """A fitted candidate reduced to what scoring needs (see the module docstring)."""

    kind: ModelKind
    numeric: list[str]
    medians: list[float]
    indicators: list[str]
    categorical: list[str]
    categories: list[list[str | None]]
    calibration: CalibrationMap
    center: list[float] | None = None
    scale: list[float] | None = None
    coef: list[float] | None = None
    intercept: float = 0.0
    column_means: list[float] | None = None
    booster_raw: bytes | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    points_table: PointsTable | None = None
    _booster: Any = field(default=None, init=False, repr=False, compare=False)
    _trees: TreeTable | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind == "scorecard":
            self._init_scorecard()
            return
        if len(self.medians) != len(self.numeric):
            raise ValueError("one median per numeric feature")
        if len(self.categories) != len(self.categorical):
            raise ValueError("one category list per categorical feature")
        if set(self.indicators) - set(self.numeric):
            raise ValueError("indicators must name numeric features")
        self._medians = np.asarray(self.medians, dtype=np.float64)
        self._indicator_idx = np.asarray(
            [self.numeric.index(f) for f in self.indicators], dtype=np.intp
        )
        self._lookup = [{c: i for i, c in enumerate(cats)} for cats in self.categories]
        dense = len(self.numeric) + len(self.indicators)
        self._offsets = np.cumsum([dense] + [len(c) for c in self.categories]).tolist()
        width = self._offsets[-1]
        feature_of = list(range(len(self.numeric)))
        feature_of += [self.numeric.index(f) for f in self.indicators]
        for j, cats in enumerate(self.categories):
            feature_of += [len(self.numeric) + j] * len(cats)
        self._aggregate = np.zeros((width, len(self.features)))
        self._aggregate[np.arange(width), feature_of] = 1.0
        if self.kind == "linear":
            if self.coef is None or len(self.coef) != width:
                raise ValueError(f"a linear model needs {width} coefficients")
            if self.column_means is None or len(self.column_means) != width:
                raise ValueError(f"a linear model needs {width} column means")
            self._coef = np.asarray(self.coef, dtype=np.float64)
            self._column_means = np.asarray(self.column_means, dtype=np.float64)
        elif self.kind == "xgboost":
            if self.booster_raw is None:
                raise ValueError("a tree model needs its booster")
            self._booster = _load_booster(self.booster_raw, self.threads)
            self._trees = TreeTable.of(self._booster, width)
        elif self.kind == "stack":
            if type(self) is LeanModel:  # its members live in a StackedLeanModel
                raise ValueError("a stacked model is a StackedLeanModel, with its members")
        else:
            raise ValueError(f"unknown model kind '{self.kind}'")
        if (self.center is None) != (self.scale is None):
            raise ValueError("give both center and scale, or neither")
        if self.center is not None and self.scale is not None:
            if len(self.center) != dense or len(self.scale) != dense:
                raise ValueError(f"center and scale need {dense} values")
            self._center = np.asarray(self.center, dtype=np.float64)
            self._scale = np.asarray(self.scale, dtype=np.float64)

    def _init_scorecard(self) -> None:
        """A scorecard's design is its bins: one column per bin of each characteristic,
        the margin is linear in it (``(offset - points) / factor``)."""
        table = self.points_table
        if table is None:
            raise ValueError("a scorecard needs its points table")
        if table.names != self.features:
            raise ValueError("the points table must have one characteristic per feature")
        if self.medians or self.indicators or self.categories or self.center is not None:
            raise ValueError("a scorecard is encoded by its bins only")
        width = table.width
        self._offsets = [width]
        self._aggregate = np.zeros((width, len(self.features)))
        self._aggregate[np.arange(width), table.column_feature()] = 1.0
        self._coef = -table.points_vector() / table.factor
        self.intercept = table.offset / table.factor
        # Each characteristic's margin at its best bin: the reference of its contribution.
        self._reference = -table.best_vector() / table.factor

    # --- shape -----------------------------------------------------------------------

    @property
    def encodes_itself(self) -> bool:
        """Whether its design is not the common one-hot encoding of medians, indicators and
        categories (a scorecard's bins; a stack whose members encode rows differently):
        column-wise scoring then hands the values to :meth:`encode_columns`."""
        return self.points_table is not None

    @property
    def features(self) -> list[str]:
        """Input features in model order: numeric, then categorical."""
        return self.numeric + self.categorical

    @property
    def n_columns(self) -> int:
        """Width of the encoded design matrix."""
        return int(self._offsets[-1])

    @property
    def column_names(self) -> list[str]:
        """Names of the encoded columns (``feature``, ``feature_missing``, ``feature=cat``;
        ``feature: bin`` for a scorecard)."""
        if self.points_table is not None:
            return self.points_table.column_names()
        names = list(self.numeric) + [f"{f}_missing" for f in self.indicators]
        for name, cats in zip(self.categorical, self.categories, strict=True):
            names += [f"{name}={'<missing>' if c is None else c}" for c in cats]
        return names

    # --- encoding --------------------------------------------------------------------

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The design matrix for feature rows (a feature absent from a row is missing)."""
        if len(rows) == 1 and not self.encodes_itself:  # the API's one row
            design = self._encode_one(rows[0])
            if design is not None:
                return design
        columns = {f: [row.get(f) for row in rows] for f in self.features}
        return self.encode_columns(columns, n_rows=len(rows))

    def _encode_one(self, row: Mapping[str, Any]) -> np.ndarray | None:
        """:meth:`encode_columns` of one row, the same numbers without a column per
        feature; None when a numeric value is not one numpy converts (a blank, a wrong
        type): the column-wise path then converts it, or names it in its error."""
        try:
            values = np.array([row.get(f) for f in self.numeric], dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if values.shape != (len(self.numeric),):  # a value that is itself a sequence
            return None
        design = np.zeros((1, self.n_columns), dtype=np.float64)
        if len(values):
            dense = self._numeric_block(values.reshape(1, -1))
            design[:, : dense.shape[1]] = dense
        for j, name in enumerate(self.categorical):
            col = self._lookup[j].get(_category_key(row.get(name)))
            if col is not None:
                design[0, self._offsets[j] + col] = 1.0
        return design

    def encode_columns(
        self, columns: Mapping[str, Sequence[Any] | np.ndarray], *, n_rows: int | None = None
    ) -> np.ndarray:
        """The design matrix for features given column-wise (name -> values)."""
        n = _column_length(columns, self.features) if n_rows is None else n_rows
        if self.points_table is not None:
            converted = {
                name: _as_float(name, columns.get(name), n) if name in self.numeric else values
                for name, values in columns.items()
            }
            return self.points_table.encode(converted, n)
        design = np.zeros((n, self.n_columns), dtype=np.float64)
        k = len(self.numeric)
        if k:
            values = np.empty((n, k), dtype=np.float64)
            for j, name in enumerate(self.numeric):
                values[:, j] = _as_float(name, columns.get(name), n)
            dense = self._numeric_block(values)
            design[:, : dense.shape[1]] = dense
        for j, name in enumerate(self.categorical):
            lookup, offset = self._lookup[j], self._offsets[j]
            raw = columns.get(name)
            for i, value in enumerate([None] * n if raw is None else raw):
                col = lookup.get(_category_key(value))
                if col is not None:
                    design[i, offset + col] = 1.0
        return design

    def _numeric_block(self, values: np.ndarray) -> np.ndarray:
        """The numeric part of the design for values shaped ``(rows, numeric)`` (NaN where
        missing): medians for missing values, the missing indicators, standardised when
        the model is."""
        missing = np.isnan(values)
        dense = np.where(missing, self._medians, values)
        if len(self._indicator_idx):
            dense = np.hstack([dense, missing[:, self._indicator_idx].astype(np.float64)])
        if self.center is not None:
            dense = (dense - self._center) / self._scale
        return dense

    # --- scoring ---------------------------------------------------------------------

    def margin_of(self, design: np.ndarray) -> np.ndarray:
        """Raw margins (log-odds before calibration) of an encoded design matrix."""
        if self.kind in ("linear", "scorecard"):
            # einsum, not BLAS (@): BLAS sums in an order that depends on how many rows
            # come together, so batch and API would differ in the last bit of a PD.
            return np.einsum("ij,j->i", design, self._coef) + self.intercept
        # A few rows are walked in numpy: the same bits, a third of the time.
        out = None if self._trees is None else self._trees.margins_if_walked(design)
        if out is None:
            out = self._booster.inplace_predict(design, predict_type="margin")
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Calibrated probabilities of default, one per feature row."""
        return self.calibration(self.margin_of(self.encode(rows)))

    def predict_columns(self, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
        """Calibrated probabilities of default for features given column-wise."""
        return self.calibration(self.margin_of(self.encode_columns(columns)))

    def contributions_of(self, design: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Exact per-feature contributions to the margin.

        Returns ``(margins, contributions, base_value)`` with contributions shaped
        ``(rows, len(features))`` and ``base_value + contributions.sum(1) == margins``.
        Linear: coefficient times (value minus its training mean); trees: TreeSHAP.
        """
        if self.kind == "scorecard":
            # Against each characteristic's best bin: the log-odds of the points it lost.
            per_feature = np.einsum("ij,jk->ik", design * self._coef, self._aggregate)
            margins = np.einsum("ij,j->i", design, self._coef) + self.intercept
            base = float(self.intercept + self._reference.sum())
            return margins, per_feature - self._reference, base
        if self.kind == "linear":
            per_column = (design - self._column_means) * self._coef
            base = float(self.intercept + self._column_means @ self._coef)
            margins = np.einsum("ij,j->i", design, self._coef) + self.intercept
        else:
            import xgboost as xgb

            shap = self._booster.predict(
                xgb.DMatrix(design, nthread=self.threads), pred_contribs=True
            )
            shap = np.asarray(shap, dtype=np.float64)
            per_column, bias = shap[:, :-1], shap[:, -1]
            base = float(bias[0]) if len(bias) else 0.0
            margins = self.margin_of(design)
        by_feature = np.einsum("ij,jk->ik", per_column, self._aggregate)  # as margin_of
        return np.asarray(margins, dtype=np.float64), by_feature, base

    def points_lost_of(self, design: np.ndarray) -> np.ndarray:
        """A scorecard's points lost per characteristic against its best bin, shaped
        ``(rows, len(features))``: its reason weights in points (contributions times the
        points factor)."""
        if self.points_table is None:
            raise ValueError(f"a {self.kind} model has no points table")
        _, contributions, _ = self.contributions_of(design)
        return contributions * self.points_table.factor

    def explain(self, row: Mapping[str, Any]) -> Explanation:
        """PD of one feature row and each input feature's contribution to its log-odds."""
        margins, contributions, base = self.contributions_of(self.encode([row]))
        return Explanation(
            pd=float(self.calibration(margins)[0]),
            contributions={
                f: float(v) for f, v in zip(self.features, contributions[0], strict=True)
            },
            base_value=base,
        )

    # --- bytes -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every number of the model except the booster, as JSON-able values."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "numeric": list(self.numeric),
            "medians": [float(v) for v in self.medians],
            "indicators": list(self.indicators),
            "categorical": list(self.categorical),
            "categories": [list(c) for c in self.categories],
            "center": None if self.center is None else [float(v) for v in self.center],
            "scale": None if self.scale is None else [float(v) for v in self.scale],
            "coef": None if self.coef is None else [float(v) for v in self.coef],
            "intercept": float(self.intercept),
            "column_means": (
                None if self.column_means is None else [float(v) for v in self.column_means]
            ),
            "calibration": self.calibration.to_dict(),
            "metadata": self.metadata,
        }
        if self.points_table is not None:
            out["points_table"] = self.points_table.to_dict()
        return out

    def to_bytes(self) -> bytes:
        """The model as a zip: ``model.json`` plus ``booster.ubj`` for tree models."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            text = json.dumps(self.to_dict(), sort_keys=True, allow_nan=False, indent=1)
            archive.writestr(zipfile.ZipInfo("model.json", _ZIP_DATE), text)
            if self.booster_raw is not None:
                archive.writestr(zipfile.ZipInfo("booster.ubj", _ZIP_DATE), self.booster_raw)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, threads: int = 1) -> LeanModel:
        """Load a model written by :meth:`to_bytes` (``threads`` for xgboost scoring)."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                spec = json.loads(archive.read("model.json"))
                names = archive.namelist()
                booster = archive.read("booster.ubj") if "booster.ubj" in names else None
                members = [archive.read(n) for n in sorted(names) if n.startswith("member-")]
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise ArtifactIntegrityError(f"not a lean model artifact: {exc}") from exc
        if spec.get("format") != FORMAT or spec.get("format_version") != FORMAT_VERSION:
            raise ArtifactIntegrityError(
                f"unsupported model format {spec.get('format')!r} "
                f"version {spec.get('format_version')!r}"
            )
        if spec.get("kind") == "stack":
            return StackedLeanModel.from_parts(spec, members, threads=threads)
        return cls(
            kind=spec["kind"],
            numeric=spec["numeric"],
            medians=spec["medians"],
            indicators=spec["indicators"],
            categorical=spec["categorical"],
            categories=spec["categories"],
            calibration=CalibrationMap.from_dict(spec["calibration"]),
            center=spec["center"],
            scale=spec["scale"],
            coef=spec["coef"],
            intercept=spec["intercept"],
            column_means=spec["column_means"],
            booster_raw=booster,
            metadata=spec.get("metadata", {}),
            threads=threads,
            points_table=(
                PointsTable.from_dict(spec["points_table"]) if spec.get("points_table") else None
            ),
        )


def _load_booster(raw: bytes, threads: int) -> Any:
    import xgboost as xgb

    booster = xgb.Booster(model_file=bytearray(raw))
    booster.set_param({"nthread": threads})
    return booster


def _column_length(columns: Mapping[str, Any], names: list[str]) -> int:
    for name in names:
        if name in columns and columns[name] is not None:
            return len(columns[name])
    raise ValidationError("no model feature is present in the input", features=names)


def _category_key(value: Any) -> Any:
    """The category a value encodes as; missing values (None, NaN) as ``None``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _as_float(name: str, values: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
    """A numeric feature as float64 with NaN for missing values; a clear error otherwise."""
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    out = np.empty(n, dtype=np.float64)
    for i, value in enumerate(values):
        if (
            value is None
            or type(value).__name__ == "NAType"
            or (isinstance(value, str) and not value.strip())
        ):
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"feature '{name}' must be a number, got {value!r}", field=name
            ) from exc
    return out


# --- the stacked model -------------------------------------------------------------
#
# The stacked serving model: members' lean models and the weights that combine them.
#
# A stack's margin is a weighted sum of its members' raw margins (log-odds before their own
# calibration), ``margin = sum_i w_i * margin_i``, with non-negative weights learnt by a
# logistic regression on the members' out-of-fold margins; its PD is
# ``1 / (1 + exp(-(margin + intercept)))``. Because the combination is linear, its reasons
# are exact: each feature's contribution is the weighted sum of the members' exact
# contributions (coefficient times distance from the mean for a linear member, TreeSHAP for
# a tree member, log-odds lost against the best bin for a scorecard), and ``base +
# sum(contributions) == margin`` as for any lean model. Every kind's contributions are per
# contract feature in log-odds units, so the weighted sum is per feature too.
#
# A scorecard member's lean margin is its *calibrated* log-odds (the sigmoid calibration
# ``a * raw + b`` is folded into its points; its metadata ``folded_calibration`` keeps
# ``a`` and ``b``), so the stack takes its raw margin as ``(margin - b) / a`` and its
# contributions divided by ``a``: the same numbers the full model's pipeline gives.
#
# Encoding. When every member is a linear or tree model fitted through the same ``prepare``
# step they share one encoding (medians, missing-value indicators, one-hot categories; only
# a linear member standardises the dense columns, and it does so itself here): the stack
# then encodes a row once, exactly as :class:`~credit_risk.models.lean.LeanModel` does (the
# shared-design fast path). Otherwise (a scorecard member, or members fitted with different
# encodings) each member encodes the row itself: the stack's design is its members'
# designs side by side, and column-wise scoring hands the values to
# :meth:`StackedLeanModel.encode_columns` (``encodes_itself``).
#
# Bytes: a zip with ``model.json`` (the encoding, weights, member names, calibration) and
# ``member-00.bin``, ``member-01.bin``, … (each member's own lean bytes). numpy only.


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


def _share_one_design(members: Sequence[LeanModel]) -> bool:
    """Whether all ``members`` are linear or tree models with the first one's encoding."""
    first = members[0]
    return first.kind in ("linear", "xgboost") and all(shares_encoding(first, m) for m in members)


def raw_margin_map(member: LeanModel) -> tuple[float, float]:
    """``(a, b)`` with the member's lean margin ``a * raw + b`` (its raw margin is what the
    stack weighs): ``(1, 0)`` but for a scorecard, whose calibration is in its points."""
    if member.kind != "scorecard":
        return 1.0, 0.0
    folded = member.metadata.get("folded_calibration")
    if not isinstance(folded, Mapping) or not float(folded.get("a", 0.0)) > 0:
        raise ValueError("a scorecard stack member needs its folded calibration (a > 0, b)")
    return float(folded["a"]), float(folded["b"])


@dataclass
class StackedLeanModel(LeanModel):
    """Members' lean models combined by non-negative weights: the margin is the weighted
    sum of the members' raw margins, the PD its sigmoid after the intercept (the
    calibration), and the reasons the members' exact contributions, weighted (see the notes
    above)."""

    members: list[LeanModel] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    member_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError("a stack needs at least two members")
        if len(self.weights) != len(self.members) or len(self.member_names) != len(self.members):
            raise ValueError("one weight and one name per member")
        if any(not np.isfinite(w) or w < 0 for w in self.weights):
            raise ValueError("stack weights must be finite and non-negative")
        if self.center is not None:
            raise ValueError("a stack's own encoding is not standardised")
        self._shared = _share_one_design(self.members)
        if self._shared:
            super().__post_init__()
            for member in self.members:
                if not shares_encoding(self, member):
                    raise ValueError("every stack member must share the stack's encoding")
        else:
            if self.medians or self.indicators or self.categories:
                raise ValueError("a stack of members that encode rows themselves has no encoding")
            widths = [m.n_columns for m in self.members]
            self._member_starts = np.cumsum([0, *widths]).tolist()
            self._offsets = [self._member_starts[-1]]
        wanted = set(self.features)
        self._feature_index = []
        for name, member in zip(self.member_names, self.members, strict=True):
            if set(member.features) != wanted or len(member.features) != len(wanted):
                raise ValueError(f"stack member '{name}' must have the stack's features")
            self._feature_index.append(
                np.asarray([self.features.index(f) for f in member.features], dtype=np.intp)
            )
        self._raw_maps = [raw_margin_map(m) for m in self.members]
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
        """The stack of ``members`` (by name) with ``weights`` and ``intercept``; it shares
        its members' encoding when they have one, else each member encodes rows itself."""
        first = next(iter(members.values()))
        shared = _share_one_design(list(members.values()))
        return cls(
            kind="stack",
            numeric=list(first.numeric),
            medians=list(first.medians) if shared else [],
            indicators=list(first.indicators) if shared else [],
            categorical=list(first.categorical),
            categories=[list(c) for c in first.categories] if shared else [],
            calibration=CalibrationMap("sigmoid", a=1.0, b=float(intercept)),
            metadata=dict(metadata or {}),
            threads=threads,
            members=list(members.values()),
            weights=[float(w) for w in weights],
            member_names=list(members),
        )

    # --- shape and encoding ------------------------------------------------------------

    @property
    def shared_design(self) -> bool:
        """Whether every member reads the stack's one design (the fast path)."""
        return self._shared

    @property
    def encodes_itself(self) -> bool:
        """Whether each member encodes rows itself (see the notes above)."""
        return not self._shared

    @property
    def column_names(self) -> list[str]:
        """The shared design's column names, or each member's prefixed by its name."""
        if self._shared:
            return super().column_names
        return [
            f"{name}/{column}"
            for name, member in zip(self.member_names, self.members, strict=True)
            for column in member.column_names
        ]

    def encode_columns(
        self, columns: Mapping[str, Sequence[Any] | np.ndarray], *, n_rows: int | None = None
    ) -> np.ndarray:
        """The shared design, or the members' own designs side by side."""
        if self._shared:
            return super().encode_columns(columns, n_rows=n_rows)
        n = _column_length(columns, self.features) if n_rows is None else n_rows
        return np.hstack([m.encode_columns(columns, n_rows=n) for m in self.members])

    # --- scoring ---------------------------------------------------------------------

    def _member_design(self, k: int, design: np.ndarray) -> np.ndarray:
        """The stack's design as member ``k`` encodes it: its own columns, or the shared
        design (a linear member standardises it)."""
        if not self._shared:
            return design[:, self._member_starts[k] : self._member_starts[k + 1]]
        member = self.members[k]
        if member.center is None or member.scale is None:
            return design
        width = len(member.center)
        out = design.copy()
        out[:, :width] = (design[:, :width] - np.asarray(member.center)) / np.asarray(member.scale)
        return out

    def member_margins(self, design: np.ndarray) -> np.ndarray:
        """Each member's raw margin, shaped ``(rows, members)``."""
        out = []
        for k, member in enumerate(self.members):
            a, b = self._raw_maps[k]
            margin = member.margin_of(self._member_design(k, design))
            out.append(margin if (a, b) == (1.0, 0.0) else (margin - b) / a)
        return np.column_stack(out)

    def margin_of(self, design: np.ndarray) -> np.ndarray:
        """The stack's margin: the weighted sum of its members' raw margins."""
        return np.einsum("ij,j->i", self.member_margins(design), self._weights)

    def contributions_of(self, design: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Exact per-feature contributions: the members' own (in raw-margin units, in the
        stack's feature order), weighted."""
        margins, contributions, base = [], [], 0.0
        for k, (member, weight) in enumerate(zip(self.members, self._weights, strict=True)):
            a, b = self._raw_maps[k]
            m, c, member_base = member.contributions_of(self._member_design(k, design))
            ordered = np.zeros_like(c)
            ordered[:, self._feature_index[k]] = c
            if (a, b) != (1.0, 0.0):
                m, ordered, member_base = (m - b) / a, ordered / a, (member_base - b) / a
            margins.append(m)
            contributions.append(ordered)
            base += float(weight) * member_base
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
