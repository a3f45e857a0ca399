"""Decision policies through the API: simulate a proposal over the scored book (analyst),
promote one (admin, versioned, audited) and decide by it at once."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlalchemy import MetaData, create_engine, insert, select
from sqlalchemy.exc import OperationalError

from credit_risk.db import schema
from credit_risk.decisions.policy import load_decision_policy
from credit_risk.decisions.policy_store import PolicyLoader, PolicyStore, parse_policy
from credit_risk.decisions.serving import score_batch
from credit_risk.governance.audit import AuditTrail
from credit_risk.governance.policy_promotion import promote_policy
from credit_risk.runtime import get_runtime
from credit_risk_local import cli
from fixtures.portfolio import PORTFOLIO_ROWS
from functional.api.conftest import ApiWorld

MATURED = 300
"""The first 300 applications of the portfolio matured (their outcome is on file)."""


def scored_book(api: ApiWorld) -> dict[str, float]:
    """Score the portfolio with the champion and file the outcomes of the matured loans,
    as the pipeline leaves them; the stored PD of each application."""
    rt = get_runtime()
    done = score_batch(
        engine=rt.engine,
        contract=rt.contract,
        registry=rt.registry,
        policy=rt.policy_loader.get(),
        batch_id="portfolio-1",
    )
    assert done["scored"] == PORTFOLIO_ROWS
    outcomes = api.models.data.outcomes.head(MATURED)
    labels = schema.labels_table(MetaData())
    with rt.engine.begin() as conn:
        conn.execute(
            insert(labels),
            [
                {
                    "application_id": str(row.application_id),
                    "target": int(row.defaulted),
                    "observed_until": date(2026, 1, 31),
                    "matured": True,
                    "_batch_id": "outcomes-1",
                }
                for row in outcomes.itertuples()
            ],
        )
        scores = conn.execute(
            select(schema.scores.c.application_id, schema.scores.c.probability_of_default)
        ).all()
    return {a: pd for a, pd in scores}


def proposal(version: str, approve: float, **changes: Any) -> dict[str, Any]:
    base = load_decision_policy().model_dump(mode="json")
    decisions = [
        {"decision": "approve", "max_pd": approve},
        {"decision": "review", "max_pd": 0.3},
        {"decision": "decline", "max_pd": 1.0},
    ]
    return {**base, "version": version, "decisions": decisions, **changes}


def test_an_analyst_simulates_a_proposal_over_the_scored_book(api: ApiWorld) -> None:
    # GIVEN the champion's stored scores and the outcomes of the matured loans
    pds = scored_book(api)
    outcomes = api.models.data.outcomes.head(MATURED)
    known = dict(zip(outcomes["application_id"].astype(str), outcomes["defaulted"], strict=True))
    # WHEN an analyst simulates approving up to PD 0.15 (the policy in force: grades A-C)
    answer = api.call(
        "POST",
        "/api/policy/simulate",
        role="analyst",
        body={"policy": proposal("2026.2", 0.15), "margin": 0.06},
    )
    assert answer.status == 200, answer.body
    body = answer.body
    # THEN the figures are those of the stored PDs and outcomes, counted independently
    assert body["model_version"] == api.registry.require_champion().version
    assert (body["applications"], body["matured"], body["observed"]) == (
        PORTFOLIO_ROWS,
        MATURED,
        MATURED,
    )
    approved = [a for a, pd in pds.items() if pd <= 0.15]
    seen = [a for a in approved if a in known]
    figures = body["policies"]["proposed"]["segments"]["all"]
    assert figures["approved"] == len(approved)
    assert figures["approved_observed"] == len(seen)
    assert figures["bad_rate_observed"] == np.mean([known[a] for a in seen])
    unseen = [pds[a] for a in approved if a not in known]
    assert np.isclose(figures["bad_rate_inferred"], np.mean(unseen))
    assert body["policies"]["current"]["version"] == load_decision_policy().version
    assert body["basis"]["bad_rate_inferred"] == "inferred from PD"
    # AND the swap set holds those approved now and not before (PD in (0.10, 0.15])
    swap_in = [s for s in body["swap_set"] if s["proposed"] == "approve"]
    assert sum(s["count"] for s in swap_in) == sum(0.10 < pd <= 0.15 for pd in pds.values())
    # AND the frontier marks both policies; the dashboard draws the stored simulation
    assert body["frontier"]["proposed"]["version"] == "2026.2"
    assert body["frontier"]["margin"] == 0.06
    page = api.call("GET", "/api/dashboard", role="viewer").body.decode()
    assert 'id="policy-frontier"' in page and 'data-proposed="2026.2"' in page


def test_an_invalid_proposal_is_a_400_naming_the_setting(api: ApiWorld) -> None:
    scored_book(api)
    bad_grades = proposal("x", 0.1, grades=[{"grade": "A", "max_pd": 0.5}])
    answer = api.call("POST", "/api/policy/simulate", role="analyst", body={"policy": bad_grades})
    assert answer.status == 400, answer.body
    assert "grades" in answer.body["message"] and "1.0" in answer.body["message"]
    answer = api.call(
        "POST", "/api/policy/simulate", role="analyst", body={"policy": "version: [unclosed"}
    )
    assert (answer.status, answer.body["error"]) == (400, "ValidationError")
    assert "not valid YAML" in answer.body["message"]
    exposure = proposal("x", 0.1, ead_feature="no_such_column")
    answer = api.call("POST", "/api/policy/simulate", role="analyst", body={"policy": exposure})
    assert answer.status == 400 and "ead_feature" in answer.body["message"]
    answer = api.call(
        "POST",
        "/api/policy/simulate",
        role="analyst",
        body={"policy": proposal("x", 0.1), "margin": 2},
    )
    assert answer.status == 400 and answer.body["errors"][0]["field"] == "margin"


def test_simulating_before_the_champion_scored_anything_is_a_404_saying_what_to_do(
    api: ApiWorld,
) -> None:
    answer = api.call(
        "POST", "/api/policy/simulate", role="analyst", body={"policy": proposal("x", 0.1)}
    )
    assert answer.status == 404 and "re-score" in answer.body["message"]


def test_an_admin_promotes_a_policy_and_the_next_decision_uses_it(api: ApiWorld) -> None:
    customer = str(api.models.data.applications["customer_id"].iloc[3])
    before = api.call("POST", "/api/predict", role="scorer", body={"customer_id": customer}).body
    assert before["policy_version"] == load_decision_policy().version
    # WHEN an admin promotes a policy that declines everything above PD 0.0001
    strict = proposal(
        "2026.3",
        0.00005,
        decisions=[
            {"decision": "approve", "max_pd": 0.00005},
            {"decision": "decline", "max_pd": 1.0},
        ],
    )
    promoted = api.call(
        "POST", "/api/policy/promote", body={"policy": strict, "reason": "tighter for Q1"}
    )
    # THEN it is in force at once, versioned and audited
    assert promoted.status == 200, promoted.body
    assert promoted.body["policy"]["version"] == "2026.3"
    assert promoted.body["policy"]["previous_version"] == load_decision_policy().version
    after = api.call("POST", "/api/predict", role="scorer", body={"customer_id": customer}).body
    assert (after["policy_version"], after["decision"]) == ("2026.3", "decline")
    shown = api.call("GET", "/api/policy", role="viewer").body
    assert shown["version"] == "2026.3"
    assert [v["version"] for v in shown["versions"]] == ["2026.3"]
    assert "tighter for Q1 (by admin@tests)" in shown["versions"][0]["reason"]
    rows = AuditTrail(get_runtime().engine).rows()
    promotion = next(r for r in rows if r["action"] == "policy_promote")
    assert promotion["caller"] == "admin@tests" and promotion["role"] == "admin"
    assert json.loads(promotion["output"])["policy"]["version"] == "2026.3"
    # AND a version is immutable: the same version with other settings is a 409
    changed = {**strict, "lgd": 0.6}
    again = api.call("POST", "/api/policy/promote", body={"policy": changed})
    assert (again.status, again.body["error"]) == (409, "ConflictError")
    assert api.call("POST", "/api/policy/promote", body={"policy": strict}).status == 409
    # AND promoting the previous version again rolls back to it
    old = load_decision_policy(contract=get_runtime().contract).model_dump(mode="json")
    back = api.call("POST", "/api/policy/promote", body={"policy": old})
    assert back.status == 200, back.body
    restored = api.call("POST", "/api/predict", role="scorer", body={"customer_id": customer}).body
    assert restored["policy_version"] == load_decision_policy().version


def test_the_command_simulates_writes_the_report_and_promotes(
    api: ApiWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the scored book, the command pointed at this stack, and a proposal on disk
    scored_book(api)
    monkeypatch.setattr(cli, "_remote_runtime", lambda: (api.cloud, get_runtime()))
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(yaml.safe_dump(proposal("2026.4", 0.12)))
    report = tmp_path / "out" / "policy.html"
    # WHEN it simulates with a report
    assert cli.main(["policy", "simulate", str(proposed), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    # THEN it prints the figures with their basis and writes the frontier
    assert "[observed]" in out and "[inferred from PD]" in out and "swap set" in out
    html = report.read_text()
    assert html.count("<svg") == 2 and 'data-proposed="2026.4"' in html
    assert 'id="swap-set"' in html and "<script" not in html
    # WHEN the file is not a valid policy THEN one line names the setting, no traceback
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(proposal("2026.5", 0.12, lgd=1.7)))
    assert cli.main(["policy", "simulate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lgd" in err and "Traceback" not in err
    assert cli.main(["policy", "simulate", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read decision policy" in capsys.readouterr().err
    # WHEN it promotes THEN the policy is in force and the promotion audited
    assert cli.main(["policy", "promote", str(proposed), "--reason", "Q2 review"]) == 0
    assert "decision policy 2026.4 is in force" in capsys.readouterr().out
    assert get_runtime().policy_loader.get().version == "2026.4"
    rows = [r for r in AuditTrail(get_runtime().engine).rows() if r["action"] == "policy_promote"]
    assert [(r["caller"], r["role"]) for r in rows] == [("cli", "admin")]


def test_another_container_decides_by_a_promoted_policy_without_a_restart(api: ApiWorld) -> None:
    # GIVEN two containers' loaders over one database (the other re-reads every 50 ms)
    rt = get_runtime()
    store = PolicyStore(rt.engine)
    other = PolicyLoader(store, rt.contract, refresh_seconds=0.05)
    assert other.get().version == load_decision_policy().version
    # WHEN this container promotes a policy
    promoted = parse_policy(proposal("2026.6", 0.07), rt.contract)
    promote_policy(
        promoted,
        store=store,
        loader=rt.policy_loader,
        audit=rt.audit_trail,
        subject="ops@tests",
        role="admin",
        request_id="r-1",
        reason="test",
        pseudonym_key=rt.pseudonym_key,
    )
    # THEN the other container decides by it once its refresh interval has passed
    time.sleep(0.06)
    assert other.get().version == "2026.6"
    assert other.get().decisions[0].max_pd == 0.07
    # AND a database it cannot reach keeps it deciding by the policy it last read
    broken = PolicyLoader(PolicyStore(create_engine("sqlite:///:memory:")), rt.contract)
    with pytest.raises(OperationalError):
        broken.get()  # nothing read yet: the failure is the answer
    other.store = PolicyStore(create_engine("sqlite:///:memory:"))
    time.sleep(0.06)
    assert other.get().version == "2026.6"


def test_a_version_longer_than_the_store_keeps_is_refused_by_name(api: ApiWorld) -> None:
    long = proposal("v" * 81, 0.1)
    answer = api.call("POST", "/api/policy/promote", body={"policy": long})
    assert answer.status == 400 and "version" in answer.body["message"]
