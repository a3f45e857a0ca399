"""Benchmark: what counterfactuals add to a declined POST /api/predict.

    .venv/bin/python tests/benchmarks/bench_counterfactuals.py [--calls 300]

The API's harness of bench_api.py (the local cloud over SQLite, the tests' small champion,
the Lambda handler called as API Gateway calls it once the authorizer allowed the token).
The same customers are asked for a loan their profile declines (40,000 over 12 months:
the answer searches for counterfactuals) and for one it approves (1,500 over 36 months:
no search); the ratio of their p50s is what the search costs. One JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench_api import _event, _percentiles, _time_calls

from credit_risk.adapters.observability import logger
from credit_risk.models.registry import Registry
from credit_risk.runtime import get_runtime
from credit_risk_local.cloud import LocalCloud
from fixtures.champion import register_models, trained_models
from fixtures.portfolio import load_portfolio

DECLINED = {"loan_amount": 40_000, "loan_term_months": 12}
APPROVED = {"loan_amount": 1_500, "loan_term_months": 36}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    models = trained_models()
    folder = Path(tempfile.mkdtemp(prefix="bench-cf-"))
    logger.registered_handler.stream = open(os.devnull, "w")  # type: ignore[attr-defined]  # noqa: SIM115
    with LocalCloud(database_url=f"sqlite:///{folder / 'db.sqlite'}", local_dir=folder / "l"):
        rt = get_runtime()
        load_portfolio(models)
        registry = Registry(engine=rt.engine, store=rt.store, bucket=rt.settings.artifacts_bucket)
        register_models(registry, models)
        from app import app

        def ask(customer: str, terms: dict[str, Any]) -> dict[str, Any]:
            body = json.dumps({"customer_id": customer, **terms}).encode()
            answer: dict[str, Any] = json.loads(app(_event(body, "scorer", "bench"), None)["body"])
            return answer

        customers = [str(c) for c in models.data.applications["customer_id"].head(200)]

        def declined_then_approved(customer: str) -> bool:
            large, small = ask(customer, DECLINED), ask(customer, APPROVED)
            return large["decision"] != "approve" and small["decision"] == "approve"

        pairs = [c for c in customers if declined_then_approved(c)][:20]
        if not pairs:
            raise SystemExit("no customer declined for the large loan, approved for the small")
        found = sum(ask(c, DECLINED)["counterfactuals"]["found"] for c in pairs)
        declined = _time_calls(args.calls, lambda i: ask(pairs[i % len(pairs)], DECLINED))
        approved = _time_calls(args.calls, lambda i: ask(pairs[i % len(pairs)], APPROVED))
        searched = ask(pairs[0], DECLINED)["counterfactuals"]["searched"]
    d, a = _percentiles(declined), _percentiles(approved)
    result = {
        "benchmark": "counterfactuals",
        "calls": args.calls,
        "customers": len(pairs),
        "with_an_option": found,
        "candidates_scored_per_decline": searched,
        "declined_with_search": d,
        "approved_no_search": a,
        "ratio_p50_declined_to_approved": round(d["p50_ms"] / a["p50_ms"], 2),
        "ratio_p99_declined_to_approved": round(d["p99_ms"] / a["p99_ms"], 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
