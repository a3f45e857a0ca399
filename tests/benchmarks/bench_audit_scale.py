"""How far the audit trail scales: how long each append holds its chain's next place, on
Postgres.

    .venv/bin/python tests/benchmarks/bench_audit_scale.py [--seconds 4] [--postgres URL]

Nothing is locked: an append inserts its row at the next place of its chain, and the
unique index on (chain, place) lets one row only take it. From the insert until the
commit, that place is held: another append to the same chain waits for the commit, loses
the place, reads the head and tries the next one. So one chain's ceiling is one append per
window (from the start of the insert that took the place to the commit having returned),
and the trail's, with ``CHAINS`` chains and each process on its own, ``CHAINS / p50
window``. With 1, 4 and 16 writer processes appending for ``--seconds`` each, every writer
on a chain of its own (as containers spread over chains), this times each append's window
(the insert is seen by a ``before_cursor_execute`` hook) and reports p50, p99, the
one-chain ceiling ``1 / p50 window``, the trail's ``max_appends_per_s``, the appends per
second observed and the inserts each append took beyond the first (lost places). Then the
same writers all on one chain (they lose places to each other: their observed rate and
lost places are the cost of sharing a chain). Raw, in the same run: one statement and the
commit alone, timed the same way (the floor of any transaction that holds anything until
it commits), and the ratio of ours to it. Progress lines, then one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

try:
    import credit_risk  # noqa: F401
except ImportError:  # run directly from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers/core/python"))

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from credit_risk.db.engine import get_engine
from credit_risk.db.migrations import migrate
from credit_risk.governance.audit import CHAINS, AuditRecord, AuditTrail

POSTGRES_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/test"
WRITERS = (1, 4, 16)


def _record(writer: int, n: int) -> AuditRecord:
    """A decision-sized audit record (the output of a predict: reasons, features)."""
    return AuditRecord(
        caller=f"writer-{writer}@bench",
        role="scorer",
        request_id=f"{writer}-{n}",
        action="predict",
        input_sha256="a" * 64,
        output={
            "probability_of_default": 0.1234,
            "decision": "review",
            "reasons": [{"feature": f"f{i}", "points": -i} for i in range(4)],
            "features": {f"f{i}": i * 1.5 for i in range(20)},
        },
        customer_key="b" * 64,
        model_version="v1",
        artifact_sha256="c" * 64,
    )


def _writer(
    url: str,
    writer: int,
    seconds: float,
    raw: bool,
    one_chain: bool,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    """Once every writer is connected, append (or, ``raw``, one statement and commit) for
    ``seconds`` to its own chain (``one_chain``: all to chain 0); put the windows (s) and
    the number of audit inserts run on ``out``."""
    engine = get_engine(url)
    trail = AuditTrail(engine, key=b"bench-audit-key", chain=0 if one_chain else writer)
    seen = {"insert_at": 0.0, "inserts": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def _insert_started(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO audit.decisions"):
            seen["insert_at"] = time.perf_counter()  # the last is the one that took the place
            seen["inserts"] += 1

    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    windows: list[float] = []
    ready.put(writer)
    go.wait()
    n = 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        with engine.connect() as conn:
            conn.begin()
            if raw:
                seen["insert_at"] = time.perf_counter()
                conn.execute(text("SELECT 1"))
            else:
                row = trail.append(conn, _record(writer, n))
            conn.commit()
            windows.append(time.perf_counter() - seen["insert_at"])
        if not raw:
            trail.seal_if_due(row)  # as callers do once committed: the head it knows
        n += 1
    engine.dispose()
    out.put((windows, seen["inserts"]))


def _run(
    url: str, writers: int, seconds: float, raw: bool, one_chain: bool = False
) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_writer, args=(url, w, seconds, raw, one_chain, ready, go, out))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every process imported and connected before the clock starts
        ready.get()
    go.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    windows = sorted(w for ws, _inserts in results for w in ws)
    inserts = sum(i for _ws, i in results)
    p50 = statistics.median(windows)
    p99 = windows[min(len(windows) - 1, int(len(windows) * 0.99))]
    return {
        "appends": len(windows),
        "window_p50_ms": round(p50 * 1000, 4),
        "window_p99_ms": round(p99 * 1000, 4),
        "one_chain_max_appends_per_s": round(1 / p50, 1),
        "max_appends_per_s": round((1 if one_chain else CHAINS) / p50, 1),
        "observed_appends_per_s": round(len(windows) / seconds, 1),
        "lost_places_per_append": None if raw else round(inserts / len(windows) - 1, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="appending time per run")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="server URL (a database is made)")
    args = parser.parse_args()
    name = f"cr_bench_audit_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    results: dict[str, object] = {"seconds_per_run": args.seconds}
    try:
        engine = get_engine(url)
        migrate(engine)
        engine.dispose()
        ours, raw, one = {}, {}, {}
        for writers in WRITERS:
            ours[str(writers)] = _run(url, writers, args.seconds, raw=False)
            print(f"ours, {writers} writers: {ours[str(writers)]}", flush=True)
            one[str(writers)] = _run(url, writers, args.seconds, raw=False, one_chain=True)
            print(f"one chain, {writers} writers: {one[str(writers)]}", flush=True)
            raw[str(writers)] = _run(url, writers, args.seconds, raw=True)
            print(f"raw,  {writers} writers: {raw[str(writers)]}", flush=True)
        results["chains"] = CHAINS
        results["ours"] = ours
        results["all_writers_on_one_chain"] = one
        results["raw_statement_commit"] = raw
        results["window_p50_ratio_ours_to_raw"] = {
            w: round(ours[w]["window_p50_ms"] / raw[w]["window_p50_ms"], 2) for w in ours
        }
        results["ceiling_appends_per_s"] = min(o["max_appends_per_s"] for o in ours.values())
        results["one_chain_observed_16_vs_ours_observed_16"] = round(
            one["16"]["observed_appends_per_s"] / ours["16"]["observed_appends_per_s"], 2
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
