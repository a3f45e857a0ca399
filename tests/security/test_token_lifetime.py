"""Finding 8(a): the verifier enforces a maximum token lifetime itself. The key signs any
``exp`` it is given, so a ten-year token used to work; now ``exp - iat`` must be at most
``MAX_TTL``, ``iat`` must be present and not in the future."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from functional.api.conftest import ApiWorld

from credit_risk.errors import AuthenticationError
from credit_risk.governance.auth import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    MAX_TTL,
    mint_token,
    verify_token,
)
from credit_risk.runtime import get_runtime

KEY = b"k" * 32


def _signed(key: bytes, *, drop: tuple[str, ...] = (), **claims: Any) -> str:
    now = int(datetime.now(UTC).timestamp())
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "mallory@tests",
        "role": "admin",
        "iat": now,
        "exp": now + 600,
    }
    body.update(claims)
    for name in drop:
        body.pop(name)
    return jwt.encode(body, key, algorithm=ALGORITHM)


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def test_a_ten_year_token_is_refused() -> None:
    token = _signed(KEY, exp=_now() + 10 * 365 * 86400)
    with pytest.raises(AuthenticationError, match="lifetime"):
        verify_token(KEY, token)


def test_a_token_just_over_the_maximum_is_refused_and_one_at_it_is_accepted() -> None:
    limit = int(MAX_TTL.total_seconds())
    with pytest.raises(AuthenticationError, match="lifetime"):
        verify_token(KEY, _signed(KEY, exp=_now() + limit + 1))
    assert verify_token(KEY, _signed(KEY, exp=_now() + limit)).role == "admin"


def test_a_token_without_iat_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        verify_token(KEY, _signed(KEY, drop=("iat",)))


def test_a_token_issued_in_the_future_is_refused() -> None:
    later = _now() + 3600
    with pytest.raises(AuthenticationError):
        verify_token(KEY, _signed(KEY, iat=later, exp=later + 600))


def test_a_backdated_iat_cannot_stretch_the_lifetime() -> None:
    # iat far in the past with exp far ahead: still longer than the maximum
    token = _signed(KEY, iat=_now() - 86400, exp=_now() + int(MAX_TTL.total_seconds()))
    with pytest.raises(AuthenticationError, match="lifetime"):
        verify_token(KEY, token)


def test_minted_tokens_still_verify() -> None:
    token = mint_token(KEY, "alice@tests", "scorer", timedelta(days=90))
    assert verify_token(KEY, token).subject == "alice@tests"


def test_the_api_refuses_a_long_lived_token(shared_api: ApiWorld) -> None:
    token = _signed(get_runtime().api_token_key, exp=_now() + 10 * 365 * 86400)
    bearer = {"Authorization": f"Bearer {token}"}
    assert shared_api.call("GET", "/api/models", role=None, headers=bearer).status == 401
