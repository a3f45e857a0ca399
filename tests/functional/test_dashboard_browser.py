"""The dashboard in a real headless browser (Debian's chromium): it loads without a
console message, its charts are in the rendered DOM, and a screenshot is taken.

.ci/run installs chromium when it is missing; the test skips only where it cannot be.
The page's Content-Security-Policy forbids every load, so any attempt to fetch a script,
font, stylesheet or image from elsewhere would show as a console message here.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from credit_risk.monitoring.dashboard import render_dashboard
from portfolio_data import dashboard_data, synthetic_portfolio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
WIDTH, HEIGHT = 1400, 2400
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]?\s*(.*)")


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _console_messages(stderr: str) -> list[str]:
    return [match.group(1) for match in map(CONSOLE.search, stderr.splitlines()) if match]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dashboard of a realistic, drifted book, written to a file."""
    html = render_dashboard(dashboard_data(synthetic_portfolio(4000, seed=3, shift_months=2)))
    path = tmp_path_factory.mktemp("dashboard") / "dashboard.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_the_console_check_sees_what_the_page_would_do_wrong(tmp_path: Path) -> None:
    # GIVEN a page that breaks the rules the dashboard keeps (an external image under the
    # same policy, and a script error)
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
        '<img src="https://cdn.example.invalid/chart.png">'
        "<script>notDefined()</script></body></html>"
    )
    # THEN the browser reports both on the console, so their absence below means something
    result = _chromium(bad, tmp_path / "profile", "--dump-dom")
    messages = " | ".join(_console_messages(result.stderr))
    assert "Content Security Policy" in messages and "notDefined" in messages


def test_the_dashboard_loads_cleanly_and_its_charts_render(page: Path, tmp_path: Path) -> None:
    # WHEN chromium loads the page and serialises the DOM it built
    result = _chromium(page, tmp_path / "profile", "--dump-dom")

    # THEN nothing was reported on the console (no blocked load, no error)
    assert _console_messages(result.stderr) == []
    # AND the rendered DOM holds every chart, with drawn marks in them
    dom = result.stdout
    assert dom.count("<svg") == 13
    assert len(re.findall(r'<rect class="bar"', dom)) > 100
    assert len(re.findall(r'<polyline class="series"', dom)) >= 8
    for section in (
        "portfolio",
        "expected-loss",
        "vintage",
        "score-distribution",
        "feature-drift",
        "models",
        "model-card",
        "executions",
    ):
        assert f'id="{section}"' in dom, section
    assert "thresholds crossed" in dom
    # AND the fairness panel shows each protected attribute's groups (aggregates only)
    assert 'id="fairness"' in dom
    for attribute, groups in (
        ("age_band", ("18-39", "40+")),
        ("applicant_group", ("group_a", "group_b")),
    ):
        table = re.search(rf'<table class="fairness" data-attribute="{attribute}">.*?</table>', dom)
        assert table is not None, attribute
        for group in groups:
            assert f'data-group="{group}"' in table.group(0), (attribute, group)
        assert "lowest adverse impact ratio" in table.group(0)


def test_a_screenshot_is_taken(page: Path, tmp_path: Path) -> None:
    # WHEN chromium renders the page at a laptop-and-a-half size
    shot = tmp_path / "dashboard.png"
    result = _chromium(
        page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}"
    )

    # THEN the screenshot is the window's size and far from blank (a blank page of this
    # size compresses to a few KB)
    assert _console_messages(result.stderr) == []
    assert _png_size(shot) == (WIDTH, HEIGHT)
    assert shot.stat().st_size > 100_000
    print(f"dashboard screenshot: {shot}")


# --- the decision policy's efficient frontier (issue 14) -------------------------------


