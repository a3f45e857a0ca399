"""Alerts: readable messages for operators, published to SNS."""

from __future__ import annotations

import json
from typing import Any

from credit_risk.adapters.aws import client
from credit_risk.adapters.observability import logger


def _cause_text(cause: Any) -> str:
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            return cause
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            return str(parsed["errorMessage"])
        return cause
    return json.dumps(cause, default=str)


def alert_message(event: dict[str, Any]) -> dict[str, str]:
    """Subject and body for an alert event from a state machine."""
    source = event.get("source", "pipeline")
    failure = event.get("failure")
    subject_id = event.get("batch_id") or event.get("run_id") or "unknown"
    if failure:
        error = failure.get("Error", "Error")
        cause = _cause_text(failure.get("Cause", ""))
        return {
            "severity": "critical",
            "subject": f"[credit-risk] {source} {subject_id} failed: {error}"[:100],
            "body": f"{source} run {subject_id} failed with {error}.\n\n{cause}",
        }
    outcome = event.get("outcome") or {}
    return {
        "severity": event.get("severity", "info"),
        "subject": f"[credit-risk] {source} {subject_id}: {outcome.get('status', 'done')}"[:100],
        "body": json.dumps(outcome, indent=2, default=str),
    }


def publish_alert(
    event: dict[str, Any], *, topic_arn: str | None, region: str | None
) -> dict[str, str]:
    """Publish the alert (when a topic is configured) and log it either way."""
    message = alert_message(event)
    logger.warning("alert", extra=message) if message["severity"] != "info" else logger.info(
        "notice", extra=message
    )
    if topic_arn:
        client("sns", region).publish(
            TopicArn=topic_arn, Subject=message["subject"], Message=message["body"]
        )
    return message
