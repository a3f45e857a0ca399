"""The re-score state machine on the local cloud: the real ASL, a Distributed Map over a
manifest in S3, real chunk scoring into the database and S3."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import MetaData, func, select

from conftest import to_csv_bytes
from credit_risk.data.etl import application_features
from credit_risk.db import schema
from credit_risk.db.bulk import load_frame
from credit_risk.errors import TransientError
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud
from fixtures.champion import TrainedModels, register_models, trained_models

pytestmark = pytest.mark.integration

BOOK = 1200
CHUNK_ROWS = 300  # four chunks: 00000 .. 00003
CHUNK = "RescoreChunkFunction"


@pytest.fixture
def book(cloud: LocalCloud) -> Iterator[LocalCloud]:
    """A cloud with a champion and a book of 1,200 loans in analytics."""
    models = trained_models()
    register_models(get_runtime().registry, models)
    _load(models, models.data.applications.head(BOOK))
    yield cloud


def _load(models: TrainedModels, applications: pd.DataFrame) -> None:
    rt = get_runtime()
    rows = application_features(rt.contract, applications, rt.pseudonym_key, "book")
    with rt.engine.begin() as conn:
        load_frame(conn, schema.features_table(rt.contract, MetaData()), rows)


def _poisoned(count: int) -> pd.DataFrame:
    """The book with impossible values in its first ``count`` applications."""
    apps = trained_models().data.applications.head(BOOK).copy()
    rows = apps.index[:count]
    apps.loc[rows, "bureau_score"] = 9999
    apps.loc[rows[:1], "employment_status"] = "astronaut"
    return apps


def _rescore(cloud: LocalCloud, **request: Any) -> dict[str, Any]:
    payload = {"trigger": "test", "chunk_rows": CHUNK_ROWS, **request}
    return cloud.wait_for_execution(cloud.start_rescore(payload), timeout=180)


def _rescores_per_loan(version: str) -> tuple[int, int]:
    """(re-score rows, distinct loans) of a model version in ml.scores."""
    scores = schema.scores
    query = select(func.count(), func.count(func.distinct(scores.c.application_id))).where(
        scores.c.source == schema.RESCORE_SOURCE, scores.c.model_version == version
    )
    with get_runtime().engine.connect() as conn:
        rows, loans = conn.execute(query).one()
    return int(rows), int(loans)


def _scores_in_s3(cloud: LocalCloud, run_id: str) -> pd.DataFrame:
    s3 = cloud.client("s3")
    listed = s3.list_objects_v2(Bucket=cloud.artifacts_bucket, Prefix=f"rescore/{run_id}/scores/")
    frames = [
        pq.read_table(
            io.BytesIO(s3.get_object(Bucket=cloud.artifacts_bucket, Key=o["Key"])["Body"].read())
        ).to_pandas()
        for o in listed.get("Contents", [])
    ]
    return pd.concat(frames, ignore_index=True)


def _chunk_calls(cloud: LocalCloud) -> list[str]:
    return [i.event["chunk"] for i in cloud.dispatcher.invocations if i.function == CHUNK]


def _champion() -> str:
    return get_runtime().registry.require_champion().version


def test_every_loan_gets_one_score_and_a_second_run_replaces_it(book: LocalCloud) -> None:
    # WHEN the book is re-scored twice with the same champion
    first = _rescore(book)
    second = _rescore(book)

    # THEN both runs reconcile: every loan in, every loan scored, in four chunks
    for run in (first, second):
        assert run["status"] == "SUCCEEDED", run.get("cause")
        output = json.loads(run["output"])
        assert output["status"] == "reconciled"
        assert output["chunks"] == 4
        assert output["rows_in"] == output["rows_scored"] == BOOK
    # AND the database holds exactly one re-score per loan for the version
    assert _rescores_per_loan(_champion()) == (BOOK, BOOK)
    # AND each run's Parquet scores in S3 hold every loan once
    s3_scores = _scores_in_s3(book, json.loads(second["output"])["run_id"])
    assert len(s3_scores) == s3_scores["application_id"].nunique() == BOOK
    assert set(s3_scores["model_version"]) == {_champion()}


def test_a_chunk_failing_twice_with_a_transient_error_is_retried_and_succeeds(
    book: LocalCloud,
) -> None:
    # GIVEN chunk 00001 whose database is unreachable for its first two attempts
    real = book.dispatcher.handler_for(CHUNK)
    failures: list[str] = []

    def flaky(event: dict[str, Any], context: Any) -> Any:
        if event["chunk"] == "00001" and len(failures) < 2:
            failures.append(event["chunk"])
            raise TransientError("database connection reset")
        return real(event, context)

    book.dispatcher.override(CHUNK, flaky)

    # WHEN the book is re-scored
    run = _rescore(book)

    # THEN the Task retried (TransientError only) and the run reconciled in full
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert _chunk_calls(book).count("00001") == 3
    assert sorted(set(_chunk_calls(book))) == ["00000", "00001", "00002", "00003"]
    assert json.loads(run["output"])["rows_scored"] == BOOK
    assert _rescores_per_loan(_champion()) == (BOOK, BOOK)


def test_poisoned_rows_within_the_tolerance_are_refused_with_reasons(cloud: LocalCloud) -> None:
    # GIVEN a book where 6 loans of the first chunk hold values the contract forbids (2%)
    models = trained_models()
    register_models(get_runtime().registry, models)
    _load(models, _poisoned(6))

    # WHEN the book is re-scored
    run = _rescore(cloud)

    # THEN the run succeeds, refused rows are listed with their reasons, counts reconcile
    assert run["status"] == "SUCCEEDED", run.get("cause")
    output = json.loads(run["output"])
    assert output["rows_in"] == BOOK
    assert output["rows_refused"] == 6
    assert output["rows_scored"] + output["rows_refused"] == output["rows_in"]
    assert output["refused_reasons"]["bureau_score: above maximum 850"] == 6
    assert (
        output["refused_reasons"][
            "employment_status: not one of: "
            + ", ".join(
                get_runtime().contract.applications.columns["employment_status"].categories or []
            )
        ]
        == 1
    )
    refused = output["refused_rows"]
    assert {r["chunk"] for r in refused} == {"00000"}
    assert all(r["application_id"] and "bureau_score" in r["reason"] for r in refused)
    assert "9999" not in json.dumps(output)  # reasons name the rule, never the value
    # AND only scored loans are in the database
    assert _rescores_per_loan(_champion()) == (BOOK - 6, BOOK - 6)


def test_a_chunk_refusing_more_than_the_tolerance_fails_the_run_by_name(
    cloud: LocalCloud,
) -> None:
    # GIVEN a book whose third chunk holds 30 impossible rows of its 300 (10% > 5%)
    models = trained_models()
    register_models(get_runtime().registry, models)
    apps = models.data.applications.head(BOOK).copy()
    ids = apps["application_id"].astype(str)
    third = sorted(ids)[2 * CHUNK_ROWS : 2 * CHUNK_ROWS + 30]
    apps.loc[ids.isin(third), "bureau_score"] = 9999
    _load(models, apps)

    # WHEN the book is re-scored
    run = _rescore(cloud)

    # THEN the execution fails with the tolerance error, naming the chunk and its share
    assert run["status"] == "FAILED"
    assert run["error"] == "RescoreToleranceExceededError"
    assert "chunk 00002 refused 30 of 300 rows (10.0%)" in run["cause"]
    # AND the other chunks' scores stand (the run is idempotent when run again)
    assert _rescores_per_loan(_champion()) == (BOOK - 30, BOOK - 30)


def test_a_redrive_scores_only_the_chunks_that_were_missing(book: LocalCloud) -> None:
    # GIVEN a run whose chunk 00002 fails with a non-transient error (1 of 4 > 5%): it
    # asks for a model version the registry does not hold
    real = book.dispatcher.handler_for(CHUNK)

    def broken(event: dict[str, Any], context: Any) -> Any:
        if event["chunk"] == "00002":
            return real({**event, "model_version": "v-withdrawn"}, context)
        return real(event, context)

    book.dispatcher.override(CHUNK, broken)
    failed = _rescore(book)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "RescoreToleranceExceededError"
    assert "1 of 4 chunks have no result (25.0%): 00002 (NotFoundError)" in failed["cause"]
    assert _rescores_per_loan(_champion()) == (BOOK - CHUNK_ROWS, BOOK - CHUNK_ROWS)

    # WHEN the cause is fixed and the run is redriven
    book.dispatcher.override(CHUNK, None)
    before = len(_chunk_calls(book))
    redrive = book.wait_for_execution(book.redrive(failed["name"]), timeout=180)

    # THEN only the missing chunk ran, and the original run now reconciles in full
    assert redrive["status"] == "SUCCEEDED", redrive.get("cause")
    assert redrive["name"] == f"{failed['name']}-redrive-1"
    assert _chunk_calls(book)[before:] == ["00002"]
    output = json.loads(redrive["output"])
    assert output["run_id"] == failed["name"]
    assert output["rows_scored"] == BOOK
    assert _rescores_per_loan(_champion()) == (BOOK, BOOK)


def test_a_portfolio_upload_is_rescored_not_ingested(cloud: LocalCloud) -> None:
    # GIVEN a champion, and a lender's file of loans with one impossible row
    models = trained_models()
    register_models(get_runtime().registry, models)
    apps = models.data.applications.head(500).copy()
    apps.loc[apps.index[3], "loan_amount"] = -5

    # WHEN it lands under portfolio/
    cloud.upload("portfolio/2024-06.csv", to_csv_bytes(apps))
    cloud.wait_for_idle()

    # THEN a re-score run scored the file's loans (none went to staging), refusing one
    runs = cloud.executions("RescoreStateMachine")
    assert len(runs) == 1 and runs[0]["name"].startswith("rescore-portfolio-")
    run = cloud.wait_for_execution(runs[0]["executionArn"])
    assert run["status"] == "SUCCEEDED", run.get("cause")
    output = json.loads(run["output"])
    assert (output["rows_in"], output["rows_scored"], output["rows_refused"]) == (500, 499, 1)
    assert output["refused_rows"][0]["row_number"] == 4
    assert output["refused_rows"][0]["reason"] == "loan_amount: below minimum 100"
    assert not cloud.executions("PipelineStateMachine")
    assert _rescores_per_loan(_champion()) == (499, 499)


def test_the_dashboard_lists_rescore_runs(book: LocalCloud) -> None:
    # GIVEN a re-score run
    run = _rescore(book)

    # WHEN a viewer opens the dashboard
    page = get_runtime().monitor().render_latest()

    # THEN its runs table shows the run, by machine, name and status
    assert "pipeline, training and re-score runs" in page
    assert run["name"] in page and "rescore" in page and "SUCCEEDED" in page


def test_files_under_a_prefix_are_rescored_in_row_ranges(cloud: LocalCloud) -> None:
    # GIVEN a champion and two lenders' files under one prefix: CSV and Parquet
    models = trained_models()
    register_models(get_runtime().registry, models)
    apps = models.data.applications
    parquet = io.BytesIO()
    apps.iloc[400:1000].to_parquet(parquet, index=False)
    s3 = cloud.client("s3")
    s3.put_object(
        Bucket=cloud.artifacts_bucket, Key="books/june/a.csv", Body=to_csv_bytes(apps.head(400))
    )
    s3.put_object(
        Bucket=cloud.artifacts_bucket, Key="books/june/b.parquet", Body=parquet.getvalue()
    )

    # WHEN the prefix is re-scored (./run rescore --prefix)
    run = _rescore(cloud, prefix=f"s3://{cloud.artifacts_bucket}/books/june/")

    # THEN each file was cut into chunks of its own rows, and every loan scored once
    assert run["status"] == "SUCCEEDED", run.get("cause")
    output = json.loads(run["output"])
    assert (output["chunks"], output["rows_in"], output["rows_scored"]) == (2 + 2, 1000, 1000)
    assert _rescores_per_loan(_champion()) == (1000, 1000)
