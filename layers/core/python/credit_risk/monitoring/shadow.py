"""Champion against shadow challenger, on the same requests and, as outcomes mature, the
same loans.

The API stores one ``ml.shadow_scores`` row per request it scored with a challenger
(:mod:`credit_risk.decisions.shadow`). From those rows and the matured outcomes this
module computes, per champion/challenger pair:

- **agreement**: the share of requests on which both made the same decision;
- **swaps**: approve→decline and decline→approve (the challenger's decision against the
  champion's), and every other change (to or from review);
- on matured loans (each loan once, its latest request): **ROC AUC** of both models and
  their **calibration**, mean PD against the observed default rate.

Pure: no boto3, no SQLAlchemy (:mod:`credit_risk.monitoring.shadow_store` reads the rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SWAPS = (("approve", "decline"), ("decline", "approve"))


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def rank_auc(y: Sequence[int], pds: Sequence[float]) -> float | None:
    """ROC AUC (ties count half), as :func:`credit_risk.monitoring.figures.auc` computes
    it, in plain Python: the dashboard is served without numpy or pandas. None unless
    both outcomes occur."""
    positives = sum(1 for t in y if t)
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(pds)), key=lambda i: pds[i])
    rank_sum, start = 0.0, 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and pds[order[end + 1]] == pds[order[start]]:
            end += 1
        average = (start + end) / 2 + 1  # ranks from 1; a tie shares its average rank
        rank_sum += average * sum(1 for i in order[start : end + 1] if y[i])
        start = end + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def compare_pair(rows: Sequence[Mapping[str, Any]], outcomes: Mapping[str, int]) -> dict[str, Any]:
    """The comparison of one champion/challenger pair from its shadow rows (each with
    ``application_id``, ``champion_pd``/``_decision``, ``challenger_pd``/``_decision``,
    ``challenger_ms`` and ``scored_at``) and matured outcomes by application id."""
    n = len(rows)
    agree = sum(1 for r in rows if r["champion_decision"] == r["challenger_decision"])
    swaps = {
        f"{a}_to_{b}": sum(
            1 for r in rows if (r["champion_decision"], r["challenger_decision"]) == (a, b)
        )
        for a, b in SWAPS
    }
    latest: dict[str, Mapping[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["scored_at"]):
        latest[str(r["application_id"])] = r
    matured = [(r, outcomes[a]) for a, r in latest.items() if a in outcomes]
    y = [int(t) for _, t in matured]
    champion_pd = [float(r["champion_pd"]) for r, _ in matured]
    challenger_pd = [float(r["challenger_pd"]) for r, _ in matured]
    observed = sum(y) / len(y) if y else None
    ms = sorted(float(r["challenger_ms"]) for r in rows)

    def model(pds: Sequence[float], all_pds: Sequence[float]) -> dict[str, Any]:
        mean = sum(pds) / len(pds) if pds else None
        return {
            "mean_pd": _round(sum(all_pds) / len(all_pds)) if all_pds else None,
            "auc": _round(rank_auc(y, pds)),
            "matured_mean_pd": _round(mean),
            "calibration_gap": (
                None if mean is None or observed is None else _round(mean - observed)
            ),
        }

    first = rows[0]
    return {
        "champion_version": first["champion_version"],
        "challenger_version": first["challenger_version"],
        "decisions": n,
        "first_at": min(r["scored_at"] for r in rows),
        "last_at": max(r["scored_at"] for r in rows),
        "agreement": _round(agree / n) if n else None,
        "swaps": {**swaps, "other_changes": n - agree - sum(swaps.values())},
        "matured": len(matured),
        "defaults": sum(y),
        "observed_default_rate": _round(observed),
        "champion": model(champion_pd, [float(r["champion_pd"]) for r in rows]),
        "challenger": model(challenger_pd, [float(r["challenger_pd"]) for r in rows]),
        "challenger_ms_p50": _round(ms[len(ms) // 2], 3) if ms else None,
    }


def compare_shadow(
    rows: Sequence[Mapping[str, Any]], outcomes: Mapping[str, int]
) -> list[dict[str, Any]]:
    """One comparison per champion/challenger pair, the most recently scored first."""
    pairs: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r["scored_at"]):
        pairs.setdefault((r["champion_version"], r["challenger_version"]), []).append(r)
    out = [compare_pair(group, outcomes) for group in pairs.values()]
    return sorted(out, key=lambda c: c["last_at"], reverse=True)


def comparison_lines(comparisons: Sequence[Mapping[str, Any]]) -> list[str]:
    """The comparisons as lines for a terminal (``./run models``)."""
    if not comparisons:
        return ["shadow: no challenger has scored a request yet (SHADOW_CHALLENGER)"]
    lines = []
    for c in comparisons:
        swaps = c["swaps"]
        lines.append(
            f"shadow: champion {c['champion_version']} vs challenger {c['challenger_version']}"
            f": {c['decisions']} decisions, agreement {c['agreement']:.1%}, approve→decline "
            f"{swaps['approve_to_decline']}, decline→approve {swaps['decline_to_approve']}, "
            f"other changes {swaps['other_changes']}"
        )
        if c["matured"]:
            champ, chall = c["champion"], c["challenger"]

            def auc_text(value: float | None) -> str:
                return "n/a (one outcome only)" if value is None else f"{value:.4f}"

            lines.append(
                f"  on {c['matured']} matured loans (observed default rate "
                f"{c['observed_default_rate']:.3f}): AUC {auc_text(champ['auc'])} vs "
                f"{auc_text(chall['auc'])}; mean PD {champ['matured_mean_pd']:.3f} vs "
                f"{chall['matured_mean_pd']:.3f}"
            )
        else:
            lines.append("  no matured outcome yet for these loans: AUC and calibration wait")
    return lines
