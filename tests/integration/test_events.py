"""The sample events in events/ are what the functions receive: fed through the local cloud."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import to_csv_bytes
from credit_risk.data.generator import SyntheticData
from credit_risk_local.cloud import LocalCloud
from credit_risk_local.template import load_template
from credit_risk_local.tokens import demo_token

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(name: str, **replace: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    for placeholder, value in replace.items():
        text = text.replace(placeholder, value)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _invoke(cloud: LocalCloud, function: str, event: dict[str, Any]) -> Any:
    response = cloud.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_every_event_folder_names_a_resource_of_the_template() -> None:
    resources = load_template()["Resources"]
    folders = [p for p in EVENTS.iterdir() if p.is_dir()]
    assert len(folders) >= 8
    for folder in folders:
        assert folder.name in resources, folder.name
        for file in folder.glob("*.json"):
            json.loads(file.read_text())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_sample_events_run_through_the_local_cloud(
    cloud: LocalCloud, small_data: SyntheticData
) -> None:
    assert (
        _invoke(cloud, "MigrateFunction", _event("MigrateFunction/cloudformation-create.json"))[
            "status"
        ]
        == "SUCCESS"
    )

    # The S3 put names the object; put it there (without a notification), then deliver it.
    put = _event(
        "IngestFunction/s3-put-applications.json",
        **{"credit-risk-rawbucket-local": cloud.raw_bucket},
    )
    cloud.client("s3").put_bucket_notification_configuration(
        Bucket=cloud.raw_bucket, NotificationConfiguration={}
    )
    cloud.client("s3").put_object(
        Bucket=cloud.raw_bucket,
        Key="applications/sample.csv",
        Body=to_csv_bytes(small_data.applications.head(200)),
    )
    (loaded,) = _invoke(cloud, "IngestFunction", put)
    assert loaded["status"] == "loaded"
    batch = {"REPLACE_WITH_A_BATCH_ID": loaded["batch_id"]}
    assert _invoke(cloud, "EtlFunction", _event("EtlFunction/state-input.json", **batch))
    assert _invoke(cloud, "QualityFunction", _event("QualityFunction/state-input.json", **batch))

    token = demo_token(cloud, role="scorer", subject="sample-user", ttl=600)
    allow = _invoke(
        cloud,
        "ApiAuthorizerFunction",
        _event("ApiAuthorizerFunction/token.json", REPLACE_WITH_A_TOKEN=token),
    )
    assert allow["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    health = _invoke(cloud, "ApiFunction", _event("ApiFunction/get-health.json"))
    assert health["statusCode"] in (200, 503)  # 503 until a champion is promoted
    assert "status" in json.loads(health["body"])
