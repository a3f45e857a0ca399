"""Signed bearer tokens for the API, and the roles they carry.

A token is a JWT signed with HMAC-SHA256 (the key lives in Secrets Manager; the local
cloud fills it) naming a subject, one role and an expiry. Roles are ordered, each
including the ones before it:

- ``viewer``: read scores, model metrics, model versions, executions and health;
- ``analyst``: also simulate a proposed decision policy over the book
  (``POST /api/policy/simulate``: aggregate figures only, nothing is decided);
- ``scorer``: also ask for decisions (``POST /api/predict``);
- ``admin``: also promote and roll back models and decision policies.

``analyst`` sits below ``scorer``: a credit analyst studies policies but makes no
decisions, while a scoring client (a loan origination system) may run the read-only
simulation too; neither may change the policy in force, which only an admin promotes.

Mint one from a shell (``python -m credit_risk mint-token``, see :mod:`credit_risk.__main__`);
it signs with the key the settings name (``API_TOKEN_SECRET_ARN`` or ``API_TOKEN_KEY``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from credit_risk.errors import AuthenticationError, ConfigurationError

Role = Literal["viewer", "analyst", "scorer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "scorer", "admin")
"""Every role, least privileged first; each includes the rights of the ones before it."""
_RANK = {role: i for i, role in enumerate(ROLES)}

ISSUER = "credit-risk"
AUDIENCE = "credit-risk-api"
ALGORITHM = "HS256"
MIN_KEY_BYTES = 32
MAX_TTL = timedelta(days=90)
LEEWAY_SECONDS = 30
"""Clock skew tolerated between the minting machine and the API."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as a verified token says."""

    subject: str
    role: Role
    expires_at: datetime
    token_id: str | None = None
    issued_at: datetime | None = None

    def has(self, role: Role) -> bool:
        """True when this caller's role includes ``role``."""
        return _RANK[self.role] >= _RANK[role]


def _check_key(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"the API token key must be at least {MIN_KEY_BYTES} bytes")
    return key


def role_includes(role: Role, required: Role) -> bool:
    """True when ``role`` has the rights of ``required``."""
    return _RANK[role] >= _RANK[required]


def mint_token(
    key: bytes,
    subject: str,
    role: Role,
    ttl: int | timedelta = 3600,
    *,
    now: datetime | None = None,
) -> str:
    """A signed token for ``subject`` with ``role``, valid for ``ttl`` (seconds or delta)."""
    if role not in _RANK:
        raise ConfigurationError(f"unknown role '{role}'; roles are {', '.join(ROLES)}")
    if not subject or len(subject) > 200:
        raise ConfigurationError("the token subject must be 1 to 200 characters")
    lifetime = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    if not timedelta(0) < lifetime <= MAX_TTL:
        raise ConfigurationError(f"token lifetime must be positive and at most {MAX_TTL.days} days")
    issued = now or datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "role": role,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,  # what a single token is revoked by
    }
    return jwt.encode(claims, _check_key(key), algorithm=ALGORITHM)


def verify_token(key: bytes, token: str) -> Caller:
    """The caller a token names; :class:`AuthenticationError` when it is not valid.

    Valid means: signed with ``key`` (HS256 only), issued by us for this API, issued
    (``iat``, required) not in the future and not expired (with ``LEEWAY_SECONDS`` of clock
    skew), living at most ``MAX_TTL`` from issue to expiry, naming a subject and one known
    role.
    """
    try:
        claims = jwt.decode(
            token,
            _check_key(key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"the token is not valid: {exc}") from exc
    role = claims.get("role")
    # A role must be one known name: a list, a number or an object is refused, never
    # looked up (a list is unhashable and would crash the lookup).
    if not isinstance(role, str) or role not in _RANK:
        raise AuthenticationError("the token names no known role")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise AuthenticationError("the token names no subject")
    try:
        issued_at = datetime.fromtimestamp(int(claims["iat"]), UTC)
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (OverflowError, OSError, ValueError, TypeError) as exc:
        raise AuthenticationError("the token's issue or expiry time is not a valid time") from exc
    # The key signs whatever expiry it is given: a lifetime beyond MAX_TTL is refused here
    # too, so a leaked long-lived token is not good for years.
    if expires_at - issued_at > MAX_TTL:
        raise AuthenticationError(
            f"the token's lifetime is longer than the {MAX_TTL.days} days allowed"
        )
    if expires_at <= issued_at:
        raise AuthenticationError("the token expires before it was issued")
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not 1 <= len(jti) <= 200):
        raise AuthenticationError("the token's id is not valid")
    return Caller(subject, role, expires_at, jti, issued_at)  # type: ignore[arg-type]


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        raise AuthenticationError("no Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    return token.strip()
