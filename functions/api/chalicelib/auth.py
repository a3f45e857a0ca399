"""Roles on every route: the authorizer's policy and the check each view repeats.

Each route declares the least role it needs (see ``app.py``). The authorizer verifies the
bearer token and answers with a policy listing every route the token's role may call (API
Gateway caches that answer per token, so it must cover all of them, not only the route
being called); API Gateway then answers 401 for a missing or bad token and 403 for a
route outside the policy before our code runs. Views check the role again from the
authorizer's context, so a misconfigured gateway cannot open a route.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalice import AuthResponse, AuthRoute

from credit_risk.errors import AuthenticationError, PermissionDeniedError
from credit_risk.governance.auth import (
    ROLES,
    Caller,
    Role,
    bearer_token,
    role_includes,
    verify_token,
)

_PARAMETER = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class RouteRule:
    """One route, its methods and the least role that may call it."""

    path: str
    methods: tuple[str, ...]
    role: Role


class RouteRoles:
    """The role each route needs, filled in as routes are declared."""

    def __init__(self) -> None:
        self.rules: list[RouteRule] = []

    def add(self, path: str, methods: list[str], role: Role) -> None:
        """Declare that ``role`` (and the roles above it) may call ``methods`` on ``path``."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.rules.append(RouteRule(path, tuple(m.upper() for m in methods), role))

    def allowed(self, role: Role) -> list[str | AuthRoute]:
        """The routes ``role`` may call, path parameters as ``*`` as API Gateway wants."""
        routes: list[str | AuthRoute] = [
            AuthRoute(_PARAMETER.sub("*", rule.path), list(rule.methods))
            for rule in self.rules
            if role_includes(role, rule.role)
        ]
        return routes

    def required(self, path: str, method: str) -> Role:
        """The least role for one route and method."""
        for rule in self.rules:
            if rule.path == path and method.upper() in rule.methods:
                return rule.role
        raise KeyError(f"{method} {path} is not a declared route")


def unauthorized() -> Exception:
    """The exception that makes the gateway answer 401.

    API Gateway answers 401 when a Lambda authorizer raises an error whose message is
    exactly ``Unauthorized``; Chalice's local gateway (the test client and ``chalice
    local``) needs its own exception class for the same answer.
    """
    local = sys.modules.get("chalice.local")
    if local is not None:
        return local.NotAuthorizedError(  # type: ignore[no-any-return]
            {"x-amzn-ErrorType": "UnauthorizedException"}, b'{"message":"Unauthorized"}'
        )
    return Exception("Unauthorized")


def authorize(
    header: str | None,
    key: bytes,
    routes: RouteRoles,
    not_revoked: Callable[[Caller], Caller] | None = None,
) -> AuthResponse:
    """The authorizer's answer for an ``Authorization`` header (raises for a bad token,
    and for a revoked one when ``not_revoked`` is given: it raises AuthenticationError)."""
    try:
        caller = verify_token(key, bearer_token(header))
        if not_revoked is not None:
            not_revoked(caller)
    except AuthenticationError as exc:
        raise unauthorized() from exc
    context = {"role": caller.role, "expires_at": caller.expires_at.isoformat()}
    if caller.token_id:
        context["token_id"] = caller.token_id
    if caller.issued_at is not None:
        context["issued_at"] = caller.issued_at.isoformat()
    return AuthResponse(
        routes=routes.allowed(caller.role),
        principal_id=caller.subject,
        context=context,
    )


def caller_of(context: dict[str, object], required: Role) -> Caller:
    """The caller the authorizer let through, checked again for ``required``."""
    granted = context.get("authorizer")
    if not isinstance(granted, dict):
        raise AuthenticationError("the request did not pass the authorizer")
    role, subject = granted.get("role"), granted.get("principalId")
    if role not in ROLES or not isinstance(subject, str) or not subject:
        raise AuthenticationError("the authorizer named no caller")
    if not role_includes(role, required):  # type: ignore[arg-type]
        raise PermissionDeniedError(f"this needs the {required} role; the caller is {role}")
    expires = str(granted.get("expires_at") or "")
    try:
        expires_at = datetime.fromisoformat(expires)
    except ValueError:
        expires_at = datetime.max
    token_id = granted.get("token_id")
    try:
        issued_at: datetime | None = datetime.fromisoformat(str(granted["issued_at"]))
    except (KeyError, ValueError):
        issued_at = None
    return Caller(
        subject,
        role,  # type: ignore[arg-type]
        expires_at,
        token_id if isinstance(token_id, str) and token_id else None,
        issued_at,
    )
