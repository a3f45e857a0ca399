"""The WoE-binned logistic scorecard candidate: optbinning bins, a logistic regression on
the weights of evidence, and points.

``prepare`` (:class:`WoeBinning`)
    Each feature is binned by optbinning's ``OptimalBinning`` (pre-binning into at most
    ``max_n_prebins`` quantile bins of at least ``min_prebin_size`` of the rows, then an
    optimal merge into at most ``max_n_bins`` bins) and replaced by its bin's weight of
    evidence, ``WoE = ln(share of non-defaults / share of defaults)``: high is safe. The
    event rate across a numeric feature's bins is constrained to the direction the contract
    declares (``monotone: increasing`` → ``ascending``, ``decreasing`` → ``descending``);
    an undeclared numeric feature may go either way but monotonically
    (``auto_asc_desc``). Missing values are a bin of their own (its empirical WoE); every
    bin holds at least one default and one non-default, so no WoE is undefined.
``model`` (:class:`WoeLogisticRegression`)
    A logistic regression on the WoE columns whose every coefficient is at most zero (a
    higher WoE must mean a lower PD): a characteristic that gets a positive coefficient is
    dropped and the rest refitted, as scorecard practice does. With monotone WoE and a
    non-positive coefficient, the PD moves the declared way along each declared feature.

:func:`points_table` turns the fitted pipeline and its sigmoid calibration into points
per bin under points-to-double-odds scaling (the candidate's ``base_score``,
``base_odds`` and ``pdo``, by default the packaged decision policy's ``scaling``, so that a
scorecard's total points are the score the API reports under that policy): the
calibration is folded into the points, so the table alone gives the PD.

optbinning (with ortools, cvxpy and matplotlib) is a training dependency only: it is
imported when a binning is fitted, never when this module is imported, and the serving
model (:mod:`credit_risk.models.scorecard`) keeps bins and points as plain numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression

from credit_risk.errors import ArtifactIntegrityError, ConfigurationError
from credit_risk.models.scorecard import Characteristic, PointsTable

BINNING_PARAMS = ("max_n_prebins", "min_prebin_size", "max_n_bins")
"""Candidate parameters that go to the binning; the rest go to the logistic regression."""

SCALING_PARAMS = ("base_score", "base_odds", "pdo")
"""Candidate parameters of the points scaling (kept by the regression step, unused in its
fit): ``base_score`` points at ``base_odds`` good:bad, ``pdo`` points to double the odds.
Their defaults are the packaged decision policy's ``scaling`` (a test holds them equal),
so that a scorecard's total points are the score the API reports under that policy."""

TREND = {"increasing": "ascending", "decreasing": "descending"}
"""A declared direction of risk → optbinning's ``monotonic_trend`` of the event rate."""

UNDECLARED_TREND = "auto_asc_desc"
"""The event-rate trend of a numeric feature the contract declares no direction for."""

_TRANSFORM = {"metric": "woe", "metric_missing": "empirical", "metric_special": "empirical"}
_UNKNOWN = "\x00credit-risk:unknown-category"  # a category no training row can have


def monotonic_trend(direction: str | None) -> str:
    """optbinning's ``monotonic_trend`` for a numeric feature's declared direction."""
    return TREND.get(direction or "", UNDECLARED_TREND)


