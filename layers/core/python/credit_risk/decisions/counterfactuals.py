"""Counterfactuals for declines: the smallest changes to the loan's actionable terms
(amount, term; the contract's ``actionable``) that would turn a decision into an approval.

Pure: the caller passes ``score_many``, which decides a list of changes to the application
(each a mapping of changed term to its new value) exactly as a real request with those
terms would be decided (the same model, policy and training-range check), so every option
returned has been re-scored. Single-term changes are tried first, each term's
candidates nearest the applicant's own value first; pairs only when no single change
works. All candidates are scored in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from credit_risk.contract import Actionable, Contract

MAX_STEPS = 40  # candidates per term: a ladder of steps from the applicant's value
MAX_OPTIONS = 3

ScoreMany = Callable[[Sequence[Mapping[str, Any]]], list[dict[str, Any]]]


def candidate_values(current: float, rule: Actionable) -> list[float]:
    """The values a term may take instead of ``current``, nearest first, within the rule's
    direction and bounds."""
    if rule.values is not None:
        values = [float(v) for v in rule.values if float(v) != current]
    else:
        assert rule.step is not None
        values = []
        for i in range(1, MAX_STEPS + 1):
            if rule.direction in ("decrease", "any"):
                values.append(current - i * rule.step)
            if rule.direction in ("increase", "any"):
                values.append(current + i * rule.step)
    if rule.direction == "decrease":
        values = [v for v in values if v < current]
    elif rule.direction == "increase":
        values = [v for v in values if v > current]
    values = [
        v
        for v in values
        if (rule.min is None or v >= rule.min) and (rule.max is None or v <= rule.max)
    ]
    return sorted(set(values), key=lambda v: (abs(v - current), v))


def _typed(value: float, like: Any) -> Any:
    return int(round(value)) if isinstance(like, int) and not isinstance(like, bool) else value


def find_counterfactuals(
    application: Mapping[str, Any], contract: Contract, score_many: ScoreMany
) -> dict[str, Any]:
    """The smallest approving changes for ``application``, or why there are none."""
    terms = {n: r for n, r in contract.actionable.items() if application.get(n) is not None}
    if not terms:
        return {
            "found": False,
            "options": [],
            "searched": 0,
            "message": "no term of this application may be changed (contract: actionable)",
        }
    ladders = {n: candidate_values(float(application[n]), r) for n, r in terms.items()}
    singles = [((n, v),) for n, ladder in ladders.items() for v in ladder]
    options = _approved(application, singles, score_many)
    searched = len(singles)
    if not options and len(ladders) > 1:
        names = list(ladders)
        pairs = [
            ((a, va), (b, vb))
            for i, a in enumerate(names)
            for b in names[i + 1 :]
            for va in ladders[a][:10]
            for vb in ladders[b][:10]
        ]
        options = _approved(application, pairs, score_many)
        searched += len(pairs)
    if not options:
        return {
            "found": False,
            "options": [],
            "searched": searched,
            "message": "no change within the allowed ranges of "
            f"{', '.join(sorted(terms))} turns this into an approval",
        }
    return {"found": True, "options": options[:MAX_OPTIONS], "searched": searched}


def _approved(
    application: Mapping[str, Any],
    changes: Sequence[tuple[tuple[str, float], ...]],
    score_many: ScoreMany,
) -> list[dict[str, Any]]:
    """The approving changes, best per term set: the nearest (first on each ladder)."""
    if not changes:
        return []
    decided = score_many([{n: _typed(v, application[n]) for n, v in change} for change in changes])
    best: dict[tuple[str, ...], dict[str, Any]] = {}
    for change, decision in zip(changes, decided, strict=True):
        names = tuple(n for n, _ in change)
        if decision["decision"] != "approve" or names in best:
            continue
        best[names] = {
            "changes": [
                {"field": n, "from": application[n], "to": _typed(v, application[n])}
                for n, v in change
            ],
            "probability_of_default": decision["probability_of_default"],
            "score": decision["score"],
            "grade": decision["grade"],
            "decision": decision["decision"],
        }
    return list(best.values())