def _simulated_dashboard(folder: Path) -> Path:
    """The dashboard of the same book with a policy simulation stored beside it."""
    import numpy as np

    from credit_risk.decisions.policy import DecisionPolicy
    from credit_risk.decisions.simulation import Book, simulate

    book = synthetic_portfolio(4000, seed=3)
    merged = book.scores.merge(book.labels, on="application_id", how="left")
    matured = merged["matured"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    outcome = np.where(matured, merged["target"].astype("float64"), np.nan)
    exposure = book.applications.set_index(book.applications["application_id"].astype(str))
    loans = Book(
        pd=merged["probability_of_default"].to_numpy(dtype=np.float64),
        outcome=outcome,
        matured=matured,
        columns={
            "loan_amount": exposure.loc[merged["application_id"], "loan_amount"].to_numpy(
                dtype=np.float64
            )
        },
        model_version="m-browser",
    )
    proposed = DecisionPolicy.model_validate(
        {
            **book.policy.model_dump(),
            "version": "2026.9",
            "decisions": [
                {"decision": "approve", "max_pd": 0.15},
                {"decision": "review", "max_pd": 0.3},
                {"decision": "decline", "max_pd": 1.0},
            ],
        }
    )
    data = dashboard_data(book)
    data["policy_simulation"] = simulate(loans, book.policy, proposed)
    path = folder / "dashboard-policy.html"
    path.write_text(render_dashboard(data), encoding="utf-8")
    return path


def test_the_dashboard_shows_the_frontier_with_both_policies_marked(tmp_path: Path) -> None:
    # GIVEN a dashboard whose latest policy simulation proposes approving up to PD 0.15
    page = _simulated_dashboard(tmp_path)
    # WHEN chromium loads it
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    # THEN it loads cleanly and the rendered DOM holds the frontier section: two charts,
    # each with the curve over every cut-off and one mark per policy
    assert _console_messages(result.stderr) == []
    dom = result.stdout
    start = dom.index('<section id="policy-frontier"')
    section = dom[start : dom.index("</section>", start)]
    assert 'data-current="2024.1"' in section and 'data-proposed="2026.9"' in section
    assert section.count("<svg") == 2
    assert section.count('<polyline class="series" data-series="every PD cut-off"') == 2
    for mark in ("current 2024.1", "proposed 2026.9"):
        assert len(re.findall(rf'<circle class="point"[^>]*><title>{mark}: ', section)) == 2
    # AND the policies' points are listed with their approval and bad rates
    assert section.count("<tr>") == 3  # header and the two policies


def test_the_champion_vs_challenger_panel_renders(tmp_path: Path) -> None:
    # GIVEN a shadow challenger that scored every application of a realistic book beside
    # the champion (the oracle): a noisier model, compared on the same matured loans
    import math
    import random
    from datetime import timedelta

    from credit_risk.decisions.policy import decide
    from credit_risk.monitoring.shadow import compare_shadow

    book = synthetic_portfolio(3000, seed=5)
    noise = random.Random(7)
    rows = []
    for i, score in enumerate(book.scores.itertuples()):
        pd_ = float(score.probability_of_default)
        margin = math.log(pd_ / (1 - pd_)) + noise.gauss(0, 1.5)  # noise on the log-odds
        challenger = min(0.99, max(0.001, 1 / (1 + math.exp(-margin))))
        rows.append(
            {
                "application_id": score.application_id,
                "champion_version": "v20240101T000000000000",
                "champion_pd": pd_,
                "champion_decision": score.decision,
                "challenger_version": "v20240601T000000000000",
                "challenger_pd": challenger,
                "challenger_decision": decide(challenger, book.policy),
                "challenger_ms": 0.2,
                "scored_at": score.scored_at + timedelta(microseconds=i),
            }
        )
    matured = book.labels[book.labels["matured"]]
    outcomes = dict(zip(matured["application_id"].astype(str), matured["target"], strict=True))
    [comparison] = compare_shadow(rows, outcomes)
    data = dashboard_data(book)
    data["shadow"] = [comparison]
    page = tmp_path / "dashboard.html"
    page.write_text(render_dashboard(data), encoding="utf-8")

    # WHEN chromium loads the page
    result = _chromium(page, tmp_path / "profile", "--dump-dom")

    # THEN it loads cleanly and the panel shows agreement, both swaps and both AUCs
    assert _console_messages(result.stderr) == []
    panel = result.stdout.split('id="shadow"')[1].split("</section>")[0]
    assert "Champion vs shadow challenger" in panel
    swaps = comparison["swaps"]
    assert swaps["approve_to_decline"] > 0 and swaps["decline_to_approve"] > 0
    cells = re.findall(r'<td class="num">([^<]*)</td>', panel)
    assert cells[:4] == [
        f"{comparison['decisions']:,}",
        f"{comparison['agreement']:.1%}",
        f"{swaps['approve_to_decline']:,}",
        f"{swaps['decline_to_approve']:,}",
    ]
    champion_auc, challenger_auc = comparison["champion"]["auc"], comparison["challenger"]["auc"]
    assert champion_auc > challenger_auc  # the oracle ranks better than its noisy copy
    assert f"{champion_auc:.3f} / {challenger_auc:.3f}" in panel
