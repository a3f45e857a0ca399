"""template.yaml as a platform engineer signs it off: network, database, IAM, operations."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from credit_risk.db.engine import RDS_CA_BUNDLE, rds_tls_context
from credit_risk.db.migrations import HEAD_REVISION
from credit_risk_local.template import functions, load_template, resources_of_type

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
MACHINES = resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")
ENV = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


def _policies(props: dict) -> str:
    return json.dumps(props.get("Policies", []))


def _newest_revision_file() -> str:
    versions = Path(__file__).resolve().parents[2] / "sql" / "versions"
    return max(p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py"))


def _reaches_the_database(props: dict) -> bool:
    return "DatabaseSecret" in _policies(props)


def test_only_functions_that_reach_the_database_run_in_the_vpc_each_with_reserved_concurrency() -> (
    None
):
    assert "VpcConfig" not in TEMPLATE["Globals"]["Function"]
    inside = {lid for lid, f in FUNCTIONS.items() if "VpcConfig" in f["Properties"]}
    db = {lid for lid, f in FUNCTIONS.items() if _reaches_the_database(f["Properties"])}
    assert inside == db
    assert {"TrainFunction", "RescoreReconcileFunction"}.isdisjoint(inside)
    for lid in inside:
        assert "ReservedConcurrentExecutions" in FUNCTIONS[lid]["Properties"], lid


def test_the_vpc_reaches_every_aws_api_the_functions_call_through_endpoints() -> None:
    endpoints = resources_of_type(TEMPLATE, "AWS::EC2::VPCEndpoint")
    services = {
        e["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1] for e in endpoints.values()
    }
    assert {"s3", "secretsmanager", "states", "sns", "kms", "logs", "monitoring"} <= services
    assert all(e["Condition"] == "UseEndpoints" for e in endpoints.values())
    assert TEMPLATE["Parameters"]["NetworkEgress"]["AllowedValues"] == ["endpoints", "nat"]


def test_functions_reach_postgres_through_the_proxy_one_tls_verified_connection_each() -> None:
    proxy = resources_of_type(TEMPLATE, "AWS::RDS::DBProxy")["DatabaseProxy"]["Properties"]
    assert proxy["RequireTLS"] is True
    assert ENV["DB_PROXY_ENDPOINT"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    assert (ENV["DB_POOL_SIZE"], ENV["DB_TLS"], ENV["MIGRATE_ON_START"]) == ("1", "verify", "false")
    db_ingress = RESOURCES["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [r["SourceSecurityGroupId"] for r in db_ingress] == [
        {"Ref": "DatabaseProxySecurityGroup"},
        {"Ref": "RotationSecurityGroup"},  # Secrets Manager's password rotation
    ]
    db = RESOURCES["Database"]["Properties"]
    assert db["EngineVersion"].isdigit() and db["AutoMinorVersionUpgrade"] is True


def test_the_shipped_rds_ca_bundle_verifies_servers_and_hostnames() -> None:
    context = rds_tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    subjects = [dict(x[0] for x in c["subject"]) for c in context.get_ca_certs()]
    rds = [s for s in subjects if s.get("organizationalUnitName") == "Amazon RDS"]
    assert len(rds) >= 20, "the RDS global bundle was not loaded"
    assert RDS_CA_BUNDLE.read_text().count("BEGIN CERTIFICATE") == len(rds)


def test_migrations_run_once_per_deploy_through_a_custom_resource() -> None:
    schema = RESOURCES["DatabaseSchema"]
    assert schema["Type"].startswith("Custom::")
    assert schema["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    assert schema["Properties"]["CoreLayer"] == {"Ref": "CoreLayer"}  # new layer, new run
    # a new revision in sql/versions/ is a new head: the property changes, migrate runs
    assert schema["Properties"]["SchemaRevision"] == HEAD_REVISION == _newest_revision_file()
    for lid in ("IngestFunction", "ApiFunction"):
        assert RESOURCES[lid]["DependsOn"] == "DatabaseSchema"


def test_no_function_may_delete_objects_or_change_lifecycle_rules() -> None:
    for lid, f in FUNCTIONS.items():
        text = _policies(f["Properties"]).replace("s3:DeleteObjectVersion", "")
        for forbidden in ("S3CrudPolicy", "S3WritePolicy", "s3:DeleteObject", "PutLifecycle"):
            assert forbidden not in text, f"{lid}: {forbidden}"


def test_only_the_api_deletes_object_versions_and_only_in_the_raw_bucket() -> None:
    # GDPR erasure rewrites raw files without the customer's rows and deletes the older
    # versions that still hold them; nothing else may delete a version anywhere.
    deleting = {
        lid: [
            statement
            for policy in f["Properties"].get("Policies", [])
            if isinstance(policy, dict)
            for statement in policy.get("Statement", [])
            if "s3:DeleteObjectVersion" in statement.get("Action", [])
        ]
        for lid, f in FUNCTIONS.items()
    }
    assert {lid for lid, found in deleting.items() if found} == {"ApiFunction"}
    (statement,) = deleting["ApiFunction"]
    assert statement["Resource"] == {"Fn::Sub": "${RawBucket.Arn}/*"}


def test_functions_that_write_encrypted_data_may_generate_data_keys() -> None:
    writers = {
        lid
        for lid, f in FUNCTIONS.items()
        if "s3:PutObject" in _policies(f["Properties"])
        or "SNSPublishMessagePolicy" in _policies(f["Properties"])
    }
    assert {"IngestFunction", "QualityFunction", "SnapshotFunction", "TrainFunction"} <= writers
    assert {"EvaluateFunction", "AlertFunction", "MonitorFunction"} <= writers
    for lid in writers:
        assert "kms:GenerateDataKey" in _policies(FUNCTIONS[lid]["Properties"]), lid
    assert "KMSDecryptPolicy" not in json.dumps(RESOURCES)


def test_every_function_has_its_own_service_name_log_group_with_retention_and_alarm() -> None:
    names = [spec.environment["POWERTOOLS_SERVICE_NAME"] for spec in functions(TEMPLATE)]
    assert len(names) == len(set(names)) == len(FUNCTIONS)
    alarms = json.dumps(resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm"))
    for lid, f in FUNCTIONS.items():
        group = f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert RESOURCES[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert json.dumps({"Ref": lid}) in alarms, f"no alarm on {lid}"


def test_state_machines_log_without_execution_data_and_alarm_on_failure() -> None:
    alarms = json.dumps(resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm"))
    for lid, machine in MACHINES.items():
        logging = machine["Properties"]["Logging"]
        assert logging["IncludeExecutionData"] is False  # executions carry personal data
        assert machine["Properties"]["Tracing"] == {"Enabled": True}
        assert json.dumps({"Ref": lid}) in alarms
    for metric in ("5XXError", "Latency", "ApproximateNumberOfMessagesVisible"):
        assert metric in alarms
    for alarm in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_ingest_failures_go_to_a_dead_letter_queue() -> None:
    config = FUNCTIONS["IngestFunction"]["Properties"]["EventInvokeConfig"]
    failure = config["DestinationConfig"]["OnFailure"]
    assert failure == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]},
    }


def test_keys_secrets_buckets_and_the_database_outlive_the_stack() -> None:
    kinds = (
        "AWS::KMS::Key",
        "AWS::SecretsManager::Secret",
        "AWS::S3::Bucket",
        "AWS::RDS::DBInstance",
    )
    kept = [r for r in RESOURCES.values() if r["Type"] in kinds]
    assert len(kept) >= 7
    for resource in kept:
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_functions_connect_as_the_application_role_whose_password_rotates() -> None:
    assert ENV["DB_SECRET_ARN"] == {"Ref": "AppDatabaseSecret"}
    migrate = FUNCTIONS["MigrateFunction"]["Properties"]
    assert migrate["Environment"]["Variables"]["OWNER_DB_SECRET_ARN"] == {"Ref": "DatabaseSecret"}
    owners = [
        lid
        for lid, f in FUNCTIONS.items()
        if '"Ref": "DatabaseSecret"}' in _policies(f["Properties"])
    ]
    assert owners == ["MigrateFunction"]
    rotation = RESOURCES["AppDatabaseSecretRotation"]["Properties"]
    assert rotation["HostedRotationLambda"]["RotationType"] == "PostgreSQLSingleUser"
