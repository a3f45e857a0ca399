"""ETL: a staged batch becomes features or labels in analytics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, tracer
from credit_risk.data.etl import Etl
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Transform the batch ``event['batch_id']`` of ``event['dataset']``."""
    runtime = get_runtime()
    etl = Etl(engine=runtime.engine, contract=runtime.contract, pseudonym_key=runtime.pseudonym_key)
    return asdict(etl.run(event["batch_id"], event["dataset"]))
