"""Alert: publish a pipeline or training event to the alerts topic and log it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.alerts import publish_alert
from credit_risk.adapters.observability import logger, tracer
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Publish the alert the state machine describes; return the message sent."""
    runtime = get_runtime()
    return publish_alert(
        event, topic_arn=runtime.settings.alerts_topic_arn, region=runtime.settings.aws_region
    )
