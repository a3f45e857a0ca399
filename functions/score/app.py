"""Score: the champion scores a batch of new applications into ml.scores."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.decisions.serving import score_batch
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Score ``event['batch_id']``; a pipeline without a champion yet skips scoring."""
    runtime = get_runtime()
    return score_batch(
        engine=runtime.engine,
        contract=runtime.contract,
        registry=runtime.registry,
        policy=runtime.policy_loader.get(),
        batch_id=event["batch_id"],
        loader=runtime.champion_loader,
    )
