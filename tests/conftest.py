"""Shared fixtures: databases (SQLite always, Postgres when reachable) and the local cloud."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from credit_risk.db.engine import dispose_all

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "not available here"
        return f"{type(exc).__name__}: {exc}"
    return None


_PG_PROBLEM = _postgres_available()


RETRY_WAIT_SCALE = 0.05
"""How much of an ASL ``Retry`` wait the tests sit through (moto's engine sleeps it)."""


@pytest.fixture(autouse=True)
def _short_asl_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's Step Functions engine sleeps each ``Retry``'s IntervalSeconds x BackoffRate
    for real (1 s, then 2 s, ...). The attempts, their order and their errors are the
    ASL's still; only the wall time between them is a twentieth, which keeps the suite
    within its time."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    sleep = retrier_decl.time.sleep
    monkeypatch.setattr(
        retrier_decl, "time", SimpleNamespace(sleep=lambda s: sleep(s * RETRY_WAIT_SCALE))
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new Postgres database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'credit_risk.db'}"
        dispose_all()
        return
    if _PG_PROBLEM is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"Postgres is required (REQUIRE_POSTGRES=1) but unreachable: {_PG_PROBLEM}")
        pytest.skip(f"Postgres not reachable: {_PG_PROBLEM}")
    name = f"cr_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as the CSV bytes a lender would upload."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, date_format="%Y-%m-%d")
    return buffer.getvalue().encode()
