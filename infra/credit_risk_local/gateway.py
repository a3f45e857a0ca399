"""API Gateway's own answers, as template.yaml declares them, in front of the Chalice app.

Chalice's local gateway (``chalice local``, its test client) answers a refused token,
a route outside the token's policy and an unknown route with bodies of its own. The
deployed API answers them from the ``GatewayResponses`` of ``RiskApi`` in template.yaml;
:class:`TemplateGateway` answers them from the same templates, so the local cloud and the
tests see what AWS sends: ``{error, message, request_id}``.
"""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
)
from chalice.test import Client, TestHTTPClient

from credit_risk_local.template import load_template


@lru_cache(maxsize=1)
def gateway_responses() -> dict[str, dict[str, Any]]:
    """``RiskApi``'s GatewayResponses by response type (UNAUTHORIZED, ACCESS_DENIED, ...)."""
    api = load_template()["Resources"]["RiskApi"]["Properties"]
    return dict(api.get("GatewayResponses") or {})


def _response_type(exc: LocalGatewayException) -> str:
    kind = exc.headers.get("x-amzn-ErrorType", "")
    if exc.CODE == 401:
        return "UNAUTHORIZED"
    if exc.CODE == 403 and kind == "AccessDeniedException":
        return "ACCESS_DENIED"
    return "DEFAULT_4XX" if 400 <= exc.CODE < 500 else "DEFAULT_5XX"


def _message_of(body: bytes | None) -> str:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return ""
    if not isinstance(parsed, dict):
        return ""
    return str(parsed.get("message") or parsed.get("Message") or "")


def rendered(exc: LocalGatewayException) -> LocalGatewayException:
    """``exc`` with the body and status its GatewayResponse template gives (unchanged when
    the template declares none for its type)."""
    responses = gateway_responses()
    kind = _response_type(exc)
    spec = responses.get(kind) or responses.get(f"DEFAULT_{str(exc.CODE)[0]}XX")
    if not spec:
        return exc
    template = str(spec.get("ResponseTemplates", {}).get("application/json", ""))
    if not template:
        return exc
    request_id = str(exc.headers.get("x-amzn-RequestId") or uuid.uuid4())
    body = template.replace("$context.requestId", request_id).replace(
        "$context.error.messageString", json.dumps(_message_of(exc.body))
    )
    out = type(exc)({**exc.headers, "Content-Type": "application/json"}, body.encode())
    status = int(spec.get("StatusCode") or exc.CODE)
    if status != exc.CODE:
        out.CODE = status
    return out


class TemplateGateway(LocalGateway):
    """Chalice's local gateway answering its refusals from template.yaml's templates."""

    def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().handle_request(*args, **kwargs)
        except LocalGatewayException as exc:
            raise rendered(exc) from exc


class TemplateHTTPClient(TestHTTPClient):
    """Chalice's test HTTP client over :class:`TemplateGateway`."""

    def __init__(self, app: Any, config: Any) -> None:
        super().__init__(app, config)
        self._local_gateway = TemplateGateway(app, config)


class GatewayClient(Client):
    """Chalice's test client whose HTTP requests pass :class:`TemplateGateway`."""

    @property
    def http(self) -> TestHTTPClient:
        """The HTTP client (built once)."""
        if self._http_client is None:
            self._http_client = TemplateHTTPClient(self._app, self._chalice_config)
        return self._http_client


class _TemplateRequestHandler(ChaliceRequestHandler):
    # The response goes out as two writes (head, then body): without TCP_NODELAY, Nagle
    # holds the body until the client's delayed ACK, about 40 ms on every request.
    disable_nagle_algorithm = True

    def __init__(
        self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any
    ) -> None:
        self.local_gateway = TemplateGateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)


def create_server(app: Any, config: Any, host: str, port: int) -> LocalDevServer:
    """``chalice local``'s server (as :func:`chalice.local.create_local_server`) over
    :class:`TemplateGateway`."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=_TemplateRequestHandler)
