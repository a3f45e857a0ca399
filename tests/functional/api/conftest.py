"""The risk API over the local cloud: template.yaml on moto, a real database, a champion.

``api`` gives a Chalice test client wired exactly as the deployed function is (settings
from the template's environment, secrets from the local Secrets Manager), with the
portfolio's applications in analytics, a trained champion registered and a token per role.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from credit_risk.governance.auth import ROLES, mint_token
from credit_risk.models.registry import ModelVersion, Registry
from credit_risk.runtime import get_runtime, reset_runtime
from credit_risk_local.cloud import LocalCloud, database_secret
from credit_risk_local.gateway import GatewayClient
from fixtures.champion import TrainedModels, register_models, trained_models
from fixtures.portfolio import load_portfolio

API_DIR = Path(__file__).resolve().parents[3] / "functions" / "api"


@dataclass
class Answer:
    """An HTTP answer: status, parsed JSON body and headers."""

    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class ApiWorld:
    """The API and everything behind it."""

    cloud: LocalCloud
    client: GatewayClient
    models: TrainedModels
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    versions: dict[str, ModelVersion] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        rt = get_runtime()
        return Registry(engine=rt.engine, store=rt.store, bucket=rt.settings.artifacts_bucket)

    def call(
        self,
        method: str,
        path: str,
        *,
        role: str | None = "admin",
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request through API Gateway's local stand-in (authorizer included)."""
        sent = {"Content-Type": "application/json"}
        if role is not None:
            sent["Authorization"] = f"Bearer {self.tokens[role]}"
        sent.update(headers or {})
        payload = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        response = self.client.http.request(method, path, headers=sent, body=payload)
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = response.body
        return Answer(response.status_code, parsed, dict(response.headers))

    def register(self, champion: str | None = None) -> dict[str, ModelVersion]:
        """Register the trained candidates and promote one."""
        self.versions = register_models(self.registry, self.models, champion=champion)
        return self.versions


@pytest.fixture(scope="session")
def trained() -> TrainedModels:
    """The session's trained candidates (see :func:`fixtures.champion.trained_models`)."""
    return trained_models()


def _open_world(cloud: LocalCloud, database_url: str, models: TrainedModels) -> ApiWorld:
    load_portfolio(models)
    key = get_runtime().api_token_key
    tokens: dict[str, str] = {role: mint_token(key, f"{role}@tests", role) for role in ROLES}
    client = GatewayClient(_app(), project_dir=str(API_DIR))
    return ApiWorld(cloud, client, models, database_url, tokens)


def use_database(cloud: LocalCloud, database_url: str) -> None:
    """Point the stack at another database, as rotating the RDS secret would, migrate it,
    as the deploy's migrate step would, with a seal bucket of its own (seals name rows of
    one database)."""
    for secret in ("DatabaseSecret", "AppDatabaseSecret"):
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.stack.secrets[secret],
            SecretString=json.dumps(database_secret(database_url)),
        )
    s3 = cloud.client("s3")
    template = s3.get_object_lock_configuration(Bucket=cloud.stack.buckets["AuditSealBucket"])
    bucket = f"credit-risk-audit-seals-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket, ObjectLockConfiguration=template["ObjectLockConfiguration"]
    )
    os.environ["AUDIT_SEAL_BUCKET"] = bucket  # the local cloud restores it when it stops
    reset_runtime()
    cloud.migrate()
    reset_runtime()


@pytest.fixture(scope="module")
def api_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """template.yaml on the local cloud, once per module (each test brings its database)."""
    folder = tmp_path_factory.mktemp("api-cloud")
    with LocalCloud(
        database_url=f"sqlite:///{folder / 'unused.db'}", local_dir=folder / "local"
    ) as cloud:
        yield cloud


@pytest.fixture
def bare_api(
    api_cloud: LocalCloud, database_url: str, trained: TrainedModels
) -> Iterator[ApiWorld]:
    """The API over a fresh database with the portfolio loaded and no model registered."""
    use_database(api_cloud, database_url)
    yield _open_world(api_cloud, database_url, trained)
    reset_runtime()


@pytest.fixture
def api(bare_api: ApiWorld) -> ApiWorld:
    """The API with the trained candidates registered and the best one champion."""
    bare_api.register()
    return bare_api


@pytest.fixture(scope="module")
def shared_api(
    tmp_path_factory: pytest.TempPathFactory, trained: TrainedModels
) -> Iterator[ApiWorld]:
    """One API with a champion for a whole module, on SQLite: for tests whose requests
    mostly never reach the database (validation, fuzzing), so that they stay fast."""
    folder = tmp_path_factory.mktemp("shared-api")
    url = f"sqlite:///{folder / 'credit_risk.db'}"
    with LocalCloud(database_url=url, local_dir=folder / "local") as cloud:
        world = _open_world(cloud, url, trained)
        world.register()
        yield world


def _app() -> Any:
    from app import app

    return app
