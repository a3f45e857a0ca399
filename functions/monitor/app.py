"""Monitor: portfolio and model monitoring, on a schedule or on demand.

Computes drift, portfolio and performance figures, stores the snapshot, writes the
dashboard to the artifacts bucket and alerts when a threshold is crossed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.monitor_service import MonitorRequest, run_monitoring
from credit_risk.observability import logger
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run monitoring (``{"trigger": ..., "retrain": true|false}``); return its summary."""
    return run_monitoring(get_runtime(), MonitorRequest.model_validate(event or {}))
