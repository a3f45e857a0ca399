"""Ingestion throughput on Postgres against a raw COPY of the same rows, in the same run.

    .venv/bin/python tests/benchmarks/bench_ingest.py [--rows 200000] [--postgres URL]

Ours: an applications CSV in (moto) S3 → read, sha256, parse, validate every cell against
the contract, COPY into staging, record the object — one transaction. Raw: psql-style
``COPY staging.applications_raw FROM STDIN (FORMAT csv, HEADER)`` of the same file into a
table of the same column types, no validation — once as pg8000's documented file stream
(it sends 8 KiB messages) and once as 1 MiB chunks (what our loader sends). Progress
lines, then one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

try:
    import credit_risk  # noqa: F401
except ImportError:  # run directly from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers/core/python"))

import boto3
from moto import mock_aws
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url

from credit_risk.adapters.aws import ObjectStore, reset_clients
from credit_risk.contract import load_contract
from credit_risk.data.generator import generate
from credit_risk.data.ingestion import Ingestor, LandedObject
from credit_risk.db import schema
from credit_risk.db.engine import dispose_all, get_engine
from credit_risk.db.migrations import ensure_contract_tables, migrate


def _fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"cr_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    dispose_all()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql+pg8000://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    contract = load_contract()
    print(f"generating {args.rows:,} applications", flush=True)
    frame = generate(args.rows, seed=11).applications
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, date_format="%Y-%m-%d")
    body = buffer.getvalue().encode()
    print(f"file: {len(body) / 1e6:.1f} MB, {len(frame.columns)} columns", flush=True)

    ours, raw, raw_chunked = [], [], []
    with mock_aws():
        reset_clients()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench-raw")
        for attempt in range(args.repeats):
            name, url = _fresh_database(args.postgres)
            try:
                engine = get_engine(url)
                migrate(engine)
                ensure_contract_tables(engine, contract)
                key = f"applications/bench-{attempt}.csv"
                s3.put_object(Bucket="bench-raw", Key=key, Body=body)
                etag = s3.head_object(Bucket="bench-raw", Key=key)["ETag"].strip('"')
                ingestor = Ingestor(
                    engine=engine, contract=contract, store=ObjectStore("us-east-1")
                )
                started = time.perf_counter()
                result = ingestor.ingest(LandedObject("bench-raw", key, etag))
                ours.append(time.perf_counter() - started)
                assert result.rows_loaded == args.rows, result

                table = schema.staging_table(contract, "applications", MetaData())
                columns = [c for c in table.columns if not c.name.startswith("_")]
                with engine.begin() as conn:
                    ddl = ", ".join(f'"{c.name}" {c.type.compile(engine.dialect)}' for c in columns)
                    conn.execute(text(f"CREATE TABLE staging.applications_raw ({ddl})"))
                header = body.split(b"\n", 1)[0].decode()
                started = time.perf_counter()
                with engine.begin() as conn:
                    cursor = conn.connection.dbapi_connection.cursor()
                    cursor.execute(
                        f"COPY staging.applications_raw ({header}) FROM STDIN "
                        "WITH (FORMAT csv, HEADER true)",
                        stream=io.BytesIO(body),
                    )
                raw.append(time.perf_counter() - started)
                with engine.begin() as conn:
                    conn.execute(text("TRUNCATE staging.applications_raw"))
                chunked = [body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20)]
                started = time.perf_counter()
                with engine.begin() as conn:
                    cursor = conn.connection.dbapi_connection.cursor()
                    cursor.execute(
                        f"COPY staging.applications_raw ({header}) FROM STDIN "
                        "WITH (FORMAT csv, HEADER true)",
                        stream=chunked,
                    )
                raw_chunked.append(time.perf_counter() - started)
                print(
                    f"run {attempt + 1}: ours {ours[-1]:.2f} s, raw COPY {raw[-1]:.2f} s "
                    f"(file stream), {raw_chunked[-1]:.2f} s (1 MiB chunks)",
                    flush=True,
                )
            finally:
                _drop_database(args.postgres, name)

    ours_s, raw_s = statistics.median(ours), statistics.median(raw)
    chunked_s = statistics.median(raw_chunked)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "ours_seconds": round(ours_s, 3),
                "ours_rows_per_s": round(args.rows / ours_s),
                "raw_copy_seconds": round(raw_s, 3),
                "raw_copy_rows_per_s": round(args.rows / raw_s),
                "ratio_of_raw_speed": round(raw_s / ours_s, 3),
                "raw_copy_chunked_seconds": round(chunked_s, 3),
                "ratio_of_raw_chunked_speed": round(chunked_s / ours_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
