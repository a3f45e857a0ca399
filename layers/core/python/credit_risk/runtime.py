"""The composition root: settings turned into adapters, once per container."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from credit_risk.adapters.aws import ObjectStore, Workflows, read_secret, reset_clients
from credit_risk.contract import Contract, load_contract
from credit_risk.db.engine import (
    dispose_all,
    get_engine,
    rds_tls_context,
    sqlite_url,
    url_from_secret,
)
from credit_risk.db.migrations import check_schema, ensure_contract_tables, migrate
from credit_risk.errors import ConfigurationError
from credit_risk.governance.audit import AuditTrail
from credit_risk.governance.seal import SealStore
from credit_risk.models.registry import Registry

if TYPE_CHECKING:  # numpy comes with the serving model, only where a model is scored
    from credit_risk.decisions.policy_store import PolicyLoader, PolicyStore
    from credit_risk.decisions.serving import ChampionLoader
    from credit_risk.decisions.shadow import ChallengerLoader
    from credit_risk.governance.revocation import Revocations
    from credit_risk.monitoring.figures import MonitoringConfig
    from credit_risk.monitoring.service import MonitorService
from credit_risk.adapters.settings import Settings, get_settings


@dataclass
class Runtime:
    """Everything a handler needs, built lazily from settings."""

    settings: Settings

    @cached_property
    def contract(self) -> Contract:
        return load_contract(self.settings.contract_path)

    @cached_property
    def engine(self) -> Engine:
        """The database, at this code's schema: migrated here when ``migrate_on_start``
        (locally), else checked (on Lambda the deploy's migrate step has run)."""
        engine = self.engine_unmigrated
        if self.settings.migrate_on_start:
            migrate(engine)
            ensure_contract_tables(engine, self.contract)
        else:
            check_schema(engine)
        return engine

    @cached_property
    def engine_unmigrated(self) -> Engine:
        """The database as it is (the migrate step's starting point)."""
        s = self.settings
        if s.database_url:
            return get_engine(s.database_url, pool_size=s.db_pool_size)
        if s.db_secret_arn:
            return self._engine_from_secret(s.db_secret_arn)
        return get_engine(sqlite_url(s.local_dir))

    @cached_property
    def owner_engine(self) -> Engine:
        """The database as its owner, who migrates (the migrate step only)."""
        owner = self.settings.owner_db_secret_arn
        return self._engine_from_secret(owner) if owner else self.engine_unmigrated

    def _engine_from_secret(self, secret_arn: str) -> Engine:
        """Postgres from its Secrets Manager secret, through the RDS Proxy when there is one;
        TLS verified; the password re-read (cached ``secret_max_age_s``) per new connection."""
        s = self.settings

        def secret() -> dict[str, Any]:
            value = read_secret(secret_arn, s.aws_region, max_age=s.secret_max_age_s)
            if not isinstance(value, dict):
                raise ConfigurationError("the database secret is not a JSON object")
            return value

        first = secret()
        if "url" in first:  # a full URL (the local cloud's secret)
            return get_engine(str(first["url"]), pool_size=s.db_pool_size)
        return get_engine(
            url_from_secret(first, host=s.db_proxy_endpoint),
            pool_size=s.db_pool_size,
            tls=rds_tls_context() if s.db_tls == "verify" else None,
            password=lambda: str(secret()["password"]),
        )

    @cached_property
    def registry(self) -> Registry:
        """The model registry over this container's database and artifacts bucket."""
        return Registry(engine=self.engine, store=self.store, bucket=self.settings.artifacts_bucket)

    @cached_property
    def champion_loader(self) -> ChampionLoader:
        """The champion, loaded and hash-checked once per container (refreshed on promotion)."""
        from credit_risk.decisions.serving import ChampionLoader

        return ChampionLoader(self.registry)

    @cached_property
    def challenger_loader(self) -> ChallengerLoader:
        """The shadow challenger (``shadow_challenger``), loaded once per container."""
        from credit_risk.decisions.shadow import ChallengerLoader

        return ChallengerLoader(self.registry, self.settings.shadow_challenger)

    @cached_property
    def revocations(self) -> Revocations:
        """Revoked API tokens and subjects (checked by the authorizer and the API)."""
        from credit_risk.governance.revocation import Revocations

        return Revocations(self.engine, cache_seconds=self.settings.revocation_cache_seconds)

    @cached_property
    def policy_store(self) -> PolicyStore:
        """Promoted decision policies (issue 14)."""
        from credit_risk.decisions.policy_store import PolicyStore

        return PolicyStore(self.engine)

    @cached_property
    def policy_loader(self) -> PolicyLoader:
        """The decision policy in force, re-read every 30 s (a promotion needs no restart)."""
        from credit_risk.decisions.policy_store import PolicyLoader

        return PolicyLoader(self.policy_store, self.contract)

    def monitor(self, config: MonitoringConfig | None = None) -> MonitorService:
        """A monitor wired to the container's database, buckets, topic and state machines."""
        from credit_risk.adapters.alerts import publish_alert
        from credit_risk.monitoring.service import MonitorService

        settings = self.settings

        def publish(event: dict[str, Any]) -> Any:
            return publish_alert(
                event, topic_arn=settings.alerts_topic_arn, region=settings.aws_region
            )

        return MonitorService(
            engine=self.engine,
            contract=self.contract,
            registry=self.registry,
            store=self.store,
            artifacts_bucket=settings.artifacts_bucket,
            publish=publish,
            workflows=self.workflows,
            state_machines={
                "pipeline": settings.pipeline_state_machine_arn,
                "training": settings.training_state_machine_arn,
                "rescore": settings.rescore_state_machine_arn,
            },
            training_state_machine_arn=settings.training_state_machine_arn,
            policy=self.policy_loader.get(),
            config=config,
            pseudonym_key=lambda: self.pseudonym_key,
        )

    @cached_property
    def store(self) -> ObjectStore:
        return ObjectStore(self.settings.aws_region)

    @cached_property
    def workflows(self) -> Workflows:
        return Workflows(self.settings.aws_region)

    def _key(self, secret_arn: str | None, direct: str | None, what: str, names: str) -> bytes:
        """A key from its secret (``{"key": ...}`` or a plain string), else from settings."""
        value: object = direct
        if secret_arn:
            secret = read_secret(secret_arn, self.settings.aws_region)
            value = secret.get("key") if isinstance(secret, dict) else secret
        if not value:
            raise ConfigurationError(f"no {what}: set {names}")
        return str(value).encode()

    @cached_property
    def pseudonym_key(self) -> bytes:
        s = self.settings
        return self._key(
            s.pseudonym_secret_arn,
            s.pseudonym_key,
            "pseudonymisation key",
            "PSEUDONYM_SECRET_ARN or PSEUDONYM_KEY",
        )

    @cached_property
    def api_token_key(self) -> bytes:
        s = self.settings
        return self._key(
            s.api_token_secret_arn,
            s.api_token_key,
            "API token signing key",
            "API_TOKEN_SECRET_ARN or API_TOKEN_KEY",
        )

    @cached_property
    def audit_seal_key(self) -> bytes | None:
        """The key that signs audit rows and seals; None when none is configured."""
        s = self.settings
        if not (s.audit_seal_secret_arn or s.audit_seal_key):
            return None
        return self._key(
            s.audit_seal_secret_arn,
            s.audit_seal_key,
            "audit seal key",
            "AUDIT_SEAL_SECRET_ARN or AUDIT_SEAL_KEY",
        )

    @cached_property
    def audit_seals(self) -> SealStore | None:
        """Where the audit head is sealed; None unless a bucket and a key are configured."""
        key, bucket = self.audit_seal_key, self.settings.audit_seal_bucket
        return None if key is None or not bucket else SealStore(self.store, bucket, key)

    @cached_property
    def audit_trail(self) -> AuditTrail:
        """The audit trail, its rows signed and its head sealed when a key is configured."""
        s = self.settings
        return AuditTrail(
            self.engine,
            key=self.audit_seal_key,
            seals=self.audit_seals,
            seal_every_rows=s.audit_seal_every_rows,
            seal_every_seconds=s.audit_seal_every_minutes * 60,
        )


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The container's runtime, created on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(get_settings())
        return _runtime


def reset_runtime() -> None:
    """Forget settings, clients and engines (tests and the local cloud)."""
    global _runtime
    with _lock:
        _runtime = None
    get_settings.cache_clear()
    reset_clients()
    dispose_all()
