"""credit-risk: the command line for the local stack, for ops and for the credit team.

credit-risk demo                      the whole flow, in one process, embedded defaults
credit-risk up                        serve the local cloud (and the API) for other commands
credit-risk generate / upload / train-now / executions / execution / fire-schedule
credit-risk rescore [--prefix s3://...] / redrive NAME   re-score the book; redrive a failed run
credit-risk train                     train and compare candidates on any CSV + contract
credit-risk quality-report BATCH      a batch's data-quality report
credit-risk policy simulate FILE [--report R.html] / promote FILE / show   decision policies
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

LOCAL_DIR = Path(os.environ.get("CREDIT_RISK_LOCAL_DIR", ".local"))
CLOUD_FILE = "cloud.json"


class Console:
    """Progress output: numbered steps with their durations."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._step = 0

    def step(self, text: str) -> None:
        self._step += 1
        print(f"\n[{self._step}] {text}", flush=True)

    def info(self, text: str) -> None:
        print(f"    {text}", flush=True)

    def block(self, text: str) -> None:
        for line in text.splitlines():
            print(f"    {line}", flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


# --------------------------------------------------------------------------- helpers


def _csv_bytes(frame: Any) -> bytes:
    import io

    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, date_format="%Y-%m-%d")
    return buffer.getvalue().encode()


def watch_execution(
    cloud: Any, arn: str, console: Console, *, live: bool = True, timeout: float = 1800
) -> dict[str, Any]:
    """Wait for an execution (printing each state as it is entered when ``live``), then
    show it state by state."""
    from credit_risk_local.ops import format_execution

    sfn = cloud.client("stepfunctions")
    seen = 0
    deadline = time.monotonic() + timeout
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = [e for e in events if "stateEnteredEventDetails" in e]
        for event in entered[seen:] if live else []:
            console.info(f"  → {event['stateEnteredEventDetails']['name']}")
        seen = len(entered)
        if desc["status"] != "RUNNING":
            console.block(format_execution(desc, events))
            return dict(desc)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} still running after {timeout:.0f} s")
        time.sleep(0.5)


def _newest_execution_arn(cloud: Any, machine: str, before: set[str]) -> str:
    for _ in range(200):
        for execution in cloud.executions(machine):
            if execution["executionArn"] not in before:
                return str(execution["executionArn"])
        time.sleep(0.05)
    raise RuntimeError(f"no new {machine} execution started")


def upload_and_watch(cloud: Any, key: str, body: bytes, console: Console) -> dict[str, Any]:
    """Upload to the raw bucket and follow the pipeline execution it starts."""
    before = {e["executionArn"] for e in cloud.executions("PipelineStateMachine")}
    cloud.upload(key, body)
    arn = _newest_execution_arn(cloud, "PipelineStateMachine", before)
    return watch_execution(cloud, arn, console, live=False)


def _quiet_lambda_output() -> None:
    """Keep the functions' JSON logs and metrics off a demo's console (warnings stay)."""
    import warnings

    from credit_risk.adapters.observability import logger

    logger.setLevel("WARNING")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def _remote() -> Any:
    from credit_risk_local.cloud import RemoteCloud

    return RemoteCloud.load(LOCAL_DIR / CLOUD_FILE)


# --------------------------------------------------------------------------- commands


