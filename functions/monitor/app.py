"""Monitor: portfolio and model monitoring, on a schedule or on demand.

Computes drift, portfolio and performance figures, stores the snapshot, writes the
dashboard to the artifacts bucket and alerts when a threshold is crossed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.monitoring.service import MonitorRequest
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run monitoring (``{"trigger": ..., "retrain": true|false}``); return its summary."""
    request = MonitorRequest.model_validate(event or {})
    return get_runtime().monitor().run(trigger=request.trigger, retrain=request.retrain)
