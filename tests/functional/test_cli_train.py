"""`credit-risk train`: a lender compares models on its own files and contract."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import to_csv_bytes
from credit_risk_local import cli
from fixtures.other_lender.make_data import make_other_lender

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_train_prints_a_table_per_candidate_and_writes_the_same_json(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a motor-finance lender's files and contract, one row broken
    applications, outcomes = make_other_lender(2500, seed=3)
    applications.loc[0, "vehicle_price"] = -1
    (tmp_path / "deals.csv").write_bytes(to_csv_bytes(applications))
    (tmp_path / "outcomes.csv").write_bytes(to_csv_bytes(outcomes))

    # WHEN they run the command with a seed and 2x1 cross-validation
    code = cli.main(
        [
            "train",
            "--applications",
            str(tmp_path / "deals.csv"),
            "--outcomes",
            str(tmp_path / "outcomes.csv"),
            "--contract",
            str(FIXTURES / "other_lender/contract.yaml"),
            "--config",
            str(FIXTURES / "fast_models.yaml"),
            "--cv",
            "2x1",
            "--json",
            str(tmp_path / "metrics.json"),
            "--rejects",
            str(tmp_path / "rejects.csv"),
        ]
    )

    # THEN a table row per candidate is printed, and the JSON holds the same numbers
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 invalid rows dropped" in out
    # AND the dropped row is reported as ingestion's quarantine would: column, rule, example
    assert "deals.csv:  vehicle_price: below minimum 1000: 1 rows (e.g. row 1 -1.0)" in out.replace(
        "'", ""
    )
    rejects = (tmp_path / "rejects.csv").read_text().splitlines()
    assert rejects[0] == "file,dataset,row_number,column,rule,value"
    assert rejects[1].startswith("deals.csv,applications,1,vehicle_price,below minimum 1000,")
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["contract"] == "northgate-motor-finance"
    assert set(report["candidates"]) == {"logistic_regression", "random_forest", "xgboost"}
    for candidate in report["candidates"].values():
        auc = candidate["metrics"]["auc"]
        assert f"{auc:.4f}" in out
        assert candidate["metrics"]["cv"]["folds"] == 2
    assert f"champion by repeated-CV AUC, confirmed on the holdout: {report['best']}" in out


def test_a_bad_cv_argument_is_a_clear_error(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        cli.main(["train", "--applications", "a", "--outcomes", "b", "--cv", "lots"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "--cv takes FOLDSxREPEATS" in capsys.readouterr().err


def test_a_missing_file_is_a_clear_error_not_a_traceback(capsys) -> None:  # type: ignore[no-untyped-def]
    code = cli.main(["train", "--applications", "/nope/a.csv", "--outcomes", "/nope/b.csv"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "/nope/a.csv" in err


def test_train_reports_fairness_per_protected_group(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the synthetic lender's files, whose contract declares two protected attributes
    from credit_risk.data.generator import generate

    data = generate(2500, seed=4, as_of="2026-06-01")
    (tmp_path / "apps.csv").write_bytes(to_csv_bytes(data.applications))
    (tmp_path / "outs.csv").write_bytes(to_csv_bytes(data.outcomes))

    # WHEN they train
    code = cli.main(
        [
            "train",
            "--applications",
            str(tmp_path / "apps.csv"),
            "--outcomes",
            str(tmp_path / "outs.csv"),
            "--config",
            str(FIXTURES / "fast_models.yaml"),
            "--cv",
            "2x1",
            "--candidates",
            "logistic_regression",
            "--json",
            str(tmp_path / "metrics.json"),
        ]
    )

    # THEN each attribute's lowest adverse impact ratio on the holdout is printed, and
    # the JSON holds the figures per group (approval rate, AIR, calibration, AUC)
    out = capsys.readouterr().out
    assert code == 0, out
    fairness = json.loads((tmp_path / "metrics.json").read_text())["candidates"][
        "logistic_regression"
    ]["metrics"]["fairness"]
    for attribute in ("age_band", "applicant_group"):
        figures = fairness[attribute]
        group = figures["min_air_group"]
        line = f"[logistic_regression] {attribute}: lowest adverse impact ratio"
        assert f"{line} {figures['min_air']:.3f} ({group})" in out
        for entry in figures["groups"].values():
            assert 0 < entry["approval_rate"] <= 1 and 0.5 < entry["auc"] < 1
            assert entry["rows"] > 30 and "default_rate" in entry
    assert (
        sum(e["rows"] for e in fairness["applicant_group"]["groups"].values())
        == (
            json.loads((tmp_path / "metrics.json").read_text())["candidates"][
                "logistic_regression"
            ]["metrics"]["n_holdout"]
        )
    )
