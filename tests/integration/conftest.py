"""The local cloud over a fresh database, once per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credit_risk.data.generator import SyntheticData, generate
from credit_risk_local.cloud import LocalCloud


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[LocalCloud]:
    """template.yaml stood up on moto, handlers in-process, over ``database_url``."""
    with LocalCloud(database_url=database_url, local_dir=tmp_path / "local") as local:
        yield local


@pytest.fixture(scope="session")
def small_data() -> SyntheticData:
    """2,000 synthetic applications with outcomes (seeded)."""
    return generate(2000, seed=7)
