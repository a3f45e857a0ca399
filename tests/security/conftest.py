"""Security tests: one file per attack the platform must withstand.

The API fixtures are the functional tier's (:mod:`functional.api.conftest`): the Chalice
app wired as deployed, over the local cloud, with a champion and a token per role; the
ingestion ones the integration tier's (a local cloud over a fresh database).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from functional.api.conftest import (  # noqa: F401  (fixtures, found by name)
    api,
    api_cloud,
    bare_api,
    shared_api,
    trained,
)

from credit_risk_local.cloud import LocalCloud
from integration.conftest import cloud, small_data  # noqa: F401


@pytest.fixture
def alert_inbox(cloud: LocalCloud) -> Callable[[], list[dict[str, str]]]:  # noqa: F811
    """What operators receive: an SQS queue subscribed to the alerts topic, as a function
    returning every alert published so far (``subject`` and ``message``)."""
    sqs, sns = cloud.client("sqs"), cloud.client("sns")
    queue_url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for topic in cloud.stack.topics.values():
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    received: list[dict[str, str]] = []

    def read() -> list[dict[str, str]]:
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return list(received)
            for message in batch:
                envelope = json.loads(message["Body"])
                received.append(
                    {"subject": envelope.get("Subject", ""), "message": envelope["Message"]}
                )
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return read
