"""IAM proven on the local cloud: every AWS call a function makes, checked against the
statements SAM would give that function's role.

moto can enforce IAM for some services only, and the local cloud runs every function in
one process with one set of credentials, so the proof is by evaluation instead: while a
function runs, each botocore call it makes is recorded with the function's name, turned
into the IAM actions and resources it needs (including the KMS use that S3, Secrets
Manager and SNS make on its behalf with the stack's customer-managed key), and evaluated
against the function's policy statements as the SAM translator expands them from
template.yaml (``infra/sam_policies.py``). Statements are matched on Effect, Action and
Resource with IAM's wildcards; conditions are not evaluated (the template uses one, on the
proxy role, which no function has).
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from credit_risk_local.template import REPO_ROOT, Context, resolve

_current = threading.local()


def set_current_function(name: str | None) -> None:
    """The function running on this thread (the dispatcher sets it around a handler)."""
    _current.name = name


def current_function() -> str | None:
    return getattr(_current, "name", None)


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str:
        return dict(self.params).get(name, "")


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)


_KEEP = (
    "Bucket",
    "Key",
    "CopySource",
    "VersionId",
    "SecretId",
    "TopicArn",
    "stateMachineArn",
    "executionArn",
    "mapRunArn",
    "FunctionName",
    "QueueUrl",
)


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record every AWS API call made while a function runs, until the block ends."""
    recorder = Recorder()
    original = BaseClient._make_api_call

    def make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        function = current_function()
        if function is not None:
            kept = tuple(
                (k, v if isinstance(v, str) else json.dumps(v, default=str))
                for k, v in api_params.items()
                if k in _KEEP
            )
            service = self.meta.service_model.service_name
            recorder.calls.append(Call(function, service, operation_name, kept))
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


_S3_ACTION = {
    "GetObject": ("s3:GetObject", "object"),
    "HeadObject": ("s3:GetObject", "object"),
    "PutObject": ("s3:PutObject", "object"),
    "CreateMultipartUpload": ("s3:PutObject", "object"),
    "UploadPart": ("s3:PutObject", "object"),
    "CompleteMultipartUpload": ("s3:PutObject", "object"),
    "DeleteObject": ("s3:DeleteObject", "object"),
    "ListObjectsV2": ("s3:ListBucket", "bucket"),
    "ListObjects": ("s3:ListBucket", "bucket"),
    "HeadBucket": ("s3:ListBucket", "bucket"),
    "ListObjectVersions": ("s3:ListBucketVersions", "bucket"),
}
_STATES_RESOURCE = ("stateMachineArn", "executionArn", "mapRunArn")


def required(call: Call, data_key_arn: str) -> list[tuple[str, str]]:
    """The (action, resource) pairs IAM checks for ``call``."""
    op = call.operation
    if call.service == "s3":
        bucket, key = call.param("Bucket"), call.param("Key")
        if op == "CopyObject":
            source = call.param("CopySource")
            if source.startswith("{"):
                parsed = json.loads(source)
                source = f"{parsed['Bucket']}/{parsed['Key']}"
            return [
                ("s3:GetObject", f"arn:aws:s3:::{source}"),
                ("kms:Decrypt", data_key_arn),
                ("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"),
                ("kms:GenerateDataKey", data_key_arn),
            ]
        action, scope = _S3_ACTION.get(op, (f"s3:{op}", "bucket"))
        resource = f"arn:aws:s3:::{bucket}/{key}" if scope == "object" else f"arn:aws:s3:::{bucket}"
        needs = [(action, resource)]
        if op == "GetObject" and call.param("VersionId"):
            needs.append(("s3:GetObjectVersion", resource))
        if op == "DeleteObject" and call.param("VersionId"):
            needs = [("s3:DeleteObjectVersion", resource)]
        if action == "s3:GetObject" and op == "GetObject":
            needs.append(("kms:Decrypt", data_key_arn))
        if action == "s3:PutObject":
            needs.append(("kms:GenerateDataKey", data_key_arn))
        return needs
    if call.service == "secretsmanager":
        return [(f"secretsmanager:{op}", call.param("SecretId")), ("kms:Decrypt", data_key_arn)]
    if call.service == "stepfunctions":
        resource = next((call.param(p) for p in _STATES_RESOURCE if call.param(p)), "*")
        return [(f"states:{op}", resource)]
    if call.service == "sns":
        return [
            (f"sns:{op}", call.param("TopicArn")),
            ("kms:GenerateDataKey", data_key_arn),
            ("kms:Decrypt", data_key_arn),
        ]
    if call.service == "lambda" and op == "Invoke":
        return [("lambda:InvokeFunction", call.param("FunctionName"))]
    return [(f"{call.service}:{op}", "*")]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in _as_list(patterns))


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Whether the statements allow ``action`` on ``resource`` (and none denies it)."""
    hits = [
        s
        for s in statements
        if _matches(s.get("Action", []), action) and _matches(s.get("Resource", "*"), resource)
    ]
    return any(s["Effect"] == "Allow" for s in hits) and not any(
        s["Effect"] == "Deny" for s in hits
    )


def sam_statements(template_path: Path, sam_python: Path) -> dict[str, list[dict[str, Any]]]:
    """Each function's statements as the SAM translator expands them (unresolved)."""
    result = subprocess.run(  # noqa: S603 (the SAM tool venv's interpreter, our script)
        [str(sam_python), str(REPO_ROOT / "infra" / "sam_policies.py"), str(template_path)],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
    )
    loaded: dict[str, list[dict[str, Any]]] = json.loads(result.stdout)
    return loaded


def violations(
    calls: list[Call], statements: dict[str, list[dict[str, Any]]], ctx: Context
) -> list[str]:
    """Every call some function made that its role would not allow, named once each as
    ``Function: action on resource``."""
    data_key = ctx.get_att("DataKey", "Arn")
    resolved = {fn: resolve(st, ctx) for fn, st in statements.items()}
    found: dict[str, None] = {}
    for call in calls:
        for action, resource in required(call, data_key):
            if not allows(resolved.get(call.function, []), action, resource):
                found[f"{call.function}: {action} on {resource}"] = None
    return list(found)
