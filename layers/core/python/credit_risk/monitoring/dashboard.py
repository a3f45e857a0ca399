"""The risk dashboard: one self-contained HTML page of portfolio and model health.

It shows what a credit risk manager looks at every morning: the portfolio by grade and
decision, expected loss by segment, realised default rate by vintage and by grade, the
PD distribution now against training, population stability per input with its band,
champion against challengers, the champion's ROC and calibration, and the latest pipeline
and training runs. The page loads nothing: no script, no font, no stylesheet from
elsewhere (its Content-Security-Policy forbids it), and the charts are inline SVG drawn by
:mod:`credit_risk.charts`, so it opens offline and stays a few hundred KB.

Pure and light: standard library only (no pandas, numpy, boto3 or SQLAlchemy), so the
API can render it on the request path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from credit_risk import charts
from credit_risk.charts import escape_text as _e
from credit_risk.charts import finite_number as _number
from credit_risk.models.fairness_table import fairness_html
from credit_risk.monitoring.policy_report import frontier_section

BAND_COLORS = {"stable": "#2e8b57", "watch": "#d68910", "shifted": "#c0392b"}
DECISION_COLORS = {"approve": "#2e8b57", "review": "#d68910", "decline": "#c0392b"}
STATUS_COLORS = {
    "ok": "#2e8b57",
    "watch": "#d68910",
    "alert": "#c0392b",
    "SUCCEEDED": "#2e8b57",
    "RUNNING": "#1f5fa8",
    "FAILED": "#c0392b",
    "TIMED_OUT": "#c0392b",
    "ABORTED": "#7d3c98",
}
MIN_VINTAGE_MATURED_SHARE = 0.5
"""A vintage's default rate is drawn once at least this share of its loans has matured
(defaults mature first, so a young vintage overstates its rate)."""
MAX_EXECUTIONS = 15

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1c2833;margin:0;
background:#f4f6f8;line-height:1.4;font-size:14px}
header{background:#fff;border-bottom:1px solid #dde1e4;padding:16px 28px}
header h1{font-size:1.45rem;margin:0 0 4px}
.meta{color:#566573;margin:0}
main{max-width:1340px;margin:0 auto;padding:18px 28px 40px}
.pill{display:inline-block;border-radius:10px;padding:1px 9px;color:#fff;font-size:.8rem;
font-weight:600;text-transform:uppercase;letter-spacing:.03em;vertical-align:middle}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:12px;
margin:0 0 16px}
.kpi{background:#fff;border:1px solid #dde1e4;border-radius:6px;padding:10px 14px}
.kpi .label{color:#566573;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}
.kpi .value{font-size:1.45rem;font-weight:600;font-variant-numeric:tabular-nums}
.kpi .sub{color:#566573;font-size:.82rem}
.alerts{background:#fdf2f0;border:1px solid #e6b0aa;border-left:5px solid #c0392b;
border-radius:6px;padding:10px 16px;margin:0 0 16px}
.alerts.calm{background:#eef8f1;border-color:#a9dfbf;border-left-color:#2e8b57}
.alerts h2{font-size:1rem;margin:0 0 6px;border:0;padding:0}
.alerts ul{margin:0;padding-left:20px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(620px,1fr));gap:16px}
section{background:#fff;border:1px solid #dde1e4;border-radius:6px;padding:14px 18px;
margin:0 0 16px;overflow-x:auto}
section h2{font-size:1.08rem;margin:0 0 10px;border-bottom:2px solid #e5e8eb;padding-bottom:4px}
.charts{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
table{border-collapse:collapse;font-size:.86rem;margin:6px 0}
th,td{border:1px solid #e1e5e8;padding:4px 9px;text-align:left}
th{background:#f2f4f6;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#566573;font-size:.85rem;margin:6px 0 0}
.missing{color:#a04000}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}
footer{color:#7b8a97;font-size:.8rem;text-align:center;padding:0 0 24px}
""".strip()


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any, style: str = "num") -> str:
    number = _number(value)
    if number is None:
        return "n/a"
    if style == "pct":
        return f"{number:.1%}"
    if style == "pp":
        return f"{number * 100:+.1f} pts"
    if style == "int":
        return f"{number:,.0f}"
    if style == "money":
        if abs(number) >= 1e6:
            return f"{number / 1e6:,.2f}M"
        if abs(number) >= 1e4:
            return f"{number / 1e3:,.1f}k"
        return f"{number:,.0f}"
    return f"{number:.3f}"


