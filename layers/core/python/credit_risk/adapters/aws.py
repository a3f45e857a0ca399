"""AWS adapters: one boto3 session per container, clients created lazily and reused."""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from botocore.exceptions import ClientError

from credit_risk.errors import ConfigurationError, NotFoundError

_lock = threading.Lock()
_session: boto3.session.Session | None = None
_clients: dict[str, Any] = {}
_secrets: SecretsProvider | None = None
_RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})


def client(service: str, region: str | None = None) -> Any:
    """A shared boto3 client for ``service`` (one per container)."""
    with _lock:
        return _client_unlocked(service, region)


def _client_unlocked(service: str, region: str | None) -> Any:
    """:func:`client`, for a caller that holds the lock."""
    global _session
    if service not in _clients:
        if _session is None:
            _session = boto3.session.Session(region_name=region)
        _clients[service] = _session.client(service, config=_RETRIES)
    return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (a new local cloud, or a test with a fresh mock)."""
    global _session, _secrets
    with _lock:
        _session = None
        _secrets = None
        _clients.clear()


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key``."""
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ConfigurationError(f"not an s3:// URI: {uri}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes, content type and user metadata."""

    body: bytes
    content_type: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object, as ListObjectVersions lists it."""

    key: str
    version_id: str  # "null" in a bucket that was never versioned
    etag: str
    is_latest: bool
    last_modified: Any = None
    delete_marker: bool = False


_DOWNLOAD_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Downloaded:
    """An object streamed into a local temporary file, with its hash and size."""

    path: Path
    sha256: str  # of every byte of the object
    size: int  # every byte of the object
    complete: bool  # False: longer than the caller keeps; only its first bytes are on disk


@contextmanager
def spool_chunks(
    chunks: Iterable[bytes], *, keep_at_most: int | None = None
) -> Iterator[Downloaded]:
    """Write ``chunks`` to a temporary file (deleted on exit), hashing and counting them
    as they pass, so an object of any size is never held in memory. Past ``keep_at_most``
    bytes the rest is hashed and counted but not written: a disk holds what is kept."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(prefix="landed-") as spool:
        for chunk in chunks:
            digest.update(chunk)
            if keep_at_most is None or size < keep_at_most:
                room = len(chunk) if keep_at_most is None else keep_at_most - size
                spool.write(chunk[:room])
            size += len(chunk)
        spool.flush()
        complete = keep_at_most is None or size <= keep_at_most
        yield Downloaded(Path(spool.name), digest.hexdigest(), size, complete)


@dataclass
class ObjectStore:
    """Reads and writes objects in S3."""

    region: str | None = None

    @cached_property
    def _s3(self) -> Any:
        return client("s3", self.region)

    def _get_object(self, bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
        """GetObject's response (its body still to read); NotFoundError when it is gone."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            response: dict[str, Any] = self._s3.get_object(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NoSuchVersion"):
                raise NotFoundError(f"s3://{bucket}/{key} does not exist") from exc
            raise
        return response

    def get(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        """The object's bytes; NotFoundError when it is gone."""
        body: bytes = self._get_object(bucket, key, version_id)["Body"].read()
        return body

    def read(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        """The object's bytes with its content type and user metadata; NotFoundError
        when it is gone."""
        response = self._get_object(bucket, key, version_id)
        return StoredObject(
            body=response["Body"].read(),
            content_type=response.get("ContentType") or "application/octet-stream",
            metadata=dict(response.get("Metadata") or {}),
        )

    def replace(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str,
        metadata: dict[str, str],
    ) -> str | None:
        """Write a new version of an object with user ``metadata``; return its version id
        (None in an unversioned bucket, where the object is overwritten in place)."""
        response = self._s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata
        )
        version: str | None = response.get("VersionId")
        return None if version in (None, "null") else version

    def versions(self, bucket: str, prefix: str = "") -> list[ObjectVersion]:
        """Every version of every object under ``prefix`` (delete markers included), in
        key order, newest first within a key."""
        pages = self._s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=prefix
        )
        found = []
        for page in pages:
            for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                for v in page.get(kind, []):
                    found.append(
                        ObjectVersion(
                            key=v["Key"],
                            version_id=v.get("VersionId") or "null",
                            etag=v.get("ETag", "").strip('"'),
                            is_latest=bool(v.get("IsLatest")),
                            last_modified=v.get("LastModified"),
                            delete_marker=marker,
                        )
                    )
        found.sort(key=lambda v: (v.key, not v.is_latest))
        return found

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        """Delete one version of an object for good (no delete marker is left)."""
        self._s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)

    @contextmanager
    def download(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        keep_at_most: int | None = None,
    ) -> Iterator[Downloaded]:
        """The object streamed into a temporary file (see :func:`spool_chunks`), for the
        ``with`` block; NotFoundError when it is gone."""
        body = self._get_object(bucket, key, version_id)["Body"]
        try:
            with spool_chunks(
                body.iter_chunks(_DOWNLOAD_CHUNK), keep_at_most=keep_at_most
            ) as landed:
                yield landed
        finally:
            body.close()

    def put(
        self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Write an object; return its s3:// URI."""
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return s3_uri(bucket, key)

    def put_stream(
        self, bucket: str, key: str, stream: IO[bytes], content_type: str = "text/csv"
    ) -> str:
        """Write an object from a seekable file-like ``stream`` (botocore reads it as it
        sends, never whole in memory); return its s3:// URI."""
        self._s3.put_object(Bucket=bucket, Key=key, Body=stream, ContentType=content_type)
        return s3_uri(bucket, key)

    def put_json(self, bucket: str, key: str, payload: Any) -> str:
        """Write a JSON document; return its s3:// URI."""
        body = json.dumps(payload, indent=2, default=str).encode()
        return self.put(bucket, key, body, "application/json")

    def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> str:
        """Copy an object; return the copy's s3:// URI."""
        self._s3.copy_object(
            Bucket=dest_bucket, Key=dest_key, CopySource={"Bucket": bucket, "Key": key}
        )
        return s3_uri(dest_bucket, dest_key)

    def keys(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix``, in key order: ``Key``, ``Size``, ``ETag``."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [
            {"Key": o["Key"], "Size": o["Size"], "ETag": o.get("ETag", "").strip('"')}
            for page in pages
            for o in page.get("Contents", [])
        ]

    def version_of(self, bucket: str, key: str) -> str | None:
        """The current version id of an object (None in an unversioned bucket)."""
        try:
            head = self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise NotFoundError(f"s3://{bucket}/{key} does not exist") from exc
            raise
        version: str | None = head.get("VersionId")
        return None if version in (None, "null") else version

    def exists(self, bucket: str, key: str) -> bool:
        """True when the object exists."""
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True


@dataclass
class Workflows:
    """Starts Step Functions executions, idempotently by name."""

    region: str | None = None

    @cached_property
    def _sfn(self) -> Any:
        return client("stepfunctions", self.region)

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """Start ``name`` (or find it already started); return the execution ARN."""
        try:
            arn: str = self._sfn.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
            )["executionArn"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            machine = state_machine_arn.split(":stateMachine:", 1)
            arn = f"{machine[0]}:execution:{machine[1]}:{name}"
        return arn

    def recent(self, state_machine_arn: str, limit: int = 10) -> list[dict[str, Any]]:
        """The latest executions of a state machine, newest first, as ListExecutions
        describes them (name, executionArn, status, startDate, stopDate)."""
        response = self._sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=limit)
        executions: list[dict[str, Any]] = response["executions"]
        return sorted(executions, key=lambda e: e["startDate"], reverse=True)[:limit]

    def executions(
        self, state_machine_arn: str, *, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The newest executions of a state machine (optionally only those in ``status``)."""
        kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        found: list[dict[str, Any]] = []
        for page in self._sfn.get_paginator("list_executions").paginate(**kwargs):
            found.extend(page["executions"])
            if len(found) >= limit:
                break
        found.sort(key=lambda e: e["startDate"], reverse=True)
        return found[:limit]

    def redrive(self, execution_arn: str) -> str:
        """Redrive a failed execution in AWS (RedriveExecution: failed states and a
        Distributed Map's failed items run again); return the redrive date."""
        response = self._sfn.redrive_execution(executionArn=execution_arn)
        return str(response["redriveDate"])


def read_secret(
    secret_id: str, region: str | None = None, max_age: int = 300
) -> dict[str, Any] | str:
    """A Secrets Manager secret: parsed JSON when it is JSON, else the string.

    Read through Powertools parameters and cached for ``max_age`` seconds, so a rotated
    secret is picked up within that time without a redeploy.
    """
    global _secrets
    with _lock:
        if _secrets is None:
            _secrets = SecretsProvider(boto3_client=_client_unlocked("secretsmanager", region))
        provider = _secrets
    value = str(provider.get(secret_id, max_age=max_age))
    try:
        parsed: dict[str, Any] = json.loads(value)
    except json.JSONDecodeError:
        return value
    return parsed
