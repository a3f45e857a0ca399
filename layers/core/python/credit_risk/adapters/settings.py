"""Typed settings, read once from the environment.

Logic never reads ``os.environ``; it receives values from :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
