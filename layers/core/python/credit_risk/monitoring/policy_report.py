"""A policy simulation as a page: figures, swap set and the efficient frontier.

Draws what :func:`credit_risk.decisions.simulation.simulate` returns: the frontier as two
inline SVG charts (approval rate against bad rate, and against expected profit) with the
current and proposed policies marked, the figures of both policies with each figure's
basis (observed or inferred from PD), and the swap set. :func:`frontier_section` is what
the dashboard embeds; :func:`simulation_page` is the HTML report of ``policy simulate``;
:func:`simulation_text` its console summary.

Pure and light: standard library only (the dashboard renders on the API's request path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from credit_risk import charts
from credit_risk.charts import escape_text as _e
from credit_risk.charts import finite_number as _number

CURRENT_COLOR = "#1f5fa8"
PROPOSED_COLOR = "#c0392b"
FRONTIER_COLOR = "#5d6d7e"
FIGURE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("applications", "applications", "int"),
    ("approval_rate", "approval rate", "pct"),
    ("review_rate", "review rate", "pct"),
    ("decline_rate", "decline rate", "pct"),
    ("approved_observed", "approved with an outcome", "int"),
    ("bad_rate_observed", "bad rate among approved, observed", "pct"),
    ("bad_rate_inferred", "bad rate among approved without an outcome, from PD", "pct"),
    ("bad_rate_combined", "bad rate among approved, combined", "pct"),
    ("expected_loss", "expected loss (PD x LGD x EAD)", "money"),
    ("expected_loss_observed", "expected loss of approved loans with an outcome", "money"),
    ("realised_loss", "realised loss (observed defaults x LGD x EAD)", "money"),
)
SEGMENT_NAMES = {"matured": "matured book", "recent": "recent applications", "all": "all"}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1c2833;margin:0;
background:#f4f6f8;line-height:1.4;font-size:14px}
main{max-width:1200px;margin:0 auto;padding:18px 28px 40px}
section{background:#fff;border:1px solid #dde1e4;border-radius:6px;padding:14px 18px;
margin:0 0 16px;overflow-x:auto}
section h2{font-size:1.08rem;margin:0 0 10px}
.charts{display:flex;flex-wrap:wrap;gap:14px}
table{border-collapse:collapse;font-size:.86rem;margin:6px 0}
th,td{border:1px solid #e1e5e8;padding:4px 9px;text-align:left}
th{background:#f2f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#566573;font-size:.85rem}
""".strip()
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _fmt(value: Any, style: str = "num") -> str:
    number = _number(value)
    if number is None:
        return "n/a"
    if style == "pct":
        return f"{number:.2%}"
    if style == "int":
        return f"{number:,.0f}"
    if style == "money":
        return f"{number:,.0f}"
    return f"{number:.4f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    attrs = f' class="{_e(css)}"' if css else ""
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _marker(name: str, point: Mapping[str, Any], y: str, color: str) -> charts.Series:
    version = point.get("version")
    return charts.Series(
        f"{name} {version}",
        [point.get("approval_rate")],  # type: ignore[list-item]
        [point.get(y)],  # type: ignore[list-item]
        color=color,
        markers=True,
    )


def frontier_charts(simulation: Mapping[str, Any], *, width: int = 520) -> str:
    """The efficient frontier as two SVG charts, both policies marked."""
    front = simulation.get("frontier") or {}
    points = [p for p in front.get("points") or [] if p.get("approval_rate") is not None]
    current, proposed = front.get("current") or {}, front.get("proposed") or {}
    drawn = []
    for y, label, title in (
        ("bad_rate", "bad rate among approved", "Approval rate against bad rate"),
        ("expected_profit", "expected profit", "Approval rate against expected profit"),
    ):
        curve = [p for p in points if _number(p.get(y)) is not None]
        series = [
            charts.Series(
                "every PD cut-off",
                [p["approval_rate"] for p in curve],
                [p[y] for p in curve],
                color=FRONTIER_COLOR,
            ),
            _marker("current", current, y, CURRENT_COLOR),
            _marker("proposed", proposed, y, PROPOSED_COLOR),
        ]
        drawn.append(
            f'<figure class="frontier" data-y="{_e(y)}">'
            + charts.line_chart(
                series,
                title=title,
                x_label="approval rate",
                y_label=label,
                width=width,
                height=340,
                x_range=(0.0, 1.0),
                legend="top-left",
            )
            + "</figure>"
        )
    return '<div class="charts">' + "".join(drawn) + "</div>"


def _point_row(name: str, point: Mapping[str, Any]) -> list[str]:
    return [
        _e(f"{name} {point.get('version')}"),
        _fmt(point.get("cutoff")),
        _fmt(point.get("approval_rate"), "pct"),
        _fmt(point.get("bad_rate"), "pct"),
        _fmt(point.get("expected_profit"), "money"),
    ]


