"""Promote: make a registered candidate the champion, or record why it was not."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.models.training.orchestration import apply_decision
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Apply ``event['action']`` (promote or reject) to ``event['version']``."""
    runtime = get_runtime()
    return apply_decision(runtime.registry, event)
