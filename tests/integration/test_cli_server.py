"""The step-by-step commands against a served local cloud, as `./run up` serves it."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from conftest import to_csv_bytes
from credit_risk.runtime import get_runtime
from credit_risk_local import cli
from credit_risk_local.cloud import LocalCloud
from fixtures.champion import register_models, trained_models
from fixtures.portfolio import load_portfolio

pytestmark = pytest.mark.integration

FAST_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "fast_models.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, LocalCloud]]:
    """A local cloud and the API served over HTTP, described in cloud.json (its folder, and
    the cloud, whose dispatcher a test may put a fake in front of)."""
    monkeypatch.setattr(cli, "LOCAL_DIR", tmp_path)
    monkeypatch.setenv("TRAINING_CONFIG_PATH", str(FAST_MODELS))
    cloud = LocalCloud(
        database_url=f"sqlite:///{tmp_path / 'stack.db'}",
        local_dir=tmp_path / "stack",
        server_port=_free_port(),
    )
    cloud.start()
    api_port = _free_port()
    server = cli._start_api_server(cloud, api_port)
    description = cloud.describe() | {"api_url": f"http://127.0.0.1:{api_port}"}
    (tmp_path / cli.CLOUD_FILE).write_text(json.dumps(description))
    try:
        yield tmp_path, cloud
    finally:
        server.shutdown()
        cloud.stop()


@pytest.fixture
def served(serving: tuple[Path, LocalCloud]) -> Path:
    """The served cloud's folder (cloud.json)."""
    return serving[0]


def test_a_credit_team_works_step_by_step(served: Path, small_data, capsys) -> None:  # type: ignore[no-untyped-def]
    # GIVEN files on disk
    (served / "applications.csv").write_bytes(to_csv_bytes(small_data.applications))
    (served / "outcomes.csv").write_bytes(to_csv_bytes(small_data.outcomes))

    # WHEN they upload, train, list and inspect runs, and score a customer over HTTP
    capsys.readouterr()
    assert cli.main(["upload", str(served / "applications.csv"), "--dataset", "applications"]) == 0
    uploaded = capsys.readouterr().out
    assert cli.main(["upload", str(served / "outcomes.csv"), "--dataset", "outcomes"]) == 0
    assert cli.main(["train-now"]) == 0
    capsys.readouterr()
    assert cli.main(["executions"]) == 0
    listing = capsys.readouterr().out
    name = listing.splitlines()[1].split()[0]
    assert cli.main(["execution", name]) == 0
    shown = capsys.readouterr().out
    customer = str(small_data.applications["customer_id"].iloc[0])
    assert cli.main(["score", customer, "--set", "loan_amount=12000"]) == 0
    scored = capsys.readouterr().out
    assert cli.main(["score", "NO-SUCH-CUSTOMER"]) == 1
    unknown = capsys.readouterr().out
    assert cli.main(["models"]) == 0
    models = capsys.readouterr().out

    # THEN each command shows what an operator or analyst needs
    batch = next(line for line in uploaded.splitlines() if "batch " in line).split()[1]
    assert f"pipeline execution {batch}" in uploaded and f"quality-report {batch}" in uploaded
    assert listing.count("SUCCEEDED") == 2
    assert "Check data quality" in shown and "ok" in shown
    assert "→ 200" in scored and '"decision"' in scored and '"reasons"' in scored
    assert "→ 404" in unknown and "unknown_customer" in unknown
    assert "champion" in models
    assert "CV AUC" in models and "selection of" in models and "start from" in models


def test_ops_watch_a_rescore_and_redrive_its_failed_chunk(serving, capsys) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a champion and a book of 1,200 loans, and a chunk that cannot load its model
    _, local = serving
    cloud = cli._remote()
    models = trained_models()
    register_models(get_runtime().registry, models)
    load_portfolio(models, rows=1200)
    real = local.dispatcher.handler_for("RescoreChunkFunction")

    def withdrawn(event, context):  # type: ignore[no-untyped-def]
        if event["chunk"] == "00001":
            return real({**event, "model_version": "v-withdrawn"}, context)
        return real(event, context)

    local.dispatcher.override("RescoreChunkFunction", withdrawn)

    # WHEN ops re-score the book, look at the failed run, fix the cause and redrive it
    assert cli.main(["rescore", "--chunk-rows", "300"]) == 1
    capsys.readouterr()
    name = cloud.executions("RescoreStateMachine")[0]["name"]
    assert cli.main(["execution", name]) == 0
    shown = capsys.readouterr().out
    local.dispatcher.override("RescoreChunkFunction", None)
    assert cli.main(["redrive", name]) == 0
    redriven = capsys.readouterr().out
    assert cli.main(["executions", "--machine", "rescore"]) == 0
    listing = capsys.readouterr().out

    # THEN the execution shows the Map run's item counts and the failed item's error and
    # cause, and the redrive re-ran that chunk alone and reconciled the whole book
    assert "Score the chunks" in shown and "RescoreToleranceExceededError" in shown
    assert "items: total 4, running 0, succeeded 3, failed 1" in shown
    assert "! item 00001: NotFoundError: model credit-default has no version v-withdrawn" in shown
    assert "items: total 1, running 0, succeeded 1, failed 0" in redriven
    assert "1,200 loans in 4 chunks: 1,200 scored, 0 refused" in redriven
    assert f"{name}-redrive-1" in listing and "FAILED" in listing and "SUCCEEDED" in listing


