"""Erasure in the raw bucket against the floor of reading it, in the same run.

    .venv/bin/python tests/benchmarks/bench_erasure_objects.py [--files 40] [--rows 2000]

A versioned (moto) bucket holds ``--files`` CSV files of ``--rows`` applications, each in
two versions; one customer has rows in 5 of them. Ours: :meth:`RawErasure.erase` (list
every version, read and parse each, rewrite the 5 files without the customer, delete their
older versions), then a second erasure of the same customer (nothing left: read only).
Floor: the raw boto3 calls any erasure must make, ListObjectVersions and GetObject of
every version, no parsing. Progress lines, then one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    import credit_risk  # noqa: F401
except ImportError:  # run directly from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers/core/python"))

import boto3
from moto import mock_aws

from credit_risk.adapters.aws import ObjectStore, reset_clients
from credit_risk.contract import load_contract
from credit_risk.data.erasure import LANDED, RawErasure
from credit_risk.data.generator import generate
from credit_risk.db.engine import dispose_all, get_engine
from credit_risk.db.migrations import ensure_contract_tables, migrate

BUCKET = "bench-raw"


def _floor(s3: object) -> float:
    started = time.perf_counter()
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET)  # type: ignore[attr-defined]
    for page in pages:
        for v in page.get("Versions", []):
            s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()  # type: ignore[attr-defined]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    contract = load_contract()
    frame = generate(args.files * args.rows, seed=5).applications.astype(str)
    ours, again, floor = [], [], []
    with tempfile.TemporaryDirectory() as folder, mock_aws():
        engine = get_engine(f"sqlite:///{folder}/bench.db")
        migrate(engine)
        ensure_contract_tables(engine, contract)
        for attempt in range(args.repeats):
            reset_clients()
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
            customer = f"bench-customer-{attempt}"
            for i in range(args.files):
                part = frame.iloc[i * args.rows : (i + 1) * args.rows].copy()
                if i < 5:
                    part.iloc[0, part.columns.get_loc("customer_id")] = customer
                for version in range(2):
                    part.iloc[-1, part.columns.get_loc("loan_amount")] = str(1000 + version)
                    buffer = io.StringIO()
                    part.to_csv(buffer, index=False)
                    s3.put_object(
                        Bucket=BUCKET, Key=f"applications/f{i}.csv", Body=buffer.getvalue()
                    )
            size = sum(
                v["Size"] for v in s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
            )
            floor.append(_floor(s3))
            erasure = RawErasure(
                engine=engine, store=ObjectStore("us-east-1"), bucket=BUCKET, contract=contract
            )
            started = time.perf_counter()
            report = erasure.erase(customer)
            ours.append(time.perf_counter() - started)
            landed = report.stores[LANDED]
            assert (landed.rewritten, landed.rows_removed, landed.versions_deleted) == (5, 5, 10)
            started = time.perf_counter()
            second = erasure.erase(customer)
            again.append(time.perf_counter() - started)
            assert not second.removed_anything
            print(
                f"run {attempt + 1}: {2 * args.files} versions, {size / 1e6:.1f} MB; "
                f"erase {ours[-1]:.2f} s, again {again[-1]:.2f} s, floor {floor[-1]:.2f} s",
                flush=True,
            )
            for v in s3.list_object_versions(Bucket=BUCKET).get("Versions", []):
                s3.delete_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])
            s3.delete_bucket(Bucket=BUCKET)
        dispose_all()
    median = statistics.median
    print(
        json.dumps(
            {
                "files": args.files,
                "versions": 2 * args.files,
                "rows_per_file": args.rows,
                "bucket_mb": round(size / 1e6, 1),
                "erase_s": round(median(ours), 3),
                "second_erase_s": round(median(again), 3),
                "floor_list_and_get_s": round(median(floor), 3),
                "erase_vs_floor": round(median(ours) / median(floor), 2),
                "second_erase_vs_floor": round(median(again) / median(floor), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
