"""Peak memory of ingesting one file, against the raw library read of the same file.

    .venv/bin/python tests/benchmarks/bench_ingest_memory.py [--plain-mb 1024] [--bomb-gib 3]

Two files are generated on the fly in a temp dir: a gzip bomb (a small .csv.gz that
inflates to ``--bomb-gib`` GiB, more than the default 2 GiB MAX_UNCOMPRESSED_BYTES) and a
plain applications CSV of about ``--plain-mb`` MB (synthetic rows, unique ids). Each
measurement runs in its own subprocess: the growth of peak RSS (``ru_maxrss``) over the RSS
just before the work. Ours is ``Ingestor.ingest`` over SQLite with the objects read from
local files (so the fake S3 holds nothing in memory); raw is ``gzip`` inflating the bomb
whole, and ``pyarrow.csv.read_csv`` of the plain file. One JSON object last.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import credit_risk  # noqa: F401
except ImportError:  # run directly from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers/core/python"))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class FileStore:
    """An ObjectStore over a local folder: bucket/key is a file path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        return (self.root / bucket / key).read_bytes()

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "") -> str:
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return f"s3://{bucket}/{key}"

    def put_stream(self, bucket: str, key: str, stream: Any, content_type: str = "") -> str:
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            shutil.copyfileobj(stream, out)
        return f"s3://{bucket}/{key}"

    def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> str:
        dest = self.root / dest_bucket / dest_key
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / bucket / key, dest)
        return f"s3://{dest_bucket}/{dest_key}"


def _child(case: str, root: Path, key: str, limit: int) -> dict[str, Any]:
    from credit_risk.contract import load_contract
    from credit_risk.data.ingestion import Ingestor, LandedObject
    from credit_risk.db.engine import get_engine, sqlite_url
    from credit_risk.db.migrations import ensure_contract_tables, migrate

    path = root / "raw" / key
    engine = get_engine(sqlite_url(root / f"db-{case}"))
    contract = load_contract()
    migrate(engine)
    ensure_contract_tables(engine, contract)
    before = _rss_bytes()
    started = time.perf_counter()
    outcome: dict[str, Any] = {}
    if case == "ours":
        store: Any = FileStore(root)
        ingestor = Ingestor(
            engine=engine, contract=contract, store=store, max_uncompressed_bytes=limit
        )
        result = ingestor.ingest(LandedObject(bucket="raw", key=key, etag="bench"))
        outcome = {
            "status": result.status,
            "rows_loaded": result.rows_loaded,
            "error": result.error,
        }
    elif key.endswith(".gz"):
        outcome = {"inflated_bytes": len(gzip.decompress(path.read_bytes()))}
    else:
        import pyarrow.csv as pacsv

        outcome = {"rows": pacsv.read_csv(path).num_rows}
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_growth_mb": round((_peak_bytes() - before) / 2**20, 1),
        **outcome,
    }


def _measure(case: str, root: Path, key: str, limit: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", case, "--root", str(root), "--key", key]
    out = subprocess.run(
        [*command, "--limit", str(limit)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _write_bomb(path: Path, gib: float) -> None:
    row = b"A1,C1,2024-01-01,x\n" * 4096
    total = int(gib * 2**30)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(b"application_id,customer_id,application_date,full_name\n")
        for _ in range(total // len(row)):
            out.write(row)


def _write_plain(path: Path, mb: int) -> int:
    from credit_risk.data.generator import generate

    frame = generate(20_000, seed=3).applications
    rows = 0
    with path.open("w") as out:
        copy = 0
        while out.tell() < mb * 1_000_000:
            part = frame.copy()
            part["application_id"] = f"R{copy}-" + part["application_id"].astype(str)
            part.to_csv(out, index=False, header=copy == 0, date_format="%Y-%m-%d")
            rows += len(part)
            copy += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plain-mb", type=int, default=1024)
    parser.add_argument("--bomb-gib", type=float, default=3.0)
    parser.add_argument("--limit-mb", type=int, default=2048, help="MAX_UNCOMPRESSED_BYTES, in MiB")
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child")
    parser.add_argument("--root")
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, Path(args.root), args.key, args.limit)))
        return

    figures: dict[str, Any] = {"limit_mb": args.limit_mb}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-memory-") as tmp:
        root = Path(tmp)
        (root / "raw" / "applications").mkdir(parents=True)
        bomb = root / "raw" / "applications" / "bomb.csv.gz"
        print(f"writing a gzip bomb inflating to {args.bomb_gib} GiB", flush=True)
        _write_bomb(bomb, args.bomb_gib)
        print(f"bomb: {bomb.stat().st_size / 1e6:.2f} MB on the wire", flush=True)
        plain = root / "raw" / "applications" / "plain.csv"
        print(f"writing a plain CSV of about {args.plain_mb} MB", flush=True)
        rows = _write_plain(plain, args.plain_mb)
        print(f"plain: {plain.stat().st_size / 1e6:.0f} MB, {rows:,} rows", flush=True)
        for name, key in (
            ("bomb", "applications/bomb.csv.gz"),
            ("plain", "applications/plain.csv"),
        ):
            limit = args.limit_mb * 2**20
            raw = _measure("raw", root, key, limit)
            ours = _measure("ours", root, key, limit)
            print(f"{name}: ours {ours} raw {raw}", flush=True)
            figures[name] = {
                "ours": ours,
                "raw": raw,
                "ratio_peak_rss_ours_to_raw": round(
                    ours["peak_rss_growth_mb"] / max(raw["peak_rss_growth_mb"], 0.1), 3
                ),
            }
        figures["bomb"]["compressed_mb"] = round(bomb.stat().st_size / 1e6, 3)
        figures["plain"]["file_mb"] = round(plain.stat().st_size / 1e6, 1)
        figures["plain"]["rows"] = rows
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
