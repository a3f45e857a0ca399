"""The schema is migrated once per deploy, safely under concurrency; functions only check it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from credit_risk.adapters.settings import Settings
from credit_risk.db.engine import get_engine
from credit_risk.db.migrations import HEAD_REVISION, head_version
from credit_risk.errors import ConfigurationError
from credit_risk.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
MIGRATE = """
import sys
from credit_risk.db.engine import get_engine
from credit_risk.db.migrations import migrate
migrate(get_engine(sys.argv[1]))
"""


def test_eight_processes_migrating_a_fresh_database_at_once_all_succeed(
    database_url: str,
) -> None:
    env = {"PYTHONPATH": str(ROOT / "layers/core/python"), "PATH": "/usr/bin:/bin"}
    workers = [
        subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", MIGRATE, database_url],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    failures = [w.stderr.read() if w.stderr else "" for w in workers if w.wait(timeout=180) != 0]
    assert failures == []
    with get_engine(database_url).connect() as conn:
        versions = conn.execute(text("SELECT version FROM ml.schema_version")).scalars().all()
        head = conn.execute(text("SELECT version_num FROM ml.alembic_version")).scalars().all()
    assert sorted(versions) == list(range(1, head_version() + 1))  # each revision once
    assert head == [HEAD_REVISION]


def test_a_function_on_an_unmigrated_database_refuses_and_names_the_migrate_step(
    database_url: str, tmp_path: Path
) -> None:
    runtime = Runtime(
        Settings(database_url=database_url, migrate_on_start=False, CREDIT_RISK_LOCAL_DIR=tmp_path)
    )
    with pytest.raises(ConfigurationError, match=r"schema is at version 0.*run the migrate step"):
        _ = runtime.engine


def test_the_migrate_command_brings_a_database_to_head_then_has_nothing_to_do(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from credit_risk_local.cli import main

    assert main(["migrate", "--database-url", database_url]) == 0
    assert f"schema at version {head_version()} (applied" in capsys.readouterr().out
    assert main(["migrate", "--database-url", database_url]) == 0
    assert "nothing to apply" in capsys.readouterr().out
    runtime = Runtime(
        Settings(database_url=database_url, migrate_on_start=False, CREDIT_RISK_LOCAL_DIR=tmp_path)
    )
    assert runtime.engine is not None  # checked, not migrated, and accepted
