"""Quality: the data-quality gate for a pipeline batch or a training snapshot."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.data.gate import QualityGate
from credit_risk.data.quality import load_quality_config
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Check ``batch_id``/``dataset``, or ``snapshot_uri``; fail the state on a critical check."""
    runtime = get_runtime()
    gate = QualityGate(
        engine=runtime.engine,
        contract=runtime.contract,
        store=runtime.store,
        artifacts_bucket=runtime.settings.artifacts_bucket,
        config=load_quality_config(runtime.settings.quality_config_path),
    )
    if "snapshot_uri" in event:
        return gate.check_snapshot(event["snapshot_uri"], event["run_id"])
    return gate.check_batch(event["batch_id"], event["dataset"])
