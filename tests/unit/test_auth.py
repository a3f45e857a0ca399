"""Bearer tokens: minted, verified, refused when expired, forged or tampered with."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from credit_risk.__main__ import mint_token_command as main
from credit_risk.errors import AuthenticationError, ConfigurationError
from credit_risk.governance.auth import ROLES, bearer_token, mint_token, role_includes, verify_token

KEY = b"k" * 40
OTHER_KEY = b"o" * 40


def test_a_minted_token_names_its_subject_role_and_expiry() -> None:
    token = mint_token(KEY, "alice@lender", "scorer", 600)
    caller = verify_token(KEY, token)
    assert (caller.subject, caller.role) == ("alice@lender", "scorer")
    assert timedelta(seconds=590) < caller.expires_at - datetime.now(UTC) <= timedelta(seconds=600)
    assert token.count(".") == 2


def test_roles_include_the_ones_below() -> None:
    assert ROLES == ("viewer", "analyst", "scorer", "admin")
    assert role_includes("admin", "scorer") and role_includes("scorer", "viewer")
    assert not role_includes("viewer", "scorer") and not role_includes("scorer", "admin")
    # analyst: above viewer (simulates policies), below scorer (makes no decisions)
    assert role_includes("analyst", "viewer") and role_includes("admin", "analyst")
    assert not role_includes("analyst", "scorer") and not role_includes("viewer", "analyst")


def test_an_expired_token_is_refused() -> None:
    token = mint_token(KEY, "bob", "admin", 60, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(AuthenticationError, match="expired"):
        verify_token(KEY, token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        verify_token(KEY, mint_token(OTHER_KEY, "mallory", "admin"))


def _segments(token: str) -> list[str]:
    return token.split(".")


def _encode(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def test_raising_ones_own_role_breaks_the_signature() -> None:
    header, payload, signature = _segments(mint_token(KEY, "eve", "viewer"))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    with pytest.raises(AuthenticationError):
        verify_token(KEY, f"{header}.{_encode(claims)}.{signature}")


def test_an_unsigned_token_is_refused() -> None:
    claims: dict[str, object] = {
        "sub": "eve",
        "role": "admin",
        "iss": "credit-risk",
        "aud": "credit-risk-api",
    }
    claims |= {"iat": 0, "exp": 4_000_000_000}
    token = f"{_encode({'alg': 'none', 'typ': 'JWT'})}.{_encode(claims)}."
    with pytest.raises(AuthenticationError):
        verify_token(KEY, token)


def test_a_token_for_another_audience_or_without_a_role_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    base = {"sub": "eve", "iss": "credit-risk", "iat": now, "exp": now + 60}
    other = jwt.encode({**base, "aud": "another-api", "role": "admin"}, KEY, algorithm="HS256")
    no_role = jwt.encode({**base, "aud": "credit-risk-api"}, KEY, algorithm="HS256")
    for token in (other, no_role, "not-a-token", ""):
        with pytest.raises(AuthenticationError):
            verify_token(KEY, token)


@pytest.mark.parametrize(
    ("key", "subject", "role", "ttl"),
    [
        (b"short", "a", "viewer", 60),
        (KEY, "", "viewer", 60),
        (KEY, "a", "root", 60),
        (KEY, "a", "viewer", 0),
        (KEY, "a", "viewer", 10**9),
    ],
)
def test_minting_refuses_weak_keys_and_odd_claims(
    key: bytes, subject: str, role: str, ttl: int
) -> None:
    with pytest.raises(ConfigurationError):
        mint_token(key, subject, role, ttl)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer abc", True),
        ("bearer abc", True),
        ("Basic abc", False),
        ("Bearer ", False),
        (None, False),
    ],
)
def test_the_authorization_header_must_be_a_bearer_token(header: str | None, ok: bool) -> None:
    if ok:
        assert bearer_token(header) == "abc"
    else:
        with pytest.raises(AuthenticationError):
            bearer_token(header)


def test_the_command_mints_with_the_configured_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from credit_risk.runtime import reset_runtime

    monkeypatch.setenv("API_TOKEN_KEY", KEY.decode())
    monkeypatch.delenv("API_TOKEN_SECRET_ARN", raising=False)
    reset_runtime()
    try:
        main(["--subject", "ops@lender", "--role", "admin", "--ttl", "120"])
    finally:
        reset_runtime()
    caller = verify_token(KEY, capsys.readouterr().out.strip())
    assert (caller.subject, caller.role) == ("ops@lender", "admin")
