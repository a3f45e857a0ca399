"""Ingest: an S3 ObjectCreated event becomes staged rows and a pipeline execution."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from credit_risk.adapters.observability import logger, metrics, tracer
from credit_risk.data.ingestion import Ingestor, LandedObject, is_own_output
from credit_risk.decisions.rescore import PORTFOLIO_PREFIX, portfolio_run
from credit_risk.runtime import get_runtime


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    """Ingest every object the event names; return what happened to each."""
    runtime = get_runtime()
    ingestor = Ingestor(
        engine=runtime.engine,
        contract=runtime.contract,
        store=runtime.store,
        workflows=runtime.workflows,
        pipeline_arn=runtime.settings.pipeline_state_machine_arn,
        max_uncompressed_bytes=runtime.settings.max_uncompressed_bytes,
    )
    results = []
    for record in S3Event(event).records:
        obj = LandedObject(
            bucket=record.s3.bucket.name,
            key=unquote_plus(record.s3.get_object.key),
            etag=record.s3.get_object.etag,
            version_id=record.s3.get_object.version_id,
            size=record.s3.get_object.size,
        )
        if is_own_output(obj.key):  # a quarantine copy ingest wrote: nothing to load
            logger.info("own quarantine output, not ingested", extra={"key": obj.key})
            continue
        if obj.key.startswith(PORTFOLIO_PREFIX):  # loans to re-score, not a dataset to load
            results.append(
                portfolio_run(
                    workflows=runtime.workflows,
                    state_machine_arn=runtime.settings.rescore_state_machine_arn,
                    bucket=obj.bucket,
                    key=obj.key,
                    etag=obj.etag,
                )
            )
            continue
        results.append(ingestor.ingest(obj).to_dict())
    metrics.add_metric(name="FilesIngested", unit="Count", value=len(results))
    return results
