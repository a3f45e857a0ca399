"""The one place where an error becomes an HTTP response.

Every view is wrapped by :func:`handles_errors`. The platform's errors carry their HTTP
status (:class:`credit_risk.errors.CreditRiskError.http_status`); request validation
errors become 400s listing each field and the rule it broke; a database or AWS outage is
a 503; anything else is a 500 that is logged with its traceback and answered without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pydantic
from botocore.exceptions import BotoCoreError, ClientError
from chalice import ChaliceViewError, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from credit_risk.adapters.observability import logger
from credit_risk.errors import CreditRiskError

JSON = {"Content-Type": "application/json"}


def field_errors(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    """Each validation problem as ``{field, rule, message}`` (never the offending value,
    which may be personal data)."""
    out = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in error["loc"]) or "body"
        out.append({"field": field, "rule": error["type"], "message": error["msg"]})
    return out


def _json_safe(details: dict[str, object]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | type(None)) else str(v)
        for k, v in details.items()
    }


def error_response(exc: Exception, request_id: str) -> Response:
    """The response for ``exc``: status, ``{error, message, request_id, ...}``."""
    body: dict[str, Any]
    if isinstance(exc, pydantic.ValidationError):
        errors = field_errors(exc)
        first = errors[0] if errors else {"field": "body", "message": "invalid", "rule": ""}
        status = 400
        body = {
            "error": "ValidationError",
            "message": f"{first['field']}: {first['message']}",
            "errors": errors,
        }
    elif isinstance(exc, CreditRiskError):
        status = exc.http_status
        details = _json_safe(exc.details)
        body = {"error": exc.name, "message": exc.message}
        if "field" in details:
            body["errors"] = [
                {
                    "field": str(details["field"]),
                    "rule": str(details.get("rule", exc.name)),
                    "message": exc.message,
                }
            ]
        if status >= 500:
            logger.exception("request failed", extra={"request_id": request_id})
    elif isinstance(exc, ChaliceViewError):
        status = exc.STATUS_CODE
        body = {"error": type(exc).__name__, "message": str(exc)}
    elif isinstance(exc, DBAPIError | PoolTimeoutError | BotoCoreError | ClientError):
        status = 503
        body = {"error": "ServiceUnavailable", "message": "a dependency is unavailable; retry"}
        logger.exception("dependency failed", extra={"request_id": request_id})
    else:
        status = 500
        body = {"error": "InternalError", "message": "an internal error occurred"}
        logger.exception("unhandled error", extra={"request_id": request_id})
    body["request_id"] = request_id
    return Response(body=body, status_code=status, headers=dict(JSON))


_CHALICE_MESSAGES = {
    405: "this route does not take that method",
    415: "send the request body as JSON, with Content-Type: application/json",
}


def reshaped(response: Response, request_id: str) -> Response:
    """Chalice's own error answers (405, 415, ...: ``{Code, Message}``) in the API's
    ``{error, message, request_id}`` shape; every other response unchanged."""
    body = response.body
    if not (isinstance(body, dict) and set(body) == {"Code", "Message"}):
        return response
    message = _CHALICE_MESSAGES.get(response.status_code, str(body["Message"]))
    response.body = {"error": str(body["Code"]), "message": message, "request_id": request_id}
    response.headers = {**response.headers, **JSON}
    return response


def handles_errors(
    request_id: Callable[[], str],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a view so that any exception it raises becomes :func:`error_response`."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except Exception as exc:  # the one mapping from errors to HTTP
                return error_response(exc, request_id())

        return wrapped

    return decorate
