"""Erasure in the raw bucket: the customer's rows leave every landed file, every older
version of it and every quarantine copy.

Mechanism (rewrite): every version of every object in the raw bucket is read; a file
whose rows name the customer (in the contract's customer key column) is written back in
the same format (CSV, CSV.gz, Parquet) without those rows, and then every older version
of that object is deleted by version id, so no version still holds them. A file left with
no rows is deleted, all its versions. A file that cannot be parsed (a rejected copy) is
deleted, all its versions, when its bytes show the customer's id; otherwise it is left to
the bucket's lifecycle rule and counted as unreadable. Objects that do not name the
customer are not touched.

Before a landed file is rewritten, its new bytes' sha256 is recorded in the ingest ledger
(``staging.object_keys``, :func:`~credit_risk.data.ingestion.record_rewrite`) under the
batch that loaded the version it replaces: the S3 event the rewrite raises reaches ingest,
which finds the key with that hash and loads nothing again. (The ETag of a KMS-encrypted
object is not known before it is written; user metadata on the rewrite, the replaced
ETag, is for people reading the bucket.)

Nothing here names the customer in what it returns, logs or raises: counts only.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from itertools import groupby
from typing import Any

from sqlalchemy import Engine

from credit_risk.adapters.aws import ObjectStore, ObjectVersion
from credit_risk.adapters.observability import logger
from credit_risk.contract import DATASETS, Contract
from credit_risk.data.ingestion import REWRITTEN_FROM_ETAG, is_own_output, record_rewrite
from credit_risk.data.row_removal import Scan, without_customer

LANDED = "raw landed files"
QUARANTINE = "quarantine copies"
MECHANISM = (
    "every version of every object in the raw bucket is read; files naming the customer "
    "are rewritten in their format without the customer's rows (deleted when no row is "
    "left, or when unreadable and showing the customer's id), then every older version of "
    "each is deleted by version id"
)


@dataclass
class StoreErasure:
    """What erasure removed from one store (counts only, never values or keys)."""

    objects: int = 0  # object keys that named the customer in some version
    rewritten: int = 0  # written back without the customer's rows
    deleted: int = 0  # deleted with every version (no row left, or unreadable)
    rows_removed: int = 0  # rows of the customer dropped from the current versions
    versions_deleted: int = 0  # versions deleted for good (older ones and replaced ones)
    unreadable_left: int = 0  # unparseable versions not showing the id: left to lifecycle

    def to_dict(self) -> dict[str, int]:
        """JSON-able form."""
        return asdict(self)


@dataclass
class RawErasureReport:
    """What :meth:`RawErasure.erase` did, per store."""

    bucket: str
    stores: dict[str, StoreErasure] = field(
        default_factory=lambda: {LANDED: StoreErasure(), QUARANTINE: StoreErasure()}
    )

    @property
    def removed_anything(self) -> bool:
        return any(s.objects for s in self.stores.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the bucket, the mechanism and each store's counts."""
        return {
            "bucket": self.bucket,
            "mechanism": MECHANISM,
            "removed_anything": self.removed_anything,
            "stores": {name: s.to_dict() for name, s in self.stores.items()},
        }


class RawErasure:
    """Removes one customer's rows from every object version in the raw bucket."""

    def __init__(
        self, *, engine: Engine, store: ObjectStore, bucket: str, contract: Contract
    ) -> None:
        self.engine = engine
        self.store = store
        self.bucket = bucket
        self.columns = {
            spec.customer_key
            for spec in (contract.dataset(d) for d in DATASETS)
            if spec.customer_key is not None
        }
        if not self.columns:
            raise ValueError("the contract names no customer key column")

    def erase(self, customer_id: str) -> RawErasureReport:
        """Rewrite or delete every object naming ``customer_id`` and delete every older
        version of it; return the counts per store."""
        report = RawErasureReport(self.bucket)
        listed = self.store.versions(self.bucket)
        for key, versions in groupby(listed, key=lambda v: v.key):
            store = report.stores[QUARANTINE if is_own_output(key) else LANDED]
            self._erase_object(key, list(versions), customer_id, store)
        logger.info(
            "raw bucket erasure",
            extra={"stores": {n: s.to_dict() for n, s in report.stores.items()}},
        )
        return report

    def _erase_object(
        self, key: str, versions: list[ObjectVersion], customer_id: str, store: StoreErasure
    ) -> None:
        stored = [v for v in versions if not v.delete_marker]
        current = next((v for v in stored if v.is_latest), None)
        scans: dict[str, Scan] = {}
        content_type = "application/octet-stream"
        for version in stored:
            read = self.store.read(self.bucket, key, version.version_id)
            scan = without_customer(read.body, key, self.columns, customer_id)
            if version is current:
                content_type = read.content_type
            else:  # an older version is only ever deleted: keep no copy of it
                scan = Scan(scan.rows, None, scan.unreadable, scan.names_customer)
            scans[version.version_id] = scan
        store.unreadable_left += sum(
            1 for s in scans.values() if s.unreadable and not s.names_customer
        )
        named = [v for v in stored if scans[v.version_id].names_customer]
        if not named:
            return
        store.objects += 1
        doomed = named
        if current is not None and scans[current.version_id].names_customer:
            scan = scans[current.version_id]
            store.rows_removed += scan.rows
            if scan.kept is None:  # nothing left, or unreadable: the object goes
                store.deleted += 1
                doomed = stored
            else:
                sha = hashlib.sha256(scan.kept).hexdigest()
                record_rewrite(self.engine, self.bucket, key, current.etag, sha)
                new_version = self.store.replace(
                    self.bucket,
                    key,
                    scan.kept,
                    content_type,
                    {REWRITTEN_FROM_ETAG: current.etag},
                )
                store.rewritten += 1
                # In an unversioned bucket the rewrite replaced the only version in place.
                doomed = [v for v in stored if new_version is not None]
        for version in doomed:
            self.store.delete_version(self.bucket, key, version.version_id)
            store.versions_deleted += 1
