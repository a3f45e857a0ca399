"""The local cloud: template.yaml stood up on moto, with our handlers running in-process.

Buckets (versioned, KMS-encrypted, public access blocked, with their notifications),
secrets, the alerts topic, every function, the state machines from their real ASL with
DefinitionSubstitutions resolved (executed by moto's Step Functions engine), and the
retraining schedule, firable on demand.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
from moto import mock_aws

from credit_risk.runtime import reset_runtime
from credit_risk_local.dispatch import Dispatcher, install, uninstall
from credit_risk_local.template import (
    TEMPLATE_PATH,
    Context,
    FunctionSpec,
    functions,
    load_template,
    resolve,
    resources_of_type,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "CreditRisk",
    "POWERTOOLS_DEV": "false",
}


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "code runs in-process from the repository")
    return buffer.getvalue()


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's words."""
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"]}
    out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    return out


CONFIG_SETTINGS = ("CONTRACT_PATH", "QUALITY_CONFIG_PATH", "TRAINING_CONFIG_PATH")


def database_secret(database_url: str) -> dict[str, Any]:
    """The RDS-style secret for a URL (a SQLite URL is carried whole)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return {"url": database_url}
    return {
        "username": url.username,
        "password": url.password or "",
        "host": url.host,
        "port": url.port or 5432,
        "dbname": url.database,
        "engine": "postgres",
    }


@dataclass
class Stack:
    """What the local cloud created, by template logical id."""

    buckets: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)


def dead_letter_summary(message: dict[str, Any]) -> dict[str, Any]:
    """One dead-lettered invocation record (Lambda's on-failure format), as ops see it:
    the objects it names and the error type, never the error text (it may quote data)."""
    record = json.loads(message["Body"])
    event = record.get("requestPayload") or {}
    objects = [
        f"s3://{r['s3']['bucket']['name']}/{unquote_plus(r['s3']['object']['key'])}"
        for r in event.get("Records", [])
        if "s3" in r
    ]
    return {
        "message_id": message["MessageId"],
        "objects": objects,
        "error_type": (record.get("responsePayload") or {}).get("errorType"),
        "attempts": (record.get("requestContext") or {}).get("approximateInvokeCount"),
        "failed_at": record.get("timestamp"),
        "event": event,
    }


class CloudOperations:
    """What an operator does with a running cloud, local or served over HTTP."""

    stack: Stack

    def client(self, service: str) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def is_running(self) -> bool:
        return True

    @property
    def raw_bucket(self) -> str:
        """The bucket files land in."""
        return self.stack.buckets["RawBucket"]

    @property
    def artifacts_bucket(self) -> str:
        """The bucket models, reports and snapshots live in."""
        return self.stack.buckets["ArtifactsBucket"]

    def dead_letters(self) -> list[dict[str, Any]]:
        """The failed ingest events waiting in the dead-letter queue (left in it): each
        with its message id, receipt, the object it names, the error type and when."""
        sqs = self.client("sqs")
        url = self.stack.queues["IngestDeadLetterQueue"]
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(10):
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                seen.setdefault(message["MessageId"], dead_letter_summary(message))
        return list(seen.values())

    def replay_dead_letters(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """Send each dead-lettered event (or the one named) to ingest again, as the
        asynchronous invocation it was: the letter leaves the queue, and a replay that
        fails again comes back to it after Lambda's retries, with its new error."""
        sqs = self.client("sqs")
        url = self.stack.queues["IngestDeadLetterQueue"]
        wanted = [
            letter
            for letter in self.dead_letters()
            if message_id is None or letter["message_id"] == message_id
        ]
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", []):
            if any(message["MessageId"] == letter["message_id"] for letter in wanted):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        results = []
        for letter in wanted:
            self.client("lambda").invoke(
                FunctionName="IngestFunction",
                InvocationType="Event",
                Payload=json.dumps(letter["event"]).encode(),
            )
            back = any(other["objects"] == letter["objects"] for other in self.dead_letters())
            results.append(
                {
                    "message_id": letter["message_id"],
                    "objects": letter["objects"],
                    "replayed": not back,
                }
            )
        return results

    def upload(self, key: str, body: bytes) -> None:
        """Put a file in the raw bucket; its notification invokes ingest."""
        self.client("s3").put_object(Bucket=self.raw_bucket, Key=key, Body=body)

    def fire_schedule(self, name: str | None = None) -> str:
        """Do now what a schedule does when it fires: start its state machine (returns the
        execution ARN) or invoke its function (returns the function's ARN)."""
        scheduler = self.client("scheduler")
        name = name or next(n for n in self.stack.schedules if n.startswith("Training"))
        target = scheduler.get_schedule(Name=name)["Target"]
        if ":lambda:" in target["Arn"]:
            self.client("lambda").invoke(
                FunctionName=target["Arn"], Payload=target.get("Input", "{}").encode()
            )
            return str(target["Arn"])
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=target["Arn"],
                name=f"schedule-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}",
                input=target.get("Input", "{}"),
            )["executionArn"]
        )

    def start_training(self, payload: dict[str, Any] | None = None) -> str:
        """Start the training state machine on demand; return the execution ARN."""
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=self.stack.state_machines["TrainingStateMachine"],
                name=f"manual-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}",
                input=json.dumps(payload or {"trigger": "manual"}),
            )["executionArn"]
        )

    def start_rescore(self, payload: dict[str, Any] | None = None, name: str | None = None) -> str:
        """Start a re-score of the book (or of ``payload['prefix']``); return the ARN."""
        from credit_risk.decisions.rescore import run_name

        request = payload or {"trigger": "manual"}
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=self.stack.state_machines["RescoreStateMachine"],
                name=name or run_name(str(request.get("trigger", "manual"))),
                input=json.dumps(request),
            )["executionArn"]
        )

    def find_execution(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(machine, execution) for an execution name or ARN, or None."""
        for machine in self.stack.state_machines:
            for execution in self.executions(machine):
                if name in (execution["name"], execution["executionArn"]):
                    return machine, execution
        return None

    def redrive(self, name: str) -> str:
        """Redrive a failed re-score run *the local way*; return the new execution's ARN.

        AWS redrives a failed execution in place (RedriveExecution: the Map re-runs its
        failed items, then the run continues). moto 5.2 does not implement
        RedriveExecution, so the local cloud keeps the same semantics with a new
        execution, ``NAME-redrive-N``, whose plan lists only the chunks of NAME without a
        result; it then reconciles NAME itself. Scores already written are kept (chunks are
        idempotent per loan and model version). Needs this process's environment to point
        at the cloud (it reads the run's objects through the runtime's S3 client).
        """
        from credit_risk.decisions.rescore import missing_chunks, read_plan, redrive_name
        from credit_risk.errors import NotFoundError, ValidationError
        from credit_risk.runtime import get_runtime

        found = self.find_execution(name)
        if found is None or found[0] != "RescoreStateMachine":
            raise NotFoundError(f"no re-score execution named {name}")
        execution = self.client("stepfunctions").describe_execution(
            executionArn=found[1]["executionArn"]
        )
        if execution["status"] != "FAILED":
            raise ValidationError(f"{name} is {execution['status']}; only a failed run redrives")
        run_id = json.loads(execution.get("input") or "{}").get("redrive_of") or execution["name"]
        store, bucket = get_runtime().store, self.artifacts_bucket
        try:
            read_plan(store, bucket, run_id)
        except NotFoundError:
            raise ValidationError(
                f"{name} failed before it planned its chunks; start a new run instead"
            ) from None
        if not missing_chunks(store, bucket, run_id):
            raise ValidationError(
                f"every chunk of {run_id} has a result, so a redrive changes nothing: it failed "
                f"in reconciliation ({execution.get('error')}); fix the data and run it again"
            )
        attempt = 1 + sum(
            e["name"].startswith(redrive_name(run_id, 0)[:-1])
            for e in self.executions("RescoreStateMachine")
        )
        return self.start_rescore(
            {"trigger": "redrive", "redrive_of": run_id}, redrive_name(run_id, attempt)
        )

    def wait_for_execution(self, arn: str, timeout: float = 600) -> dict[str, Any]:
        """Block until an execution ends; return its description."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            desc: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            if desc["status"] != "RUNNING":
                return desc
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {arn} still running after {timeout:.0f}s")
            time.sleep(0.05)

    def executions(self, machine: str = "PipelineStateMachine") -> list[dict[str, Any]]:
        """Executions of one state machine, newest first."""
        sfn = self.client("stepfunctions")
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.stack.state_machines[machine]
        )
        items = [e for page in pages for e in page["executions"]]
        return sorted(items, key=lambda e: e["startDate"], reverse=True)

    def wait_for_idle(self, timeout: float = 600) -> None:
        """Wait until no execution of any state machine is running."""
        if not self.is_running:
            return
        for machine in self.stack.state_machines:
            for execution in self.executions(machine):
                if execution["status"] == "RUNNING":
                    self.wait_for_execution(execution["executionArn"], timeout)


