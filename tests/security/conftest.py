"""Security tests run against the same local cloud and databases as the integration tier."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from credit_risk_local.cloud import LocalCloud
from integration.conftest import cloud, small_data

__all__ = ["alert_inbox", "cloud", "small_data"]


@pytest.fixture
def alert_inbox(cloud: LocalCloud) -> Callable[[], list[dict[str, str]]]:
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