class WoeBinning(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """The ``prepare`` step of a scorecard: optimal binning of each feature, then WoE.

    ``monotone`` maps numeric features to their declared direction of risk."""

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        monotone: Mapping[str, str] | None = None,
        max_n_prebins: int = 20,
        min_prebin_size: float = 0.05,
        max_n_bins: int | None = None,
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.monotone = monotone
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.max_n_bins = max_n_bins

    @property
    def features(self) -> list[str]:
        """Features in design order: numeric, then categorical."""
        return [*self.numeric, *self.categorical]

    def fit(self, X: pd.DataFrame, y: Sequence[int] | np.ndarray) -> WoeBinning:
        """Bin every feature on ``X`` against the 0/1 target ``y``."""
        from optbinning import OptimalBinning  # training only: see the module docstring

        target = np.asarray(y, dtype=np.int64)
        declared = dict(self.monotone or {})
        self.binnings_: dict[str, Any] = {}
        for name in self.features:
            numeric = name in self.numeric
            options: dict[str, Any] = {
                "name": name,
                "dtype": "numerical" if numeric else "categorical",
                "max_n_prebins": self.max_n_prebins,
                "min_prebin_size": self.min_prebin_size,
                "max_n_bins": self.max_n_bins,
                "min_bin_n_event": 1,
                "min_bin_n_nonevent": 1,
            }
            if numeric:
                options["monotonic_trend"] = monotonic_trend(declared.get(name))
            binning = OptimalBinning(**options)
            binning.fit(_values(X[name], numeric), target)
            if binning.status not in ("OPTIMAL", "FEASIBLE"):
                raise ConfigurationError(
                    f"scorecard binning of '{name}' found no solution ({binning.status}); "
                    "loosen max_n_bins or min_prebin_size",
                    field=name,
                )
            self.binnings_[name] = binning
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The WoE of each feature's bin, one column per feature."""
        columns = [
            np.asarray(
                self.binnings_[name].transform(
                    _values(X[name], name in self.numeric), **_TRANSFORM
                ),
                dtype=np.float64,
            )
            for name in self.features
        ]
        return np.column_stack(columns) if columns else np.zeros((len(X), 0))


class WoeLogisticRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Logistic regression on WoE columns with every coefficient at most zero; it also
    keeps the scorecard's points scaling (:data:`SCALING_PARAMS`).

    Fits scikit-learn's ``LogisticRegression``; while a coefficient is positive the
    column with the largest is dropped (its coefficient becomes 0) and the rest refitted.
    ``dropped_`` lists the dropped column positions."""

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 1000,
        class_weight: str | None = None,
        random_state: int | None = None,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo

    def fit(self, X: np.ndarray, y: Sequence[int] | np.ndarray) -> WoeLogisticRegression:
        """Fit on the WoE matrix ``X`` and 0/1 target ``y``."""
        X = np.asarray(X, dtype=np.float64)
        target = np.asarray(y, dtype=np.int64)
        keep = np.ones(X.shape[1], dtype=bool)
        self.classes_ = np.array([0, 1])
        coef = np.zeros(X.shape[1])
        intercept = 0.0
        while True:
            if not keep.any():
                rate = float(np.clip(target.mean(), 1e-9, 1 - 1e-9))
                coef, intercept = np.zeros(X.shape[1]), float(np.log(rate / (1 - rate)))
                break
            fitted = LogisticRegression(
                C=self.C,
                max_iter=self.max_iter,
                class_weight=self.class_weight,
                random_state=self.random_state,
            ).fit(X[:, keep], target)
            coef = np.zeros(X.shape[1])
            coef[keep] = fitted.coef_[0]
            intercept = float(fitted.intercept_[0])
            if not (coef > 0).any():
                break
            keep[int(np.argmax(coef))] = False
        self.coef_ = coef.reshape(1, -1)
        self.intercept_ = np.array([intercept])
        self.dropped_ = [int(i) for i in np.flatnonzero(~keep)]
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of default."""
        return np.asarray(X, dtype=np.float64) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``[P(no default), P(default)]`` per row (uncalibrated)."""
        pd_ = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 where the uncalibrated PD is at least one half."""
        return (self.decision_function(X) >= 0).astype(np.int64)


def build_scorecard_steps(
    numeric: Sequence[str],
    categorical: Sequence[str],
    params: Mapping[str, Any],
    *,
    class_weight: str | None,
    seed: int,
    monotone: Mapping[str, str] | None,
) -> tuple[WoeBinning, WoeLogisticRegression]:
    """The ``prepare`` and ``model`` steps of a scorecard: ``params`` named in
    :data:`BINNING_PARAMS` go to the binning, the others (``C``, ``max_iter`` and the
    :data:`SCALING_PARAMS`) to the logistic regression."""
    binning = {k: v for k, v in params.items() if k in BINNING_PARAMS}
    regression = {k: v for k, v in params.items() if k not in BINNING_PARAMS}
    unknown = set(regression) - {"C", "max_iter", *SCALING_PARAMS}
    if unknown:
        raise ConfigurationError(
            f"unknown scorecard parameter(s): {', '.join(sorted(unknown))}; the scorecard "
            f"takes {', '.join([*BINNING_PARAMS, 'C', 'max_iter', *SCALING_PARAMS])}"
        )
    if not (float(regression.get("base_odds", 1)) > 0 and float(regression.get("pdo", 1)) > 0):
        raise ConfigurationError("scorecard scaling needs base_odds > 0 and pdo > 0")
    return (
        WoeBinning(list(numeric), list(categorical), dict(monotone or {}), **binning),
        WoeLogisticRegression(**regression, class_weight=class_weight, random_state=seed),
    )


def is_scorecard(pipeline: Any) -> bool:
    """Whether a fitted candidate pipeline is a scorecard."""
    steps = getattr(pipeline, "named_steps", {})
    return isinstance(steps.get("prepare"), WoeBinning)


def points_table(pipeline: Any, calibration: Any) -> PointsTable:
    """The points table of a fitted scorecard pipeline and its sigmoid calibration, under
    the scaling its regression step keeps.

    With factor ``pdo / ln 2`` and offset ``base_score - factor * ln(base_odds)``, the
    calibrated log-odds of default are ``a * (b0 + sum_j c_j * woe_j) + b``; bin ``i`` of
    characteristic ``j`` gets ``-factor * a * c_j * woe_ji`` plus an equal share of
    ``offset - factor * (a * b0 + b)``, so that ``PD = 1 / (1 + exp(-(offset - total) /
    factor))``."""
    if calibration.kind != "sigmoid":
        raise ArtifactIntegrityError(
            "a scorecard's points need a sigmoid calibration (the logistic link of its "
            f"points), not {calibration.kind}"
        )
    binning: WoeBinning = pipeline.named_steps["prepare"]
    regression: WoeLogisticRegression = pipeline.named_steps["model"]
    base_score, base_odds = float(regression.base_score), float(regression.base_odds)
    pdo = float(regression.pdo)
    factor = pdo / np.log(2.0)
    offset = base_score - factor * np.log(base_odds)
    a, b = float(calibration.a), float(calibration.b)
    names = binning.features
    share = (offset - factor * (a * float(regression.intercept_[0]) + b)) / len(names)
    characteristics = []
    for j, name in enumerate(names):
        fitted = binning.binnings_[name]
        woe, counts, splits, groups = _bins(fitted, name in binning.numeric)
        weight = -factor * a * float(regression.coef_[0][j])
        characteristics.append(
            Characteristic(
                name=name,
                kind="numeric" if name in binning.numeric else "categorical",
                points=tuple(float(weight * w + share) for w in woe),
                woe=tuple(woe),
                counts=tuple(counts),
                splits=splits,
                groups=groups,
            )
        )
    return PointsTable(
        characteristics=tuple(characteristics),
        factor=float(factor),
        offset=float(offset),
        base_score=float(base_score),
        base_odds=float(base_odds),
        pdo=float(pdo),
    )


def characteristic_points(
    pipeline: Any, calibration: Any, table: PointsTable, X: pd.DataFrame
) -> np.ndarray:
    """Each row's points per characteristic computed by optbinning itself (its WoE
    transform, the regression's coefficients and the calibration), shaped ``(rows,
    characteristics)``: the full model's side of the lean one's points."""
    woe = pipeline.named_steps["prepare"].transform(X)
    coef = pipeline.named_steps["model"].coef_[0]
    a, b = float(calibration.a), float(calibration.b)
    intercept = float(pipeline.named_steps["model"].intercept_[0])
    share = (table.offset - table.factor * (a * intercept + b)) / len(table.characteristics)
    return np.asarray(-table.factor * a * woe * coef + share, dtype=np.float64)


def _bins(
    fitted: Any, numeric: bool
) -> tuple[list[float], list[int], tuple[float, ...], tuple[tuple[str, ...], ...]]:
    """WoE and training count of every bin of a fitted ``OptimalBinning`` in the lean
    design order, with its splits (numeric) or category groups (categorical)."""
    table = fitted.binning_table.build()
    splits: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    if numeric:
        splits = tuple(float(s) for s in fitted.splits)
        regular = len(splits) + 1
    else:
        groups = tuple(tuple(str(c) for c in group) for group in fitted.splits)
        regular = len(groups)
    # The binning table's rows: regular bins, then Special, then Missing, then Totals.
    if len(table) != regular + 3:
        raise ArtifactIntegrityError(
            f"scorecard binning of '{fitted.name}' has {len(table) - 3} bins, expected {regular}"
        )
    woe = [float(v) for v in table["WoE"].iloc[: regular + 2]]
    counts = [int(v) for v in table["Count"].iloc[: regular + 2]]
    if not numeric:
        unknown = fitted.transform(np.array([_UNKNOWN], dtype=object), **_TRANSFORM)
        woe.append(float(np.asarray(unknown, dtype=np.float64)[0]))
        counts.append(0)
    return woe, counts, splits, groups


def _values(column: pd.Series, numeric: bool) -> np.ndarray:
    """A feature column as optbinning takes it: floats with NaN, or objects with None."""
    if numeric:
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return column.astype(object).where(column.notna(), None).to_numpy(dtype=object)


def scorecard_summary(pipeline: Any, table: PointsTable) -> dict[str, Any]:
    """The points table as the metrics keep it (JSON-able): the scaling, one row per bin
    (characteristic, bin, count, WoE, points) and the characteristics the regression
    dropped for a positive coefficient (every bin of those scores the same)."""
    regression: WoeLogisticRegression = pipeline.named_steps["model"]
    return {
        "base_score": table.base_score,
        "base_odds": table.base_odds,
        "pdo": table.pdo,
        "factor": table.factor,
        "offset": table.offset,
        "rows": table.rows(),
        "dropped": [table.names[i] for i in regression.dropped_],
    }