def test_commands_without_a_running_cloud_say_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "LOCAL_DIR", tmp_path)
    assert cli.main(["executions"]) == 2
    assert "./run up" in capsys.readouterr().err


def test_a_token_revoked_with_the_cli_is_refused_by_the_served_api(  # type: ignore[no-untyped-def]
    served: Path, capsys
) -> None:
    # GIVEN a token minted for the served stack, which the API accepts
    assert cli.main(["token", "--role", "viewer", "--subject", "ops@tests"]) == 0
    token = capsys.readouterr().out.strip()
    api_url = json.loads((served / cli.CLOUD_FILE).read_text())["api_url"]

    def status() -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(
            f"{api_url}/api/models", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    assert status()[0] == 200
    # WHEN it is revoked with `./run token revoke --jti ...`
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert cli.main(["token", "revoke", "--jti", jti]) == 0
    assert "revoked token" in capsys.readouterr().out
    # THEN the served API refuses it, in the API's error shape
    code, body = status()
    assert code == 401 and set(body) == {"error", "message", "request_id"}
    # AND revoke needs exactly one of --jti and --subject
    assert cli.main(["token", "revoke"]) == 2


def test_commands_read_the_running_stack_s_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stack started with a lender's contract in its own shell
    contract = Path(__file__).resolve().parents[1] / "fixtures" / "other_lender" / "contract.yaml"
    monkeypatch.setenv("CONTRACT_PATH", str(contract))
    cloud = LocalCloud(database_url=f"sqlite:///{tmp_path / 's.db'}", local_dir=tmp_path / "s")
    cloud.start()
    try:
        described = cloud.describe()
    finally:
        cloud.stop()
    # THEN a command in another shell, without CONTRACT_PATH, gets it from the stack
    assert described["environment"]["CONTRACT_PATH"] == str(contract)


def test_a_shadowed_challenger_gathers_evidence_the_gate_asks_for(  # type: ignore[no-untyped-def]
    served: Path, small_data, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a promotion policy that asks for five shadow decisions, and a trained champion
    policy = tmp_path / "promotion.yaml"
    policy.write_text("require_shadow: {min_decisions: 5, min_matured: 0}\n")
    monkeypatch.setenv("PROMOTION_POLICY_PATH", str(policy))
    from credit_risk.runtime import reset_runtime

    reset_runtime()
    (served / "applications.csv").write_bytes(to_csv_bytes(small_data.applications))
    (served / "outcomes.csv").write_bytes(to_csv_bytes(small_data.outcomes))
    assert cli.main(["upload", str(served / "applications.csv"), "--dataset", "applications"]) == 0
    assert cli.main(["upload", str(served / "outcomes.csv"), "--dataset", "outcomes"]) == 0
    assert cli.main(["train-now"]) == 0  # the first champion needs no shadow evidence
    # WHEN training runs again
    assert cli.main(["train-now"]) == 0
    # THEN its candidate is not promoted: it has never shadowed a request
    registry = get_runtime().registry
    champion = registry.require_champion()
    [candidate] = [v for v in registry.versions() if v.status == "rejected"]
    assert "not enough shadow evidence: 0 of 5 shadow decisions" in (candidate.reason or "")
    # WHEN five customers are scored over HTTP (the candidate shadows them: auto)
    capsys.readouterr()
    for i in range(5):
        customer = str(small_data.applications["customer_id"].iloc[i])
        assert cli.main(["score", customer]) == 0
    assert cli.main(["models"]) == 0
    models = capsys.readouterr().out
    # THEN `models` compares the champion with its shadow on those five decisions
    assert (
        f"shadow: champion {champion.version} vs challenger {candidate.version}: 5 decisions"
        in models
    )
    assert "no matured outcome yet" in models
    # AND the gate's evidence is now there: an admin may promote the challenger
    from credit_risk.monitoring.shadow_store import shadow_evidence

    assert shadow_evidence(get_runtime().engine, candidate.version) == {
        "decisions": 5,
        "matured": 0,
    }
