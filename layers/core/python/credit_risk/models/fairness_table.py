"""The fairness figures per protected group as HTML tables, for the model card and the
dashboard. Pure and light: no numpy, so the dashboard's request path loads no data stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credit_risk.charts import escape_text, finite_number


def _cell(value: Any, style: str) -> str:
    number = finite_number(value)
    if number is None:
        return '<td class="num">n/a</td>'
    text = f"{number:.1%}" if style == "pct" else f"{number:.3f}"
    return f'<td class="num">{text}</td>'


def fairness_html(report: Mapping[str, Any], *, min_air: float | None = None) -> str:
    """The fairness figures as HTML tables, one per protected attribute (escaped; no
    script). With ``min_air``, a group below it is marked. The mean PD shown beside the
    default rate is that of the same rows (``matured_mean_pd`` for live figures)."""
    parts = []
    for name, figures in sorted(report.items(), key=lambda kv: str(kv[0])):
        if not isinstance(figures, Mapping):
            continue
        rows = []
        groups = figures.get("groups") or {}
        for group, entry in groups.items():
            entry = entry if isinstance(entry, Mapping) else {}
            air = finite_number(entry.get("air"))
            low = min_air is not None and air is not None and air < min_air
            reference = " (reference)" if group == figures.get("reference") else ""
            rows.append(
                f'<tr class="{"below" if low else ""}" data-group="{escape_text(group)}">'
                f"<th>{escape_text(group)}{reference}</th>"
                f'<td class="num">{int(finite_number(entry.get("rows")) or 0):,}</td>'
                + _cell(entry.get("approval_rate"), "pct")
                + f'<td class="num{" missing" if low else ""}">'
                + ("n/a" if air is None else f"{air:.3f}")
                + "</td>"
                + _cell(entry.get("matured_mean_pd", entry.get("mean_pd")), "pct")
                + _cell(entry.get("default_rate"), "pct")
                + _cell(entry.get("auc"), "num")
                + "</tr>"
            )
        lowest = finite_number(figures.get("min_air"))
        verdict = (
            escape_text(str(figures.get("note", "no AIR")))
            if lowest is None
            else f"lowest adverse impact ratio {lowest:.3f} "
            f"({escape_text(figures.get('min_air_group'))})"
        )
        parts.append(
            f'<table class="fairness" data-attribute="{escape_text(name)}"><caption>'
            f"<code>{escape_text(name)}</code>: {verdict}</caption><thead><tr><th>Group</th>"
            "<th>Rows</th><th>Approval rate</th><th>AIR</th><th>Mean PD</th>"
            "<th>Default rate</th><th>AUC</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )
    return "".join(parts)
