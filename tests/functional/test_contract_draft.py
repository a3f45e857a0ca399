"""Bringing your own data: a contract drafted from the files, and the files checked
against it before anything is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import to_csv_bytes
from credit_risk.contract import Contract
from credit_risk.data.generator import generate
from credit_risk_local import cli
from credit_risk_local.contracts import draft


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = generate(600, seed=11)
    folder = tmp_path_factory.mktemp("own-data")
    apps, outs = folder / "apps.csv", folder / "outcomes.csv"
    apps.write_bytes(to_csv_bytes(data.applications))
    outs.write_bytes(to_csv_bytes(data.outcomes))
    return apps, outs


def _drafted(files: tuple[Path, Path], folder: Path) -> Path:
    """``contract draft`` of the files with the target named, written to a file."""
    out = folder / "contract.yaml"
    args = ["contract", "draft", *map(str, files), "--target", "defaulted", "--out", str(out)]
    assert cli.main(args) == 0
    return out


def test_a_draft_from_the_files_is_a_valid_contract_with_the_roles_guessed(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _drafted(files, tmp_path)
    contract = Contract.model_validate(yaml.safe_load(out.read_text()))
    apps = contract.applications
    assert (apps.id, apps.customer_key, apps.event_date, apps.exposure) == (
        "application_id",
        "customer_id",
        "application_date",
        "loan_amount",
    )
    assert {"customer_id", "full_name", "email", "phone", "national_id", "address"} <= set(
        apps.pii_columns
    )
    assert "application_date" not in apps.pii_columns
    seen = set(generate(600, seed=11).applications["employment_status"].dropna())
    assert set(apps.columns["employment_status"].categories or []) == seen
    assert contract.outcomes.target == "defaulted" and "default_date" in contract.outcomes.columns
    assert "default_date" not in apps.columns
    assert apps.columns["annual_income"].min == 0  # a margin below, never negative income


def test_check_reports_refusals_by_column_and_rule_ignored_columns_and_trainability(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _drafted(files, tmp_path)
    capsys.readouterr()
    assert cli.main(["contract", "check", str(out), *map(str, files)]) == 0
    clean = capsys.readouterr().out
    assert "apps.csv as applications: 600 rows, 0 would be refused" in clean
    assert "training: " in clean and " defaults and " in clean

    import pandas as pd

    bad = pd.read_csv(files[0])
    bad.loc[:2, "annual_income"] = -5
    bad.loc[3, "email"] = None
    bad["branch_code"] = "X1"
    bad_file = tmp_path / "bad_apps.csv"
    bad.to_csv(bad_file, index=False)
    assert cli.main(["contract", "check", str(out), str(bad_file), str(files[1])]) == 0
    report = capsys.readouterr().out
    assert (
        "bad_apps.csv as applications: 600 rows, 3 would be refused; ignores columns branch_code"
        in report
    )
    assert "annual_income: " in report and "3 rows (e.g. row 1 -5" in report.replace("'", "")


def test_a_text_target_needs_its_default_values_and_they_are_guessed_when_plain() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {"ref": [f"L{i}" for i in range(40)], "amount": range(40), "risk": ["good", "bad"] * 20}
    )
    text = draft([frame], name="plain", target="risk", positive=None)
    assert "DECIDE positive" in text
    contract = yaml.safe_load(text)
    assert contract["outcomes"]["positive"] == ["bad"]
    odd = frame.assign(risk=["A", "B"] * 20)
    with pytest.raises(ValueError, match="say which mean a default with --positive"):
        draft([odd], name="odd", target="risk", positive=None)


def test_from_files_with_a_good_bad_target_draft_check_and_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = generate(2500, seed=5)
    outcomes = data.outcomes.assign(defaulted=data.outcomes["defaulted"].map({1: "bad", 0: "good"}))
    apps, outs = tmp_path / "apps.csv", tmp_path / "outcomes.csv"
    apps.write_bytes(to_csv_bytes(data.applications))
    outs.write_bytes(to_csv_bytes(outcomes))
    contract = tmp_path / "contract.yaml"
    assert cli.main(["contract", "draft", str(apps), str(outs), "--out", str(contract)]) == 0
    assert yaml.safe_load(contract.read_text())["outcomes"]["positive"] == ["bad"]
    capsys.readouterr()
    assert cli.main(["contract", "check", str(contract), str(apps), str(outs)]) == 0
    defaults = int((data.outcomes["defaulted"] == 1).sum())
    assert f"training: {defaults:,} defaults" in capsys.readouterr().out
    fast = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"
    code = cli.main(
        [
            "train",
            "--applications",
            str(apps),
            "--outcomes",
            str(outs),
            "--contract",
            str(contract),
            "--config",
            str(fast),
            "--cv",
            "2x1",
            "--json",
            str(tmp_path / "m.json"),
        ]
    )
    assert code == 0
    assert "logistic_regression" in capsys.readouterr().out


def test_a_research_file_without_ids_or_dates_is_prepared_and_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one file as research datasets come (the German credit data's shape): no id,
    # no date, a good/bad target named "creditability", outcomes final as given
    data = generate(1500, seed=7, as_of="2025-01-01")
    frame = data.applications[["loan_amount", "loan_term_months", "annual_income"]].copy()
    frame["purpose_text"] = data.applications["loan_purpose"]
    frame["creditability"] = data.outcomes["defaulted"].map({1: "bad", 0: "good"})
    raw = tmp_path / "research.csv"
    frame.to_csv(raw, index=False)
    contract, ready = tmp_path / "c.yaml", tmp_path / "ready.csv"

    # WHEN a contract is drafted with a prepared copy of the file
    args = ["contract", "draft", str(raw), "--out", str(contract), "--prepared", str(ready)]
    assert cli.main([*args, "--as-of", "2024-06-30"]) == 0

    # THEN the copy has row numbers as ids and the date, the outcomes are taken as final,
    # and the file checks and trains with no other edit
    drafted = yaml.safe_load(contract.read_text())
    assert drafted["outcomes"]["target"] == "creditability"
    assert drafted["outcomes"]["positive"] == ["bad"]
    assert drafted["maturity"]["window_months"] == 0
    assert "row_id, application_date added" in capsys.readouterr().out
    assert cli.main(["contract", "check", str(contract), str(ready)]) == 0
    train = ["train", "--applications", str(ready), "--outcomes", str(ready)]
    fast = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"
    assert cli.main([*train, "--contract", str(contract), "--config", str(fast)]) == 0
    assert "champion by repeated-CV AUC" in capsys.readouterr().out
