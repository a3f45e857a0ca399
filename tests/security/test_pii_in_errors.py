"""No personal value from a bad file reaches an error, a log line, an alert or a pipeline
execution: reasons name the row, the column and the rule, never the data."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import select

from conftest import to_csv_bytes
from credit_risk.db import schema
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud
from integration.helpers import history

pytestmark = pytest.mark.integration

NAME = "Zyxqa Leakington"
EMAIL = "zyxqa.leak.7f3a@example.test"
PHONE = "+44 7700 913 577"
NATIONAL_ID = "QQ7F3A91C"
BIRTH = "born-in-zyxqa-7f3a"
# "zyxq" is in every planted text value and cannot appear in a hex id by chance.
PERSONAL = [NAME, EMAIL, PHONE, NATIONAL_ID, BIRTH, "Leakington", "zyxq"]


def _planted(small_data, rows: int = 300, at: int = 150):  # type: ignore[no-untyped-def]
    frame = small_data.applications.head(rows).copy().astype(object)
    frame.loc[at, ["full_name", "email", "phone", "national_id"]] = [
        NAME,
        EMAIL,
        PHONE,
        NATIONAL_ID,
    ]
    return frame


def _bad_files(small_data) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    frame = _planted(small_data)
    good = to_csv_bytes(frame)
    lines = good.split(b"\n")
    # An unclosed quote before the name on data row 151: the rest of the file is one cell.
    unclosed = b"\n".join(line.replace(NAME.encode(), b'"' + NAME.encode()) for line in lines)
    # A personal column with a value of the wrong type (and its row quarantined).
    typed = frame.copy()
    typed.loc[150, "date_of_birth"] = BIRTH
    # Not UTF-8: the name with an accent, written as Latin-1.
    latin = good.decode().replace(NAME, NAME.replace("a L", "á L")).encode("latin-1")
    # No header: the first line the reader sees is the planted customer's row.
    headerless = b"\n".join([lines[151], *lines[1:151], *lines[152:]])
    return {
        "applications/unclosed-quote.csv": unclosed,
        "applications/personal-bad-type.csv": to_csv_bytes(typed),
        "applications/latin-1.csv": latin,
        "applications/no-header.csv": headerless,
    }


def _leaks(text: str) -> list[str]:
    return [value for value in PERSONAL if value.lower() in text.lower()]


def test_bad_files_leave_no_personal_value_in_errors_logs_alerts_or_executions(
    cloud: LocalCloud,
    small_data,
    alert_inbox: Callable[[], list[dict[str, str]]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN four bad files, each carrying one customer's known personal values
    caplog.set_level(logging.DEBUG)
    files = _bad_files(small_data)

    # WHEN they land and the pipeline runs for each
    for key, body in files.items():
        cloud.upload(key, body)
    cloud.wait_for_idle()

    # THEN each was handled as intended: three rejected with a reason, one loaded with
    # its bad row quarantined by row, column and rule
    engine = get_runtime().engine
    with engine.connect() as conn:
        ledger = {r.key: r for r in conn.execute(select(schema.objects))}
        quarantined = [dict(r) for r in conn.execute(select(schema.quarantine)).mappings()]
    assert {k: r.status for k, r in ledger.items()} == {
        "applications/unclosed-quote.csv": "rejected",
        "applications/personal-bad-type.csv": "loaded",
        "applications/latin-1.csv": "rejected",
        "applications/no-header.csv": "rejected",
    }
    assert "line 152" in ledger["applications/unclosed-quote.csv"].error
    assert "not UTF-8" in ledger["applications/latin-1.csv"].error
    assert "missing contract columns" in ledger["applications/no-header.csv"].error
    birth = [q for q in quarantined if q["column_name"] == "date_of_birth"]
    assert [(q["row_number"], q["rule"], q["value"]) for q in birth] == [
        (151, "not an ISO date", None)
    ]

    # AND no personal value is in the ledger, the quarantine table, any log line, any
    # alert, or any execution's error, cause or history
    assert _leaks(" ".join(str(r.error) for r in ledger.values())) == []
    assert _leaks(json.dumps(quarantined, default=str)) == []
    out, err = capfd.readouterr()
    assert _leaks(out + err) == []
    # The platform's own log lines at every level; the AWS SDK's wire logs (botocore,
    # urllib3, moto at DEBUG, off in Lambda) carry request bodies such as the upload itself.
    ours = [
        r.getMessage() + " " + json.dumps(getattr(r, "__dict__", {}), default=str)
        for r in caplog.records
        if not r.name.startswith(("botocore", "urllib3", "moto", "boto3", "s3transfer"))
    ]
    assert _leaks(" ".join(ours)) == []
    alerts = alert_inbox()
    assert len(alerts) == 3
    assert _leaks(json.dumps(alerts)) == []
    sfn = cloud.client("stepfunctions")
    runs = cloud.executions()
    assert len(runs) == 4
    for run in runs:
        desc = sfn.describe_execution(executionArn=run["executionArn"])
        events = history(cloud, run["executionArn"])
        text = json.dumps([desc.get("error"), desc.get("cause"), events], default=str)
        assert _leaks(text) == [], run["name"]
