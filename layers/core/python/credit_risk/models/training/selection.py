"""Choosing the champion among trained candidates: by cross-validated AUC, the simplest
first; a single candidate confirmed by a paired test on the holdout, the stack by a
corrected paired test on the cross-validation folds with the holdout as a veto.

A single holdout of a few hundred loans is too noisy to rank models on (on a 1,000-loan
book a 203-row holdout once picked the candidate with the lowest CV AUC), so:

1. Every candidate is ranked by its repeated cross-validated AUC (mean over folds x
   repeats, on the training part only).
2. The incumbent starts as the simplest candidate (lowest ``complexity``; among equals the
   one with the higher CV AUC).
3. Each more complex level, in order, offers its best candidate by CV AUC. It replaces the
   incumbent only when its CV AUC is higher **and** DeLong's paired test on the holdout
   rows finds its AUC higher at the configured ``alpha`` (two-sided p-value below alpha,
   difference positive); otherwise the simpler incumbent stays.
4. A stacked candidate comes last. It replaces the incumbent only when, against each of
   the incumbent and the best single candidate by CV AUC:

   a. the corrected resampled t-test (below) on its per-fold AUC differences finds it
      higher at ``alpha`` (two-sided p-value below alpha, mean difference positive), and
   b. DeLong's paired test on the holdout does not find it lower at ``alpha`` (a negative
      difference with a p-value below alpha refuses it).

The holdout then confirms: the champion's CV AUC should fall inside its holdout AUC's 95%
confidence interval; when it does not, the selection says so (it does not change the
choice, which the holdout alone is too small to make).

Why the stack is tested on the folds and the single candidates on the holdout. The holdout
has little power: on credit_data (3,563 training rows, 891 held out) the stack had the
best CV AUC in all five seeds tried (42-46), yet in four of them its holdout DeLong test
against the best single candidate gave p between 0.12 and 0.60. The folds hold four times
the rows and k x r paired comparisons, but a plain paired test on them is wrong: the fold
models are fitted on overlapping rows, so the per-fold differences are correlated and
their sample variance understates the variance of their mean (Dietterich 1998; Nadeau and
Bengio 2003), and DeLong's test on the pooled out-of-fold scores assumes one fixed scoring
function per model, which k x r fold models are not (measured: its p-values against the
scorecard ran from 0.057 to 0.963 with the repeat on the synthetic book). The corrected
resampled t-test answers that variance objection: with d_j the stack's AUC minus the
other's on fold x repeat j, t = mean(d) / sqrt((1 / (k r) + n_test / n_train) var(d)) on k
r - 1 degrees of freedom, the n_test / n_train term (1 / (k - 1)) standing for the
overlap; Bouckaert and Frank (2004) found this repeated k-fold form close to its nominal
size where the plain t-test rejects far too often.

The comparison is paired and out of fold on both sides. Every candidate and the stack use
the same folds (``RepeatedStratifiedKFold`` of the training part with the run's seed), so
d_j compares both on the same rows. The stack's fold AUC is out of fold for the stack
too: its members' margins on fold j come from fold models fitted without fold j, and its
weights for fold j are fitted on the other folds' rows only
(:func:`credit_risk.models.training.stacking.fit_stack`).

What remains imperfect, and why the holdout keeps a veto:

- The stack is cross-fitted, not nested: the other folds' member margins its fold-j
  weights are fitted on come from fold models that did train on fold j's rows, so fold
  j's labels reach its weights at second hand (through a few non-negative weights).
- The same folds chose each candidate's configuration (the best of its grid by these
  folds' mean AUC) and ranked the candidates, so the fold AUCs carry a little selection
  optimism on both sides, and the test is not independent of the ranking it checks.
- The correction is an approximation, and with one repeat (books over 12,500 rows) the
  test has only k - 1 = 2 degrees of freedom, so little power (the holdout is then large).

The holdout is the only untouched sample, so it can refuse the stack (significantly worse
than either opponent), but a higher holdout AUC is not required: on a few hundred rows the
holdout difference's standard error (0.01-0.02) exceeds the gains at stake, so requiring
the sign would be a test at about the 50% level, refusing a real gain of half that error
about a third of the time; that is the holdout's noise the fold test is there to avoid.
The single candidates keep DeLong on the holdout: there its low power errs towards the
simpler model, as the rule intends.

Pure: numpy and the paired tests of :mod:`.metrics` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from credit_risk.errors import InsufficientDataError
from credit_risk.models.training import metrics as m

RULE = (
    "rank by repeated-CV AUC; start from the simplest candidate; a more complex single "
    "candidate replaces it only with a higher CV AUC and a holdout DeLong test significant "
    "at alpha; the stack replaces it only when a corrected resampled t-test on the CV folds "
    "(Nadeau-Bengio, repeated k-fold) finds it better than both the incumbent and the best "
    "single candidate at alpha, and a holdout DeLong test finds it significantly worse than "
    "neither"
)


@dataclass(frozen=True)
class Contender:
    """One trained candidate as selection sees it: complexity, CV AUC, holdout PDs, and
    its AUC on each cross-validation fold x repeat (``fold_auc``, in the folds' shared
    order, ``cv_folds`` folds per repeat), which the stack's test pairs."""

    name: str
    complexity: int
    cv_auc: float
    cv_auc_std: float
    holdout_pd: np.ndarray
    stack: bool = False
    fold_auc: tuple[float, ...] = ()
    cv_folds: int = 0


