"""Snapshot: freeze matured, quality-checked training data for one training run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.models.training.orchestration import snapshot
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Write the run's training data to S3; return its URI, hash and candidates."""
    runtime = get_runtime()
    return snapshot(
        engine=runtime.engine,
        contract=runtime.contract,
        store=runtime.store,
        bucket=runtime.settings.artifacts_bucket,
        run_id=event["run_id"],
        config_path=runtime.settings.training_config_path,
    )
