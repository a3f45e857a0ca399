"""Which PDs the decision policy approves, in one call per array (for fairness figures)."""

from __future__ import annotations

import numpy as np

from credit_risk.decisions.policy import DecisionPolicy, decide


def approvals(pds: np.ndarray, policy: DecisionPolicy) -> np.ndarray:
    """True where ``policy`` decides ``approve`` for the PD (the same rule as every
    decision), False for review and decline."""
    return np.fromiter(
        (decide(float(p), policy) == "approve" for p in np.asarray(pds, dtype=float)),
        dtype=bool,
        count=len(pds),
    )