def fold_aucs(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A candidate's AUC on each CV fold x repeat and its folds per repeat, from its
    metrics, as :class:`Contender` takes them (none from metrics written before
    the per-fold AUCs were kept)."""
    cv = metrics.get("cv") or {}
    per_fold = (cv.get("search_auc") or {}).get("per_fold") or []
    return {"fold_auc": tuple(float(a) for a in per_fold), "cv_folds": int(cv.get("folds") or 0)}


@dataclass
class Selection:
    """The chosen champion, the rule's steps with their reasons, and every contender's
    CV and holdout AUC (with its 95% confidence interval)."""

    champion: str
    alpha: float
    steps: list[dict[str, Any]] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    confirmation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: what ``metrics["selection"]`` holds."""
        return {
            "rule": RULE,
            "alpha": self.alpha,
            "champion": self.champion,
            "ranking": self.ranking,
            "steps": self.steps,
            "confirmation": self.confirmation,
        }

    def lines(self) -> list[str]:
        """The steps as sentences, for progress output."""
        return [s["reason"] for s in self.steps] + [self.confirmation.get("reason", "")]


def select_champion(
    contenders: Sequence[Contender], y_holdout: np.ndarray, *, alpha: float = 0.05
) -> Selection:
    """Apply the rule of the module docstring to ``contenders`` scored on the same
    holdout rows ``y_holdout``."""
    if not contenders:
        raise InsufficientDataError("no candidate was trained")
    y = np.asarray(y_holdout, dtype=np.int64)
    by_name = {c.name: c for c in contenders}
    ranking: list[dict[str, Any]] = []
    intervals: dict[str, list[float]] = {}
    for c in sorted(contenders, key=lambda c: -c.cv_auc):
        auc = m.ranking_metrics(y, c.holdout_pd)["auc"]
        intervals[c.name] = m.auc_interval(y, c.holdout_pd)
        ranking.append(
            {
                "candidate": c.name,
                "complexity": c.complexity,
                "stack": c.stack,
                "cv_auc": c.cv_auc,
                "cv_auc_std": c.cv_auc_std,
                "holdout_auc": auc,
                "holdout_auc_ci95": intervals[c.name],
            }
        )
    singles = [c for c in contenders if not c.stack] or list(contenders)
    stacks = [c for c in contenders if c.stack and c not in singles]
    steps: list[dict[str, Any]] = []
    levels = sorted({c.complexity for c in singles})

    def best_at(level: int) -> Contender:
        at = [c for c in singles if c.complexity == level]
        return max(at, key=lambda c: c.cv_auc)  # first of equals

    incumbent = best_at(levels[0])
    peers = [c for c in singles if c.complexity == levels[0] and c is not incumbent]
    beside = "".join(f"; {c.name} as simple, CV AUC {c.cv_auc:.4f}" for c in peers)
    steps.append(
        {
            "step": "start",
            "candidate": incumbent.name,
            "chosen": True,
            "reason": f"start from {incumbent.name}: the simplest candidate (complexity "
            f"{incumbent.complexity}), CV AUC {incumbent.cv_auc:.4f}{beside}",
        }
    )
    for level in levels[1:]:
        incumbent = _challenge(best_at(level), [incumbent], incumbent, y, alpha, steps)
    best_single = max(singles, key=lambda c: c.cv_auc)
    for stack in stacks:
        against = [incumbent] + ([best_single] if best_single is not incumbent else [])
        incumbent = _challenge_stack(stack, against, incumbent, y, alpha, steps)
    chosen = next(r for r in ranking if r["candidate"] == incumbent.name)
    low, high = intervals[incumbent.name]
    inside = low <= incumbent.cv_auc <= high
    confirmation = {
        "candidate": incumbent.name,
        "cv_auc": incumbent.cv_auc,
        "holdout_auc": chosen["holdout_auc"],
        "holdout_auc_ci95": [low, high],
        "confirmed": bool(inside),
        "reason": (
            f"holdout confirms {incumbent.name}: CV AUC {incumbent.cv_auc:.4f} lies in its "
            f"holdout AUC's 95% CI {low:.3f}-{high:.3f} ({chosen['holdout_auc']:.4f})"
            if inside
            else f"holdout does not confirm {incumbent.name}: CV AUC {incumbent.cv_auc:.4f} "
            f"lies outside its holdout AUC's 95% CI {low:.3f}-{high:.3f} "
            f"({chosen['holdout_auc']:.4f}); kept, since CV ranks on more loans"
        ),
    }
    assert incumbent.name in by_name
    return Selection(
        champion=incumbent.name,
        alpha=alpha,
        steps=steps,
        ranking=ranking,
        confirmation=confirmation,
    )


def _challenge(
    challenger: Contender,
    against: Sequence[Contender],
    incumbent: Contender,
    y: np.ndarray,
    alpha: float,
    steps: list[dict[str, Any]],
) -> Contender:
    """The challenger when it beats every one of ``against`` by CV AUC and significantly on
    the holdout, else the incumbent; the step and its reason appended to ``steps``."""
    step = _step(challenger, against)
    failures = []
    for other in against:
        if challenger.cv_auc <= other.cv_auc:
            failures.append(
                f"CV AUC {challenger.cv_auc:.4f} is not above {other.name}'s {other.cv_auc:.4f}"
            )
            continue
        test = m.paired_auc_test(y, challenger.holdout_pd, other.holdout_pd)
        step["tests"][other.name] = test
        significant = test["difference"] > 0 and test["p_value"] < alpha
        if not significant:
            failures.append(
                f"holdout AUC {test['difference']:+.4f} against {other.name}, DeLong "
                f"p = {test['p_value']:.3f}, not significant at {alpha:g}"
            )
    detail = ", ".join(
        f"{n}: {t['difference']:+.4f}, p = {t['p_value']:.3f}" for n, t in step["tests"].items()
    )
    because = (
        f"higher CV AUC {challenger.cv_auc:.4f} and significantly higher holdout AUC ({detail})"
    )
    return _verdict(step, steps, challenger, incumbent, failures, because)


def _step(
    challenger: Contender, against: Sequence[Contender], test: str | None = None
) -> dict[str, Any]:
    """A challenge step as ``metrics["selection"]`` keeps it, before its tests' figures."""
    step: dict[str, Any] = {
        "step": "challenge",
        "candidate": challenger.name,
        "complexity": challenger.complexity,
        "against": [a.name for a in against],
    }
    if test is not None:
        step["test"] = test
    step["tests"] = {}
    return step


def _verdict(
    step: dict[str, Any],
    steps: list[dict[str, Any]],
    challenger: Contender,
    incumbent: Contender,
    failures: Sequence[str],
    because: str,
) -> Contender:
    """Close ``step`` (appended to ``steps``): the incumbent kept for ``failures``, or,
    when there are none, the challenger chosen ``because``; the one that won."""
    kept = bool(failures)
    step["chosen"] = not kept
    if kept:
        step["reason"] = (
            f"keep {incumbent.name} over {challenger.name} (complexity "
            f"{challenger.complexity}): " + "; ".join(failures)
        )
    else:
        names = " and ".join(step["against"])
        step["reason"] = (
            f"choose {challenger.name} (complexity {challenger.complexity}) over {names}: "
            + because
        )
    steps.append(step)
    return incumbent if kept else challenger


def _t_text(test: dict[str, Any]) -> str:
    t = test["t"]
    return "t unbounded (the same difference on every fold)" if t is None else f"t = {t:.2f}"


def _fold_test(challenger: Contender, other: Contender) -> dict[str, Any] | None:
    """The corrected resampled t-test of ``challenger``'s fold AUCs against ``other``'s on
    the same folds, or None when the two do not hold AUCs of the same folds."""
    a, b = challenger.fold_auc, other.fold_auc
    folds = challenger.cv_folds
    if len(a) < 2 or len(a) != len(b) or folds < 2 or folds != other.cv_folds:
        return None
    differences = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return m.corrected_resampled_t_test(differences, 1.0 / (folds - 1))


def _challenge_stack(
    stack: Contender,
    against: Sequence[Contender],
    incumbent: Contender,
    y: np.ndarray,
    alpha: float,
    steps: list[dict[str, Any]],
) -> Contender:
    """The stack when, against every one of ``against``, the corrected resampled t-test on
    the CV folds finds it higher at ``alpha`` and the holdout DeLong test does not find it
    lower; else the incumbent. The step, each test's figures and the reason are appended
    to ``steps``."""
    step = _step(
        stack, against, "corrected resampled t-test on the CV folds; holdout DeLong as a veto"
    )
    failures, passed = [], []
    for other in against:
        cv = _fold_test(stack, other)
        holdout = m.paired_auc_test(y, stack.holdout_pd, other.holdout_pd)
        step["tests"][other.name] = {"cv": cv, "holdout": holdout}
        seen = f"holdout AUC {holdout['difference']:+.4f}, DeLong p = {holdout['p_value']:.3f}"
        if stack.cv_auc <= other.cv_auc:
            failures.append(
                f"CV AUC {stack.cv_auc:.4f} is not above {other.name}'s {other.cv_auc:.4f}"
            )
            continue
        if cv is None:
            failures.append(
                f"no AUCs on the same CV folds as {other.name}'s to test on "
                f"({len(stack.fold_auc)} against {len(other.fold_auc)})"
            )
            continue
        on_folds = (
            f"CV AUC {cv['difference']:+.4f} against {other.name} on {stack.cv_folds} folds "
            f"x {cv['n'] // stack.cv_folds} repeats, corrected {_t_text(cv)}, df {cv['df']}, "
            f"p = {cv['p_value']:.3f}"
        )
        if cv["difference"] <= 0 or cv["p_value"] >= alpha:
            failures.append(f"{on_folds}, not significant at {alpha:g} ({seen})")
        elif holdout["difference"] < 0 and holdout["p_value"] < alpha:
            failures.append(
                f"{on_folds}, but {seen}: significantly worse on the holdout at {alpha:g}"
            )
        else:
            passed.append(f"{on_folds}; {seen}")
    because = (
        f"significantly higher CV AUC by the corrected resampled t-test at {alpha:g}, and "
        "the holdout does not find it significantly worse (" + "; ".join(passed) + ")"
    )
    return _verdict(step, steps, stack, incumbent, failures, because)
