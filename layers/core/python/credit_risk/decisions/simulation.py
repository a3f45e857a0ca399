"""A proposed decision policy replayed over the book, beside the current one.

The book is every scored application: its champion PD, its exposure columns and, for a
loan that was granted and has matured, its real outcome. A policy decides each one again
(:func:`policy_decisions`, the same bands as :func:`credit_risk.decisions.policy.decide`,
in arrays), and :func:`simulate` reports, for the current and the proposed policy:

- approval, review and decline rates (only ``approve`` counts as approved: a review is a
  person's call, not the policy's);
- the bad rate among approved loans, **observed** (realised outcomes of approved loans
  that have one), **inferred** (mean PD of approved loans without one) and the two
  **combined** (observed where known, PD elsewhere);
- expected loss (PD x LGD x EAD, always inferred from PD) and realised loss (the observed
  defaults x LGD x EAD: LGD is the policy's, since the book records no recoveries), with the
  expected loss of the same observed loans beside it;
- the swap set: every application whose decision changes, grouped by (current, proposed)
  decision, with counts, PDs and, where observed, realised bad rates;
- the efficient frontier: for every PD cut-off (approve when PD <= cut-off), the approval
  rate against the combined bad rate and against the expected profit at a margin, with
  both policies marked.

Real outcomes exist only for loans that were granted: an application the proposed policy
approves and nobody granted has no outcome, so its figures come from its PD; every figure
says which it is (``basis``).

Pure: numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from credit_risk.decisions.policy import DecisionPolicy
from credit_risk.errors import ValidationError

OBSERVED = "observed"
INFERRED = "inferred from PD"
COMBINED = "observed where known, else inferred from PD"
SEGMENTS = ("matured", "recent", "all")
"""``matured``: applications whose loan has matured (with or without an outcome);
``recent``: the others (applications still inside their outcome window or not granted)."""
MAX_FRONTIER_POINTS = 201
DEFAULT_MARGIN = 0.05

BASIS: dict[str, str] = {
    "applications": OBSERVED,
    "approval_rate": OBSERVED,
    "review_rate": OBSERVED,
    "decline_rate": OBSERVED,
    "bad_rate_observed": OBSERVED,
    "bad_rate_inferred": INFERRED,
    "bad_rate_combined": COMBINED,
    "bad_rate_expected": INFERRED,
    "expected_loss": INFERRED,
    "realised_loss": OBSERVED,
    "expected_loss_observed": INFERRED,
}
"""Which figures are counted from the book and outcomes, and which come from PDs."""


@dataclass(frozen=True)
class Book:
    """Applications to replay a policy over, as aligned arrays.

    ``outcome`` is 1 (bad) or 0 (good) for a granted, matured loan and NaN for every other
    application; ``matured`` says whether the application's outcome window has passed;
    ``columns`` holds the numeric columns a policy may take its exposure from.
    """

    pd: np.ndarray
    outcome: np.ndarray
    matured: np.ndarray
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    model_version: str | None = None

    def __post_init__(self) -> None:
        n = len(self.pd)
        for name, values in [("outcome", self.outcome), ("matured", self.matured)] + [
            (f"column {c}", v) for c, v in self.columns.items()
        ]:
            if len(values) != n:
                raise ValueError(f"the book's {name} has {len(values)} rows, not {n}")

    @classmethod
    def of(
        cls,
        pd: Sequence[float],
        outcome: Sequence[float | None],
        matured: Sequence[bool] | None = None,
        columns: Mapping[str, Sequence[float | None]] | None = None,
        model_version: str | None = None,
    ) -> Book:
        """A book from plain sequences (None as missing)."""

        def floats(values: Sequence[float | None]) -> np.ndarray:
            return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)

        outcomes = floats(outcome)
        return cls(
            pd=np.asarray(pd, dtype=np.float64),
            outcome=outcomes,
            matured=(~np.isnan(outcomes) if matured is None else np.asarray(matured, dtype=bool)),
            columns={k: floats(v) for k, v in (columns or {}).items()},
            model_version=model_version,
        )

    @property
    def observed(self) -> np.ndarray:
        """Applications with a real outcome (granted and matured)."""
        return self.matured & ~np.isnan(self.outcome)

    def exposure(self, policy: DecisionPolicy) -> np.ndarray | None:
        """Each application's exposure at default under ``policy`` (NaN where missing),
        or None when the policy names none."""
        name = policy.ead_feature
        if name is None:
            return None
        if name not in self.columns:
            raise ValidationError(
                f"decision policy setting ead_feature '{name}' is not a column of the book",
                field="ead_feature",
                rule="unknown_column",
            )
        return self.columns[name]


DECISIONS = np.asarray(["approve", "review", "decline"], dtype=object)
"""Decision codes: an index into this (0 approve, 1 review, 2 decline)."""
_CODE = {name: i for i, name in enumerate(DECISIONS)}
APPROVE, REVIEW, DECLINE = 0, 1, 2


def decision_codes(pds: np.ndarray, policy: DecisionPolicy) -> np.ndarray:
    """The decision of each PD under ``policy`` as a code (see :data:`DECISIONS`), as
    :func:`credit_risk.decisions.policy.decide` gives it."""
    values = np.asarray(pds, dtype=np.float64)
    if values.size and not ((values >= 0.0) & (values <= 1.0)).all():
        raise ValueError("every probability of default must be between 0 and 1")
    by_grade = policy.decision_by_grade
    if by_grade:
        bounds = np.asarray([g.max_pd for g in policy.grades], dtype=np.float64)
        codes = [_CODE[by_grade[g.grade]] for g in policy.grades]
    else:
        bounds = np.asarray([b.max_pd or 1.0 for b in policy.decisions], dtype=np.float64)
        codes = [_CODE[b.decision] for b in policy.decisions]
    # The first band whose max_pd is >= the PD (a PD equal to a bound is in that band).
    index = np.minimum(np.searchsorted(bounds, values, side="left"), len(bounds) - 1)
    return np.asarray(codes, dtype=np.int8)[index]


def policy_decisions(pds: np.ndarray, policy: DecisionPolicy) -> np.ndarray:
    """The decision of each PD under ``policy`` by name."""
    return DECISIONS[decision_codes(pds, policy)]


def approval_cutoff(policy: DecisionPolicy) -> float:
    """The highest PD the policy approves (0 when it approves none): every policy's bands
    ascend in PD, so it approves exactly the PDs up to this cut-off."""
    by_grade = policy.decision_by_grade
    if by_grade:
        approved = [g.max_pd for g in policy.grades if by_grade[g.grade] == "approve"]
    else:
        approved = [b.max_pd or 1.0 for b in policy.decisions if b.decision == "approve"]
    return max(approved, default=0.0)


def _rate(part: float, whole: float) -> float | None:
    return None if whole == 0 else float(part / whole)


def _sum(values: np.ndarray) -> float:
    return float(np.nansum(values)) if values.size else 0.0


def policy_figures(
    book: Book, decisions: np.ndarray, policy: DecisionPolicy, rows: np.ndarray
) -> dict[str, Any]:
    """The figures of one policy over the book's ``rows`` (a boolean mask); ``decisions``
    are codes (:func:`decision_codes`)."""
    n = int(rows.sum())
    approved = rows & (decisions == APPROVE)
    reviewed = int((rows & (decisions == REVIEW)).sum())
    declined = int((rows & (decisions == DECLINE)).sum())
    observed = approved & book.observed
    unobserved = approved & ~book.observed
    n_approved, n_observed = int(approved.sum()), int(observed.sum())
    pd, outcome = book.pd, book.outcome
    bad_observed = _sum(outcome[observed])
    pd_unobserved = _sum(pd[unobserved])
    ead = book.exposure(policy)
    figures: dict[str, Any] = {
        "applications": n,
        "approved": n_approved,
        "reviewed": reviewed,
        "declined": declined,
        "approval_rate": _rate(n_approved, n),
        "review_rate": _rate(reviewed, n),
        "decline_rate": _rate(declined, n),
        "approved_observed": n_observed,
        "approved_inferred": n_approved - n_observed,
        "bad_rate_observed": _rate(bad_observed, n_observed),
        "bad_rate_inferred": _rate(pd_unobserved, n_approved - n_observed),
        "bad_rate_combined": _rate(bad_observed + pd_unobserved, n_approved),
        "bad_rate_expected": _rate(_sum(pd[approved]), n_approved),
        "expected_loss": None,
        "realised_loss": None,
        "expected_loss_observed": None,
        "exposure_missing": 0,
    }
    if ead is not None:
        loss = pd * policy.lgd * ead
        figures["expected_loss"] = _sum(loss[approved])
        if n_observed:  # no outcome at all is no realised figure, not a zero
            figures["expected_loss_observed"] = _sum(loss[observed])
            figures["realised_loss"] = _sum((outcome * policy.lgd * ead)[observed])
        figures["exposure_missing"] = int((approved & np.isnan(ead)).sum())
    return figures


def _segments(book: Book) -> dict[str, np.ndarray]:
    everything = np.ones(len(book.pd), dtype=bool)
    return {"matured": book.matured, "recent": ~book.matured, "all": everything}


def swap_set(book: Book, current: np.ndarray, proposed: np.ndarray) -> list[dict[str, Any]]:
    """Every (current, proposed) pair of decisions (codes) that differ, with the
    applications' count, share of the book, PDs and, for those with an outcome, the
    realised bad rate.

    Swap-ins (to ``approve``) first, then swap-outs (from ``approve``), then the rest."""
    n = len(book.pd)
    changed = current != proposed
    pair_codes = np.unique(current[changed].astype(np.int16) * 3 + proposed[changed])
    pairs = sorted(
        ((int(c) // 3, int(c) % 3) for c in pair_codes),
        key=lambda p: (p[1] != APPROVE, p[0] != APPROVE, p),
    )
    observed = book.observed
    rows = []
    for before_code, after_code in pairs:
        before, after = str(DECISIONS[before_code]), str(DECISIONS[after_code])
        mask = (current == before_code) & (proposed == after_code)
        seen = mask & observed
        pds = book.pd[mask]
        kind = "swap-in" if after == "approve" else "swap-out" if before == "approve" else "other"
        rows.append(
            {
                "current": before,
                "proposed": after,
                "kind": kind,
                "count": int(mask.sum()),
                "share": _rate(int(mask.sum()), n),
                "mean_pd": float(pds.mean()),
                "min_pd": float(pds.min()),
                "max_pd": float(pds.max()),
                "observed": int(seen.sum()),
                "observed_bad_rate": _rate(_sum(book.outcome[seen]), int(seen.sum())),
                "inferred_bad_rate": float(pds.mean()),
            }
        )
    return rows


def _profit(pd: np.ndarray, ead: np.ndarray, lgd: float, margin: float) -> np.ndarray:
    """Expected profit of each loan if granted: the margin on the exposure when it does not
    default, less the loss when it does."""
    return np.nan_to_num(ead * (margin * (1.0 - pd) - lgd * pd))


def frontier(
    book: Book, policy: DecisionPolicy, *, margin: float = DEFAULT_MARGIN
) -> list[dict[str, Any]]:
    """Approval rate, combined bad rate and expected profit for every PD cut-off of the
    book (approve when PD <= cut-off), at ``policy``'s LGD and exposure; thinned to at most
    :data:`MAX_FRONTIER_POINTS` evenly spaced in approval rate (the ends always kept)."""
    n = len(book.pd)
    if n == 0:
        return []
    order = np.argsort(book.pd)  # ties are grouped below, so no stable sort is needed
    pd = book.pd[order]
    bad = np.where(book.observed, book.outcome, book.pd)[order]
    ead = book.exposure(policy)
    profit = None if ead is None else np.cumsum(_profit(pd, ead[order], policy.lgd, margin))
    bads = np.cumsum(bad)
    # The last row of each distinct PD: a cut-off approves every tie at once.
    last = np.flatnonzero(np.append(pd[1:] != pd[:-1], True))
    if len(last) > MAX_FRONTIER_POINTS:
        wanted = np.linspace(0, len(last) - 1, MAX_FRONTIER_POINTS).round().astype(np.intp)
        last = last[np.unique(wanted)]
    points = [{"cutoff": 0.0, "approval_rate": 0.0, "bad_rate": None, "expected_profit": 0.0}]
    for i in last:
        k = int(i) + 1
        points.append(
            {
                "cutoff": float(pd[i]),
                "approval_rate": k / n,
                "bad_rate": float(bads[i] / k),
                "expected_profit": None if profit is None else float(profit[i]),
            }
        )
    return points


def policy_point(
    book: Book,
    decisions: np.ndarray,
    policy: DecisionPolicy,
    basis: DecisionPolicy,
    *,
    margin: float,
) -> dict[str, Any]:
    """A policy's place on the frontier drawn at ``basis``'s LGD and exposure."""
    approved = decisions == APPROVE
    n, k = len(book.pd), int(approved.sum())
    bad = np.where(book.observed, book.outcome, book.pd)
    ead = book.exposure(basis)
    profit = None
    if ead is not None:
        profit = _sum(_profit(book.pd, ead, basis.lgd, margin)[approved])
    return {
        "version": policy.version,
        "cutoff": approval_cutoff(policy),
        "approval_rate": _rate(k, n),
        "bad_rate": _rate(_sum(bad[approved]), k),
        "expected_profit": profit,
    }


def simulate(
    book: Book,
    current: DecisionPolicy,
    proposed: DecisionPolicy,
    *,
    margin: float = DEFAULT_MARGIN,
) -> dict[str, Any]:
    """Both policies replayed over the book: figures per segment, swap set, frontier."""
    if not 0.0 <= margin <= 1.0:
        raise ValidationError(
            f"margin must be between 0 and 1 (a share of the exposure), got {margin}",
            field="margin",
            rule="range",
        )
    decided = {
        "current": decision_codes(book.pd, current),
        "proposed": decision_codes(book.pd, proposed),
    }
    segments = _segments(book)
    policies = {"current": current, "proposed": proposed}
    result: dict[str, Any] = {
        "model_version": book.model_version,
        "applications": len(book.pd),
        "observed": int(book.observed.sum()),
        "matured": int(book.matured.sum()),
        "margin": margin,
        "basis": BASIS,
        "policies": {
            name: {
                "version": policy.version,
                "lgd": policy.lgd,
                "ead_feature": policy.ead_feature,
                "approval_cutoff": approval_cutoff(policy),
                "segments": {
                    segment: policy_figures(book, decided[name], policy, rows)
                    for segment, rows in segments.items()
                },
            }
            for name, policy in policies.items()
        },
        "swap_set": swap_set(book, decided["current"], decided["proposed"]),
        "unchanged": int((decided["current"] == decided["proposed"]).sum()),
        "frontier": {
            "lgd": proposed.lgd,
            "ead_feature": proposed.ead_feature,
            "margin": margin,
            "points": frontier(book, proposed, margin=margin),
            "current": policy_point(book, decided["current"], current, proposed, margin=margin),
            "proposed": policy_point(book, decided["proposed"], proposed, proposed, margin=margin),
        },
    }
    return result
