"""Train: fit, calibrate and evaluate one candidate model on a run's snapshot."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.aws import ObjectStore
from credit_risk.adapters.observability import logger
from credit_risk.adapters.settings import get_settings
from credit_risk.contract import load_contract
from credit_risk.models.training.orchestration import train_candidate


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Train ``event['candidate']``; return where its model and metrics are."""
    settings = get_settings()
    return train_candidate(
        contract=load_contract(settings.contract_path),
        store=ObjectStore(settings.aws_region),
        bucket=settings.artifacts_bucket,
        snapshot_uri=event["snapshot_uri"],
        run_id=event["run_id"],
        candidate=event["candidate"],
        config_path=settings.training_config_path,
    )
