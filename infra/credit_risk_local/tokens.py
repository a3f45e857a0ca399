"""API tokens for the local stack, signed with the key the local cloud put in Secrets Manager."""

from __future__ import annotations

import json
from typing import Any

from credit_risk.governance.auth import mint_token


def signing_key(cloud: Any) -> bytes:
    """The API token key from the stack's ApiTokenSecret."""
    arn = cloud.stack.environment["API_TOKEN_SECRET_ARN"]
    secret = cloud.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return str(json.loads(secret)["key"]).encode()


def demo_token(cloud: Any, *, role: str = "scorer", subject: str = "demo", ttl: int = 3600) -> str:
    """A token for ``role`` valid for an hour."""
    return mint_token(signing_key(cloud), subject, role, ttl)  # type: ignore[arg-type]
