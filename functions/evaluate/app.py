"""Evaluate: register the run's best candidate and compare it with the champion."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.decisions.approval import approvals
from credit_risk.models.training.orchestration import (
    evaluate_and_register,
    load_promotion_policy,
)
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Return the registered version and whether it should be promoted, with the reason."""
    runtime = get_runtime()
    policy = runtime.policy_loader.get()  # the decision policy in force (issue 14)
    return evaluate_and_register(
        contract=runtime.contract,
        store=runtime.store,
        registry=runtime.registry,
        snapshot_info=event["snapshot"],
        results=event["candidates"],
        policy=load_promotion_policy(runtime.settings.promotion_policy_path),
        config_path=runtime.settings.training_config_path,
        approve=lambda pds: approvals(pds, policy),
        pseudonym_key=runtime.pseudonym_key,
    )
