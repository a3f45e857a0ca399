"""Benchmark: POST /api/predict through the Chalice app, against its floor.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_api.py [--calls 5000] [--candidate best]
        [--database-url URL] [--served-calls 1000]

The stack is template.yaml on the local cloud (moto) over a fresh SQLite database (or
``--database-url``), with 400 applications in analytics and a small real champion (the
tests' fixture). After a warm-up, ``--calls`` existing-customer requests go through
Chalice's local API Gateway (authorizer included), straight into the Lambda handler
(``app(event, context)``, what the function runs once API Gateway has authorised and
cached the token), and over HTTP to the API served as ``./run up`` serves it (the local
gateway's HTTP server on 127.0.0.1, one kept-alive connection, ``--served-calls``
sequential requests). Every request does the whole job: validation, the customer's latest
row from the database, features, PD, reasons (and, for a decision other than approve, the
counterfactual search), and the audit row plus the stored score committed in one
transaction.

The floor is what no implementation of that request can skip, written with the database
driver alone (sqlite3 or pg8000 cursors; no SQLAlchemy, no service code): the same
indexed read of the customer's latest row, the champion's raw library call with
contributions on that customer's (pre-encoded) row (xgboost ``inplace_predict`` and
``pred_contribs`` as the champion calls them, or the linear model's numpy products), and
the same two-row insert (a score row and an audit row, copies of rows the API wrote)
committed. Handler and floor run in alternating blocks, so a load change on the machine
falls on both; ``handler_p50_vs_floor`` and ``handler_p99_vs_floor`` are their ratios.
The raw predict alone (the champion's ``predict`` on the same feature rows) is kept too.

Shadow: every figure above is taken with the shadow challenger off. A third block in each
round runs the handler with it on (``auto``: the registered candidate that was not
promoted scores each request too, and its row joins the same transaction), toggled in the
same process; ``shadow_p50_vs_off`` and ``shadow_p99_vs_off`` compare it with the
shadow-off handler blocks.
Logs and metrics are written, to /dev/null. Progress lines first, then one JSON object
on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# Run as a script: the function's code folder (Lambda's task root), the layer and the
# tests' fixtures on the path, as pytest's pythonpath would put them.
for folder in (ROOT / "functions" / "api", ROOT / "layers" / "core" / "python", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
sys.path.insert(0, str(ROOT / "infra"))

from chalice.test import Client  # noqa: E402

from credit_risk.adapters.observability import logger  # noqa: E402
from credit_risk.contract import Contract  # noqa: E402
from credit_risk.data.features import build_feature_row  # noqa: E402
from credit_risk.decisions.serving import ChampionLoader  # noqa: E402
from credit_risk.governance.auth import mint_token  # noqa: E402
from credit_risk.models.lean import LeanModel  # noqa: E402
from credit_risk.runtime import get_runtime  # noqa: E402
from credit_risk_local.cloud import LocalCloud  # noqa: E402
from fixtures.champion import register_models, trained_models  # noqa: E402
from fixtures.portfolio import load_portfolio  # noqa: E402

WARMUP = 300
CUSTOMERS = 50
TARGET_P99_MS = 10.0
BLOCKS = 10  # handler and floor alternate this many times
SCHEMAS = ("staging", "analytics", "ml", "audit")


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 4),
        "p90_ms": round(at(0.90), 4),
        "p99_ms": round(at(0.99), 4),
        "max_ms": round(ordered[-1] * 1000, 4),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 4),
    }


def _time_calls(n: int, call: Callable[[int], Any]) -> list[float]:
    times = []
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for i in range(n):
            started = time.perf_counter()
            call(i)
            times.append(time.perf_counter() - started)
    return times


def _event(body: bytes, token_role: str, subject: str) -> dict[str, Any]:
    """The event API Gateway hands the function once the authorizer has allowed it."""
    return {
        "resource": "/api/predict",
        "path": "/api/predict",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/api/predict",
            "httpMethod": "POST",
            "requestId": "bench",
            "authorizer": {"role": token_role, "principalId": subject, "expires_at": ""},
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _raw_predictor(model: LeanModel) -> Callable[[np.ndarray], tuple[Any, Any]]:
    """The champion's raw library call with contributions on an encoded row: xgboost's
    ``inplace_predict`` (margin) and ``pred_contribs`` (TreeSHAP) with one thread, or the
    linear model's numpy products (margin, coefficient times value minus mean)."""
    if model.kind == "linear":
        coef = np.asarray(model.coef, dtype=np.float64)
        means = np.asarray(model.column_means, dtype=np.float64)
        intercept = float(model.intercept)

        def linear(design: np.ndarray) -> tuple[Any, Any]:
            return design @ coef + intercept, (design - means) * coef

        return linear
    import xgboost as xgb

    assert model.booster_raw is not None
    booster = xgb.Booster(model_file=bytearray(model.booster_raw))
    booster.set_param({"nthread": 1})

    def trees(design: np.ndarray) -> tuple[Any, Any]:
        margin = booster.inplace_predict(design, predict_type="margin")
        return margin, booster.predict(xgb.DMatrix(design, nthread=1), pred_contribs=True)

    return trees


