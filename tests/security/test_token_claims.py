"""Finding 8(c): a token whose role is anything but one known role name is a 401, never a
crash (a role list is unhashable and used to crash the authorizer)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from functional.api.conftest import ApiWorld

from credit_risk.errors import AuthenticationError
from credit_risk.governance.auth import ALGORITHM, AUDIENCE, ISSUER, verify_token
from credit_risk.runtime import get_runtime

KEY = b"k" * 32
ODD_ROLES: list[Any] = [
    ["admin"],
    ["viewer", "admin"],
    3,
    2.5,
    True,
    None,
    {"r": "admin"},
    "root",
    "",
]


def _signed(key: bytes, **overrides: Any) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "mallory@tests",
        "role": "viewer",
        "iat": now,
        "exp": now + 600,
        "jti": "odd-role",
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=ALGORITHM)


@pytest.mark.parametrize("role", ODD_ROLES, ids=repr)
def test_a_role_that_is_not_one_known_name_is_refused(role: Any) -> None:
    # GIVEN a token correctly signed but whose role claim is not a single known role name
    token = _signed(KEY, role=role)
    # WHEN it is verified THEN it is refused as not authenticated (not a TypeError)
    with pytest.raises(AuthenticationError, match="no known role"):
        verify_token(KEY, token)


@pytest.mark.parametrize("role", [["admin"], 3, {"r": "admin"}, "root"], ids=repr)
def test_the_api_answers_401_for_an_odd_role(shared_api: ApiWorld, role: Any) -> None:
    # GIVEN a token signed with the deployed key whose role is a list, a number, ...
    token = _signed(get_runtime().api_token_key, role=role)
    # WHEN it is used on the API
    answer = shared_api.call(
        "GET", "/api/models", role=None, headers={"Authorization": f"Bearer {token}"}
    )
    # THEN the gateway answers 401, not a 500 from a crashed authorizer
    assert answer.status == 401
