"""The model card page and the SVG charts it is drawn with."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from credit_risk import charts
from credit_risk.models.card import MAX_FEATURES_SHOWN, render_model_card

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "wbr", "source"}
SECTIONS = [
    "summary",
    "intended-use",
    "data",
    "metrics",
    "roc-curve",
    "calibration",
    "score-distribution",
    "feature-importance",
    "confusion-matrix",
]


class StrictParser(HTMLParser):
    """Records every problem with tag nesting, and what is where."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.problems: list[str] = []
        self.elements: list[tuple[str, dict, tuple[str, ...]]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs, self.section_path()))
        if tag not in VOID:
            self.stack.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), self.section_path()))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1][0] != tag:
            open_tag = self.stack[-1][0] if self.stack else None
            self.problems.append(f"</{tag}> closes <{open_tag}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.texts.append(data)

    def section_path(self) -> tuple[str, ...]:
        return tuple(a.get("id", "") for t, a in self.stack if t == "section")

    def in_section(self, section: str, tag: str, cls: str | None = None) -> list[dict]:
        return [
            attrs
            for t, attrs, path in self.elements
            if t == tag
            and section in path
            and (cls is None or cls in (attrs.get("class") or "").split())
        ]


def parse(html: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(html)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    return parser


def metrics(**changes) -> dict:
    fpr = [i / 20 for i in range(21)]
    data = {
        "auc": 0.781,
        "gini": 0.562,
        "ks": 0.43,
        "brier": 0.112,
        "log_loss": 0.35,
        "precision": 0.41,
        "recall": 0.62,
        "f1": 0.49,
        "accuracy": 0.81,
        "cutoff": 0.2,
        "confusion_matrix": {"tn": 1500, "fp": 250, "fn": 110, "tp": 180},
        "calibration": [
            {
                "bin": i + 1,
                "mean_pd": 0.03 + 0.05 * i,
                "observed_rate": 0.02 + 0.05 * i,
                "count": 200,
            }
            for i in range(8)
        ],
        "roc_curve": {"fpr": fpr, "tpr": [f**0.4 for f in fpr]},
        "score_distribution": {
            "edges": [i / 10 for i in range(11)],
            "defaults": [1, 2, 4, 8, 16, 20, 16, 8, 4, 1],
            "non_defaults": [300, 260, 200, 120, 60, 30, 10, 5, 2, 1],
        },
        "feature_importance": [
            {"feature": "bureau_score", "importance": 0.31},
            {"feature": "debt_to_income", "importance": 0.22},
            {"feature": "<script>", "importance": 0.05},
        ],
        "n_train": 40_000,
        "n_holdout": 2_040,
        "default_rate": 0.142,
        "holdout_kind": "out-of-time",
    }
    data.update(changes)
    return data


def metadata(**changes) -> dict:
    data = {
        "name": "pd-model",
        "version": "2024-06-01T12-00-00Z",
        "candidate": "xgboost",
        "params": {"max_depth": 4, "learning_rate": 0.05, "class_weight": {"1": 3}},
        "trained_at": "2024-06-01T12:00:00Z",
        "data_snapshot_hash": "ab" * 32,
        "code_version": "abc1234",
        "contract_name": "synthetic-consumer-loans",
    }
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def card() -> str:
    return render_model_card(metadata(), metrics())


# --------------------------------------------------------------------------- the page


def test_card_is_well_formed_and_has_every_section(card):
    page = parse(card)

    ids = [a.get("id") for t, a, _ in page.elements if t == "section"]
    for section in SECTIONS:
        assert section in ids, section
    assert card.startswith("<!DOCTYPE html>")


def test_card_is_self_contained(card):
    assert "<script" not in card.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", card)
    assert "@import" not in card


def test_summary_states_the_model_and_headline_numbers(card):
    page = parse(card)
    text = " ".join(page.texts)

    assert "Model card: pd-model 2024-06-01T12-00-00Z" in text
    assert "AUC 0.781" in text and "Gini 0.562" in text
    assert "2,040 out-of-time rows" in text
    assert "synthetic-consumer-loans" in text and "abc1234" in text


def test_metrics_table_lists_each_metric(card):
    page = parse(card)
    text = " ".join(page.texts)

    for label, value in [
        ("ROC AUC", "0.781"),
        ("KS", "0.43"),
        ("Brier score", "0.112"),
        ("Recall", "62.0%"),
        ("Accuracy", "81.0%"),
    ]:
        assert label in text and value in text


def test_cv_metrics_add_a_column_with_mean_and_spread():
    html = render_model_card(
        metadata(), metrics(), cv_metrics={"auc": [0.77, 0.79, 0.78], "gini": {"mean": 0.5}}
    )
    page = parse(html)
    text = " ".join(page.texts)

    assert "Cross-validation (mean ± sd)" in text
    assert "0.78 ± 0.0082" in text
    assert "Cross-validation over 3 folds." in text


def test_roc_chart_draws_every_point_and_the_diagonal(card):
    page = parse(card)

    lines = page.in_section("roc-curve", "polyline", "series")
    assert len(lines) == 1
    assert len(lines[0]["points"].split()) == 21
    assert len(page.in_section("roc-curve", "line", "diagonal")) == 1


def test_calibration_plot_has_a_point_per_bin_and_the_diagonal(card):
    page = parse(card)

    assert len(page.in_section("calibration", "circle", "point")) == 8
    assert len(page.in_section("calibration", "line", "diagonal")) == 1


def test_score_distribution_has_a_bar_per_bin_and_outcome(card):
    page = parse(card)

    bars = page.in_section("score-distribution", "rect", "bar")
    assert len(bars) == 2 * 10
    assert {b["data-series"] for b in bars} == {"defaults", "non-defaults"}


def test_feature_importance_has_a_bar_per_feature_largest_first(card):
    page = parse(card)

    bars = page.in_section("feature-importance", "rect", "bar")
    assert len(bars) == 3
    widths = [float(b["width"]) for b in bars]
    assert widths == sorted(widths, reverse=True)


def test_feature_importance_shows_only_the_top_features():
    many = [{"feature": f"f{i}", "importance": i} for i in range(MAX_FEATURES_SHOWN + 5)]
    page = parse(render_model_card(metadata(), metrics(feature_importance=many)))

    assert len(page.in_section("feature-importance", "rect", "bar")) == MAX_FEATURES_SHOWN
    assert f"The {MAX_FEATURES_SHOWN} most important of {MAX_FEATURES_SHOWN + 5}" in " ".join(
        page.texts
    )


def test_confusion_matrix_shows_counts_and_row_shares(card):
    page = parse(card)
    cells = [a for a in page.in_section("confusion-matrix", "td")]
    text = " ".join(page.texts)

    assert len(cells) == 6
    assert "1,500 (85.7%)" in text and "180 (62.1%)" in text


def test_text_is_escaped():
    html = render_model_card(
        metadata(name="<b>bold</b>", params={"<k>": "<v>"}),
        metrics(holdout_kind="<i>oot</i>"),
    )
    page = parse(html)

    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>" not in html and "<i>" not in html and "<k>" not in html
    assert not [t for t, _, _ in page.elements if t in {"script", "b", "i", "k"}]


def test_missing_metrics_are_reported_not_fatal():
    html = render_model_card({"name": "bare"}, {"auc": 0.7})
    page = parse(html)
    text = " ".join(page.texts)

    assert "The ROC curve not available" in text
    assert "The confusion matrix not available" in text
    assert "n/a" in text


def test_rendering_is_deterministic():
    assert render_model_card(metadata(), metrics()) == render_model_card(metadata(), metrics())


# --------------------------------------------------------------------------- charts


def test_line_chart_draws_each_series_and_markers():
    svg = charts.line_chart(
        [
            charts.Series("a", [0, 1, 2], [1, 2, 3], markers=True),
            charts.Series("b", [0, 1, 2, 3], [3, 2, 1, 0]),
        ],
        title="Two lines",
    )
    page = parse(svg)

    lines = [a for t, a, _ in page.elements if t == "polyline"]
    assert [len(a["points"].split()) for a in lines] == [3, 4]
    assert len([1 for t, _, _ in page.elements if t == "circle"]) == 3


def test_line_chart_skips_missing_points():
    svg = charts.line_chart([charts.Series("a", [0, 1, 2, 3], [1, float("nan"), 3, 4])])

    points = re.search(r'points="([^"]*)"', svg)
    assert points is not None and len(points.group(1).split()) == 3


def test_bar_chart_has_one_bar_per_value_in_both_orientations():
    for horizontal in (True, False):
        svg = charts.bar_chart(["x", "y", "z", "w"], [1, 3, 2, 0], horizontal=horizontal)
        page = parse(svg)
        assert len([a for t, a, _ in page.elements if t == "rect" and a.get("class") == "bar"]) == 4


def test_histogram_checks_its_shape():
    with pytest.raises(ValueError, match="3 counts for 2 bins"):
        charts.histogram([0, 1, 2], {"a": [1, 2, 3]})


def test_histogram_tolerates_open_ended_bins():
    svg = charts.histogram([float("-inf"), 0, 1, float("inf")], {"a": [1, 2, 3]})
    page = parse(svg)

    bars = [a for t, a, _ in page.elements if t == "rect" and a.get("class") == "bar"]
    assert len(bars) == 3
    assert all(float(b["width"]) > 0 for b in bars)
    assert not any("inf" in t or "nan" in t for t in page.texts)


def test_charts_escape_their_text():
    svg = charts.bar_chart(['<script>"x"</script>'], [1.0], title="a & b")

    assert "<script>" not in svg
    assert "&lt;script&gt;&quot;x&quot;&lt;/script&gt;" in svg
    assert "a &amp; b" in svg
    parse(svg)


def test_empty_charts_say_so():
    assert "no data" in charts.line_chart([charts.Series("a", [], [])])
    assert "no data" in charts.bar_chart([], [])
    assert "no data" in charts.histogram([], {})


@pytest.mark.parametrize(("low", "high"), [(0, 1), (0.003, 0.47), (300, 850), (-5, 5)])
def test_nice_ticks_are_round_and_inside_the_range(low, high):
    ticks = charts.nice_ticks(low, high)

    assert 3 <= len(ticks) <= 11
    assert all(low <= t <= high for t in ticks)
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1


def test_selection_shows_each_candidates_cv_and_holdout_auc_with_ci_and_the_steps():
    # GIVEN a champion chosen over a stack that was not significantly better
    selection = {
        "rule": "rank by repeated-CV AUC; simplest first",
        "alpha": 0.05,
        "champion": "logistic_regression",
        "ranking": [
            {
                "candidate": "stack",
                "complexity": 4,
                "cv_auc": 0.8441,
                "cv_auc_std": 0.0185,
                "holdout_auc": 0.8336,
                "holdout_auc_ci95": [0.791, 0.876],
            },
            {
                "candidate": "logistic_regression",
                "complexity": 1,
                "cv_auc": 0.8398,
                "cv_auc_std": 0.012,
                "holdout_auc": 0.8294,
                "holdout_auc_ci95": [0.787, 0.872],
            },
        ],
        "steps": [
            {"step": "start", "candidate": "logistic_regression", "reason": "start from <lr>"},
            {"step": "challenge", "candidate": "stack", "reason": "keep lr: p = 0.340"},
        ],
        "confirmation": {"reason": "holdout confirms logistic_regression"},
    }
    stack = {"weights": {"logistic_regression": 0.5, "xgboost": 0.5}, "intercept": 0.05}

    # WHEN the card is drawn
    html = render_model_card(
        metadata(), metrics(auc_ci95=[0.75, 0.81], selection=selection, stack=stack)
    )

    # THEN its selection section lists both with CV mean ± std, holdout AUC and CI, every
    # step's reason (escaped) and the confirmation, and the stack's weights
    page = parse(html)
    assert "selection" in [a.get("id") for t, a, _ in page.elements if t == "section"]
    section = html.split('id="selection"')[1].split("</section>")[0]
    assert "0.75-0.81" in section
    assert "0.8441 ± 0.0185" in section and "0.791-0.876" in section
    assert "logistic_regression (champion)" in section
    assert "start from &lt;lr&gt;" in section and "keep lr: p = 0.340" in section
    assert "holdout confirms logistic_regression" in section
    assert "xgboost 0.5" in section


def test_a_card_without_a_selection_says_so():
    html = render_model_card(metadata(), metrics())
    section = html.split('id="selection"')[1].split("</section>")[0]
    assert "not available" in section
