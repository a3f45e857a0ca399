"""A lender's own data, from one CSV and nothing else: draft a contract, check the file,
train offline, then load it through the local cloud and score a borrower through the API.

The file is a motor-finance book (``tests/fixtures/other_lender``) with nothing in common
with the synthetic lender's columns: its own ids, customer key, dates, exposure, a 0/1
target named ``charged_off`` and an outcome-only ``charge_off_date`` that must never
become a feature.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from chalice.test import Client

from credit_risk_local import cli
from credit_risk_local.cloud import LocalCloud
from credit_risk_local.tokens import demo_token
from fixtures.other_lender.make_data import make_other_lender

pytestmark = pytest.mark.e2e

FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"


def test_from_one_csv_to_a_scored_borrower(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one CSV of 3,000 deals with their outcomes in the same rows
    applications, outcomes = make_other_lender(3000, seed=5)
    loans = tmp_path / "loans.csv"
    applications.merge(outcomes, on="deal_ref").to_csv(loans, index=False)
    contract = tmp_path / "contract.yaml"
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(FAST_MODELS))

    # WHEN a contract is drafted from it
    assert cli.main(["contract", "draft", str(loans), "--out", str(contract)]) == 0
    drafted = yaml.safe_load(contract.read_text())
    text = contract.read_text()

    # THEN the drafter found the keys, the exposure, the observation date and the window,
    # kept the outcome-only column out of the features, and says what to decide
    apps = drafted["applications"]
    assert (apps["id"], apps["customer_key"], apps["event_date"]) == (
        "deal_ref",
        "borrower_no",
        "contract_start",
    )
    assert apps["exposure"] == "financed_amount"
    assert drafted["loan_terms"] == ["financed_amount", "term_months", "apr"]
    assert drafted["outcomes"]["target"] == "charged_off"
    assert drafted["maturity"] == {"observed_until": "last_seen", "window_months": 6}
    assert "charge_off_date" not in apps["columns"]
    assert "charge_off_date" in drafted["outcomes"]["columns"]
    assert "# DECIDE" in text

    # WHEN the file is checked against it, THEN nothing would be refused and it can train
    capsys.readouterr()
    assert cli.main(["contract", "check", str(contract), str(loans)]) == 0
    checked = capsys.readouterr().out
    assert "0 would be refused" in checked and "601 defaults" in checked

    # WHEN it is trained offline, THEN every candidate is fitted and one is best
    assert (
        cli.main(
            [
                "train",
                "--applications",
                str(loans),
                "--outcomes",
                str(loans),
                "--contract",
                str(contract),
            ]
        )
        == 0
    )
    assert "champion by repeated-CV AUC" in capsys.readouterr().out

    # WHEN the stack runs with the contract, the file lands as applications and as
    # outcomes, and the training machine runs
    monkeypatch.setenv("CONTRACT_PATH", str(contract))
    console = cli.Console()
    body = loans.read_bytes()
    with LocalCloud(
        database_url=f"sqlite:///{tmp_path / 'stack.db'}", local_dir=tmp_path / "stack"
    ) as cloud:
        for key in ("applications/loans.csv", "outcomes/loans.csv"):
            assert cli.upload_and_watch(cloud, key, body, console)["status"] == "SUCCEEDED"
        run = cli.watch_execution(cloud, cloud.start_training({"trigger": "test"}), console)
        assert run["status"] == "SUCCEEDED", run
        assert json.loads(run["output"])["evaluation"]["promote"] is True

        # THEN a borrower on file is scored through the API with the contract's own
        # fields (its customer key and exposure), with reasons from its features
        borrower = str(applications["borrower_no"].iloc[-1])
        app = cloud.dispatcher.handler_for("ApiFunction")
        with Client(app) as client:
            response = client.http.post(
                "/api/predict",
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {demo_token(cloud, role='scorer')}",
                },
                body=json.dumps({"borrower_no": borrower, "financed_amount": 15000}),
            )
        answer = json.loads(response.body)
        assert response.status_code == 200, answer
        assert 0 < answer["probability_of_default"] < 1
        assert answer["reasons"] and all(
            r["feature"] != "charge_off_date" for r in answer["reasons"]
        )
