"""Finding 8(b): a token can be revoked by its id (jti), and every token of a subject up
to a moment; the authorizer refuses a revoked token and the API checks again on every
request (so a gateway-cached allow does not outlive the revocation). Revocations live in
the database (migration 6) and are made with ``python -m credit_risk revoke-token`` or
``./run token revoke``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from app import ROUTES, app
from functional.api.conftest import ApiWorld
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from chalicelib.auth import authorize
from credit_risk.__main__ import main as operator_main
from credit_risk.db import schema
from credit_risk.db.engine import get_engine
from credit_risk.db.migrations import migrate
from credit_risk.db.roles import grant_application_role
from credit_risk.governance.auth import Caller, mint_token
from credit_risk.governance.revocation import Revocations
from credit_risk.runtime import get_runtime
from credit_risk_local.cli import build_parser
from credit_risk_local.template import load_template


def _token(subject: str, *, now: datetime | None = None) -> str:
    return mint_token(get_runtime().api_token_key, subject, "scorer", 600, now=now)


def _jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def _status(api: ApiWorld, token: str) -> int:
    bearer = {"Authorization": f"Bearer {token}"}
    return api.call("GET", "/api/models", role=None, headers=bearer).status


def test_a_token_revoked_by_its_id_is_refused_and_others_are_not(
    api: ApiWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two working tokens of one subject
    first, second = _token("leaked@tests"), _token("leaked@tests")
    assert _status(api, first) == _status(api, second) == 200
    # WHEN an operator revokes the first by its id
    assert operator_main(["revoke-token", "--jti", _jti(first)]) == 0
    assert "revoked token" in capsys.readouterr().out
    # THEN it is refused, and the other token still works
    assert _status(api, first) == 401
    assert _status(api, second) == 200
    # AND the revocation is in the database
    with get_runtime().engine.connect() as conn:
        rows = conn.execute(schema.token_revocations.select()).mappings().all()
    assert [(r["kind"], r["value"]) for r in rows] == [("token", _jti(first))]


def test_revoking_a_subject_refuses_every_token_issued_before(api: ApiWorld) -> None:
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    old, recent = _token("gone@tests", now=earlier), _token("gone@tests")
    other = _token("stays@tests")
    assert operator_main(["revoke-token", "--subject", "gone@tests"]) == 0
    assert _status(api, old) == _status(api, recent) == 401
    assert _status(api, other) == 200
    # a token minted after the revocation is good
    after = _token("gone@tests", now=datetime.now(UTC) + timedelta(seconds=2))
    assert _status(api, after) == 200


def _event(path: str, context: dict[str, Any]) -> dict[str, Any]:
    """The event API Gateway sends the API when its cached authorizer answer allows."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "GET",
            "requestId": "cached-allow",
            "authorizer": context,
        },
    }


def test_the_api_refuses_a_revoked_token_the_gateway_still_has_cached(api: ApiWorld) -> None:
    # GIVEN the authorizer allowed a token (API Gateway caches that for up to 300 s)
    token = _token("cached@tests")
    answer = authorize(f"Bearer {token}", get_runtime().api_token_key, ROUTES)
    context = {**answer.context, "principalId": answer.principal_id}
    assert app(_event("/api/models", context), None)["statusCode"] == 200
    # WHEN the token is revoked
    get_runtime().revocations.revoke_token(_jti(token), by="tests")
    # THEN the API itself refuses the cached allow, in the API's error shape
    refused = app(_event("/api/models", context), None)
    assert refused["statusCode"] == 401
    assert '"AuthenticationError"' in refused["body"] and "revoked" in refused["body"]
    # AND the authorizer refuses it from now on
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(
            f"Bearer {token}",
            get_runtime().api_token_key,
            ROUTES,
            get_runtime().revocations.check,
        )


