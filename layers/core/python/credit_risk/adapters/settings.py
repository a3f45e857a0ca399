"""Typed settings, read once from the environment.

Logic never reads ``os.environ``; it receives values from :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a function or command needs to find its resources."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; overrides the secret when set."
    )
    db_secret_arn: str | None = Field(
        default=None, description="Secrets Manager secret holding RDS credentials."
    )
    owner_db_secret_arn: str | None = Field(
        default=None,
        description="The database owner's secret: only the migrate step connects with it.",
    )
    db_proxy_endpoint: str | None = Field(
        default=None,
        description="RDS Proxy endpoint; replaces the secret's host (the instance) when set.",
    )
    db_pool_size: int = Field(
        default=5,
        ge=1,
        description="Connections a process keeps open; 1 on Lambda (one request at a time).",
    )
    db_tls: str = Field(
        default="verify",
        pattern="^(verify|off)$",
        description="verify: TLS checked against the shipped RDS CA bundle (Postgres from a "
        "secret); off: no TLS (a local Postgres).",
    )
    secret_max_age_s: int = Field(
        default=300,
        ge=0,
        description="Seconds a secret read is cached, so a rotated secret is picked up.",
    )
    revocation_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="Seconds the API remembers a token found not revoked (at most the "
        "authorizer's 300 s cache): a revocation holds on every container within this.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Migrate the database when a process first connects (locally); false on "
        "Lambda, where the deploy's migrate step does it once.",
    )
    raw_bucket: str = "credit-risk-raw"
    artifacts_bucket: str = "credit-risk-artifacts"
    pipeline_state_machine_arn: str | None = None
    training_state_machine_arn: str | None = None
    rescore_state_machine_arn: str | None = None
    pseudonym_secret_arn: str | None = None
    pseudonym_key: str | None = Field(
        default=None, description="HMAC key used directly when no secret ARN is set."
    )
    api_token_secret_arn: str | None = Field(
        default=None, description="Secrets Manager secret holding the API token signing key."
    )
    api_token_key: str | None = Field(
        default=None, description="API token signing key used directly when no secret ARN is set."
    )
    audit_seal_bucket: str | None = Field(
        default=None, description="S3 bucket (Object Lock) that receives the audit head's seals."
    )
    audit_seal_secret_arn: str | None = Field(
        default=None, description="Secrets Manager secret holding the audit seal key."
    )
    audit_seal_key: str | None = Field(
        default=None, description="Audit seal key used directly when no secret ARN is set."
    )
    audit_seal_every_rows: int = Field(
        default=1000, ge=1, description="Seal the audit head after this many new rows."
    )
    audit_seal_every_minutes: float = Field(
        default=5.0, gt=0, description="Seal the audit head when it is older than this."
    )
    contract_path: str | None = Field(
        default=None, description="Dataset contract YAML; the packaged default when unset."
    )
    quality_config_path: str | None = Field(
        default=None, description="Data-quality gate config YAML; the packaged default when unset."
    )
    training_config_path: str | None = Field(
        default=None, description="Candidate model config YAML; the packaged default when unset."
    )
    alerts_topic_arn: str | None = None
    application_date_window_days: int = Field(
        default=30,
        ge=0,
        le=36500,
        description="How many days back from today a real-time request's application date may be.",
    )
    out_of_range: Literal["refuse", "review"] = Field(
        default="review",
        description=(
            "A real-time input outside the champion's training range: refuse it (400) or "
            "send the decision to review."
        ),
    )
    promotion_policy_path: str | None = Field(
        default=None,
        description="Promotion policy YAML (the training gate, and require_shadow); the "
        "packaged default when unset.",
    )
    shadow_challenger: str = Field(
        default="auto",
        pattern=r"^(off|auto|best-rejected|[A-Za-z0-9._-]{1,40})$",
        description=(
            "The model the API also scores each request with, in shadow (never changing "
            "the answer): off; auto (alias best-rejected): the registered version with the "
            "best holdout AUC that was never promoted; or a version id."
        ),
    )
    raw_retention_days: int = Field(
        default=30, ge=1, description="Days the raw bucket keeps landed files (its lifecycle rule)."
    )
    max_uncompressed_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="Largest landed file ingest reads, counted as uncompressed bytes (a "
        "gzip file is refused as soon as it expands past it).",
    )
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    local_dir: Path = Field(default=Path(".local"), alias="CREDIT_RISK_LOCAL_DIR")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment on first use."""
    return Settings()