def cmd_generate(args: argparse.Namespace) -> int:
    from credit_risk.data.generator import generate, write_dataset

    started = time.monotonic()
    data = generate(args.rows, seed=args.seed)
    paths = write_dataset(data, Path(args.out), fmt=args.format)
    print(f"generated {args.rows:,} applications in {time.monotonic() - started:.1f} s")
    for name, path in paths.items():
        print(f"  {name:13s} {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from credit_risk.data.generator import generate
    from credit_risk.db.engine import sqlite_url
    from credit_risk_local.cloud import LocalCloud

    console = Console()
    if not args.verbose:
        _quiet_lambda_output()
    local_dir = LOCAL_DIR / "demo"
    if local_dir.exists() and not args.keep:
        shutil.rmtree(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or sqlite_url(local_dir)
    shown_db = database_url if database_url.startswith("sqlite") else "Postgres"

    console.step(f"Generating {args.rows:,} synthetic loan applications (seed {args.seed})")
    data = generate(args.rows, seed=args.seed)
    apps, outcomes = data.applications, data.outcomes
    dates = apps["application_date"]
    cutoff = dates.quantile(0.85)
    history = apps[dates < cutoff]
    recent = apps[dates >= cutoff]
    history_outcomes = outcomes[outcomes["application_id"].isin(history["application_id"])]
    console.info(
        f"{len(history):,} past applications with outcomes, {len(recent):,} new applications "
        f"from {cutoff:%Y-%m-%d}; default rate {outcomes['defaulted'].mean():.1%}"
    )
    console.info(f"database: {shown_db}")

    with LocalCloud(database_url=database_url, local_dir=local_dir) as cloud:
        console.info(
            f"local cloud up from template.yaml: {len(cloud.stack.functions)} functions, "
            f"{len(cloud.stack.state_machines)} state machines, buckets "
            f"{', '.join(cloud.stack.buckets.values())}"
        )
        console.step("Uploading applications/history.csv → ingest → pipeline")
        upload_and_watch(cloud, "applications/history.csv", _csv_bytes(history), console)
        console.step("Uploading outcomes/history.csv → ingest → pipeline (labels)")
        upload_and_watch(cloud, "outcomes/history.csv", _csv_bytes(history_outcomes), console)

        console.step("Training: the training state machine (as the EventBridge schedule starts it)")
        run = watch_execution(cloud, cloud.start_training({"trigger": "demo"}), console)
        if run["status"] != "SUCCEEDED":
            console.info("training failed; see the execution above")
            return 1
        output = json.loads(run["output"])
        evaluation = output["evaluation"]
        oracle, rows = _holdout_oracle_auc(cloud, output["snapshot"], data.true_pd)
        console.info(
            f"champion: {evaluation['candidate']} {evaluation['version']} — holdout AUC "
            f"{evaluation['candidate_auc']:.4f}; the true PDs rank the same {rows:,} holdout "
            f"loans at {oracle:.4f} (ratio {evaluation['candidate_auc'] / oracle:.3f})"
        )
        for line in evaluation.get("selection") or []:
            console.info(f"selection: {line}")
        console.info(f"promoted: {evaluation['reason']}")
        _demo_rescore(cloud, console)

        console.step("Uploading applications/new.csv → pipeline scores them with the champion")
        scored = upload_and_watch(cloud, "applications/new.csv", _csv_bytes(recent), console)
        scoring = json.loads(scored["output"]).get("scoring", {})
        console.info(
            f"scored {scoring.get('scored', 0):,} applications: {scoring.get('decisions')}"
        )

        console.step("Portfolio monitoring (ran after scoring, as the pipeline does)")
        _demo_dashboard(cloud, console, local_dir)

        console.step("Scoring customer 123 through the API (POST /api/predict, as the README)")
        _demo_api_call(cloud, console, SEED_EXAMPLE)

    console.step(f"Done in {console.elapsed():.0f} s. Where to look next:")
    console.block(
        f"database          {shown_db}\n"
        f"dashboard         file://{(local_dir / 'dashboard.html').resolve()}\n"
        "executions        ./run up   then   ./run executions   /   ./run execution NAME\n"
        "train your data   ./run train --applications A.csv --outcomes O.csv --contract C.yaml\n"
        "the API           ./run up   (serves http://127.0.0.1:8000/api/...)\n"
        "tests             ./run tests"
    )
    return 0


def _demo_rescore(cloud: Any, console: Console) -> None:
    """The re-score the promotion started (the training machine's last step)."""
    runs = cloud.executions("RescoreStateMachine")
    if not runs:
        return
    done = cloud.wait_for_execution(runs[0]["executionArn"])
    if done["status"] != "SUCCEEDED":
        console.info(f"re-score {done['name']} {done['status']}: {done.get('error')}")
        return
    out = json.loads(done["output"])
    console.info(
        f"re-scored the book with it: {out['rows_scored']:,} of {out['rows_in']:,} loans in "
        f"{out['chunks']} chunks (Distributed Map), {out['rows_refused']:,} refused"
    )


def _holdout_oracle_auc(cloud: Any, snapshot: dict[str, Any], true_pd: Any) -> tuple[float, int]:
    """The oracle AUC (the generator's true PDs) on the run's own holdout rows."""
    import io

    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from credit_risk.adapters.aws import parse_s3_uri
    from credit_risk.models.training.config import load_training_config
    from credit_risk.models.training.trainer import split_holdout

    bucket, key = parse_s3_uri(snapshot["snapshot_uri"])
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    frame = pd.read_parquet(io.BytesIO(body))
    config = load_training_config(os.environ.get("TRAINING_CONFIG_PATH"))
    split = split_holdout(
        frame["target"].to_numpy(), frame["event_date"], fraction=config.holdout_fraction
    )
    holdout = frame.iloc[split.holdout]
    truth = true_pd.set_index("application_id")["true_pd"]
    score = truth.loc[holdout["application_id"]].to_numpy()
    return float(roc_auc_score(holdout["target"], score)), len(holdout)


def _demo_dashboard(cloud: Any, console: Console, local_dir: Path) -> None:
    """Print the monitoring table and save the dashboard the monitor wrote to S3."""
    from botocore.exceptions import ClientError

    from credit_risk.monitoring.figures import monitoring_table
    from credit_risk.runtime import get_runtime

    latest = get_runtime().monitor().latest()
    if latest is not None:
        table = monitoring_table(latest.snapshot)
        console.block("\n".join(table.splitlines()[:34]))
    try:
        body = (
            cloud.client("s3")
            .get_object(Bucket=cloud.artifacts_bucket, Key="dashboards/latest.html")["Body"]
            .read()
        )
    except ClientError:
        console.info("no dashboard was written")
        return
    path = (local_dir / "dashboard.html").resolve()
    path.write_bytes(body)
    console.info(f"dashboard: file://{path}  (also s3://{cloud.artifacts_bucket}/dashboards/)")


SEED_EXAMPLE: dict[str, Any] = {"customer_id": 123, "loan_amount": 50000}
"""The README's (and the seed document's) example request; the demo's data holds 123."""


def _demo_api_call(cloud: Any, console: Console, body: dict[str, Any]) -> None:
    """Call the real Chalice app in-process, as API Gateway would."""
    try:
        app = cloud.dispatcher.handler_for("ApiFunction")
        from chalice.test import Client

        from credit_risk_local.tokens import demo_token
    except (ImportError, AttributeError) as exc:
        console.info(f"API not available yet: {exc}")
        return
    token = demo_token(cloud, role="scorer")
    with Client(app) as client:
        response = client.http.post(
            "/api/predict",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            body=json.dumps(body),
        )
    console.info(f"POST /api/predict {json.dumps(body)} → {response.status_code}")
    console.block(json.dumps(json.loads(response.body or b"{}"), indent=2))


def cmd_up(args: argparse.Namespace) -> int:
    from credit_risk.db.engine import sqlite_url
    from credit_risk_local.cloud import LocalCloud

    taken = [
        f"{flag} {port}"
        for flag, port in (("--port", args.port), ("--api-port", args.api_port))
        if not _port_free(port)
    ]
    if taken:
        print(
            f"error: port {' and '.join(taken)} already in use (another ./run up?); stop it, "
            "or choose free ones: ./run up --port N --api-port M",
            file=sys.stderr,
        )
        return 2
    local_dir = LOCAL_DIR / "stack"
    database_url = args.database_url or sqlite_url(local_dir)
    cloud = LocalCloud(database_url=database_url, local_dir=local_dir, server_port=args.port)
    cloud.start()
    description = cloud.describe()
    server = _start_api_server(cloud, args.api_port)
    description["api_url"] = f"http://127.0.0.1:{args.api_port}" if server else None
    description["pid"] = os.getpid()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    path = LOCAL_DIR / CLOUD_FILE
    path.write_text(json.dumps(description, indent=2))
    print(f"local cloud serving on {cloud.endpoint_url} (described in {path})")
    if server:
        print(f"API on http://127.0.0.1:{args.api_port}/api/health")
    print("Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        path.unlink(missing_ok=True)
        cloud.stop()
    return 0


def _port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_api_server(cloud: Any, port: int) -> Any:
    import threading

    try:
        app = cloud.dispatcher.handler_for("ApiFunction")
        from chalice.config import Config

        from credit_risk_local.gateway import create_server
    except (ImportError, AttributeError):
        return None
    server = create_server(app, Config.create(), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def cmd_upload(args: argparse.Namespace) -> int:
    cloud = _remote()
    path = Path(args.file)
    key = f"{args.dataset}/{path.name}"
    console = Console()
    console.step(f"Uploading {path} to s3://{cloud.raw_bucket}/{key}")
    desc = upload_and_watch(cloud, key, path.read_bytes(), console)
    name = str(desc["executionArn"]).rsplit(":", 1)[-1]
    console.info(
        f"batch {name} (pipeline execution {name}): ./run quality-report {name}, "
        f"./run execution {name}"
    )
    return 0 if desc["status"] == "SUCCEEDED" else 1


def cmd_executions(args: argparse.Namespace) -> int:
    from credit_risk_local.ops import format_executions

    cloud = _remote()
    print(format_executions(cloud.executions(_machine(args.machine))))
    return 0


def failed_map_items(machine: str, description: dict[str, Any]) -> list[dict[str, Any]]:
    """The failed items of an execution's Distributed Map, with error and cause, from the
    records its items leave in S3 (moto keeps no child executions, and its ResultWriter
    writes no FAILED file; on AWS the ResultWriter's FAILED_n.json holds the same)."""
    if machine != "RescoreStateMachine":
        return []
    from credit_risk.decisions.rescore import chunk_results
    from credit_risk.errors import NotFoundError
    from credit_risk.runtime import get_runtime

    run_id = json.loads(description.get("input") or "{}").get("redrive_of") or description["name"]
    runtime = get_runtime()
    try:
        results = chunk_results(runtime.store, runtime.settings.artifacts_bucket, run_id)
    except NotFoundError:
        return []
    return [
        {"item": chunk, "error": r.get("error", ""), "cause": r.get("cause", "")}
        for chunk, r in sorted(results.items())
        if r["status"] != "succeeded"
    ]


def map_run_report(cloud: Any, machine: str, arn: str) -> str:
    """An execution's Distributed Map runs and their failed items ("" when it has none)."""
    from credit_risk_local.ops import format_map_runs

    sfn = cloud.client("stepfunctions")
    runs = [
        sfn.describe_map_run(mapRunArn=r["mapRunArn"])
        for r in sfn.list_map_runs(executionArn=arn)["mapRuns"]
    ]
    if not runs:
        return ""
    description = sfn.describe_execution(executionArn=arn)
    return format_map_runs(runs, failed_map_items(machine, description))


def show_execution(cloud: Any, machine: str, arn: str) -> str:
    """One execution state by state, with its Map runs and their failed items."""
    from credit_risk_local.ops import format_execution

    sfn = cloud.client("stepfunctions")
    description = sfn.describe_execution(executionArn=arn)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    maps = map_run_report(cloud, machine, arn)
    return format_execution(description, events) + ("\n" + maps if maps else "")


def cmd_execution(args: argparse.Namespace) -> int:
    cloud, _ = _remote_runtime()
    found = cloud.find_execution(args.name)
    if found is None:
        print(f"no execution named {args.name}; see `credit-risk executions`", file=sys.stderr)
        return 2
    machine, execution = found
    print(show_execution(cloud, machine, execution["executionArn"]))
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    cloud, _ = _remote_runtime()
    request: dict[str, Any] = {"trigger": "manual"}
    if args.prefix:
        request["prefix"] = args.prefix
    if args.model_version:
        request["model_version"] = args.model_version
    if args.chunk_rows:
        request["chunk_rows"] = args.chunk_rows
    console = Console()
    console.step(f"Re-scoring {args.prefix or 'the whole book (analytics)'}")
    arn = cloud.start_rescore(request)
    return _follow_rescore(cloud, arn, console)


def _follow_rescore(cloud: Any, arn: str, console: Console) -> int:
    desc = watch_execution(cloud, arn, console)
    console.block(map_run_report(cloud, "RescoreStateMachine", arn))
    if desc["status"] == "SUCCEEDED":
        out = json.loads(desc["output"])
        console.info(
            f"{out['rows_in']:,} loans in {out['chunks']} chunks: {out['rows_scored']:,} scored, "
            f"{out['rows_refused']:,} refused, {out['rows_unscored']:,} in failed chunks"
        )
        for reason, count in out["refused_reasons"].items():
            console.info(f"  refused {count:,}: {reason}")
        console.info(f"report: {out['report_uri']}")
        return 0
    console.info(f"redrive what failed with: ./run redrive {desc['name']}")
    return 1


def cmd_redrive(args: argparse.Namespace) -> int:
    cloud, _ = _remote_runtime()
    console = Console()
    console.step(
        f"Redriving {args.name} the local way: a new execution runs only the chunks "
        "without a result (moto has no RedriveExecution; on AWS: aws stepfunctions "
        "redrive-execution, or python -m credit_risk redrive)"
    )
    return _follow_rescore(cloud, cloud.redrive(args.name), console)


def cmd_dlq(args: argparse.Namespace) -> int:
    """List or replay the ingest events that failed after Lambda's retries."""
    cloud = _remote()
    console = Console()
    if args.action == "list":
        letters = cloud.dead_letters()
        console.step(f"{len(letters)} failed ingest event(s) in the dead-letter queue")
        for letter in letters:
            console.info(
                f"{letter['message_id']}  {', '.join(letter['objects']) or '(no object)'}  "
                f"{letter['error_type']} after {letter['attempts']} attempt(s) "
                f"at {letter['failed_at']}"
            )
        return 0
    results = cloud.replay_dead_letters(args.message_id)
    if args.message_id and not results:
        console.info(f"no dead letter {args.message_id} (./run dlq list shows them)")
        return 1
    for result in results:
        state = "replayed, removed from the queue" if result["replayed"] else "failed again, kept"
        console.info(f"{result['message_id']}  {', '.join(result['objects'])}: {state}")
    return 0 if all(r["replayed"] for r in results) else 1


def cmd_contract(args: argparse.Namespace) -> int:
    """Draft a contract from files, or check files against one, before any load."""
    from credit_risk.contract import load_contract
    from credit_risk.data.reading import read_raw
    from credit_risk_local.contracts import check, draft, prepared

    if args.action == "draft":
        frames = [read_raw(Path(f).read_bytes(), Path(f).name) for f in args.files]
        name = args.name or Path(args.files[0]).stem.replace("_", "-")
        try:
            text = draft(frames, name=name, target=args.target, positive=args.positive)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.prepared:
            if len(frames) != 1:
                print(
                    "error: --prepared takes one file (applications and outcomes)", file=sys.stderr
                )
                return 2
            ready = prepared(frames[0], text, args.as_of or date.today().isoformat())
            if ready is None:
                print(f"{args.files[0]} has an id and a date already: nothing to prepare")
            else:
                ready.to_csv(args.prepared, index=False)
                added = [c for c in ready.columns if c not in frames[0].columns]
                print(f"wrote {args.prepared}: {args.files[0]} with {', '.join(added)} added")
        if args.out:
            Path(args.out).write_text(text)
            print(f"wrote {args.out}: check each DECIDE, then ./run contract check {args.out} FILE")
        else:
            print(text, end="")
        return 0
    contract_path, *files = args.files
    if not files:
        print("error: contract check takes the contract and at least one file", file=sys.stderr)
        return 2
    report, trainable = check(load_contract(contract_path), [Path(f) for f in files])
    print(report)
    return 0 if trainable else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring a database to this code's schema (what the deploy's DatabaseSchema does)."""
    from credit_risk.contract import load_contract
    from credit_risk.db.engine import get_engine, sqlite_url
    from credit_risk.db.migrations import ensure_contract_tables, head_version, migrate

    engine = get_engine(args.database_url or sqlite_url(LOCAL_DIR))
    applied = migrate(engine)
    ensure_contract_tables(engine, load_contract(os.environ.get("CONTRACT_PATH")))
    done = f"applied {applied}" if applied else "nothing to apply"
    Console().info(f"schema at version {head_version()} ({done})")
    return 0


def cmd_fire_schedule(args: argparse.Namespace) -> int:
    cloud = _remote()
    console = Console()
    console.step(f"Firing schedule {args.name or 'the retraining schedule'} now")
    arn = cloud.fire_schedule(args.name)
    if ":lambda:" in arn:
        console.info(f"invoked {arn}")
        return 0
    desc = watch_execution(cloud, arn, console)
    return 0 if desc["status"] == "SUCCEEDED" else 1


def cmd_train_now(args: argparse.Namespace) -> int:
    cloud = _remote()
    console = Console()
    console.step("Starting the training state machine")
    desc = watch_execution(cloud, cloud.start_training({"trigger": "manual"}), console)
    return 0 if desc["status"] == "SUCCEEDED" else 1


def _remote_runtime() -> Any:
    """The runtime of the running local stack, for read-only commands."""
    from credit_risk.runtime import get_runtime, reset_runtime

    cloud = _remote()
    os.environ.update(cloud.stack.environment)
    os.environ["AWS_ENDPOINT_URL"] = cloud.description["endpoint_url"]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    reset_runtime()
    return cloud, get_runtime()


def cmd_quality_report(args: argparse.Namespace) -> int:
    from credit_risk.data.gate import stored_report

    _, runtime = _remote_runtime()
    print(stored_report(runtime.engine, args.batch_id).to_text(verbose=args.verbose))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from credit_risk.monitoring.figures import monitoring_table

    cloud, runtime = _remote_runtime()
    if args.run:
        cloud.client("lambda").invoke(FunctionName="MonitorFunction", Payload=b'{"trigger": "cli"}')
    latest = runtime.monitor().latest()
    if latest is None:
        print("no monitoring snapshot yet; run `credit-risk monitor --run`")
        return 1
    print(monitoring_table(latest.snapshot))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    from credit_risk_local.tokens import demo_token

    body: dict[str, Any] = {"customer_id": args.customer_id}
    for assignment in args.set or []:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            print(f"error: --set takes NAME=VALUE, not {assignment!r}", file=sys.stderr)
            return 2
        body[name] = _typed(value)
    cloud = _remote()
    api_url = cloud.description.get("api_url")
    if not api_url:
        print("error: the running local cloud serves no API", file=sys.stderr)
        return 2
    request = urllib.request.Request(
        f"{api_url}/api/predict",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {demo_token(cloud, role='scorer')}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer, status = json.loads(response.read()), response.status
    except urllib.error.HTTPError as exc:
        answer, status = json.loads(exc.read() or b"{}"), exc.code
    print(f"POST /api/predict {json.dumps(body)} → {status}")
    print(json.dumps(answer, indent=2))
    return 0 if status == 200 else 1


def _typed(value: str) -> Any:
    """A --set value as JSON when it reads as JSON (numbers, true, null), else text."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def cmd_token(args: argparse.Namespace) -> int:
    if args.action == "revoke":
        from credit_risk.governance.revocation import revoke

        if (args.jti is None) == (args.subject is None):
            print("token revoke needs exactly one of --jti ID and --subject NAME", file=sys.stderr)
            return 2
        _, runtime = _remote_runtime()
        print(revoke(runtime.revocations, jti=args.jti, subject=args.subject, by="cli"))
        return 0
    from credit_risk_local.tokens import demo_token

    subject = args.subject or "local-user"
    print(demo_token(_remote(), role=args.role, subject=subject, ttl=args.ttl))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    _, runtime = _remote_runtime()
    versions = runtime.registry.versions()
    if not versions:
        print("no model versions yet; run `credit-risk train-now`")
        return 0
    rows = [("version", "candidate", "status", "holdout AUC (95% CI)", "CV AUC", "reason")]
    for v in versions:
        auc, ci = v.metrics.get("auc"), v.metrics.get("auc_ci95")
        shown = "" if auc is None else f"{auc:.4f}"
        if auc is not None and isinstance(ci, list) and len(ci) == 2:
            shown += f" ({ci[0]:.3f}-{ci[1]:.3f})"
        rows.append((v.version, v.candidate, v.status, shown, _cv_auc(v.metrics), v.reason or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:5])) + "  " + row[5])
    champion = next((v for v in versions if v.status == "champion"), None)
    if champion is not None:
        _print_selection(champion.version, champion.metrics.get("selection"))
    from credit_risk.monitoring.shadow import comparison_lines
    from credit_risk.monitoring.shadow_store import shadow_comparisons

    print()
    for line in comparison_lines(shadow_comparisons(runtime.engine)):
        print(line)
    return 0


def _cv_auc(metrics: dict[str, Any]) -> str:
    """A version's repeated-CV AUC, mean ± std, as the selection ranked it."""
    search = (metrics.get("cv") or {}).get("search_auc") or {}
    if not isinstance(search.get("mean"), int | float):
        return ""
    return f"{search['mean']:.4f}±{float(search.get('std') or 0.0):.4f}"


def _print_selection(version: str, selection: Any) -> None:
    """How the champion's training run chose it: the rule, every candidate's CV AUC and
    holdout AUC with its 95% CI, then the rule's steps (each with its tests' figures) and
    the holdout's confirmation."""
    if not isinstance(selection, dict):
        return
    print(f"\nselection of {version} (alpha {selection.get('alpha')}):")
    if selection.get("rule"):
        print(f"  rule: {selection['rule']}")
    for r in selection.get("ranking") or []:
        low, high = r.get("holdout_auc_ci95") or (float("nan"), float("nan"))
        print(
            f"  {r['candidate']:<24} complexity {r.get('complexity')}  CV AUC "
            f"{r['cv_auc']:.4f}±{r.get('cv_auc_std', 0.0):.4f}  holdout AUC "
            f"{r['holdout_auc']:.4f} ({low:.3f}-{high:.3f})"
        )
    for step in selection.get("steps") or []:
        print(f"  - {step.get('reason')}")
    confirmation = selection.get("confirmation") or {}
    if confirmation.get("reason"):
        print(f"  - {confirmation['reason']}")


def cmd_rollback(args: argparse.Namespace) -> int:
    _, runtime = _remote_runtime()
    restored = runtime.registry.rollback()
    print(f"champion is now {restored.version} ({restored.candidate}), restored by rollback")
    return 0


def _policy_file(path: str, contract: Any) -> Any:
    """The decision policy in ``path``, fitted to the contract (an error naming the
    setting otherwise)."""
    from credit_risk.decisions.policy_store import parse_policy
    from credit_risk.errors import ConfigurationError

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigurationError(f"cannot read decision policy {path}: {exc.strerror}") from exc
    return parse_policy(text, contract, source=path, error=ConfigurationError)


def cmd_policy(args: argparse.Namespace) -> int:
    """Simulate, promote or show decision policies (issue 14)."""
    _, runtime = _remote_runtime()
    if args.action == "show":
        policy = runtime.policy_loader.get()
        print(f"in force: {policy.version}")
        for v in runtime.policy_store.versions():
            print(f"  {v['version']}  {v['status']:<8} {v['promoted_at']}  {v['reason']}")
        return 0
    if args.file is None:
        print(f"error: policy {args.action} needs the policy YAML file", file=sys.stderr)
        return 2
    proposed = _policy_file(args.file, runtime.contract)
    if args.action == "promote":
        from credit_risk.governance.policy_promotion import promote_policy

        promoted = promote_policy(
            proposed,
            store=runtime.policy_store,
            loader=runtime.policy_loader,
            audit=runtime.audit_trail,
            subject="cli",
            role="admin",
            request_id=f"cli-{time.time_ns()}",
            reason=args.reason,
            pseudonym_key=runtime.pseudonym_key,
        )
        print(
            f"decision policy {promoted['version']} is in force (was "
            f"{promoted['previous_version']}); sha256 {promoted['policy_sha256'][:12]}, audited"
        )
        return 0
    from credit_risk.decisions.policy_store import simulate_policy
    from credit_risk.monitoring.policy_report import simulation_page, simulation_text

    if not 0 <= args.margin <= 1:
        print("error: --margin is a share of the exposure, between 0 and 1", file=sys.stderr)
        return 2
    champion = runtime.registry.require_champion()
    result = simulate_policy(
        runtime.engine,
        runtime.contract,
        current=runtime.policy_loader.get(),
        proposed=proposed,
        model_version=champion.version,
        margin=args.margin,
    )
    print(simulation_text(result))
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(simulation_page(result))
        print(f"\nreport: {args.report}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from credit_risk_local.offline import train_offline

    return train_offline(args)


def _machine(name: str) -> str:
    return {
        "pipeline": "PipelineStateMachine",
        "training": "TrainingStateMachine",
        "rescore": "RescoreStateMachine",
    }[name]


def _cv(text: str) -> tuple[int, int]:
    try:
        folds, _, repeats = text.partition("x")
        parsed = (int(folds), int(repeats or 1))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--cv takes FOLDSxREPEATS, like 5x2, not {text!r}"
        ) from exc
    if parsed[0] < 2 or parsed[1] < 1:
        raise argparse.ArgumentTypeError("--cv needs at least 2 folds and 1 repeat")
    return parsed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="credit-risk",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "run the whole flow locally and print a summary")
    p.add_argument("--rows", type=int, default=20_000, help="applications to generate (20,000)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--database-url", help="SQLAlchemy URL (default: embedded SQLite)")
    p.add_argument("--keep", action="store_true", help="keep the previous demo's database")
    p.add_argument("--verbose", action="store_true", help="show the functions' JSON logs")

    p = add("generate", cmd_generate, "write synthetic applications, outcomes and true PDs")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(LOCAL_DIR / "data"))
    p.add_argument("--format", choices=["csv", "csv.gz", "parquet"], default="csv")

    p = add("up", cmd_up, "serve the local cloud and the API until Ctrl-C")
    p.add_argument("--port", type=int, default=5055)
    p.add_argument("--api-port", type=int, default=8000)
    p.add_argument("--database-url", help="SQLAlchemy URL (default: embedded SQLite)")

    p = add("upload", cmd_upload, "upload a file to the raw bucket and follow its pipeline")
    p.add_argument("file")
    p.add_argument("--dataset", choices=["applications", "outcomes"], required=True)

    p = add("executions", cmd_executions, "list pipeline or training executions")
    p.add_argument("--machine", choices=["pipeline", "training", "rescore"], default="pipeline")

    p = add("execution", cmd_execution, "show one execution state by state (and its Map runs)")
    p.add_argument("name", help="execution name or ARN")

    p = add("rescore", cmd_rescore, "re-score the whole book (or the files under --prefix)")
    p.add_argument("--prefix", help="s3://bucket/prefix of CSV/Parquet loan files")
    p.add_argument("--model-version", help="default: the champion")
    p.add_argument("--chunk-rows", type=int, help="loans per chunk (default: the template's)")

    p = add("redrive", cmd_redrive, "re-run the chunks of a failed re-score that have no result")
    p.add_argument("name", help="the failed re-score execution's name")

    p = add("dlq", cmd_dlq, "list or replay ingest events that failed (the dead-letter queue)")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("--message-id", help="replay only this one (default: every one)")

    p = add(
        "contract",
        cmd_contract,
        "draft a dataset contract from files, or check files against one before loading",
    )
    p.add_argument("action", choices=["draft", "check"])
    p.add_argument("files", nargs="+", help="draft: FILE...; check: CONTRACT FILE...")
    p.add_argument("--target", help="draft: the column that says whether a loan defaulted")
    p.add_argument(
        "--positive", nargs="+", help="draft: the target's values that mean a default (bad)"
    )
    p.add_argument("--name", help="draft: the contract's name (default: the file's)")
    p.add_argument("--out", help="draft: write the contract here (default: print it)")
    p.add_argument(
        "--prepared",
        help="draft: also write the file with what it lacks added (row numbers as the id, "
        "--as-of as every row's date) for a file without them",
    )
    p.add_argument("--as-of", help="draft --prepared: the date of rows without one (today)")

    p = add("migrate", cmd_migrate, "bring a database to this code's schema (advisory-locked)")
    p.add_argument("--database-url", help="SQLAlchemy URL (default: the embedded SQLite)")

    p = add("fire-schedule", cmd_fire_schedule, "do now what a schedule does when it fires")
    p.add_argument("--name", help="schedule name (default: the retraining schedule)")

    add(
        "models",
        cmd_models,
        "list model versions: champion, retired, rejected and why; champion vs shadow challenger",
    )
    add("rollback", cmd_rollback, "restore the previous champion")

    p = add("monitor", cmd_monitor, "portfolio and model health as a table")
    p.add_argument("--run", action="store_true", help="run the monitoring function first")
    add("train-now", cmd_train_now, "start the training state machine on demand")

    p = add("score", cmd_score, "score a customer through the running API (POST /api/predict)")
    p.add_argument("customer_id")
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="a loan term of the request, as the contract names it (repeatable), "
        "e.g. --set loan_amount=5000 --set loan_term_months=36",
    )

    p = add(
        "token",
        cmd_token,
        "mint an API bearer token for the running local stack; "
        "'token revoke --jti ID | --subject NAME' revokes",
    )
    p.add_argument("action", nargs="?", choices=["mint", "revoke"], default="mint")
    p.add_argument("--role", choices=["viewer", "analyst", "scorer", "admin"], default="viewer")
    p.add_argument("--subject", default=None, help="mint: who for; revoke: every token of")
    p.add_argument("--jti", help="revoke: the id of one token")
    p.add_argument("--ttl", type=int, default=3600, help="seconds")

    p = add(
        "policy",
        cmd_policy,
        "simulate a proposed decision policy over the book, promote one (audited), or show "
        "the one in force",
    )
    p.add_argument("action", choices=["simulate", "promote", "show"])
    p.add_argument("file", nargs="?", help="the decision policy YAML (simulate, promote)")
    p.add_argument(
        "--margin", type=float, default=0.05, help="simulate: margin on a good loan's exposure"
    )
    p.add_argument("--report", help="simulate: write the HTML report (with the frontier) here")
    p.add_argument("--json", help="simulate: write the whole result as JSON here")
    p.add_argument("--reason", default="promoted from the command line", help="promote: why")

    p = add("quality-report", cmd_quality_report, "print a batch's data-quality report")
    p.add_argument("batch_id")
    p.add_argument("--verbose", action="store_true")

    p = add("train", cmd_train, "train and compare candidates on a CSV with its contract")
    p.add_argument("--applications", required=True, help="applications CSV/Parquet")
    p.add_argument("--outcomes", required=True, help="outcomes CSV/Parquet")
    p.add_argument("--contract", help="dataset contract YAML (default: the synthetic one)")
    p.add_argument("--config", help="candidate model config YAML (default: packaged)")
    p.add_argument("--cv", type=_cv, default=None, help="FOLDSxREPEATS, e.g. 5x2")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--candidates", nargs="*", help="train only these candidates")
    p.add_argument("--json", help="write the metrics as JSON here")
    p.add_argument("--rejects", help="write each dropped row's column, rule and value here (CSV)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``credit-risk`` command."""
    from credit_risk.errors import CreditRiskError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CreditRiskError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
