"""Benchmark: POST /api/predict through the Chalice app, beside the raw model predict.

Run directly with the project's environment::

    .venv/bin/python tests/benchmarks/bench_api.py [--calls 5000] [--candidate best]
        [--database-url URL]

The stack is template.yaml on the local cloud (moto) over a fresh SQLite database (or
``--database-url``), with 400 applications in analytics and a small real champion (the
tests' fixture). After a warm-up, ``--calls`` existing-customer requests go through
Chalice's local API Gateway (authorizer included) and, separately, straight into the
Lambda handler (``app(event, context)``, what the function runs once API Gateway has
authorised and cached the token). Every request does the whole job: validation, the
customer's latest row from the database, features, PD, reasons, and the audit row plus
the stored score committed in one transaction. The raw baseline is the champion's own
predict on the same feature rows, one row per call. Logs and metrics are written, to
/dev/null. Progress lines first, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Run as a script: the function's code folder (Lambda's task root), the layer and the
# tests' fixtures on the path, as pytest's pythonpath would put them.
for folder in (ROOT / "functions" / "api", ROOT / "layers" / "core" / "python", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
sys.path.insert(0, str(ROOT / "infra"))

from chalice.test import Client  # noqa: E402

from credit_risk.adapters.observability import logger  # noqa: E402
from credit_risk.data.features import build_feature_row  # noqa: E402
from credit_risk.decisions.serving import ChampionLoader  # noqa: E402
from credit_risk.governance.auth import mint_token  # noqa: E402
from credit_risk.runtime import get_runtime  # noqa: E402
from credit_risk_local.cloud import LocalCloud  # noqa: E402
from fixtures.champion import register_models, trained_models  # noqa: E402
from fixtures.portfolio import load_portfolio  # noqa: E402

WARMUP = 300
CUSTOMERS = 50
TARGET_P99_MS = 10.0


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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print progress and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
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

        def into_handler(i: int) -> None:
            response = app(dict(events[i % CUSTOMERS]), None)
            if response["statusCode"] != 200:
                raise RuntimeError(response["body"])

        print(f"warming up ({WARMUP} calls) ...", flush=True)
        _time_calls(WARMUP, through_gateway)
        _time_calls(WARMUP, into_handler)
        print(f"{args.calls} calls through the local API Gateway ...", flush=True)
        gateway = _time_calls(args.calls, through_gateway)
        print(f"{args.calls} calls into the Lambda handler ...", flush=True)
        handler = _time_calls(args.calls, into_handler)

        # The raw baseline: the champion's predict on the same rows, one row per call.
        loaded = ChampionLoader(registry).get()
        store_rows = []
        from chalicelib.store import CustomerStore
        from credit_risk.data.pseudonymise import pseudonym

        store = CustomerStore(rt.engine, rt.contract)
        for c in customers:
            application = store.latest_application(pseudonym(c, rt.pseudonym_key))
            assert application is not None
            store_rows.append(
                build_feature_row(rt.contract, {**application, "loan_amount": 25_000})
            )
        model = loaded.model
        print(f"{args.calls} raw {model.kind} predictions ...", flush=True)
        _time_calls(WARMUP, lambda i: model.predict([store_rows[i % CUSTOMERS]]))
        raw = _time_calls(args.calls, lambda i: model.predict([store_rows[i % CUSTOMERS]]))
        audited = (
            rt.engine.connect().exec_driver_sql("SELECT COUNT(*) FROM audit.decisions").scalar_one()
        )

    api = _percentiles(gateway)
    direct = _percentiles(handler)
    baseline = _percentiles(raw)
    result = {
        "benchmark": "api_predict",
        "calls": args.calls,
        "champion": {"candidate": champion, "kind": model.kind},
        "database": url.split(":", 1)[0],
        "audit_rows_written": int(audited),
        "through_gateway": api,
        "into_handler": direct,
        "raw_predict": baseline,
        "ratio_p50_gateway_to_raw": round(api["p50_ms"] / baseline["p50_ms"], 1),
        "ratio_p99_gateway_to_raw": round(api["p99_ms"] / baseline["p99_ms"], 1),
        "ratio_p50_handler_to_raw": round(direct["p50_ms"] / baseline["p50_ms"], 1),
        "target_p99_ms": TARGET_P99_MS,
        "p99_under_target": api["p99_ms"] < TARGET_P99_MS,
    }
    print(
        f"gateway p50 {api['p50_ms']:.2f} ms p99 {api['p99_ms']:.2f} ms; handler p50 "
        f"{direct['p50_ms']:.2f} ms p99 {direct['p99_ms']:.2f} ms; raw predict p50 "
        f"{baseline['p50_ms']:.3f} ms",
        flush=True,
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
