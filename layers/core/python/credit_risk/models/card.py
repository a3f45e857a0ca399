"""The model card: one self-contained HTML page that says what a model is and how good it is.

It is written next to every model artifact, for the credit team, model validators and
auditors. The page has no scripts and loads nothing: styles are inline and the charts are
SVG drawn by :mod:`credit_risk.charts`. All text from metadata and metrics is escaped.

This module is pure: it imports neither boto3 nor SQLAlchemy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from credit_risk import charts
from credit_risk.charts import escape_text as _e
from credit_risk.charts import finite_number as _number
from credit_risk.models.fairness_table import fairness_html

MAX_FEATURES_SHOWN = 25

# (key, label, format, what it means) for the metrics table, in reading order.
_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("auc", "ROC AUC", "num", "Chance a random defaulter is ranked riskier than a random payer"),
    ("gini", "Gini", "num", "2 x AUC - 1: ranking power from 0 (none) to 1 (perfect)"),
    ("ks", "KS", "num", "Largest gap between the defaulters' and payers' PD distributions"),
    ("brier", "Brier score", "num", "Mean squared error of the PD; lower is better"),
    ("log_loss", "Log loss", "num", "Penalises confident wrong PDs; lower is better"),
    (
        "precision",
        "Precision",
        "pct",
        "Of applications flagged at the cutoff, the share defaulting",
    ),
    ("recall", "Recall", "pct", "Of defaults, the share flagged at the cutoff"),
    ("f1", "F1", "num", "Harmonic mean of precision and recall"),
    ("accuracy", "Accuracy", "pct", "Share classified correctly at the cutoff"),
    ("cutoff", "Cutoff", "num", "PD at or above which an application counts as flagged"),
)

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1c2833;margin:0;
background:#f7f9fb;line-height:1.45}
main{max-width:980px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.15rem;margin:0 0 10px;
border-bottom:2px solid #e5e8eb;padding-bottom:4px}
section{margin:26px 0}
.subtitle{color:#566573;margin:0 0 14px}
.headline{font-size:1.05rem;background:#eef4fb;border-left:4px solid #1f5fa8;
padding:10px 14px;margin:12px 0}
table{border-collapse:collapse;font-size:.92rem}
th,td{border:1px solid #dde1e4;padding:5px 10px;text-align:left;vertical-align:top}
th{background:#f2f4f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
dt{color:#566573}dd{margin:0;word-break:break-all}
.charts{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.note{color:#566573;font-size:.9rem}
.missing{color:#a04000}
code{font-size:.88rem}
""".strip()


def _fmt(value: Any, style: str = "num") -> str:
    number = _number(value)
    if number is None:
        return "n/a"
    if style == "pct":
        return f"{number:.1%}"
    if style == "int":
        return f"{number:,.0f}"
    if number.is_integer() and abs(number) >= 1:
        return f"{number:,.0f}"
    return f"{number:.4f}".rstrip("0").rstrip(".") if abs(number) < 1000 else f"{number:,.1f}"


def _missing(what: str) -> str:
    return f'<p class="missing">{_e(what)} not available in the metrics.</p>'


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{body}</section>'


def _dl(items: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v if v not in (None, '') else 'n/a')}</dd>" for k, v in items
    )
    return f"<dl>{rows}</dl>"


