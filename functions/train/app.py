"""Train: the training search fanned out, one step per invocation.

``plan`` writes the manifest of a search stage's items, ``cross_validate`` fits one item
(a candidate's configuration on one fold; an item of a Distributed Map), ``fit`` finishes
one candidate from its items (choose, calibrate, refit, evaluate, export).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.aws import ObjectStore
from credit_risk.adapters.observability import logger, tracer
from credit_risk.adapters.settings import get_settings
from credit_risk.contract import load_contract
from credit_risk.models.training import orchestration


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run ``event['step']``: plan a search stage, cross-validate an item, or fit."""
    settings = get_settings()
    store, bucket = ObjectStore(settings.aws_region), settings.artifacts_bucket
    config = settings.training_config_path
    step = event["step"]
    if step == "plan":
        return orchestration.plan_search(
            store=store,
            bucket=bucket,
            snapshot_info=event["snapshot"],
            stage=event["stage"],
            settings=event.get("settings"),
            config_path=config,
        )
    contract = load_contract(settings.contract_path)
    if step == "cross_validate":
        return orchestration.search_item(
            contract=contract, store=store, bucket=bucket, event=event, config_path=config
        )
    return orchestration.fit_candidate(
        contract=contract,
        store=store,
        bucket=bucket,
        snapshot_uri=event["snapshot_uri"],
        run_id=event["run_id"],
        candidate=event["candidate"],
        config_path=config,
    )
