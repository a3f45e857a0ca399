"""Re-score: the three steps of the re-score state machine (one image, three functions).

``plan`` writes the run's chunk manifest, ``score_chunk`` scores one chunk (an item of the
Distributed Map), ``reconcile`` checks the run adds up (see credit_risk.decisions.rescore).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.decisions import rescore
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Pin the model version and write the manifest of chunks; return the plan."""
    runtime = get_runtime()
    return rescore.plan_run(
        engine=runtime.engine,
        contract=runtime.contract,
        store=runtime.store,
        registry=runtime.registry,
        bucket=runtime.settings.artifacts_bucket,
        run_id=event["run_id"],
        request=event.get("request") or {},
        settings=event.get("settings") or {},
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def score_chunk(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Score one chunk into S3 and ml.scores; return its counts."""
    runtime = get_runtime()
    return rescore.score_chunk(
        engine=runtime.engine,
        contract=runtime.contract,
        store=runtime.store,
        registry=runtime.registry,
        policy=runtime.policy_loader.get(),
        bucket=runtime.settings.artifacts_bucket,
        event=event,
        pseudonym_key=lambda: runtime.pseudonym_key,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def reconcile(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Reconcile the run from its chunks' result objects; fail by name when it does not
    add up or failed beyond its tolerance."""
    runtime = get_runtime()
    return rescore.reconcile_run(
        store=runtime.store, bucket=runtime.settings.artifacts_bucket, plan=event["plan"]
    )