class LocalCloud(CloudOperations):
    """Stands template.yaml up on moto and routes Lambda invocations to our handlers."""

    def __init__(
        self,
        *,
        database_url: str,
        local_dir: Path,
        template_path: Path = TEMPLATE_PATH,
        pseudonym_key: str | None = None,
        server_port: int | None = None,
    ) -> None:
        """``server_port``: serve the cloud over HTTP on 127.0.0.1 (for commands run from
        other processes) instead of mocking boto3 inside this process."""
        self.database_url = database_url
        self.server_port = server_port
        self._server: Any = None
        self._saved_sfn_config: Any = None
        self.local_dir = local_dir
        self.template_path = template_path
        self.pseudonym_key = pseudonym_key or self._stable_key("pseudonym.key")
        self.dispatcher = Dispatcher()
        self.stack = Stack()
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._session: boto3.session.Session | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start moto, deploy the template, and route invocations in-process."""
        # moto's Step Functions engine logs every caught task failure with its whole
        # parsed program; the execution history already says what failed.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        self._set_env(_FAKE_CREDENTIALS)
        if self.server_port is None:
            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self._mock.start()
        else:
            from moto.core.config import default_user_config
            from moto.server import ThreadedMotoServer

            self._saved_sfn_config = dict(default_user_config["stepfunctions"])
            default_user_config["stepfunctions"]["execute_state_machine"] = True
            # moto's Step Functions engine calls Lambda back through the server it runs in.
            self._set_env({"MOTO_PORT": str(self.server_port), "MOTO_HOST": "127.0.0.1"})
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.server_port)
            self._server.start()
            # A fresh cloud: moto's backends outlive a stopped server in this process.
            reset = urllib.request.Request(
                f"http://127.0.0.1:{self.server_port}/moto-api/reset", method="POST"
            )
            urllib.request.urlopen(reset, timeout=30).close()
            self._set_env({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.server_port}"})
        install(self.dispatcher)
        reset_runtime()
        self._session = boto3.session.Session(region_name=REGION)
        self.deploy()

    def stop(self) -> None:
        """Wait for running executions, then tear everything down and restore the env."""
        try:
            self.wait_for_idle(timeout=60)
        finally:
            uninstall()
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
            if self._server is not None:
                from moto.core.config import default_user_config

                self._server.stop()
                self._server = None
                default_user_config["stepfunctions"] = self._saved_sfn_config
            reset_runtime()
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env.clear()

    @property
    def endpoint_url(self) -> str | None:
        """The HTTP endpoint in server mode."""
        return None if self.server_port is None else f"http://127.0.0.1:{self.server_port}"

    def describe(self) -> dict[str, Any]:
        """What other processes need to use this cloud (written to cloud.json by `up`)."""
        return {
            "endpoint_url": self.endpoint_url,
            "region": REGION,
            "buckets": self.stack.buckets,
            "state_machines": self.stack.state_machines,
            "schedules": self.stack.schedules,
            "environment": self.stack.environment,
            "queues": self.stack.queues,
        }

    @property
    def is_running(self) -> bool:
        return self._mock is not None or self._server is not None

    def client(self, service: str) -> Any:
        """A boto3 client against the local cloud."""
        assert self._session is not None, "the local cloud is not started"
        return self._session.client(service)

    # ------------------------------------------------------------------ deploy
    def _stable_key(self, name: str) -> str:
        path = self.local_dir / name
        if path.exists():
            return path.read_text().strip()
        self.local_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        return key

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def deploy(self) -> Stack:
        """Create every resource the template declares that the local cloud plays."""
        template = load_template(self.template_path)
        ctx = Context(region=REGION, account=ACCOUNT)
        self.context = ctx  # how the template's references resolved here (the IAM check)
        for name, param in template.get("Parameters", {}).items():
            ctx.refs[name] = param.get("Default", "")
        self._name_resources(template, ctx)
        self._create_kms(template, ctx)
        self._create_buckets(template, ctx)
        self._create_secrets(template, ctx)
        self._create_topics(template, ctx)
        self._create_queues(template, ctx)
        specs = functions(template)
        self._apply_environment(specs, ctx)
        self._create_functions(specs, ctx)
        self._run_custom_resources(template, ctx)
        self._create_state_machines(template, ctx)
        self._create_notifications(specs, ctx)
        self._create_schedules(template, ctx)
        return self.stack

    def _name_resources(self, template: dict[str, Any], ctx: Context) -> None:
        """Give every resource its local name and ARN before any is created (they refer
        to each other: a function's environment names a state machine that names
        functions)."""
        for lid, resource in template["Resources"].items():
            kind = resource["Type"]
            if kind == "AWS::S3::Bucket":
                name = f"credit-risk-{lid.lower()}-local"
                ctx.refs[lid] = name
                ctx.attrs[(lid, "Arn")] = f"arn:aws:s3:::{name}"
            elif kind == "AWS::Serverless::Function":
                ctx.refs[lid] = lid
                ctx.attrs[(lid, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{lid}"
            elif kind == "AWS::Serverless::StateMachine":
                name = resolve(resource["Properties"].get("Name", lid), ctx)
                arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
                ctx.refs[lid] = arn
                ctx.attrs[(lid, "Name")] = name
                ctx.attrs[(lid, "Arn")] = arn
            elif kind == "AWS::SNS::Topic":
                arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:credit-risk-{lid}"
                ctx.refs[lid] = arn
                ctx.attrs[(lid, "TopicName")] = f"credit-risk-{lid}"
            elif kind == "AWS::Serverless::LayerVersion":
                ctx.refs[lid] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{lid}:1"
            elif kind == "AWS::RDS::DBProxy":
                # No proxy locally: the functions connect to the database directly.
                ctx.attrs[(lid, "Endpoint")] = ""
            elif kind == "AWS::Logs::LogGroup":
                ctx.attrs[(lid, "Arn")] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{lid}:*"
            else:
                ctx.refs.setdefault(lid, lid)

    def _create_kms(self, template: dict[str, Any], ctx: Context) -> None:
        kms = self.client("kms")
        for lid in resources_of_type(template, "AWS::KMS::Key"):
            key = kms.create_key(Description=f"local {lid}")["KeyMetadata"]
            ctx.refs[lid] = key["KeyId"]
            ctx.attrs[(lid, "Arn")] = key["Arn"]

    def _create_buckets(self, template: dict[str, Any], ctx: Context) -> None:
        s3 = self.client("s3")
        for lid, resource in resources_of_type(template, "AWS::S3::Bucket").items():
            props = resolve(resource.get("Properties", {}), ctx)
            name = ctx.refs[lid]
            locked = bool(props.get("ObjectLockEnabled"))
            s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)
            if "VersioningConfiguration" in props:
                s3.put_bucket_versioning(
                    Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
                )
            if locked and "ObjectLockConfiguration" in props:
                lock = props["ObjectLockConfiguration"]
                retention = lock["Rule"]["DefaultRetention"]
                s3.put_object_lock_configuration(
                    Bucket=name,
                    ObjectLockConfiguration={
                        "ObjectLockEnabled": lock["ObjectLockEnabled"],
                        "Rule": {
                            "DefaultRetention": {
                                "Mode": retention["Mode"],
                                "Days": int(retention["Days"]),
                            }
                        },
                    },
                )
            if "BucketEncryption" in props:
                s3.put_bucket_encryption(
                    Bucket=name,
                    ServerSideEncryptionConfiguration={
                        "Rules": [
                            {
                                "ApplyServerSideEncryptionByDefault": rule[
                                    "ServerSideEncryptionByDefault"
                                ],
                                "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
                            }
                            for rule in props["BucketEncryption"][
                                "ServerSideEncryptionConfiguration"
                            ]
                        ]
                    },
                )
            if "LifecycleConfiguration" in props:
                s3.put_bucket_lifecycle_configuration(
                    Bucket=name,
                    LifecycleConfiguration={
                        "Rules": [
                            _lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]
                        ]
                    },
                )
            if "PublicAccessBlockConfiguration" in props:
                s3.put_public_access_block(
                    Bucket=name,
                    PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"],
                )
            self.stack.buckets[lid] = name
        # The TLS-only bucket policies are not applied: moto evaluates aws:SecureTransport
        # as false for in-process calls and would deny everything. A test checks that the
        # template declares them.

    def _create_secrets(self, template: dict[str, Any], ctx: Context) -> None:
        sm = self.client("secretsmanager")
        values = {
            # One local user is both the owner and the application role (Postgres roles
            # are tested on their own: tests/integration/test_db_roles.py).
            "DatabaseSecret": database_secret(self.database_url),
            "AppDatabaseSecret": database_secret(self.database_url),
            "PseudonymSecret": {"key": self.pseudonym_key},
            "ApiTokenSecret": {"key": self._stable_key("api-token.key")},
            "AuditSealSecret": {"key": self._stable_key("audit-seal.key")},
        }
        for lid in resources_of_type(template, "AWS::SecretsManager::Secret"):
            value = values.get(lid, {"value": secrets.token_hex(16)})
            arn = sm.create_secret(Name=f"credit-risk/{lid}", SecretString=json.dumps(value))["ARN"]
            ctx.refs[lid] = arn
            self.stack.secrets[lid] = arn

    def _create_topics(self, template: dict[str, Any], ctx: Context) -> None:
        sns = self.client("sns")
        for lid in resources_of_type(template, "AWS::SNS::Topic"):
            arn = sns.create_topic(Name=ctx.attrs[(lid, "TopicName")])["TopicArn"]
            self.stack.topics[lid] = arn

    def _create_queues(self, template: dict[str, Any], ctx: Context) -> None:
        sqs = self.client("sqs")
        for lid in resources_of_type(template, "AWS::SQS::Queue"):
            url = sqs.create_queue(QueueName=f"credit-risk-{lid}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            ctx.refs[lid] = url
            ctx.attrs[(lid, "Arn")] = arn
            ctx.attrs[(lid, "QueueName")] = f"credit-risk-{lid}"
            self.stack.queues[lid] = url

    def migrate(self) -> dict[str, Any]:
        """Run the migrate function as a stack update would (after the database secret
        points at another database, for example)."""
        response = self.client("lambda").invoke(
            FunctionName="MigrateFunction", Payload=json.dumps({"RequestType": "Update"}).encode()
        )
        body: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        if "FunctionError" in response:
            raise RuntimeError(f"migration failed: {body.get('errorType')}")
        return body

    def _run_custom_resources(self, template: dict[str, Any], ctx: Context) -> None:
        """Play CloudFormation's part for custom resources (the database schema): invoke
        each one's function with a Create event, in template order; a failure stops the
        deploy, as it would roll a stack back."""
        lam = self.client("lambda")
        for lid, resource in template["Resources"].items():
            if not resource["Type"].startswith("Custom::"):
                continue
            props = resolve(resource.get("Properties", {}), ctx)
            event = {
                "RequestType": "Create",
                "LogicalResourceId": lid,
                "ResourceType": resource["Type"],
                "ResourceProperties": props,
            }
            response = lam.invoke(
                FunctionName=props["ServiceToken"], Payload=json.dumps(event).encode()
            )
            body = json.loads(response["Payload"].read() or b"{}")
            if "FunctionError" in response:
                raise RuntimeError(
                    f"custom resource {lid} failed: {body.get('errorType')}: "
                    f"{body.get('errorMessage')}"
                )

    def _apply_environment(self, specs: list[FunctionSpec], ctx: Context) -> None:
        """Apply the stack's environment to this process once.

        Functions agree on every shared resource variable; the few that differ by
        function (its Powertools service name) are left out, since in-process
        invocations share one environment.
        """
        merged: dict[str, str] = {}
        conflicting: set[str] = set()
        for spec in specs:
            for key, raw in spec.environment.items():
                value = resolve(raw, ctx)
                if value is None:
                    continue
                if key in merged and merged[key] != str(value):
                    conflicting.add(key)
                merged[key] = str(value)
        env = {k: v for k, v in merged.items() if k not in conflicting}
        env["CREDIT_RISK_LOCAL_DIR"] = str(self.local_dir)
        # Where the local cloud differs from AWS, and why: a local Postgres has no TLS
        # (AWS verifies the RDS certificate), and every function shares this one process,
        # so one connection per process would be one for all of them (each Lambda
        # container has its own).
        env["DB_TLS"] = "off"
        env["DB_POOL_SIZE"] = "5"
        # The stack's own configuration files (a lender's contract, quality gate, models),
        # so that every command run against this stack reads the same ones.
        for name in CONFIG_SETTINGS:
            if os.environ.get(name):
                env[name] = str(Path(os.environ[name]).resolve())
        self._set_env(env)
        self.stack.environment = env

    def _create_functions(self, specs: list[FunctionSpec], ctx: Context) -> None:
        iam = self.client("iam")
        role = iam.create_role(
            RoleName="credit-risk-local",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        self._role = role
        lam = self.client("lambda")
        code = _dummy_zip()
        for spec in specs:
            lam.create_function(
                FunctionName=spec.logical_id,
                Runtime="python3.13",
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": code},
                Timeout=900,
            )
            self.dispatcher.register(spec.logical_id, spec.code_dir, spec.handler)
            self._configure_async(spec, ctx)
            self.stack.functions[spec.logical_id] = spec

    def _configure_async(self, spec: FunctionSpec, ctx: Context) -> None:
        """Lambda's asynchronous-invocation contract for a function with an
        ``EventInvokeConfig``: retries, then the event to its on-failure SQS queue."""
        config = spec.event_invoke_config
        if not config:
            return
        destination = config.get("DestinationConfig", {}).get("OnFailure", {})
        queue_arn = resolve(destination.get("Destination"), ctx) if destination else None
        queue_url = next(
            (
                url
                for lid, url in self.stack.queues.items()
                if ctx.attrs.get((lid, "Arn")) == queue_arn
            ),
            None,
        )
        sqs = self.client("sqs")

        def dead_letter(message: dict[str, Any]) -> None:
            if queue_url is not None:
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, default=str))

        self.dispatcher.configure_async(
            spec.logical_id,
            retries=int(config.get("MaximumRetryAttempts", 2)),
            on_failure=dead_letter,
        )

    def _create_state_machines(self, template: dict[str, Any], ctx: Context) -> None:
        sfn = self.client("stepfunctions")
        root = self.template_path.parent
        for lid, resource in resources_of_type(template, "AWS::Serverless::StateMachine").items():
            props = resource["Properties"]
            definition = (root / props["DefinitionUri"]).read_text()
            for key, raw in resolve(props.get("DefinitionSubstitutions", {}), ctx).items():
                definition = definition.replace("${" + key + "}", str(raw))
            arn = sfn.create_state_machine(
                name=ctx.attrs[(lid, "Name")], definition=definition, roleArn=self._role
            )["stateMachineArn"]
            self.stack.state_machines[lid] = arn

    def _create_notifications(self, specs: list[FunctionSpec], ctx: Context) -> None:
        s3 = self.client("s3")
        by_bucket: dict[str, list[dict[str, Any]]] = {}
        for spec in specs:
            for event_id, event in spec.events.items():
                if event["Type"] != "S3":
                    continue
                props = resolve(event["Properties"], ctx)
                config: dict[str, Any] = {
                    "Id": f"{spec.logical_id}-{event_id}",
                    "LambdaFunctionArn": ctx.attrs[(spec.logical_id, "Arn")],
                    "Events": [props["Events"]]
                    if isinstance(props["Events"], str)
                    else props["Events"],
                }
                if "Filter" in props:
                    config["Filter"] = {"Key": {"FilterRules": props["Filter"]["S3Key"]["Rules"]}}
                by_bucket.setdefault(props["Bucket"], []).append(config)
        for bucket, configs in by_bucket.items():
            s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration={"LambdaFunctionConfigurations": configs},
            )

    def _create_schedules(self, template: dict[str, Any], ctx: Context) -> None:
        """EventBridge Scheduler schedules of state machines and functions."""
        scheduler = self.client("scheduler")
        targets = {
            lid: (self.stack.state_machines.get(lid) or ctx.attrs[(lid, "Arn")])
            for lid, resource in template["Resources"].items()
            if resource["Type"] in ("AWS::Serverless::StateMachine", "AWS::Serverless::Function")
        }
        for lid, arn in targets.items():
            events = template["Resources"][lid].get("Properties", {}).get("Events", {})
            for event_id, event in events.items():
                if event["Type"] not in ("Schedule", "ScheduleV2"):
                    continue
                props = resolve(event["Properties"], ctx)
                name = f"{lid}-{event_id}"
                scheduler.create_schedule(
                    Name=name,
                    ScheduleExpression=props["ScheduleExpression"],
                    FlexibleTimeWindow={"Mode": "OFF"},
                    Target={"Arn": arn, "RoleArn": self._role, "Input": props.get("Input", "{}")},
                )
                self.stack.schedules[name] = lid


class RemoteCloud(CloudOperations):
    """A cloud started by ``credit-risk up`` in another process, found via cloud.json."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.description = description
        self.stack = Stack(
            buckets=description["buckets"],
            state_machines=description["state_machines"],
            schedules=description["schedules"],
            environment=description["environment"],
            queues=description.get("queues", {}),
        )
        self._session = boto3.session.Session(
            region_name=description["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    @classmethod
    def load(cls, path: Path) -> RemoteCloud:
        """The cloud described at ``path``; a clear error when none is running."""
        if not path.exists():
            raise FileNotFoundError(
                f"no local cloud is running ({path} not found); start one with `./run up`"
            )
        description = json.loads(path.read_text())
        pid = description.get("pid")
        if pid is not None:
            try:
                os.kill(int(pid), 0)
            except OSError:
                path.unlink(missing_ok=True)
                raise FileNotFoundError(
                    f"the local cloud described in {path} is no longer running; "
                    "start one with `./run up`"
                ) from None
        return cls(description)

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.description["endpoint_url"])
