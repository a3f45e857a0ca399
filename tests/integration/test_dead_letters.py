"""A landed file whose ingest keeps failing is dead-lettered, listed and replayed."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import to_csv_bytes
from credit_risk.data.generator import SyntheticData
from credit_risk_local.cloud import LocalCloud


def _ledger(cloud: LocalCloud) -> list[Any]:
    from sqlalchemy import text

    from credit_risk.runtime import get_runtime

    with get_runtime().engine.connect() as conn:
        return conn.execute(text("SELECT key, status FROM staging.objects")).all()


def test_failed_ingest_goes_to_the_dlq_after_retries_and_replays_once_fixed(
    cloud: LocalCloud, small_data: SyntheticData
) -> None:
    calls: list[dict[str, Any]] = []

    def broken(event: dict[str, Any], context: Any) -> Any:
        calls.append(event)
        raise ConnectionError("the database is unreachable")

    cloud.dispatcher.override("IngestFunction", broken)
    cloud.upload("applications/2026-12-01.csv", to_csv_bytes(small_data.applications.head(50)))
    assert len(calls) == 3  # the first try and Lambda's two retries

    letters = cloud.dead_letters()
    assert [(len(x["objects"]), x["error_type"], x["attempts"]) for x in letters] == [
        (1, "ConnectionError", 3)
    ]
    assert letters[0]["objects"][0].endswith("/applications/2026-12-01.csv")
    assert _ledger(cloud) == []  # nothing half-loaded

    cloud.dispatcher.override("IngestFunction", None)
    replayed = cloud.replay_dead_letters()
    assert [r["replayed"] for r in replayed] == [True]
    assert cloud.dead_letters() == []
    assert [row[0] for row in _ledger(cloud)] == ["applications/2026-12-01.csv"]
    cloud.wait_for_idle(timeout=120)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_event_that_fails_again_on_replay_stays_in_the_queue(
    cloud: LocalCloud, small_data: SyntheticData
) -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise ConnectionError("still down")

    cloud.dispatcher.override("IngestFunction", broken)
    cloud.upload("outcomes/2026-12-01.csv", to_csv_bytes(small_data.outcomes.head(10)))
    assert [r["replayed"] for r in cloud.replay_dead_letters()] == [False]
    assert len(cloud.dead_letters()) == 1