class DriverFloor:
    """The request's floor through the database driver alone (sqlite3 or pg8000): the
    customer's latest row by the indexed key, the raw model call, and a score row and an
    audit row inserted and committed in one transaction."""

    def __init__(
        self,
        url: str,
        contract: Contract,
        keys: Sequence[str],
        designs: Sequence[np.ndarray],
        predict: Callable[[np.ndarray], tuple[Any, Any]],
    ) -> None:
        self.keys, self.designs, self.predict = list(keys), list(designs), predict
        self.sqlite = url.startswith("sqlite")
        self.conn = self._connect(url)
        mark = "?" if self.sqlite else "%s"
        derived = set(contract.derived)
        columns = [c for c in contract.features + contract.input_columns if c not in derived]
        self.read_sql = (
            f"SELECT event_date, {', '.join(_quoted(c) for c in columns)} "
            "FROM analytics.application_features WHERE customer_key = "
            f"{mark} ORDER BY event_date DESC, application_id DESC LIMIT 1"
        )
        cur = self.conn.cursor()
        # Copies of a score row and an audit row the API wrote (the same sizes and types).
        cur.execute("SELECT * FROM ml.scores WHERE source = 'api' LIMIT 1")
        self.score_row = list(cur.fetchone())
        score_columns = [d[0] for d in cur.description]
        cur.execute("SELECT * FROM audit.decisions ORDER BY seq DESC LIMIT 1")
        self.audit_row = list(cur.fetchone())
        audit_columns = [d[0] for d in cur.description]
        self.seq_at = audit_columns.index("seq")
        # The floor appends to a chain of its own (the API's writer chains are unique on
        # chain and position), one position per request, as a writer of its own would.
        self.chain_at = audit_columns.index("chain_id")
        self.chain_seq_at = audit_columns.index("chain_seq")
        self.audit_row[self.chain_at] = "bench-floor"
        self.chain_seq = 0
        self.score_sql, self.audit_sql = (
            f"INSERT INTO {table} ({', '.join(_quoted(c) for c in names)}) "
            f"VALUES ({', '.join([mark] * len(names))})"
            for table, names in (("ml.scores", score_columns), ("audit.decisions", audit_columns))
        )
        if not self.sqlite:  # Postgres numbers audit rows from a sequence, as the API does
            marks = [mark] * len(audit_columns)
            marks[self.seq_at] = "nextval('audit.decisions_seq')"
            self.audit_sql = (
                f"INSERT INTO audit.decisions ({', '.join(_quoted(c) for c in audit_columns)}) "
                f"VALUES ({', '.join(marks)})"
            )
            del self.audit_row[self.seq_at]
            if self.chain_seq_at > self.seq_at:
                self.chain_seq_at -= 1
        self._end(cur)
        self.sync()

    def _connect(self, url: str) -> Any:
        parts = urlsplit(url)
        if self.sqlite:
            main = Path(unquote(url.split(":///", 1)[1]))
            conn = sqlite3.connect(main, timeout=30, isolation_level=None)
            for schema in SCHEMAS:
                path = main.with_name(f"{main.stem}.{schema}.db")
                conn.execute(f"ATTACH DATABASE ? AS {schema}", (str(path),))
            return conn
        import pg8000.dbapi

        return pg8000.dbapi.connect(
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            database=parts.path.lstrip("/"),
        )

    def _end(self, cur: Any) -> None:
        cur.close()
        if not self.sqlite:
            self.conn.commit()

    def sync(self) -> None:
        """Continue the audit sequence after the rows the API has written since."""
        cur = self.conn.cursor()
        cur.execute("SELECT MAX(seq) FROM audit.decisions")
        self.seq = int(cur.fetchone()[0])
        self._end(cur)

    def __call__(self, i: int) -> None:
        n = i % len(self.keys)
        cur = self.conn.cursor()
        cur.execute(self.read_sql, (self.keys[n],))
        if cur.fetchone() is None:
            raise RuntimeError("the floor's read found no row")
        self.predict(self.designs[n])
        if self.sqlite:
            self.seq += 1
            self.audit_row[self.seq_at] = self.seq
        self.chain_seq += 1
        self.audit_row[self.chain_seq_at] = self.chain_seq
        if self.sqlite:
            cur.execute("BEGIN")
        cur.execute(self.score_sql, self.score_row)
        cur.execute(self.audit_sql, self.audit_row)
        if self.sqlite:
            cur.execute("COMMIT")
        else:
            self.conn.commit()
        cur.close()

    def close(self) -> None:
        self.conn.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _serve(app: Any) -> tuple[Any, int]:
    """The API served over HTTP on 127.0.0.1 as ``./run up`` serves it; (server, port)."""
    from chalice.config import Config

    from credit_risk_local.gateway import create_server

    server = create_server(app, Config.create(), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server.server_address[1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--served-calls", type=int, default=1000)
    parser.add_argument("--candidate", default="best", help="logistic_regression, xgboost or best")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)

    print("training the fixture's small champion ...", flush=True)
    models = trained_models()
    champion = models.best if args.candidate == "best" else args.candidate
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    url = args.database_url or f"sqlite:///{folder / 'credit_risk.db'}"
    sink = open(os.devnull, "w")  # noqa: SIM115  (logs go nowhere for the whole run)
    logger.registered_handler.stream = sink  # type: ignore[attr-defined]

    with LocalCloud(database_url=url, local_dir=folder / "local"):
        rt = get_runtime()
        load_portfolio(models)
        from credit_risk.models.registry import Registry

        registry = Registry(engine=rt.engine, store=rt.store, bucket=rt.settings.artifacts_bucket)
        register_models(registry, models, champion=champion)
        from app import app

        shadow = rt.challenger_loader

        def shadowing(setting: str) -> None:
            # As SHADOW_CHALLENGER would set it, in this process. The choice is not re-read
            # at each switch: a container re-reads it every 30 s, as it does the champion's,
            # and a forced read per block would put ten registry reads in the shadow's tail.
            shadow.setting = setting

        shadowing("off")

        token = mint_token(rt.api_token_key, "bench@lender", "scorer")
        client = Client(app, project_dir=str(ROOT / "functions" / "api"))
        customers = [str(c) for c in models.data.applications["customer_id"].head(CUSTOMERS)]
        bodies = [json.dumps({"customer_id": c, "loan_amount": 25_000}).encode() for c in customers]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

        def through_gateway(i: int) -> None:
            response = client.http.post("/api/predict", headers=headers, body=bodies[i % CUSTOMERS])
            if response.status_code != 200:
                raise RuntimeError(response.body)

        events = [_event(b, "scorer", "bench@lender") for b in bodies]
        decided: dict[str, int] = {}

        def into_handler(i: int) -> None:
            response = app(dict(events[i % CUSTOMERS]), None)
            if response["statusCode"] != 200:
                raise RuntimeError(response["body"])
            if i < CUSTOMERS:
                decision = json.loads(response["body"])["decision"]
                decided[decision] = decided.get(decision, 0) + 1

        print(f"warming up ({WARMUP} calls) ...", flush=True)
        _time_calls(WARMUP, through_gateway)
        _time_calls(WARMUP, into_handler)
        print(f"{args.calls} calls through the local API Gateway ...", flush=True)
        gateway = _time_calls(args.calls, through_gateway)

        # The floor's inputs, prepared outside the timing: each customer's key and row.
        loaded = ChampionLoader(registry).get()
        model = loaded.model
        from chalicelib.store import CustomerStore
        from credit_risk.data.pseudonymise import pseudonym

        store = CustomerStore(rt.engine, rt.contract)
        keys, store_rows = [], []
        for c in customers:
            keys.append(pseudonym(c, rt.pseudonym_key))
            application = store.latest_application(keys[-1])
            assert application is not None
            store_rows.append(
                build_feature_row(rt.contract, {**application, "loan_amount": 25_000})
            )
        designs = [model.encode([row]) for row in store_rows]
        floor = DriverFloor(url, rt.contract, keys, designs, _raw_predictor(model))
        _time_calls(WARMUP, floor)

        print(
            f"{args.calls} calls into the Lambda handler and {args.calls} through the floor, "
            f"in {BLOCKS} alternating blocks ...",
            flush=True,
        )
        handler: list[float] = []
        floored: list[float] = []
        shadowed: list[float] = []
        block = max(1, args.calls // BLOCKS)
        shadowing("auto")
        _time_calls(WARMUP, into_handler)  # the challenger loaded, as on a warm container
        challenger = shadow.get(rt.champion_loader.get())
        shadowing("off")
        for b in range(BLOCKS):
            start = CUSTOMERS + b * block

            def handler_block(i: int, start: int = start) -> None:
                into_handler(start + i)

            handler += _time_calls(block, handler_block)
            floor.sync()
            floored += _time_calls(block, floor)
            shadowing("auto")
            shadowed += _time_calls(block, handler_block)
            shadowing("off")
        floor.close()
        with rt.engine.connect() as conn:
            shadow_rows = conn.exec_driver_sql("SELECT COUNT(*) FROM ml.shadow_scores").scalar_one()

        print(f"{args.calls} raw {model.kind} predictions ...", flush=True)
        _time_calls(WARMUP, lambda i: model.predict([store_rows[i % CUSTOMERS]]))
        raw = _time_calls(args.calls, lambda i: model.predict([store_rows[i % CUSTOMERS]]))

        print(f"{args.served_calls} requests to the served API over HTTP ...", flush=True)
        server, port = _serve(app)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def over_http(i: int) -> None:
            connection.request("POST", "/api/predict", body=bodies[i % CUSTOMERS], headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(body)

        _time_calls(WARMUP, over_http)
        served = _time_calls(args.served_calls, over_http)
        connection.close()
        server.shutdown()
        with rt.engine.connect() as conn:
            audited = conn.exec_driver_sql("SELECT COUNT(*) FROM audit.decisions").scalar_one()

    api = _percentiles(gateway)
    direct = _percentiles(handler)
    bare = _percentiles(floored)
    with_shadow = _percentiles(shadowed)
    baseline = _percentiles(raw)
    http_api = _percentiles(served)
    result = {
        "benchmark": "api_predict",
        "calls": args.calls,
        "champion": {"candidate": champion, "kind": model.kind},
        "database": url.split(":", 1)[0],
        "decisions_of_the_customers": decided,
        "audit_rows_written": int(audited),
        "through_gateway": api,
        "into_handler": direct,
        "floor": bare,
        "raw_predict": baseline,
        "served_api": {"requests": args.served_calls, **http_api},
        "into_handler_shadow_on": with_shadow,
        "shadow_challenger": None
        if challenger is None
        else {"candidate": challenger.version.candidate, "kind": challenger.model.kind},
        "shadow_rows_written": int(shadow_rows),
        "shadow_p50_vs_off": round(with_shadow["p50_ms"] / direct["p50_ms"], 3),
        "shadow_p99_vs_off": round(with_shadow["p99_ms"] / direct["p99_ms"], 3),
        "ratio_p50_gateway_to_raw": round(api["p50_ms"] / baseline["p50_ms"], 1),
        "ratio_p99_gateway_to_raw": round(api["p99_ms"] / baseline["p99_ms"], 1),
        "ratio_p50_handler_to_raw": round(direct["p50_ms"] / baseline["p50_ms"], 1),
        "handler_p50_vs_floor": round(direct["p50_ms"] / bare["p50_ms"], 2),
        "handler_p99_vs_floor": round(direct["p99_ms"] / bare["p99_ms"], 2),
        "served_p50_ms": http_api["p50_ms"],
        "served_p99_ms": http_api["p99_ms"],
        "target_p99_ms": TARGET_P99_MS,
        "p99_under_target": api["p99_ms"] < TARGET_P99_MS,
    }
    print(
        f"handler p50 {direct['p50_ms']:.2f} ms p99 {direct['p99_ms']:.2f} ms; floor p50 "
        f"{bare['p50_ms']:.2f} ms p99 {bare['p99_ms']:.2f} ms (x{result['handler_p50_vs_floor']}"
        f", x{result['handler_p99_vs_floor']}); gateway p50 {api['p50_ms']:.2f} ms; served "
        f"p50 {http_api['p50_ms']:.2f} ms p99 {http_api['p99_ms']:.2f} ms; raw predict p50 "
        f"{baseline['p50_ms']:.3f} ms; shadow on p50 {with_shadow['p50_ms']:.2f} ms p99 "
        f"{with_shadow['p99_ms']:.2f} ms (x{result['shadow_p50_vs_off']}, "
        f"x{result['shadow_p99_vs_off']} of off)",
        flush=True,
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
