"""The risk API: Chalice routes over :mod:`chalicelib.service`, behind a token authorizer.

Every route needs a bearer token (see :mod:`credit_risk.governance.auth`) and declares the
least role it needs; each view parses the request, calls one service method and returns
its result.
Errors become HTTP answers in one place (:mod:`chalicelib.errors`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from chalice import AuthResponse, Chalice, Response
from chalice.app import AuthRequest, Request

from chalicelib import auth
from chalicelib.errors import handles_errors, reshaped
from chalicelib.service import get_service
from credit_risk.adapters.observability import logger, metrics, tracer
from credit_risk.governance.auth import Caller, Role
from credit_risk.runtime import get_runtime

app = Chalice(app_name="credit-risk-api")
ROUTES = auth.RouteRoles()


@app.authorizer(ttl_seconds=300)
def bearer(auth_request: AuthRequest) -> AuthResponse:
    """Verify the bearer token (and that it is not revoked); allow every route its role
    may call."""
    with tracer.provider.in_subsegment("## authorize"):
        runtime = get_runtime()
        return auth.authorize(
            auth_request.token, runtime.api_token_key, ROUTES, runtime.revocations.check
        )


def _request() -> Request:
    request = app.current_request
    assert request is not None, "a view runs inside a request"
    return request


def _request_id() -> str:
    context = app.current_request.context if app.current_request else {}
    return str(context.get("requestId") or "")


def _query() -> dict[str, str]:
    return dict(_request().query_params or {})


def route(path: str, *, method: str, role: Role) -> Callable[[Callable[..., Any]], Any]:
    """A route behind the authorizer, needing ``role``, with errors mapped to HTTP."""
    ROUTES.add(path, [method], role)

    def register(view: Callable[..., Any]) -> Any:
        return app.route(path, methods=[method], authorizer=bearer)(
            handles_errors(_request_id)(view)
        )

    return register


def _caller(role: Role) -> Caller:
    # Checked again here: the gateway caches the authorizer's answer for 300 s; this check
    # remembers a good token for REVOCATION_CACHE_SECONDS (30 s), a tighter bound.
    return get_runtime().revocations.check_cached(auth.caller_of(_request().context, role))


@app.middleware("http")
def observe(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Give every request an id, answer it in a header, log one line and flush metrics."""
    started = time.perf_counter()
    event.context.setdefault("requestId", uuid.uuid4().hex)
    request_id = event.context["requestId"]
    with tracer.provider.in_subsegment(f"## {event.method} {event.context.get('resourcePath')}"):
        response = reshaped(get_response(event), request_id)
    response.headers["X-Request-Id"] = request_id
    logger.info(
        "request",
        extra={
            "method": event.method,
            "route": event.context.get("resourcePath"),
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 3),
            "request_id": request_id,
        },
    )
    if metrics.metric_set:
        metrics.flush_metrics()
    return response


@route("/api/predict", method="POST", role="scorer")
def predict() -> dict[str, Any]:
    """Decide on an application (existing customer or new applicant)."""
    return get_service().predict(_request().raw_body, _caller("scorer"), _request_id())


@route("/api/risk-score/{customer_id}", method="GET", role="viewer")
def risk_score(customer_id: str) -> dict[str, Any]:
    """A customer's latest stored score and decision."""
    return get_service().risk_score(customer_id, _caller("viewer"), _request_id())


@route("/api/customers/{customer_id}/data", method="GET", role="admin")
def customer_data(customer_id: str) -> dict[str, Any]:
    """Everything held about a customer (GDPR access); audited."""
    return get_service().customer_data(customer_id, _caller("admin"), _request_id())


@route("/api/customers/{customer_id}", method="DELETE", role="admin")
def erase_customer(customer_id: str) -> dict[str, Any]:
    """Erase a customer's personal data (GDPR erasure); audited."""
    return get_service().erase_customer(customer_id, _caller("admin"), _request_id())


@route("/api/model-metrics", method="GET", role="viewer")
def model_metrics() -> dict[str, Any]:
    """The champion's (or ``?version=``'s) metrics."""
    _caller("viewer")
    return get_service().model_metrics(_query())


@route("/api/health", method="GET", role="viewer")
def health() -> Response:
    """Liveness and readiness."""
    _caller("viewer")
    status, body = get_service().health(_query())
    return Response(body=body, status_code=status)


@route("/api/models", method="GET", role="viewer")
def models() -> dict[str, Any]:
    """Every model version."""
    _caller("viewer")
    return get_service().models()


@route("/api/models/{version}/promote", method="POST", role="admin")
def promote(version: str) -> dict[str, Any]:
    """Make a version the champion."""
    caller = _caller("admin")
    return get_service().promote(version, _request().raw_body, caller, _request_id())


@route("/api/models/rollback", method="POST", role="admin")
def rollback() -> dict[str, Any]:
    """Restore the previous champion."""
    return get_service().rollback(_caller("admin"), _request_id())


@route("/api/executions", method="GET", role="viewer")
def executions() -> dict[str, Any]:
    """Pipeline and training executions."""
    _caller("viewer")
    return get_service().executions(_query())


@route("/api/dashboard", method="GET", role="viewer")
def dashboard() -> Response:
    """The portfolio and model dashboard as one self-contained HTML page."""
    _caller("viewer")
    return Response(
        body=get_service().dashboard(),
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8"},
    )


@route("/api/openapi.json", method="GET", role="viewer")
def openapi() -> dict[str, Any]:
    """The OpenAPI document."""
    _caller("viewer")
    return get_service().openapi(ROUTES)


# --- decision policies (issue 14) ------------------------------------------------------


@route("/api/policy", method="GET", role="viewer")
def policy() -> dict[str, Any]:
    """The decision policy in force and every promoted version."""
    _caller("viewer")
    return get_service().policy_versions()


@route("/api/policy/simulate", method="POST", role="analyst")
def simulate_policy() -> dict[str, Any]:
    """Replay a proposed decision policy over the book beside the one in force."""
    _caller("analyst")
    return get_service().simulate_policy(_request().raw_body, _request_id())


@route("/api/policy/promote", method="POST", role="admin")
def promote_policy() -> dict[str, Any]:
    """Put a decision policy in force (versioned, audited)."""
    caller = _caller("admin")
    return get_service().promote_policy(_request().raw_body, caller, _request_id())
