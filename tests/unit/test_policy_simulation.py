"""The policy simulator: figures recomputed independently on a small book, a swap set on
synthetic data whose truth is known, the frontier, and the report that draws them."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from credit_risk.decisions.policy import DecisionPolicy, decide, load_decision_policy
from credit_risk.decisions.simulation import (
    BASIS,
    INFERRED,
    OBSERVED,
    Book,
    frontier,
    policy_decisions,
    simulate,
)
from credit_risk.errors import ValidationError
from credit_risk.monitoring.policy_report import (
    frontier_section,
    simulation_page,
    simulation_text,
)


def by_pd(version: str, approve: float, review: float, *, lgd: float = 0.45) -> DecisionPolicy:
    """A policy deciding by PD bands: approve up to ``approve``, review up to ``review``."""
    base = load_decision_policy().model_dump()
    return DecisionPolicy.model_validate(
        {
            **base,
            "version": version,
            "lgd": lgd,
            "ead_feature": "loan_amount",
            "decisions": [
                {"decision": "approve", "max_pd": approve},
                {"decision": "review", "max_pd": review},
                {"decision": "decline", "max_pd": 1.0},
            ],
        }
    )


def by_grade() -> DecisionPolicy:
    """The packaged policy (decisions by grade), with the synthetic exposure."""
    return load_decision_policy().model_copy(update={"ead_feature": "loan_amount"})


# A small book: PDs on and around the bands' bounds, granted-and-matured loans with their
# outcome, a matured loan never granted (no outcome), recent applications.
SMALL = {
    "pd": [0.01, 0.02, 0.04, 0.05, 0.07, 0.09, 0.10, 0.12, 0.15, 0.20, 0.30, 0.55],
    "outcome": [0, 0, None, 1, 0, None, 1, 0, None, 1, None, 1],
    "matured": [True, True, True, True, True, False, True, True, False, True, False, True],
    "loan_amount": [1000, 5000, 2500, None, 8000, 3000, 4000, 12000, 7000, 6000, 9000, 2000],
}


def small_book() -> Book:
    return Book.of(
        SMALL["pd"],
        SMALL["outcome"],
        SMALL["matured"],
        {"loan_amount": SMALL["loan_amount"]},
        model_version="m1",
    )


def figures_by_hand(policy: DecisionPolicy, segment: str) -> dict[str, Any]:
    """The figures recomputed one loan at a time with the scalar policy functions."""
    rows = []
    for pd, y, matured, ead in zip(*SMALL.values(), strict=True):
        keep = segment == "all" or (segment == "matured") == matured
        if keep:
            rows.append((pd, y if matured else None, decide(pd, policy), ead))
    approved = [r for r in rows if r[2] == "approve"]
    seen = [r for r in approved if r[1] is not None]
    unseen = [r for r in approved if r[1] is None]
    lgd = policy.lgd

    def share(part: float, whole: int) -> float | None:
        return None if whole == 0 else part / whole

    return {
        "applications": len(rows),
        "approved": len(approved),
        "approval_rate": share(len(approved), len(rows)),
        "review_rate": share(sum(r[2] == "review" for r in rows), len(rows)),
        "decline_rate": share(sum(r[2] == "decline" for r in rows), len(rows)),
        "approved_observed": len(seen),
        "bad_rate_observed": share(sum(r[1] for r in seen), len(seen)),
        "bad_rate_inferred": share(sum(r[0] for r in unseen), len(unseen)),
        "bad_rate_combined": share(
            sum(r[1] for r in seen) + sum(r[0] for r in unseen), len(approved)
        ),
        "expected_loss": sum(r[0] * lgd * r[3] for r in approved if r[3] is not None),
        # no loan with an outcome: no realised figure at all (not a zero)
        "realised_loss": (
            sum(r[1] * lgd * r[3] for r in seen if r[3] is not None) if seen else None
        ),
        "expected_loss_observed": (
            sum(r[0] * lgd * r[3] for r in seen if r[3] is not None) if seen else None
        ),
        "exposure_missing": sum(r[3] is None for r in approved),
    }


@pytest.mark.parametrize("segment", ["matured", "recent", "all"])
@pytest.mark.parametrize(
    "policy", [by_grade(), by_pd("tight", 0.05, 0.12), by_pd("loose", 0.15, 0.30, lgd=0.6)]
)
def test_the_figures_match_an_independent_recomputation(
    policy: DecisionPolicy, segment: str
) -> None:
    # GIVEN a small book WHEN a policy is replayed over it
    result = simulate(small_book(), by_grade(), policy)
    got = result["policies"]["proposed"]["segments"][segment]
    # THEN every figure is what one loan at a time with the scalar policy gives
    for name, expected in figures_by_hand(policy, segment).items():
        if expected is None:
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(expected, rel=1e-12, abs=1e-12), name


def test_the_small_book_figures_are_what_a_credit_analyst_counts() -> None:
    # GIVEN the small book under "approve up to PD 0.10"
    result = simulate(small_book(), by_grade(), by_pd("p", 0.10, 0.20))
    matured = result["policies"]["proposed"]["segments"]["matured"]
    # THEN of 9 matured applications, 6 are approved (0.01, 0.02, 0.04, 0.05, 0.07, 0.10)
    assert (matured["applications"], matured["approved"]) == (9, 6)
    # 5 of them have an outcome (0.04 was never granted), 2 of those defaulted
    assert matured["approved_observed"] == 5
    assert matured["bad_rate_observed"] == pytest.approx(2 / 5)
    assert matured["bad_rate_inferred"] == pytest.approx(0.04)
    assert matured["bad_rate_combined"] == pytest.approx((2 + 0.04) / 6)


def test_every_figure_says_whether_it_is_observed_or_inferred() -> None:
    result = simulate(small_book(), by_grade(), by_pd("p", 0.10, 0.20))
    assert result["basis"] == BASIS
    assert result["basis"]["bad_rate_observed"] == OBSERVED
    assert result["basis"]["realised_loss"] == OBSERVED
    assert result["basis"]["bad_rate_inferred"] == INFERRED
    assert result["basis"]["expected_loss"] == INFERRED
    figures = result["policies"]["proposed"]["segments"]["all"]
    assert set(BASIS) <= set(figures)


@pytest.mark.parametrize("policy", [by_grade(), by_pd("p", 0.08, 0.2)])
def test_decisions_in_arrays_are_the_scalar_decisions(policy: DecisionPolicy) -> None:
    rng = np.random.default_rng(3)
    bounds = [g.max_pd for g in policy.grades] + [b.max_pd or 1.0 for b in policy.decisions]
    pds = np.concatenate([rng.uniform(0, 1, 2000), bounds, np.nextafter(bounds, 2), [0.0]])
    pds = np.clip(pds, 0.0, 1.0)
    got = policy_decisions(pds, policy)
    assert list(got) == [decide(float(p), policy) for p in pds]


def known_truth(n: int = 40_000, seed: int = 7) -> tuple[Book, np.ndarray]:
    """A book whose PDs are the true default probabilities, outcomes drawn from them and
    seen only where the current policy (approve PD <= 0.10) granted the loan; also every
    outcome, seen or not."""
    rng = np.random.default_rng(seed)
    pd = rng.uniform(0.0, 0.40, n)
    truth = (rng.uniform(size=n) < pd).astype(np.float64)
    granted = pd <= 0.10
    outcome = np.where(granted, truth, np.nan)
    exposure = rng.uniform(1000, 20000, n)
    book = Book(pd, outcome, np.ones(n, dtype=bool), {"loan_amount": exposure}, "m-true")
    return book, truth


def test_a_swap_set_between_two_policies_matches_the_known_truth() -> None:
    # GIVEN a book whose true PDs are known, outcomes seen only for granted loans, and a
    # proposal that approves PD <= 0.15 and declines above 0.30 (the current: 0.10, 0.20)
    book, truth = known_truth()
    current, proposed = by_pd("current", 0.10, 0.20), by_pd("proposed", 0.15, 0.30)
    result = simulate(book, current, proposed)
    swaps = {(s["current"], s["proposed"]): s for s in result["swap_set"]}
    # THEN the swaps are exactly the bands the two policies disagree on
    assert set(swaps) == {("review", "approve"), ("decline", "review")}
    swap_in = swaps[("review", "approve")]
    inside = (book.pd > 0.10) & (book.pd <= 0.15)
    assert swap_in["kind"] == "swap-in"
    assert swap_in["count"] == int(inside.sum())
    assert swap_in["mean_pd"] == pytest.approx(book.pd[inside].mean())
    assert (swap_in["min_pd"] > 0.10, swap_in["max_pd"] <= 0.15) == (True, True)
    assert swaps[("decline", "review")]["count"] == int(
        ((book.pd > 0.20) & (book.pd <= 0.30)).sum()
    )
    assert (
        result["unchanged"]
        == len(book.pd) - swap_in["count"] - swaps[("decline", "review")]["count"]
    )
    # AND nobody granted a swap-in, so its bad rate is only inferred; the inference is the
    # truth we hid (within three standard errors)
    assert swap_in["observed"] == 0 and swap_in["observed_bad_rate"] is None
    hidden = truth[inside].mean()
    error = math.sqrt(hidden * (1 - hidden) / swap_in["count"])
    assert abs(swap_in["inferred_bad_rate"] - hidden) < 3 * error
    # AND the proposal's combined bad rate is the granted loans' realised defaults plus
    # the swap-ins' PDs, close to the true bad rate of everything it approves
    approved = result["policies"]["proposed"]["segments"]["all"]
    granted = book.pd <= 0.10
    assert approved["bad_rate_observed"] == pytest.approx(truth[granted].mean())
    assert approved["approved_observed"] == int(granted.sum())
    assert approved["approved_inferred"] == swap_in["count"]
    true_rate = truth[book.pd <= 0.15].mean()
    assert abs(approved["bad_rate_combined"] - true_rate) < 3 * math.sqrt(
        true_rate * (1 - true_rate) / approved["approved"]
    )


def test_a_swap_out_reports_the_realised_bad_rate_of_the_loans_it_drops() -> None:
    # GIVEN the same book and a tighter proposal (approve PD <= 0.06)
    book, truth = known_truth()
    result = simulate(book, by_pd("current", 0.10, 0.20), by_pd("tight", 0.06, 0.20))
    (swap_out,) = result["swap_set"]
    dropped = (book.pd > 0.06) & (book.pd <= 0.10)
    # THEN the dropped loans were granted: their realised bad rate is observed
    assert (swap_out["current"], swap_out["proposed"], swap_out["kind"]) == (
        "approve",
        "review",
        "swap-out",
    )
    assert swap_out["observed"] == swap_out["count"] == int(dropped.sum())
    assert swap_out["observed_bad_rate"] == pytest.approx(truth[dropped].mean())


def test_the_frontier_holds_both_policies_and_its_profit_is_recomputed() -> None:
    # GIVEN a book of 150 distinct PDs (every cut-off kept) and two PD policies
    rng = np.random.default_rng(11)
    pd = np.round(rng.uniform(0.001, 0.5, 150), 6)
    outcome = np.where(rng.uniform(size=150) < 0.5, (rng.uniform(size=150) < pd) * 1.0, np.nan)
    book = Book(pd, outcome, np.ones(150, bool), {"loan_amount": rng.uniform(500, 9000, 150)})
    current, proposed = by_pd("c", 0.08, 0.2), by_pd("p", 0.12, 0.25, lgd=0.5)
    result = simulate(book, current, proposed, margin=0.07)
    points = result["frontier"]["points"]
    # THEN the frontier runs from approving none to approving all, rising in approval
    assert points[0]["approval_rate"] == 0.0 and points[-1]["approval_rate"] == 1.0
    rates = [p["approval_rate"] for p in points]
    assert rates == sorted(rates) and len(points) == 151
    # AND each policy's mark is the frontier's point at the largest PD it approves
    for name in ("current", "proposed"):
        mark = result["frontier"][name]
        on_curve = max(
            (p for p in points if p["cutoff"] <= mark["cutoff"]), key=lambda p: p["cutoff"]
        )
        assert mark["approval_rate"] == pytest.approx(on_curve["approval_rate"])
        assert mark["bad_rate"] == pytest.approx(on_curve["bad_rate"])
        assert mark["expected_profit"] == pytest.approx(on_curve["expected_profit"])
    # AND the expected profit at a cut-off is the sum, loan by loan, at the proposed LGD
    cut = points[75]
    ead = book.columns["loan_amount"]
    by_hand = sum(
        ead[i] * (0.07 * (1 - pd[i]) - 0.5 * pd[i]) for i in range(150) if pd[i] <= cut["cutoff"]
    )
    assert cut["expected_profit"] == pytest.approx(by_hand)
    bad = np.where(np.isnan(outcome), pd, outcome)
    assert cut["bad_rate"] == pytest.approx(bad[pd <= cut["cutoff"]].mean())


def test_a_large_book_frontier_is_thinned_but_keeps_its_ends() -> None:
    book, _ = known_truth(n=5000)
    points = frontier(book, by_grade())
    assert len(points) <= 202
    assert points[-1]["approval_rate"] == 1.0


def test_a_policy_naming_an_exposure_the_book_lacks_is_refused_by_name() -> None:
    policy = by_grade().model_copy(update={"ead_feature": "credit_limit"})
    with pytest.raises(ValidationError, match="ead_feature 'credit_limit'"):
        simulate(small_book(), by_grade(), policy)


def test_a_margin_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValidationError, match="margin"):
        simulate(small_book(), by_grade(), by_grade(), margin=1.5)


def test_the_report_draws_the_frontier_with_both_policies_marked() -> None:
    result = simulate(small_book(), by_grade(), by_pd("2025.1", 0.05, 0.20))
    section = frontier_section(result)
    # two charts (bad rate, profit), each with the frontier and one mark per policy
    assert section.count("<svg") == 2
    assert len(re.findall(r'data-series="every PD cut-off"', section)) == 2
    assert len(re.findall(r'data-series="current 2024\.1"', section)) == 2
    assert len(re.findall(r'data-series="proposed 2025\.1"', section)) == 2
    assert section.count('class="point"') == 4
    page = simulation_page(result)
    assert "<script" not in page and 'id="swap-set"' in page and "observed" in page
    assert "approve → review" in page  # the swap set: 0.07 and 0.09 no longer approved
    text = simulation_text(result)
    assert "[observed]" in text and "[inferred from PD]" in text


def test_the_dashboard_says_when_no_simulation_was_run() -> None:
    assert "No policy simulation yet" in frontier_section(None)