def _pill(text: str, color: str | None = None) -> str:
    fill = color or STATUS_COLORS.get(text, "#5d6d7e")
    return f'<span class="pill" style="background:{_e(fill)}">{_e(text)}</span>'


def _band_pill(band: str | None) -> str:
    return _pill(band or "n/a", BAND_COLORS.get(band or "", "#5d6d7e"))


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{_e(section_id)}"><h2>{_e(title)}</h2>{body}</section>'


def _missing(what: str) -> str:
    return f'<p class="missing">{_e(what)}</p>'


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool] | None = None
) -> str:
    """A table whose cells are already HTML; ``numeric`` right-aligns columns."""
    align = list(numeric) if numeric is not None else [i > 0 for i in range(len(header))]
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if a else f"<th>{_e(h)}</th>"
        for h, a in zip(header, align, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if a else f"<td>{c}</td>"
            for c, a in zip(row, align, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _every(n: int, target: int = 8) -> int:
    """A tick every ``k`` points so that about ``target`` labels show."""
    return max(1, math.ceil(n / target))


# --------------------------------------------------------------------------- header


def _header(data: Mapping[str, Any], snapshot: Mapping[str, Any] | None) -> str:
    title = data.get("title") or "Credit risk dashboard"
    status = (snapshot or {}).get("status")
    parts = []
    model = (snapshot or {}).get("model")
    if model:
        parts.append(f"champion {model['version']} ({model.get('candidate') or 'n/a'})")
    window = (snapshot or {}).get("window")
    if window:
        parts.append(
            f"window {window['start']} to {window['end']} ({window['rows']:,} applications)"
        )
    reference = (snapshot or {}).get("reference")
    if reference:
        parts.append(f"reference: {reference.get('label')}")
    as_of = (snapshot or {}).get("as_of") or data.get("generated_at") or ""
    parts.append(f"as of {str(as_of)[:16].replace('T', ' ')} UTC")
    pill = f" {_pill(status)}" if status else ""
    return f'<header><h1>{_e(title)}{pill}</h1><p class="meta">{_e(" · ".join(parts))}</p></header>'


def _kpi(label: str, value: str, sub: str = "") -> str:
    return (
        f'<div class="kpi"><div class="label">{_e(label)}</div>'
        f'<div class="value">{value}</div><div class="sub">{sub}</div></div>'
    )


def _kpis(snapshot: Mapping[str, Any]) -> str:
    portfolio = snapshot.get("portfolio") or {}
    rates = portfolio.get("window_rates") or {}
    book = portfolio.get("rates") or {}
    perf = snapshot.get("performance") or {}
    score = _get(snapshot, "drift", "score") or {}
    tiles = [
        _kpi(
            "Applications scored",
            _e(_fmt(portfolio.get("applications"), "int")),
            _e(f"{_fmt(_get(snapshot, 'window', 'rows'), 'int')} in the window"),
        ),
        _kpi(
            "Approval rate (window)",
            _e(_fmt(rates.get("approve_rate"), "pct")),
            _e(
                f"{_fmt(portfolio.get('approval_rate_change'), 'pp')} vs months before; "
                f"book {_fmt(book.get('approve_rate'), 'pct')}"
            ),
        ),
        _kpi(
            "Decline rate (window)",
            _e(_fmt(rates.get("decline_rate"), "pct")),
            _e(f"review {_fmt(rates.get('review_rate'), 'pct')}"),
        ),
        _kpi(
            "Mean PD",
            _e(_fmt(portfolio.get("mean_pd"), "pct")),
            _e(f"expected loss {_fmt(portfolio.get('expected_loss'), 'money')}"),
        ),
        _kpi(
            "PD stability (PSI)",
            _e(_fmt(score.get("psi"))),
            _band_pill(score.get("band")) if score else "not measured",
        ),
        _kpi(
            "AUC on matured loans",
            _e(_fmt(perf.get("auc"))),
            _e(
                f"holdout {_fmt(perf.get('holdout_auc'))}; KS {_fmt(perf.get('ks'))}"
                if perf.get("auc") is not None
                else "not enough matured loans"
            ),
        ),
        _kpi(
            "Realised default rate",
            _e(_fmt(perf.get("default_rate"), "pct")),
            _e(
                f"{_fmt(perf.get('matured'), 'int')} matured; predicted "
                f"{_fmt(perf.get('mean_pd'), 'pct')}"
            ),
        ),
    ]
    return f'<div class="kpis" id="kpis">{"".join(tiles)}</div>'


def _alerts(snapshot: Mapping[str, Any]) -> str:
    alerts = snapshot.get("alerts") or []
    notes = snapshot.get("notes") or []
    if not alerts:
        body = "<h2>No threshold crossed</h2>"
        if notes:
            body += "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"
        return f'<div class="alerts calm" id="alerts">{body}</div>'
    items = "".join(
        f"<li>{_pill(a['severity'], '#c0392b' if a['severity'] == 'critical' else '#d68910')} "
        f"<strong>{_e(a['rule'])}</strong>: {_e(a['message'])} "
        f"(limit {_e(a['threshold'])})</li>"
        for a in alerts
    )
    items += "".join(f"<li>{_e(n)}</li>" for n in notes)
    noun = "threshold" if len(alerts) == 1 else "thresholds"
    heading = f"<h2>{len(alerts)} {noun} crossed</h2>"
    return f'<div class="alerts" id="alerts">{heading}<ul>{items}</ul></div>'


# --------------------------------------------------------------------------- portfolio


def _portfolio(snapshot: Mapping[str, Any]) -> str:
    portfolio = snapshot.get("portfolio")
    if not portfolio:
        return _section("portfolio", "Portfolio by grade and decision", _missing("No scores yet."))
    by_grade = portfolio["by_grade"]
    crosstab = portfolio.get("grade_by_decision") or {}
    decisions = [row["decision"] for row in portfolio.get("by_decision", [])]

    def dominant(grade: str) -> str:
        counts = crosstab.get(grade) or {}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ""

    grades_svg = charts.bar_chart(
        [row["grade"] for row in by_grade],
        [row["count"] for row in by_grade],
        title="Applications by risk grade",
        value_label="applications",
        horizontal=False,
        width=420,
        height=300,
        value_format="{:,.0f}",
        colors=[DECISION_COLORS.get(dominant(row["grade"]), charts.PALETTE[0]) for row in by_grade],
    )
    decision_rows = portfolio.get("by_decision", [])
    decisions_svg = charts.bar_chart(
        [row["decision"] for row in decision_rows],
        [row["count"] for row in decision_rows],
        title="Applications by decision",
        value_label="applications",
        width=380,
        value_format="{:,.0f}",
        colors=[DECISION_COLORS.get(row["decision"], charts.PALETTE[5]) for row in decision_rows],
    )
    months = snapshot.get("by_month") or []
    trend = ""
    if len(months) > 1:
        step = _every(len(months))
        series = [
            charts.Series(
                d,
                list(range(len(months))),
                [row.get(f"{d}_rate") for row in months],
                color=DECISION_COLORS.get(d),
                markers=True,
            )
            for d in decisions
        ]
        trend = charts.line_chart(
            series,
            title="Decision rates by application month",
            y_label="share of applications",
            y_range=(0.0, 1.0),
            width=520,
            height=300,
            legend="top-left",
            x_ticks=[(i, row["month"]) for i, row in enumerate(months) if i % step == 0],
        )
    rows = []
    for row in by_grade:
        counts = crosstab.get(row["grade"], {})
        rows.append(
            [_e(row["grade"])]
            + [_e(_fmt(counts.get(d, 0), "int")) for d in decisions]
            + [
                _e(_fmt(row["count"], "int")),
                _e(_fmt(row["share"], "pct")),
                _e(_fmt(row["mean_pd"], "pct")),
            ]
        )
    table = _table(["Grade", *decisions, "Total", "Share", "Mean PD"], rows)
    legend = "".join(
        f'<span class="swatch" style="background:{c}"></span>{_e(d)}'
        for d, c in DECISION_COLORS.items()
    )
    note = f'<p class="note">Bars are coloured by the decision each grade gets: {legend}</p>'
    body = f'<div class="charts">{grades_svg}{decisions_svg}{trend}</div>{note}{table}'
    return _section("portfolio", "Portfolio by grade and decision", body)


def _expected_loss(snapshot: Mapping[str, Any]) -> str:
    el = snapshot.get("expected_loss") or {}
    by_grade = el.get("by_grade") or []
    if not by_grade:
        return _section("expected-loss", "Expected loss by segment", _missing("No scores yet."))
    grade_svg = charts.bar_chart(
        [row["segment"] for row in by_grade],
        [(row["expected_loss"] or 0) / 1000 for row in by_grade],
        title="Expected loss by grade (thousands)",
        value_label="expected loss, PD × LGD × EAD (thousands)",
        width=560,
        value_format="{:,.0f}",
        color=charts.PALETTE[1],
    )
    feature = el.get("segment_feature")
    segments = sorted(el.get("by_segment") or [], key=lambda row: -(row["expected_loss"] or 0))
    segment_svg = ""
    if feature and segments:
        segment_svg = charts.bar_chart(
            [row["segment"] for row in segments],
            [(row["expected_loss"] or 0) / 1000 for row in segments],
            title=f"Expected loss by {feature} (thousands)",
            value_label="expected loss (thousands)",
            width=560,
            value_format="{:,.0f}",
            color=charts.PALETTE[3],
        )
    rows = [
        [
            _e(row["segment"]),
            _e(_fmt(row["count"], "int")),
            _e(_fmt(row["expected_loss"], "money")),
            _e(_fmt(row["el_share"], "pct")),
            _e(_fmt(row["el_per_application"], "money")),
            _e(_fmt(row["mean_pd"], "pct")),
        ]
        for row in segments
    ]
    table = (
        _table(
            [feature or "segment", "Applications", "Expected loss", "Share", "Per loan", "Mean PD"],
            rows,
        )
        if rows
        else ""
    )
    return _section(
        "expected-loss",
        "Expected loss by segment",
        f'<div class="charts">{grade_svg}{segment_svg}</div>{table}',
    )


# --------------------------------------------------------------------------- outcomes


def _realised_vs_predicted(
    rows: Sequence[Mapping[str, Any]], predicted: str, *, predicted_markers: bool, **chart: Any
) -> str:
    """Realised default rate against the mean predicted PD, one point per row."""
    xs = list(range(len(rows)))
    return charts.line_chart(
        [
            charts.Series(
                "realised default rate",
                xs,
                [row["default_rate"] for row in rows],
                color=charts.PALETTE[1],
                markers=True,
            ),
            charts.Series(
                "mean predicted PD",
                xs,
                [row[predicted] for row in rows],
                color=charts.PALETTE[0],
                dashed=True,
                markers=predicted_markers,
            ),
        ],
        **chart,
    )


def _vintage(snapshot: Mapping[str, Any]) -> str:
    months = [
        row
        for row in snapshot.get("by_month") or []
        if row.get("matured")
        and row["matured"] / max(row["applications"], 1) >= MIN_VINTAGE_MATURED_SHARE
    ]
    perf = snapshot.get("performance") or {}
    parts = []
    if months:
        step = _every(len(months))
        parts.append(
            _realised_vs_predicted(
                months,
                "matured_mean_pd",
                predicted_markers=False,
                title="Default rate by vintage (month of application)",
                y_label="default rate",
                width=560,
                height=320,
                legend="top-right",
                x_ticks=[(i, row["month"]) for i, row in enumerate(months) if i % step == 0],
            )
        )
    grades = [row for row in perf.get("by_grade") or [] if row.get("matured")]
    if grades:
        parts.append(
            _realised_vs_predicted(
                grades,
                "mean_pd",
                predicted_markers=True,
                title="Default rate by grade (matured loans)",
                x_label="risk grade",
                y_label="default rate",
                width=440,
                height=320,
                legend="top-left",
                x_ticks=[(i, row["grade"]) for i, row in enumerate(grades)],
            )
        )
    if not parts:
        body = _missing("No loan has matured yet: default rates appear once outcomes do.")
    else:
        body = f'<div class="charts">{"".join(parts)}</div>'
        body += (
            f'<p class="note">Vintages are drawn once {MIN_VINTAGE_MATURED_SHARE:.0%} of their '
            "loans have matured (defaults mature first, so younger vintages overstate their "
            "rate). "
            + _e(
                f"{_fmt(perf.get('matured'), 'int')} matured loans, "
                f"{_fmt(perf.get('defaults'), 'int')} defaults."
            )
            + "</p>"
        )
    return _section("vintage", "Realised default rates", body)


def _score_distribution(snapshot: Mapping[str, Any]) -> str:
    score = _get(snapshot, "drift", "score")
    histogram = (score or {}).get("histogram") or {}
    edges = histogram.get("edges") or []
    reference, current = histogram.get("reference") or [], histogram.get("current") or []
    title = "Score distribution: now vs training"
    if len(edges) < 2 or len(current) != len(edges) - 1:
        return _section("score-distribution", title, _missing("No reference to compare with."))
    groups = {"now (window)": current}
    if len(reference) == len(current):
        ref_label = (
            "training"
            if _get(snapshot, "reference", "kind") == "training_baseline"
            else "reference"
        )
        groups = {ref_label: reference, **groups}
    svg = charts.histogram(
        edges,
        groups,
        title="Probability of default: window against reference",
        x_label="probability of default (the last bin holds everything above)",
        y_label="share of applications",
        colors=(charts.PALETTE[5], charts.PALETTE[0]),
        width=570,
        height=320,
    )
    note = (
        f'<p class="note">PSI {_e(_fmt(score.get("psi")))} {_band_pill(score.get("band"))}; '
        f"mean PD {_e(_fmt(score.get('reference_mean_pd'), 'pct'))} in the reference, "
        f"{_e(_fmt(score.get('current_mean_pd'), 'pct'))} now. Reference: "
        f"{_e(_get(snapshot, 'reference', 'label'))}.</p>"
    )
    return _section("score-distribution", title, svg + note)


def _feature_drift(snapshot: Mapping[str, Any]) -> str:
    rows = list(_get(snapshot, "drift", "features") or [])
    score = _get(snapshot, "drift", "score")
    title = "Population stability per input (PSI)"
    if not rows and not score:
        return _section("feature-drift", title, _missing("Drift not measured: no reference."))
    bars = ([("probability of default", score["psi"], score["band"])] if score else []) + [
        (row["feature"], row["psi"], row["band"]) for row in rows
    ]
    svg = charts.bar_chart(
        [name for name, _, _ in bars],
        [value for _, value, _ in bars],
        title="PSI, window against reference",
        value_label="population stability index",
        width=640,
        value_format="{:.3f}",
        colors=[BAND_COLORS.get(band, charts.PALETTE[5]) for _, _, band in bars],
    )
    legend = "".join(
        f'<span class="swatch" style="background:{BAND_COLORS[b]}"></span>{_e(text)}'
        for b, text in (
            ("stable", "stable (< 0.1)"),
            ("watch", "watch (0.1 to 0.25)"),
            ("shifted", "shifted (> 0.25)"),
        )
    )
    table = _table(
        ["Input", "Kind", "PSI", "Band"],
        [
            [_e(row["feature"]), _e(row["kind"]), _e(_fmt(row["psi"])), _band_pill(row["band"])]
            for row in rows
        ],
        [False, False, True, False],
    )
    body = f'<div class="charts">{svg}<div>{table}</div></div><p class="note">{legend}</p>'
    return _section("feature-drift", title, body)


# --------------------------------------------------------------------------- models


def _models(data: Mapping[str, Any]) -> str:
    models = list(data.get("models") or [])
    title = "Champion vs challengers"
    if not models:
        return _section("models", title, _missing("No model is registered yet."))
    rows = []
    for model in models:
        holdout = model.get("holdout") or {}
        rows.append(
            [
                _e(model.get("version")),
                _e(model.get("candidate")),
                _pill(
                    str(model.get("status")),
                    "#1f5fa8" if model.get("status") == "champion" else "#7b8a97",
                ),
                _e(_fmt(holdout.get("auc"))),
                _e(_fmt(holdout.get("gini"))),
                _e(_fmt(holdout.get("ks"))),
                _e(_fmt(holdout.get("brier"))),
                _e(str(model.get("created_at") or "")[:16].replace("T", " ")),
                _e(model.get("reason") or ""),
            ]
        )
    table = _table(
        ["Version", "Candidate", "Status", "AUC", "Gini", "KS", "Brier", "Registered", "Reason"],
        rows,
        [False, False, False, True, True, True, True, False, False],
    )
    scored = [m for m in models if _number(_get(m, "holdout", "auc")) is not None]
    svg = ""
    if scored:
        svg = charts.bar_chart(
            [f"{m.get('candidate') or ''} {m.get('version')}".strip() for m in scored],
            [m["holdout"]["auc"] for m in scored],
            title="Holdout ROC AUC by model version",
            value_label="ROC AUC",
            width=560,
            value_format="{:.3f}",
            colors=[
                charts.PALETTE[0] if m.get("status") == "champion" else charts.PALETTE[5]
                for m in scored
            ],
        )
    return _section("models", title, f'<div class="charts">{svg}<div>{table}</div></div>')


def _shadow(data: Mapping[str, Any]) -> str:
    """Champion against the shadow challenger on the same requests and matured loans."""
    title = "Champion vs shadow challenger"
    comparisons = list(data.get("shadow") or [])
    if not comparisons:
        return _section(
            "shadow",
            title,
            _missing(
                "No shadow challenger has scored a request yet (SHADOW_CHALLENGER: auto, a "
                "version, or off)."
            ),
        )
    rows = []
    for c in comparisons:
        swaps = c.get("swaps") or {}
        champ, chall = c.get("champion") or {}, c.get("challenger") or {}
        rows.append(
            [
                _e(c.get("champion_version")),
                _e(c.get("challenger_version")),
                _e(_fmt(c.get("decisions"), "int")),
                _e(_fmt(c.get("agreement"), "pct")),
                _e(_fmt(swaps.get("approve_to_decline"), "int")),
                _e(_fmt(swaps.get("decline_to_approve"), "int")),
                _e(_fmt(swaps.get("other_changes"), "int")),
                _e(_fmt(c.get("matured"), "int")),
                _e(f"{_fmt(champ.get('auc'))} / {_fmt(chall.get('auc'))}"),
                _e(
                    f"{_fmt(champ.get('matured_mean_pd'))} / {_fmt(chall.get('matured_mean_pd'))}"
                    f" vs {_fmt(c.get('observed_default_rate'))}"
                ),
            ]
        )
    table = _table(
        [
            "Champion",
            "Challenger",
            "Decisions",
            "Agreement",
            "Approve→decline",
            "Decline→approve",
            "Other changes",
            "Matured loans",
            "AUC (champion / challenger)",
            "Mean PD (champion / challenger) vs observed",
        ],
        rows,
        [False, False, True, True, True, True, True, True, True, True],
    )
    note = (
        "The challenger scores every API request in shadow: it never changes an answer. "
        "Swaps are the challenger's decision against the champion's; AUC and calibration "
        "use each matured loan once (its latest request), n/a until both outcomes occur."
    )
    return _section("shadow", title, f'{table}<p class="note">{_e(note)}</p>')


def _model_card_plots(data: Mapping[str, Any], snapshot: Mapping[str, Any] | None) -> str:
    champion = next((m for m in data.get("models") or [] if m.get("status") == "champion"), None)
    title = "Champion model card: ROC, calibration and separation"
    if champion is None:
        return _section("model-card", title, _missing("No champion model yet."))
    holdout = champion.get("holdout") or {}
    parts = []
    curve = holdout.get("roc_curve") or {}
    fpr, tpr = curve.get("fpr") or [], curve.get("tpr") or []
    if fpr and len(fpr) == len(tpr):
        label = f"holdout (AUC {_fmt(holdout.get('auc'))})"
        parts.append(charts.roc_chart(label, fpr, tpr, width=400, height=360))
    series = []
    table = holdout.get("calibration") or []
    if table:
        series.append(
            charts.Series(
                "holdout",
                [row.get("mean_pd") for row in table],
                [row.get("observed_rate") for row in table],
                markers=True,
            )
        )
    matured = _get(snapshot, "performance", "calibration") or []
    if matured:
        series.append(
            charts.Series(
                "matured portfolio",
                [row.get("mean_pd") for row in matured],
                [row.get("observed_rate") for row in matured],
                color=charts.PALETTE[1],
                markers=True,
            )
        )
    if series:
        parts.append(charts.calibration_chart(series, width=400, height=360))
    dist = holdout.get("score_distribution") or {}
    edges = dist.get("edges") or []
    defaults, payers = dist.get("defaults") or [], dist.get("non_defaults") or []
    if len(edges) > 1 and len(defaults) == len(payers) == len(edges) - 1:
        parts.append(
            charts.histogram(
                edges,
                {"defaults": defaults, "non-defaults": payers},
                title="Holdout PDs by outcome",
                x_label="predicted probability of default",
                normalise=True,
                colors=(charts.PALETTE[1], charts.PALETTE[0]),
                width=400,
                height=360,
            )
        )
    if not parts:
        return _section("model-card", title, _missing("The champion's metrics hold no curves."))
    note = (
        '<p class="note">From the champion\'s model card (holdout) and, for calibration, the '
        "matured loans of the portfolio. Points on the dashed diagonal are well calibrated.</p>"
    )
    return _section("model-card", title, f'<div class="charts">{"".join(parts)}</div>{note}')


# --------------------------------------------------------------------------- operations


def _executions(data: Mapping[str, Any]) -> str:
    executions = list(data.get("executions") or [])[:MAX_EXECUTIONS]
    title = "Recent pipeline, training and re-score runs"
    if not executions:
        return _section("executions", title, '<p class="note">No runs recorded.</p>')
    rows = [
        [
            _e(run.get("machine")),
            f"<code>{_e(run.get('name'))}</code>",
            _pill(str(run.get("status"))),
            _e(str(run.get("start") or "")[:19].replace("T", " ")),
            _e(_duration(run.get("seconds"))),
        ]
        for run in executions
    ]
    counts: dict[str, int] = {}
    for run in executions:
        counts[str(run.get("status"))] = counts.get(str(run.get("status")), 0) + 1
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    table = _table(
        ["State machine", "Execution", "Status", "Started (UTC)", "Took"],
        rows,
        [False, False, False, False, True],
    )
    return _section("executions", title, f'<p class="note">{_e(summary)}</p>{table}')


def _duration(seconds: Any) -> str:
    number = _number(seconds)
    if number is None:
        return "-"
    if number < 60:
        return f"{number:.1f} s"
    return f"{number / 60:.1f} min"


def _monthly(snapshot: Mapping[str, Any]) -> str:
    months = snapshot.get("by_month") or []
    if not months:
        return ""
    rows = [
        [
            _e(row["month"]),
            _e(_fmt(row["applications"], "int")),
            _e(_fmt(row.get("approve_rate"), "pct")),
            _e(_fmt(row.get("decline_rate"), "pct")),
            _e(_fmt(row.get("mean_pd"), "pct")),
            _e(_fmt(row.get("expected_loss"), "money")),
            _e(_fmt(row.get("matured"), "int")),
            _e(_fmt(row.get("default_rate"), "pct")),
        ]
        for row in reversed(months)
    ]
    table = _table(
        [
            "Month",
            "Applications",
            "Approved",
            "Declined",
            "Mean PD",
            "Expected loss",
            "Matured",
            "Default rate",
        ],
        rows,
    )
    return _section("months", "By month of application", table)


# --------------------------------------------------------------------------- fairness


def _fairness(snapshot: Mapping[str, Any]) -> str:
    """Live decisions per protected group: approval rate and adverse impact ratio in the
    window, calibration and AUC on matured loans. Aggregates only: no row's group is
    shown. No panel when the contract declares no protected attribute."""
    fairness = snapshot.get("fairness")
    if not isinstance(fairness, Mapping) or not fairness:
        return ""
    limits = [f.get("threshold") for f in fairness.values() if isinstance(f, Mapping)]
    min_air = next((float(v) for v in limits if isinstance(v, int | float)), None)
    note = (
        '<p class="note">Approval rate and adverse impact ratio (AIR: a group\'s approval '
        "rate over the most-approved group's) of the decisions in the current window; "
        "mean PD, default rate and AUC of the matured loans."
        + (f" An AIR below {min_air:g} raises an alert." if min_air is not None else "")
        + "</p>"
    )
    body = fairness_html(fairness, min_air=min_air) + note
    return _section("fairness", "Fairness of live decisions", body)


# --------------------------------------------------------------------------- page


def _policy_frontier(data: Mapping[str, Any]) -> str:
    """The latest policy simulation's efficient frontier (issue 14), when the data has
    the key (a monitoring service always gives it; None before the first simulation)."""
    if "policy_simulation" not in data:
        return ""
    return frontier_section(data.get("policy_simulation"))


def render_dashboard(data: Mapping[str, Any]) -> str:
    """The dashboard as one self-contained HTML page.

    ``data`` holds ``snapshot`` (a monitoring snapshot from
    :func:`credit_risk.monitoring.figures.compute_snapshot`, or None before the first run),
    ``models`` (registry versions, champion first, each with ``version``, ``candidate``,
    ``status``, ``created_at``, ``reason`` and its ``holdout`` metrics), ``executions``
    (recent runs: ``machine``, ``name``, ``status``, ``start``, ``seconds``), ``shadow``
    (champion-vs-challenger comparisons, :func:`credit_risk.monitoring.shadow.compare_shadow`), and
    optionally ``title``, ``generated_at``, ``snapshot_id`` and ``policy_simulation``
    (the latest policy simulation, whose efficient frontier is drawn). Anything missing is shown
    as such. The output is deterministic for the same data.
    """
    snapshot = data.get("snapshot")
    if snapshot:
        top = _kpis(snapshot) + _alerts(snapshot)
        monitoring = (
            '<div class="grid">'
            + _portfolio(snapshot)
            + _expected_loss(snapshot)
            + _vintage(snapshot)
            + _score_distribution(snapshot)
            + "</div>"
            + _feature_drift(snapshot)
            + _fairness(snapshot)
        )
    else:
        top = (
            '<div class="alerts calm" id="alerts"><h2>No monitoring run yet</h2>'
            "<p>Portfolio figures appear after the first monitoring run (scheduled daily, "
            "or after scoring).</p></div>"
        )
        monitoring = ""
    body = (
        top
        + monitoring
        + _models(data)
        + _shadow(data)
        + _model_card_plots(data, snapshot)
        + _executions(data)
        + (_monthly(snapshot) if snapshot else "")
        + _policy_frontier(data)
    )
    footer = " · ".join(
        _e(part)
        for part in (
            f"snapshot {data.get('snapshot_id')}" if data.get("snapshot_id") else "",
            f"rendered {str(data.get('generated_at') or '')[:19].replace('T', ' ')} UTC"
            if data.get("generated_at")
            else "",
            "credit-risk platform",
        )
        if part
    )
    title = data.get("title") or "Credit risk dashboard"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{_header(data, snapshot)}<main>{body}</main>"
        f"<footer>{footer}</footer></body></html>\n"
    )
