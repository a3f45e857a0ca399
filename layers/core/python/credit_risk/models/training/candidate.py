"""What a trained candidate is: its calibrated model, chosen settings and metrics.

Shared by the trainer that makes one and the exporter that reduces one to the lean
serving model, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from credit_risk.models.lean import CalibrationMap
from credit_risk.models.training.pipelines import CalibratedModel

if TYPE_CHECKING:
    from credit_risk.models.training.stacking import StackedModel


@dataclass
class FittedCandidate:
    """One trained candidate: its calibrated model, chosen settings and metrics.

    ``params`` holds the estimator parameters, the imbalance option, the calibration
    method and the cutoff; ``metrics`` is JSON-able (see :func:`train_one`); ``search``
    lists every configuration tried with its cross-validated AUC.
    """

    name: str
    estimator: str
    model: CalibratedModel | StackedModel
    params: dict[str, Any]
    metrics: dict[str, Any]
    search: list[dict[str, Any]]
    seconds: float
    oof_margins: np.ndarray | None = None
    """The chosen configuration's out-of-fold margins (repeats x training rows): what a
    stacked candidate is fitted on."""

    @property
    def calibration(self) -> CalibrationMap:
        """The margin → PD map."""
        return self.model.calibration

    @property
    def cutoff(self) -> float:
        """The PD at or above which a row counts as a predicted default."""
        return float(self.metrics["cutoff"])

    def summary(self) -> dict[str, Any]:
        """Name, chosen settings, metrics and search trials, JSON-able."""
        return {
            "name": self.name,
            "estimator": self.estimator,
            "params": self.params,
            "metrics": self.metrics,
            "search": self.search,
            "seconds": round(self.seconds, 3),
        }
