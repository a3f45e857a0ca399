"""Migrate: brings the database to this code's schema, once per deploy.

CloudFormation invokes it through the ``DatabaseSchema`` custom resource whenever the core
layer (which holds the migrations) changes; ``./run migrate`` and the local cloud invoke it
the same way. Concurrent runs are safe (an advisory lock); it never runs on a request path.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.aws import read_secret
from credit_risk.adapters.observability import logger, tracer
from credit_risk.db.migrations import ensure_contract_tables, head_version, migrate
from credit_risk.db.roles import grant_application_role
from credit_risk.errors import ConfigurationError
from credit_risk.runtime import get_runtime


def run_migrations() -> dict[str, Any]:
    """Migrate the database as its owner, create the contract's tables, and create and
    grant the application role the functions connect as; say what was done."""
    runtime = get_runtime()
    settings = runtime.settings
    engine = runtime.owner_engine
    applied = migrate(engine)
    ensure_contract_tables(engine, runtime.contract)
    role = None
    if settings.owner_db_secret_arn and settings.db_secret_arn:
        owner = read_secret(settings.owner_db_secret_arn, settings.aws_region)
        app = read_secret(settings.db_secret_arn, settings.aws_region)
        if not isinstance(owner, dict) or not isinstance(app, dict):
            raise ConfigurationError("the database secrets are not JSON objects")
        if app.get("username") != owner.get("username"):  # one user locally
            role = str(app["username"])
            grant_application_role(engine, role, str(app["password"]))
    return {"applied": applied, "schema_version": head_version(), "application_role": role}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A custom-resource event (Create/Update migrate, Delete keeps the data) or a direct
    invocation; answers CloudFormation at ``ResponseURL`` when there is one."""
    request = event.get("RequestType")
    status, reason, data = "SUCCESS", "", {}
    try:
        if request != "Delete":
            data = run_migrations()
            logger.info("migrated", extra=data)
    except Exception as exc:  # answered to CloudFormation, which then rolls the deploy back
        logger.exception("migration failed")
        status, reason = "FAILED", f"{type(exc).__name__}: see the migrate function's log"
        if "ResponseURL" not in event:
            raise
    if "ResponseURL" in event:
        _respond(event, context, status, reason, data)
    return {"status": status, **data}


def _respond(
    event: dict[str, Any], context: LambdaContext, status: str, reason: str, data: dict[str, Any]
) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or "ok",
            "PhysicalResourceId": event.get("PhysicalResourceId", "credit-risk-schema"),
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {"SchemaVersion": str(data.get("schema_version", ""))},
        }
    ).encode()
    put = urllib.request.Request(event["ResponseURL"], data=body, method="PUT")
    put.add_header("Content-Type", "")
    with urllib.request.urlopen(put, timeout=30):  # noqa: S310 (CloudFormation's presigned https URL)
        pass