def frontier_section(
    simulation: Mapping[str, Any] | None, *, section_id: str = "policy-frontier"
) -> str:
    """A section with the frontier, the two policies' points and what they rest on."""
    title = "Decision policy: efficient frontier"
    if not simulation:
        body = (
            '<p class="missing">No policy simulation yet: run '
            "<code>./run policy simulate PROPOSED.yaml</code>.</p>"
        )
        return f'<section id="{_e(section_id)}"><h2>{_e(title)}</h2>{body}</section>'
    front = simulation.get("frontier") or {}
    current, proposed = front.get("current") or {}, front.get("proposed") or {}
    when = str(simulation.get("simulated_at") or "")[:19].replace("T", " ")
    note = (
        f"Every PD cut-off over {_fmt(simulation.get('applications'), 'int')} applications "
        f"scored by model {_e(simulation.get('model_version'))}; "
        f"{_fmt(simulation.get('observed'), 'int')} have a real outcome (granted and "
        "matured), the others count by their PD. Bad rate: observed where known, else "
        f"inferred from PD. Profit at margin {_fmt(front.get('margin'), 'pct')} of the "
        f"exposure, LGD {_fmt(front.get('lgd'))} (the proposed policy's)."
        + (f" Simulated {_e(when)} UTC." if when else "")
    )
    table = _table(
        ["policy", "approval cut-off (PD)", "approval rate", "bad rate", "expected profit"],
        [_point_row("current", current), _point_row("proposed", proposed)],
        css="frontier-points",
    )
    return (
        f'<section id="{_e(section_id)}" data-current="{_e(current.get("version"))}" '
        f'data-proposed="{_e(proposed.get("version"))}"><h2>{_e(title)}</h2>'
        f'<p class="note">{note}</p>{frontier_charts(simulation)}{table}</section>'
    )


def _figures_table(simulation: Mapping[str, Any]) -> str:
    policies = simulation.get("policies") or {}
    basis = simulation.get("basis") or {}
    header = ["figure", "basis"]
    columns: list[tuple[str, str]] = []
    for segment in ("matured", "recent", "all"):
        for name in ("current", "proposed"):
            version = (policies.get(name) or {}).get("version")
            header.append(f"{name} {version}: {SEGMENT_NAMES[segment]}")
            columns.append((name, segment))
    rows = []
    for key, label, style in FIGURE_ROWS:
        row = [_e(label), _e(basis.get(key, "observed"))]
        for name, segment in columns:
            figures = ((policies.get(name) or {}).get("segments") or {}).get(segment) or {}
            row.append(_fmt(figures.get(key), style))
        rows.append(row)
    return _table(header, rows, css="policy-figures")


def _swap_table(simulation: Mapping[str, Any]) -> str:
    swaps = simulation.get("swap_set") or []
    if not swaps:
        return '<p class="note">No application changes decision.</p>'
    rows = [
        [
            _e(f"{s['current']} → {s['proposed']}"),
            _e(s["kind"]),
            _fmt(s["count"], "int"),
            _fmt(s["share"], "pct"),
            _fmt(s["mean_pd"]),
            f"{_fmt(s['min_pd'])}–{_fmt(s['max_pd'])}",
            _fmt(s["observed"], "int"),
            _fmt(s["observed_bad_rate"], "pct"),
        ]
        for s in swaps
    ]
    header = [
        "current → proposed",
        "kind",
        "applications",
        "share of book",
        "mean PD (inferred bad rate)",
        "PD range",
        "with an outcome",
        "realised bad rate (observed)",
    ]
    return _table(header, rows, css="swap-set")


def simulation_page(simulation: Mapping[str, Any]) -> str:
    """The HTML report of a simulation: one self-contained page, no script."""
    policies = simulation.get("policies") or {}
    current = (policies.get("current") or {}).get("version")
    proposed = (policies.get("proposed") or {}).get("version")
    title = f"Decision policy simulation: {proposed} against {current}"
    body = (
        f"<h1>{_e(title)}</h1>"
        '<section id="policy-figures"><h2>Figures</h2><p class="note">Observed: counted from '
        "the book and the real outcomes of granted, matured loans. Inferred from PD: the "
        "champion's PDs stand in where no outcome exists (an application nobody granted "
        "has none). Realised loss uses the policy's LGD (the book records no "
        f"recoveries).</p>{_figures_table(simulation)}</section>"
        '<section id="swap-set"><h2>Swap set</h2><p class="note">Applications whose '
        f"decision changes; {_fmt(simulation.get('unchanged'), 'int')} keep theirs.</p>"
        f"{_swap_table(simulation)}</section>" + frontier_section(simulation)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def simulation_text(simulation: Mapping[str, Any]) -> str:
    """A console summary: the headline figures of both policies, and the swap set."""
    policies = simulation.get("policies") or {}
    lines = [
        f"{simulation.get('applications')} applications scored by model "
        f"{simulation.get('model_version')}; {simulation.get('observed')} with a real "
        f"outcome, {simulation.get('matured')} matured"
    ]
    keys = (
        ("approval_rate", "pct"),
        ("bad_rate_observed", "pct"),
        ("bad_rate_inferred", "pct"),
        ("bad_rate_combined", "pct"),
        ("expected_loss", "money"),
        ("realised_loss", "money"),
    )
    basis = simulation.get("basis") or {}
    for segment in ("matured", "recent", "all"):
        lines.append(f"\n{SEGMENT_NAMES[segment]}:")
        for key, style in keys:
            values = []
            for name in ("current", "proposed"):
                policy = policies.get(name) or {}
                figures = (policy.get("segments") or {}).get(segment) or {}
                values.append(f"{name} {policy.get('version')} {_fmt(figures.get(key), style)}")
            lines.append(f"  {key:<18} {'  '.join(values)}  [{basis.get(key, 'observed')}]")
    lines.append("\nswap set (current → proposed):")
    for s in simulation.get("swap_set") or []:
        lines.append(
            f"  {s['current']:>7} → {s['proposed']:<7} {s['count']:>7,d}  mean PD "
            f"{_fmt(s['mean_pd'])}  observed {s['observed']:,d}, realised bad rate "
            f"{_fmt(s['observed_bad_rate'], 'pct')}"
        )
    if not simulation.get("swap_set"):
        lines.append("  no application changes decision")
    return "\n".join(lines)