def _summary(meta: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    name, version = meta.get("name", "model"), meta.get("version", "")
    holdout = metrics.get("holdout_kind") or "holdout"
    headline = (
        f"On {_fmt(metrics.get('n_holdout'), 'int')} {holdout} rows the model ranks risk with "
        f"AUC {_fmt(metrics.get('auc'))} (Gini {_fmt(metrics.get('gini'))}, "
        f"KS {_fmt(metrics.get('ks'))}); Brier score {_fmt(metrics.get('brier'))}."
    )
    counts = _confusion_counts(metrics)
    if counts is not None and sum(counts) > 0:
        tn, fp, fn, tp = counts
        flagged = (tp + fp) / (tn + fp + fn + tp)
        headline += (
            f" At the cutoff PD {_fmt(metrics.get('cutoff'))} it flags {flagged:.1%} of "
            f"applications and catches {_fmt(metrics.get('recall'), 'pct')} of defaults."
        )
    body = f'<p class="headline">{_e(headline)}</p>' + _dl(
        [
            ("Model", name),
            ("Version", version),
            ("Candidate", meta.get("candidate")),
            ("Trained at", meta.get("trained_at")),
            ("Dataset contract", meta.get("contract_name")),
            ("Data snapshot", meta.get("data_snapshot_hash")),
            ("Code version", meta.get("code_version")),
        ]
    )
    return (
        f"<h1>Model card: {_e(name)} {_e(version)}</h1>"
        f'<p class="subtitle">Probability-of-default model '
        f"({_e(meta.get('candidate') or 'candidate n/a')})</p>"
        + _section("summary", "Summary", body)
    )


def _intended_use(meta: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    contract = meta.get("contract_name") or "its dataset contract"
    holdout = metrics.get("holdout_kind") or "holdout"
    body = f"""
<p><strong>Intended use.</strong> Estimates the probability that a loan application
defaults within the outcome window defined by {_e(contract)}, from information known at
application time. The PD feeds the versioned decision policy (score points, risk grade,
approve / review / decline, expected loss) and the principal reasons given to applicants.
Declines and borderline cases are for a credit officer to confirm.</p>
<p><strong>Not intended for</strong> populations, products or regions unlike the training
data, for pricing or collections without separate validation, or as the only basis of an
adverse decision.</p>
<p><strong>Limitations.</strong></p>
<ul>
<li>Metrics come from a {_e(holdout)} sample of {_fmt(metrics.get("n_holdout"), "int")} rows;
performance on future applications may be lower, and falls as the applicant population
drifts. Watch the population stability of the inputs and the observed default rate.</li>
<li>PDs are calibrated to the training population's default rate
({_fmt(metrics.get("default_rate"), "pct")}); a change in that rate needs recalibration.</li>
<li>Feature importance and principal reasons describe what the model relies on, not what
causes default.</li>
<li>Personal data is excluded from the inputs, but other inputs can act as proxies for
protected characteristics; review outcomes across groups before and during use.</li>
</ul>"""
    return _section("intended-use", "Intended use and limitations", body)


def _data(meta: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    body = _dl(
        [
            ("Training rows", _fmt(metrics.get("n_train"), "int")),
            ("Holdout rows", _fmt(metrics.get("n_holdout"), "int")),
            ("Holdout kind", metrics.get("holdout_kind")),
            ("Default rate", _fmt(metrics.get("default_rate"), "pct")),
            ("Dataset contract", meta.get("contract_name")),
            ("Data snapshot (sha256)", meta.get("data_snapshot_hash")),
        ]
    )
    return _section("data", "Data", body)


def _cv_summary(cv: Mapping[str, Any], key: str) -> tuple[float | None, float | None, int]:
    """Mean, standard deviation and fold count of one metric, whatever shape CV used."""
    value = cv.get(key)
    if isinstance(value, Mapping):
        n = value.get("n") or value.get("folds") or 0
        return _number(value.get("mean")), _number(value.get("std")), int(_number(n) or 0)
    if isinstance(value, Sequence) and not isinstance(value, str):
        folds = [v for v in (_number(x) for x in value) if v is not None]
        if not folds:
            return None, None, 0
        mean = sum(folds) / len(folds)
        spread = math.sqrt(sum((v - mean) ** 2 for v in folds) / len(folds))
        return mean, spread, len(folds)
    if _number(value) is not None:
        return _number(value), _number(cv.get(f"{key}_std")), 0
    return _number(cv.get(f"{key}_mean")), _number(cv.get(f"{key}_std")), 0


def _metrics_table(metrics: Mapping[str, Any], cv: Mapping[str, Any] | None) -> str:
    head = "<tr><th>Metric</th><th>Holdout</th>"
    head += "<th>Cross-validation (mean &plusmn; sd)</th>" if cv else ""
    head += "<th>Meaning</th></tr>"
    rows = []
    for key, label, style, meaning in _METRICS:
        value = _fmt(metrics.get(key), style)
        ci = metrics.get(f"{key}_ci95")
        if isinstance(ci, list) and len(ci) == 2:
            value += f" (95% CI {_fmt(ci[0], style)}-{_fmt(ci[1], style)})"
        row = f'<tr><th>{_e(label)}</th><td class="num">{_e(value)}</td>'
        if cv:
            mean, spread, _ = _cv_summary(cv, key)
            cell = _fmt(mean, style)
            if mean is not None and spread is not None:
                cell += f" ± {_fmt(spread, style)}"
            row += f'<td class="num">{_e(cell)}</td>'
        rows.append(row + f"<td>{_e(meaning)}</td></tr>")
    note = ""
    if cv:
        folds = max((_cv_summary(cv, k)[2] for k, *_ in _METRICS), default=0)
        if folds:
            note = f'<p class="note">Cross-validation over {folds} folds.</p>'
        if cv.get("auc_note"):
            note += f'<p class="note">{_e(str(cv["auc_note"]))}.</p>'
    table = f'<table class="metrics"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    return _section("metrics", "Metrics", table + note)


def _roc(metrics: Mapping[str, Any]) -> str:
    curve = metrics.get("roc_curve") or {}
    fpr, tpr = curve.get("fpr") or [], curve.get("tpr") or []
    if not fpr or len(fpr) != len(tpr):
        return _section("roc-curve", "ROC curve", _missing("The ROC curve"))
    svg = charts.roc_chart(
        f"model (AUC {_fmt(metrics.get('auc'))})", fpr, tpr, width=440, height=400
    )
    note = '<p class="note">The dashed diagonal is a model that ranks at random.</p>'
    return _section("roc-curve", "ROC curve", svg + note)


def _calibration(metrics: Mapping[str, Any]) -> str:
    table = metrics.get("calibration") or []
    if not table:
        return _section("calibration", "Calibration", _missing("The calibration table"))
    mean_pd = [row.get("mean_pd") for row in table]
    observed = [row.get("observed_rate") for row in table]
    svg = charts.calibration_chart(
        [charts.Series("observed default rate", mean_pd, observed, markers=True)],
        width=440,
        height=400,
    )
    rows = "".join(
        f'<tr><td>{_e(row.get("bin"))}</td><td class="num">{_fmt(row.get("count"), "int")}</td>'
        f'<td class="num">{_fmt(row.get("mean_pd"), "pct")}</td>'
        f'<td class="num">{_fmt(row.get("observed_rate"), "pct")}</td></tr>'
        for row in table
    )
    detail = (
        '<table class="calibration"><thead><tr><th>Bin</th><th>Rows</th><th>Mean PD</th>'
        f"<th>Observed</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    note = (
        '<p class="note">Points on the dashed diagonal mean a PD of x% is followed by '
        "defaults x% of the time.</p>"
    )
    return _section("calibration", "Calibration", f'<div class="charts">{svg}{detail}</div>{note}')


def _score_distribution(metrics: Mapping[str, Any]) -> str:
    dist = metrics.get("score_distribution") or {}
    edges = dist.get("edges") or []
    defaults, payers = dist.get("defaults") or [], dist.get("non_defaults") or []
    bins = len(edges) - 1
    if bins < 1 or len(defaults) != bins or len(payers) != bins:
        return _section(
            "score-distribution", "Score distribution", _missing("The score distribution")
        )
    finite = [v for v in (_number(e) for e in edges) if v is not None]
    is_pd = bool(finite) and min(finite) >= 0 and max(finite) <= 1
    svg = charts.histogram(
        edges,
        {"defaults": defaults, "non-defaults": payers},
        title="Score distribution by outcome",
        x_label="predicted probability of default" if is_pd else "score",
        normalise=True,
        colors=(charts.PALETTE[1], charts.PALETTE[0]),
        width=640,
        height=320,
    )
    note = (
        '<p class="note">Each group is shown as shares of its own total, so the shapes '
        "compare despite the class imbalance. The less they overlap, the better the model "
        "separates defaults from payers.</p>"
    )
    return _section("score-distribution", "Score distribution", svg + note)


def _feature_importance(metrics: Mapping[str, Any]) -> str:
    items = [
        (str(row.get("feature")), _number(row.get("importance")) or 0.0)
        for row in metrics.get("feature_importance") or []
    ]
    if not items:
        return _section("feature-importance", "Feature importance", _missing("Feature importance"))
    items.sort(key=lambda item: -abs(item[1]))
    shown = items[:MAX_FEATURES_SHOWN]
    svg = charts.bar_chart(
        [name for name, _ in shown],
        [value for _, value in shown],
        title="Feature importance",
        value_label="importance",
        width=640,
    )
    note = ""
    if len(items) > len(shown):
        note = f'<p class="note">The {len(shown)} most important of {len(items)} features.</p>'
    return _section("feature-importance", "Feature importance", svg + note)


def _monotonicity(metrics: Mapping[str, Any]) -> str:
    """The declared monotone features and whether the fitted model honours each; a breach
    is stated, never passed over. No section when the contract declares none."""
    checks = metrics.get("monotonicity")
    if not isinstance(checks, Mapping) or not checks:
        return ""
    rows, broken = [], []
    for name, check in sorted(checks.items(), key=lambda kv: str(kv[0])):
        check = check if isinstance(check, Mapping) else {}
        holds = check.get("holds") is True
        if not holds:
            broken.append(str(name))
        coefficient = check.get("coefficient")
        how = "constrained in training" if check.get("enforced") else "not constrained"
        if coefficient is not None:
            how = f"linear, coefficient {_fmt(coefficient)}"
        verdict = "holds" if holds else "VIOLATED"
        rows.append(
            f"<tr><th><code>{_e(name)}</code></th><td>{_e(check.get('declared', 'n/a'))}</td>"
            f'<td class="{"" if holds else "missing"}">{verdict}</td>'
            f'<td class="num">{_e(_fmt(check.get("violations"), "pct"))}</td>'
            f"<td>{_e(how)}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>Feature</th><th>Declared</th><th>Check</th>"
        "<th>Rows against</th><th>How</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    if broken:
        verdict_note = (
            f'<p class="missing">The model violates the declared direction of '
            f"{_e(', '.join(broken))}: its PD moves the other way for some holdout rows.</p>"
        )
    else:
        verdict_note = '<p class="note">The model honours every declared direction.</p>'
    note = (
        '<p class="note">Each feature is swept over its training quantiles on up to 200 '
        "holdout rows, the other inputs held fixed; a row is against the declared direction "
        "when its PD moves the other way by more than 1e-9.</p>"
    )
    return _section("monotonicity", "Monotone constraints", verdict_note + table + note)


def _fairness(metrics: Mapping[str, Any]) -> str:
    """Approval rate, adverse impact ratio, calibration and AUC per protected group, on
    the holdout. No section when the contract declares no protected attribute."""
    report = metrics.get("fairness")
    if not isinstance(report, Mapping) or not report:
        return ""
    note = (
        '<p class="note">On the holdout rows: the approval rate is the share the decision '
        "policy approves at the model's calibrated PD; the adverse impact ratio (AIR) is a "
        "group's approval rate over the most-approved group's (the promotion gate asks at "
        "least its configured minimum, 0.8 by default); mean PD against the default rate "
        "is the calibration per group.</p>"
    )
    return _section("fairness", "Fairness by protected group", fairness_html(report) + note)


def _points_table(metrics: Mapping[str, Any]) -> str:
    """A scorecard's points table: every characteristic's bins with their training
    count, weight of evidence and points; no section for other models."""
    table = metrics.get("points_table")
    if not isinstance(table, Mapping) or not table.get("rows"):
        return ""
    rows = "".join(
        f"<tr><th><code>{_e(row.get('characteristic'))}</code></th>"
        f"<td><code>{_e(row.get('bin'))}</code></td>"
        f'<td class="num">{_e(_fmt(row.get("count"), "int"))}</td>'
        f'<td class="num">{_e(_fmt(row.get("woe")))}</td>'
        f'<td class="num">{_e(_points(row.get("points")))}</td></tr>'
        for row in table["rows"]
        if isinstance(row, Mapping)
    )
    body = (
        "<table><thead><tr><th>Characteristic</th><th>Bin</th><th>Training rows</th>"
        "<th>WoE</th><th>Points</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )
    factor = _number(table.get("factor"))
    offset = _number(table.get("offset"))
    note = (
        f'<p class="note">Points-to-double-odds scaling: {_e(_fmt(table.get("base_score")))} '
        f"points at good:bad odds of {_e(_fmt(table.get('base_odds')))}, and every "
        f"{_e(_fmt(table.get('pdo')))} more points double the odds. An application's points "
        "are the sum of its bins' points, and its PD is 1 / (1 + exp(-("
        f"{_e(_points(offset))} - points) / {_e(_points(factor))})): the table alone gives the "
        "PD. WoE is ln(share of payers / share of defaulters) in the bin: higher is safer. "
        "A principal reason is a characteristic that lost points against its best bin.</p>"
    )
    dropped = [str(name) for name in table.get("dropped") or []]
    if dropped:
        note += (
            f'<p class="note">Dropped for a coefficient of the wrong sign (every bin scores '
            f"the same): {_e(', '.join(dropped))}.</p>"
        )
    return _section("points-table", "Scorecard points table", body + note)


def _points(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.2f}"


def _confusion_counts(metrics: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """(tn, fp, fn, tp), or None when any is missing."""
    matrix = metrics.get("confusion_matrix") or {}
    tn, fp, fn, tp = (_number(matrix.get(k)) for k in ("tn", "fp", "fn", "tp"))
    if tn is None or fp is None or fn is None or tp is None:
        return None
    return tn, fp, fn, tp


def _confusion_matrix(metrics: Mapping[str, Any]) -> str:
    counts = _confusion_counts(metrics)
    if counts is None:
        return _section("confusion-matrix", "Confusion matrix", _missing("The confusion matrix"))
    tn, fp, fn, tp = counts

    def cell(count: float, row_total: float) -> str:
        share = f" ({count / row_total:.1%})" if row_total else ""
        return f'<td class="num">{count:,.0f}{share}</td>'

    payers, defaults = tn + fp, fn + tp
    table = (
        '<table class="confusion"><thead><tr><th></th><th>Predicted payer</th>'
        "<th>Predicted default</th><th>Total</th></tr></thead><tbody>"
        f"<tr><th>Actual payer</th>{cell(tn, payers)}{cell(fp, payers)}"
        f'<td class="num">{payers:,.0f}</td></tr>'
        f"<tr><th>Actual default</th>{cell(fn, defaults)}{cell(tp, defaults)}"
        f'<td class="num">{defaults:,.0f}</td></tr>'
        "</tbody></table>"
    )
    note = (
        f'<p class="note">At the cutoff PD {_e(_fmt(metrics.get("cutoff")))}: an application '
        "with a PD at or above it is predicted to default. Percentages are of the actual "
        "row.</p>"
    )
    return _section("confusion-matrix", "Confusion matrix", table + note)


def _parameters(meta: Mapping[str, Any]) -> str:
    params = meta.get("params") or {}
    if not isinstance(params, Mapping) or not params:
        return _section("parameters", "Training parameters", "<p>None recorded.</p>")
    rows = "".join(
        f"<tr><th><code>{_e(k)}</code></th><td><code>"
        f"{_e(v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True))}"
        "</code></td></tr>"
        for k, v in sorted(params.items(), key=lambda kv: str(kv[0]))
    )
    return _section("parameters", "Training parameters", f"<table>{rows}</table>")


def _ci(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return f"{_fmt(value[0])}-{_fmt(value[1])}"
    return "n/a"


def _selection(metrics: Mapping[str, Any]) -> str:
    """How the champion was chosen: every candidate's CV and holdout AUC (95% CI), the
    rule's steps with their reasons, the holdout's confirmation and any stack's weights."""
    own = f"<p>Holdout AUC {_fmt(metrics.get('auc'))}, 95% CI {_ci(metrics.get('auc_ci95'))}.</p>"
    selection = metrics.get("selection")
    if not isinstance(selection, Mapping):
        return _section("selection", "Champion selection", own + _missing("The selection"))
    rows = "".join(
        f"<tr><td>{_e(r.get('candidate'))}"
        f"{' (champion)' if r.get('candidate') == selection.get('champion') else ''}</td>"
        f'<td class="num">{_e(r.get("complexity"))}</td>'
        f'<td class="num">{_fmt(r.get("cv_auc"))} ± {_fmt(r.get("cv_auc_std"))}</td>'
        f'<td class="num">{_fmt(r.get("holdout_auc"))}</td>'
        f'<td class="num">{_ci(r.get("holdout_auc_ci95"))}</td></tr>'
        for r in selection.get("ranking") or []
        if isinstance(r, Mapping)
    )
    table = (
        "<table><tr><th>Candidate</th><th>Complexity</th><th>CV AUC (mean ± std)</th>"
        f"<th>Holdout AUC</th><th>95% CI</th></tr>{rows}</table>"
    )
    steps = "".join(
        f"<li>{_e(step.get('reason'))}</li>"
        for step in selection.get("steps") or []
        if isinstance(step, Mapping)
    )
    confirmation = selection.get("confirmation") or {}
    body = (
        own
        + f"<p>Rule: {_e(selection.get('rule'))} (alpha {_fmt(selection.get('alpha'))}).</p>"
        + table
        + f"<ol>{steps}</ol>"
        + (
            f'<p class="note">{_e(confirmation.get("reason"))}</p>'
            if isinstance(confirmation, Mapping) and confirmation.get("reason")
            else ""
        )
    )
    stack = metrics.get("stack")
    if isinstance(stack, Mapping) and isinstance(stack.get("weights"), Mapping):
        weights = ", ".join(f"{_e(k)} {_fmt(v)}" for k, v in stack["weights"].items())
        body += (
            f"<p>Stacked model: margin = sum of weight x member margin ({weights}), "
            f"intercept {_fmt(stack.get('intercept'))}; its reasons are its members' exact "
            "contributions, weighted the same way.</p>"
        )
    return _section("selection", "Champion selection", body)


def render_model_card(
    metadata: Mapping[str, Any],
    metrics: Mapping[str, Any],
    cv_metrics: Mapping[str, Any] | None = None,
) -> str:
    """The model card of one model version as a self-contained HTML page.

    ``metadata`` describes the model (name, version, candidate, params, trained_at,
    data_snapshot_hash, code_version, contract_name); ``metrics`` holds its holdout
    metrics; ``cv_metrics``, when given, adds cross-validated means to the metrics table.
    Anything missing is shown as such rather than failing. The output is deterministic.
    """
    title = f"Model card: {metadata.get('name', 'model')} {metadata.get('version', '')}".strip()
    body = "".join(
        [
            _summary(metadata, metrics),
            _intended_use(metadata, metrics),
            _data(metadata, metrics),
            _metrics_table(metrics, cv_metrics),
            _selection(metrics),
            _roc(metrics),
            _calibration(metrics),
            _score_distribution(metrics),
            _feature_importance(metrics),
            _monotonicity(metrics),
            _fairness(metrics),
            _points_table(metrics),
            _confusion_matrix(metrics),
            _parameters(metadata),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
