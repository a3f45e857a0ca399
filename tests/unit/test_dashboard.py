"""The dashboard page: every picture present, nothing loaded from elsewhere, text escaped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from credit_risk.monitoring.dashboard import render_dashboard
from portfolio_data import dashboard_data, synthetic_portfolio

REPO = Path(__file__).resolve().parents[2]
SECTIONS = (
    "kpis",
    "alerts",
    "portfolio",
    "expected-loss",
    "vintage",
    "score-distribution",
    "feature-drift",
    "models",
    "model-card",
    "executions",
    "months",
)


@pytest.fixture(scope="module")
def data() -> dict:
    """Dashboard data from a realistic drifted book (see tests/portfolio_data.py)."""
    return dashboard_data(synthetic_portfolio(2500, seed=4, shift_months=2))


def test_every_section_is_drawn(data: dict) -> None:
    page = render_dashboard(data)
    for section in SECTIONS:
        assert f'id="{section}"' in page, section
    # Portfolio 3, expected loss 2, default rates 2, score 1, PSI 1, models 1, card 3
    assert page.count("<svg") == 13
    assert "applications-2024-06" in page and "FAILED" in page
    assert "m20240701T060000000000" in page


def test_the_page_loads_nothing_from_elsewhere(data: dict) -> None:
    page = render_dashboard(data)
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "default-src 'none'" in page
    assert len(page.encode()) < 400_000


def test_text_from_the_registry_is_escaped(data: dict) -> None:
    page = render_dashboard(data)
    assert "logistic <b>" not in page and "logistic &lt;b&gt;" in page


def test_psi_bars_are_coloured_by_band(data: dict) -> None:
    page = render_dashboard(data)
    drift = page.split('id="feature-drift"')[1].split("</section>")[0]
    assert 'fill="#c0392b"' in drift and 'fill="#2e8b57"' in drift


def test_before_the_first_run_the_page_says_so() -> None:
    page = render_dashboard({"snapshot": None, "models": [], "executions": []})
    assert "No monitoring run yet" in page
    assert "No model is registered yet" in page


def test_serving_the_dashboard_loads_no_data_stack() -> None:
    code = (
        "import sys; import credit_risk.monitoring.service, credit_risk.monitoring.dashboard; "
        "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "layers/core/python")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"