def test_the_local_cli_has_token_revoke() -> None:
    args = build_parser().parse_args(["token", "revoke", "--jti", "abc"])
    assert (args.action, args.jti, args.subject) == ("revoke", "abc", None)
    args = build_parser().parse_args(["token", "revoke", "--subject", "alice"])
    assert (args.action, args.subject) == ("revoke", "alice")
    assert build_parser().parse_args(["token", "--role", "scorer"]).action == "mint"


def test_revocations_are_only_added_and_a_later_one_moves_the_subjects_time(
    api: ApiWorld,
) -> None:
    revocations = get_runtime().revocations
    start = datetime.now(UTC) - timedelta(minutes=10)
    between = _token("twice@tests", now=start + timedelta(minutes=2))
    revocations.revoke_subject("twice@tests", by="tests", at=start)
    revocations.revoke_subject("twice@tests", by="tests", at=start)  # the same: nothing new
    assert _status(api, between) == 200
    revocations.revoke_subject("twice@tests", by="tests", at=start + timedelta(minutes=5))
    assert _status(api, between) == 401
    with get_runtime().engine.connect() as conn:
        rows = conn.execute(schema.token_revocations.select()).all()
    assert len(rows) == 2  # both kept, none updated or deleted


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_application_database_role_can_revoke_and_check(database_url: str) -> None:
    # GIVEN Postgres migrated by its owner and the role the functions connect as, which may
    # only SELECT and INSERT in the audit schema
    owner = get_engine(database_url)
    migrate(owner)
    role = f"cr_app_{uuid.uuid4().hex[:8]}"
    grant_application_role(owner, role, "not-used-with-trust-auth")
    app_engine = create_engine(
        make_url(database_url).set(username=role, password="x").render_as_string(False)
    )
    try:
        # WHEN it revokes a token and a subject, twice over
        revocations = Revocations(app_engine)
        now = datetime.now(UTC)
        revocations.revoke_token("jti-1", by="tests")
        revocations.revoke_subject("s@tests", by="tests", at=now)
        revocations.revoke_subject("s@tests", by="tests", at=now + timedelta(seconds=5))
        # THEN the revocations hold
        caller = Caller("s@tests", "viewer", now, "jti-2", now - timedelta(seconds=1))
        assert revocations.is_revoked(caller)
        assert revocations.is_revoked(Caller("x@tests", "viewer", now, "jti-1", now))
        assert not revocations.is_revoked(Caller("x@tests", "viewer", now, "jti-3", now))
    finally:
        app_engine.dispose()
        with owner.begin() as conn:
            conn.execute(text(f"REASSIGN OWNED BY {role} TO CURRENT_USER"))
            conn.execute(text(f"DROP OWNED BY {role}"))
        admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_a_revocation_made_elsewhere_holds_on_the_api_within_its_cache_time(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the API's revocation check, which remembers a good token for a while (so it
    # reads the table once per token and container in that time, not on every request)
    revocations = get_runtime().revocations
    ttl = revocations.cache_seconds
    reauthorize = load_template()["Resources"]["RiskApi"]["Properties"]["Auth"]["Authorizers"]
    assert 0 < ttl <= reauthorize["BearerToken"]["Identity"]["ReauthorizeEvery"]
    now = [1000.0]
    monkeypatch.setattr(revocations, "clock", lambda: now[0])
    token = _token("elsewhere@tests")
    answer = authorize(f"Bearer {token}", get_runtime().api_token_key, ROUTES)
    context = {**answer.context, "principalId": answer.principal_id}
    assert app(_event("/api/models", context), None)["statusCode"] == 200
    # WHEN another process (an operator's CLI) revokes the token
    Revocations(get_runtime().engine).revoke_token(_jti(token), by="tests")
    # THEN this container may answer from memory until the cache time has passed ...
    now[0] += ttl - 1
    assert app(_event("/api/models", context), None)["statusCode"] == 200
    # ... and refuses the token from then on
    now[0] += 2
    assert app(_event("/api/models", context), None)["statusCode"] == 401
    # AND the authorizer, which reads the table each time, refuses it at once
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(f"Bearer {token}", get_runtime().api_token_key, ROUTES, revocations.check)
