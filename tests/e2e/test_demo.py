"""The README's main command, end to end: generate → upload → pipeline → train → API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credit_risk.db.engine import dispose_all
from credit_risk_local import cli

pytestmark = pytest.mark.e2e

FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"


def test_the_demo_goes_from_an_upload_to_an_api_answer(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a fresh machine's defaults, with a small candidate config to keep it quick
    monkeypatch.setattr(cli, "LOCAL_DIR", tmp_path)
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(FAST_MODELS))

    # WHEN the demo runs
    code = cli.main(["demo", "--rows", "3000", "--database-url", database_url])
    dispose_all()

    # THEN every step ran and the API answered with a decision and its reasons
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("SUCCEEDED") >= 4
    assert re.search(r"champion: \w+ v\d+", out)
    assert re.search(r"scored [\d,]+ applications", out)
    # the seed document's (and the README's) own example answers, on the demo's data
    assert 'POST /api/predict {"customer_id": 123, "loan_amount": 50000} → 200' in out
    assert '"decision"' in out and '"reasons"' in out
    assert "Where to look next" in out
