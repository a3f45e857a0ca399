"""Monitoring runs and the dashboard: the I/O around :mod:`credit_risk.monitoring.figures`.

A run reads the scored portfolio (``ml.scores``, ``analytics.application_features``,
``analytics.labels``) and the champion from the registry, computes a snapshot, renders the
dashboard and writes it to the artifacts bucket (``dashboards/latest.html`` and a dated
copy), stores the snapshot in ``ml.monitoring_snapshots``, publishes one alert when
thresholds are crossed and, when configured, starts the training state machine.

:meth:`MonitorService.render_latest` renders the page for viewers from the latest stored
snapshot and the live registry and executions. It loads neither pandas nor numpy (the API serves it
on the request path); computing a snapshot does, so those imports are deferred to
:meth:`MonitorService.compute`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, MetaData, insert, select

from credit_risk.adapters.aws import ObjectStore, Workflows
from credit_risk.adapters.observability import logger
from credit_risk.contract import Contract
from credit_risk.db import schema
from credit_risk.decisions.policy import DecisionPolicy, load_decision_policy
from credit_risk.models.registry import ModelVersion, Registry
from credit_risk.monitoring.dashboard import render_dashboard
from credit_risk.monitoring.shadow_store import shadow_comparisons

if TYPE_CHECKING:
    import pandas as pd

    from credit_risk.monitoring.figures import MonitoringConfig

DASHBOARD_PREFIX = "dashboards"
MAX_MODELS_SHOWN = 8
EXECUTIONS_PER_MACHINE = 10

Publisher = Callable[[dict[str, Any]], Any]


class MonitorRequest(BaseModel):
    """What starts a run: the schedule, the pipeline after scoring, or an operator."""

    model_config = ConfigDict(extra="ignore")

    trigger: str = "schedule"
    retrain: bool | None = None
    """Start training when a ``retrain`` rule fires: None follows the configuration."""


def new_snapshot_id(now: datetime | None = None) -> str:
    """A sortable snapshot id: ``m`` and the UTC time to the microsecond."""
    return (now or datetime.now(UTC)).strftime("m%Y%m%dT%H%M%S%f")


def holdout_of(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A registry version's holdout figures, whether nested under ``holdout`` or flat."""
    holdout = metrics.get("holdout")
    return dict(holdout) if isinstance(holdout, Mapping) else dict(metrics)


def model_summary(version: ModelVersion, *, curves: bool) -> dict[str, Any]:
    """A version as the dashboard lists it; ``curves`` keeps ROC and calibration data."""
    holdout = holdout_of(version.metrics)
    if not curves:
        holdout = {k: v for k, v in holdout.items() if isinstance(v, int | float) or v is None}
    return {
        "version": version.version,
        "candidate": version.candidate,
        "status": version.status,
        "created_at": version.created_at.isoformat() if version.created_at else None,
        "promoted_at": version.promoted_at.isoformat() if version.promoted_at else None,
        "reason": version.reason,
        "holdout": holdout,
    }


@dataclass
class StoredSnapshot:
    """One row of ``ml.monitoring_snapshots``."""

    snapshot_id: str
    created_at: datetime
    status: str
    snapshot: dict[str, Any]
    dashboard_uri: str | None
    retrain_execution_arn: str | None


class MonitorService:
    """Computes, stores, alerts on and publishes monitoring snapshots."""

    def __init__(
        self,
        *,
        engine: Engine,
        contract: Contract,
        registry: Registry,
        store: ObjectStore,
        artifacts_bucket: str,
        publish: Publisher,
        workflows: Workflows | None = None,
        state_machines: Mapping[str, str | None] | None = None,
        training_state_machine_arn: str | None = None,
        policy: DecisionPolicy | None = None,
        config: MonitoringConfig | None = None,
        pseudonym_key: Callable[[], bytes] | None = None,
    ) -> None:
        self.engine = engine
        self.contract = contract
        self.registry = registry
        self.store = store
        self.bucket = artifacts_bucket
        self.publish = publish
        self.workflows = workflows
        self.state_machines = {k: v for k, v in (state_machines or {}).items() if v}
        self.training_arn = training_state_machine_arn
        self.policy = policy or load_decision_policy(contract=contract)
        self._config = config
        self.table = schema.monitoring_snapshots
        self.pseudonym_key = pseudonym_key

    @property
    def config(self) -> MonitoringConfig:
        """The monitoring configuration (the packaged defaults unless one was given)."""
        if self._config is None:
            from credit_risk.monitoring.figures import default_monitoring_config

            self._config = default_monitoring_config()
        return self._config

    # ------------------------------------------------------------------ reading

    def read_portfolio(self) -> pd.DataFrame:
        """Every scored application with its latest score, features and outcome."""
        from credit_risk.db.bulk import read_frame
        from credit_risk.monitoring.figures import portfolio_frame

        scores = schema.scores
        features = schema.features_table(self.contract, MetaData())
        labels = schema.labels_table(MetaData())
        scored_ids = select(scores.c.application_id)
        feature_columns = [features.c.application_id, features.c.event_date] + [
            features.c[name] for name in self.contract.features
        ]
        with self.engine.connect() as conn:
            score_rows = read_frame(
                conn,
                select(
                    scores.c.application_id,
                    scores.c.probability_of_default,
                    scores.c.score,
                    scores.c.grade,
                    scores.c.decision,
                    scores.c.expected_loss,
                    scores.c.model_version,
                    scores.c.source,
                    scores.c.scored_at,
                ),
            )
            feature_rows = read_frame(
                conn,
                select(*feature_columns).where(features.c.application_id.in_(scored_ids)),
            )
            label_rows = read_frame(
                conn,
                select(labels.c.application_id, labels.c.target, labels.c.matured).where(
                    labels.c.application_id.in_(scored_ids)
                ),
            )
        for name in self.contract.numeric_features:
            feature_rows[name] = feature_rows[name].astype("float64")
        return portfolio_frame(score_rows, feature_rows, label_rows)

    def compute(self, now: datetime | None = None) -> dict[str, Any]:
        """A snapshot of the portfolio as it is now (nothing is stored or sent)."""
        from credit_risk.monitoring.figures import Champion, compute_snapshot

        champion = self.registry.champion()
        portfolio = self.read_portfolio()
        snapshot = compute_snapshot(
            portfolio,
            features=self.contract.features,
            categorical=self.contract.categorical_features,
            grades=[g.grade for g in self.policy.grades],
            decisions=[d.decision for d in self.policy.decisions],
            champion=(
                Champion(champion.version, champion.candidate, champion.metrics)
                if champion
                else None
            ),
            config=self.config,
            as_of=now,
        )
        self._add_fairness(snapshot, portfolio)
        return snapshot

    # ------------------------------------------------------------------ fairness

    def protected_groups(self, application_ids: Sequence[str]) -> dict[str, Any]:
        """Each protected attribute's group label for ``application_ids`` (None where
        analytics holds none), named back from the pseudonyms with the pseudonym key.
        Only aggregates of these leave the monitor."""
        import numpy as np
        import pandas as pd

        from credit_risk.data.pseudonymise import pseudonym
        from credit_risk.db.bulk import read_frame

        spec = self.contract.applications
        if not spec.protected_columns or self.pseudonym_key is None or not application_ids:
            return {}
        key = self.pseudonym_key()
        table = schema.protected_table(self.contract, MetaData())
        scored = select(schema.scores.c.application_id)
        with self.engine.connect() as conn:
            rows = read_frame(conn, select(table).where(table.c.application_id.in_(scored)))
        rows = rows.set_index("application_id")
        ids = pd.Index([str(i) for i in application_ids])
        groups = {}
        for name in spec.protected_columns:
            names = {pseudonym(label, key): label for label in spec.columns[name].categories or []}
            values = rows[name].reindex(ids) if len(rows) else pd.Series(None, index=ids)
            groups[name] = np.array([names.get(v) for v in values.tolist()], dtype=object)
        return groups

    def _add_fairness(self, snapshot: dict[str, Any], portfolio: pd.DataFrame) -> None:
        """Fairness of the live decisions per protected group, and its alerts."""
        from credit_risk.monitoring.fairness import fairness_alerts, live_fairness
        from credit_risk.monitoring.figures import snapshot_status

        if portfolio.empty:
            return
        groups = self.protected_groups(portfolio["application_id"].tolist())
        if not groups:
            return
        spec = self.contract.applications
        categories = {n: spec.columns[n].categories or [] for n in groups}
        window = (snapshot.get("window") or {}).get("months")
        approve = self.policy.decisions[0].decision
        fairness = live_fairness(portfolio, groups, categories, window, approve=approve)
        rule = self.config.rules.adverse_impact_ratio
        for figures in fairness.values():
            figures["threshold"] = rule.min if rule.enabled else None
        snapshot["fairness"] = fairness
        snapshot["alerts"] = list(snapshot.get("alerts") or []) + [
            a.to_dict() for a in fairness_alerts(fairness, rule)
        ]
        snapshot["status"] = snapshot_status(snapshot)

    def latest(self) -> StoredSnapshot | None:
        """The newest stored snapshot, or None before the first run."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(self.table).order_by(self.table.c.snapshot_id.desc()).limit(1))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return StoredSnapshot(
            snapshot_id=row["snapshot_id"],
            created_at=row["created_at"],
            status=row["status"],
            snapshot=json.loads(row["snapshot"]),
            dashboard_uri=row["dashboard_uri"],
            retrain_execution_arn=row["retrain_execution_arn"],
        )

    def models(self) -> list[dict[str, Any]]:
        """Registered versions for the dashboard: the champion, then the newest others."""
        versions = self.registry.versions()
        champion = [v for v in versions if v.status == "champion"]
        others = [v for v in versions if v.status != "champion"]
        shown = (champion + others)[:MAX_MODELS_SHOWN]
        return [model_summary(v, curves=v.status == "champion") for v in shown]

    def executions(self) -> list[dict[str, Any]]:
        """Recent executions of every state machine, newest first; empty when unreadable."""
        if self.workflows is None:
            return []
        runs = []
        for machine, arn in self.state_machines.items():
            try:
                found = self.workflows.recent(str(arn), EXECUTIONS_PER_MACHINE)
            except (ClientError, BotoCoreError) as exc:
                logger.warning(
                    "cannot list executions", extra={"machine": machine, "error": str(exc)}
                )
                continue
            for e in found:
                start, stop = e.get("startDate"), e.get("stopDate")
                runs.append(
                    {
                        "machine": machine,
                        "name": e.get("name"),
                        "status": e.get("status"),
                        "start": start.isoformat() if start else None,
                        "seconds": (stop - start).total_seconds() if start and stop else None,
                    }
                )
        return sorted(runs, key=lambda r: r["start"] or "", reverse=True)

    def dashboard_data(
        self, snapshot: Mapping[str, Any] | None, snapshot_id: str | None = None
    ) -> dict[str, Any]:
        """What :func:`credit_risk.monitoring.dashboard.render_dashboard` draws."""
        return {
            "snapshot": snapshot,
            "snapshot_id": snapshot_id,
            "models": self.models(),
            "executions": self.executions(),
            "shadow": shadow_comparisons(self.engine),
            "generated_at": datetime.now(UTC).isoformat(),
            "policy_simulation": self.policy_simulation(),
        }

    def policy_simulation(self) -> dict[str, Any] | None:
        """The latest decision-policy simulation (issue 14), or None (read here, not by
        :mod:`credit_risk.decisions.policy_store`, which loads numpy)."""
        table = schema.policy_simulations
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.result).order_by(table.c.simulation_id.desc()).limit(1)
            ).first()
        return None if row is None else dict(json.loads(row[0]))

    def render_latest(self) -> str:
        """The dashboard of the latest stored snapshot, with live models and runs."""
        stored = self.latest()
        if stored is None:
            return render_dashboard(self.dashboard_data(None))
        return render_dashboard(self.dashboard_data(stored.snapshot, stored.snapshot_id))

    # ------------------------------------------------------------------ a run

    def run(
        self,
        *,
        trigger: str = "schedule",
        retrain: bool | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Compute, publish and store a snapshot; alert and maybe retrain. Returns a summary."""
        now = now or datetime.now(UTC)
        snapshot_id = new_snapshot_id(now)
        snapshot = self.compute(now)
        snapshot["snapshot_id"] = snapshot_id
        snapshot["trigger"] = trigger
        alerts = snapshot["alerts"]

        retrain_arn = self._maybe_retrain(snapshot_id, alerts, retrain)
        html = render_dashboard(self.dashboard_data(snapshot, snapshot_id))
        body = html.encode()
        day = now.strftime("%Y-%m-%d")
        dated = self.store.put(
            self.bucket, f"{DASHBOARD_PREFIX}/{day}/{snapshot_id}.html", body, "text/html"
        )
        self.store.put(self.bucket, f"{DASHBOARD_PREFIX}/latest.html", body, "text/html")

        window = snapshot.get("window") or {}
        score = (snapshot.get("drift") or {}).get("score") or {}
        model = snapshot.get("model") or {}
        with self.engine.begin() as conn:
            conn.execute(
                insert(self.table).values(
                    snapshot_id=snapshot_id,
                    created_at=now,
                    trigger=trigger[:40],
                    model_version=model.get("version"),
                    status=snapshot["status"],
                    window_start=window.get("start"),
                    window_end=window.get("end"),
                    rows=int(window.get("rows") or 0),
                    score_psi=score.get("psi"),
                    alerts=len(alerts),
                    snapshot=json.dumps(snapshot, default=str),
                    dashboard_uri=dated,
                    retrain_execution_arn=retrain_arn,
                )
            )
        if alerts:
            self._alert(snapshot_id, snapshot, dated, retrain_arn)
        summary = {
            "snapshot_id": snapshot_id,
            "status": snapshot["status"],
            "model_version": model.get("version"),
            "window": window,
            "score_psi": score.get("psi"),
            "alerts": [a["rule"] for a in alerts],
            "alert_published": bool(alerts),
            "dashboard_uri": dated,
            "retrain_execution_arn": retrain_arn,
        }
        logger.info("monitoring done", extra=summary)
        return summary

    def _maybe_retrain(
        self, snapshot_id: str, alerts: Sequence[Mapping[str, Any]], retrain: bool | None
    ) -> str | None:
        wanted = self.config.retrain.enabled if retrain is None else retrain
        reasons = [a["rule"] for a in alerts if a.get("retrain")]
        if not (wanted and reasons and self.training_arn and self.workflows):
            return None
        return self.workflows.start(
            self.training_arn,
            f"monitoring-{snapshot_id}",
            {"trigger": "monitoring", "snapshot_id": snapshot_id, "reasons": reasons},
        )

    def _alert(
        self,
        snapshot_id: str,
        snapshot: Mapping[str, Any],
        dashboard_uri: str,
        retrain_arn: str | None,
    ) -> None:
        alerts = snapshot["alerts"]
        noun = "threshold" if len(alerts) == 1 else "thresholds"
        severity = "critical" if any(a["severity"] == "critical" for a in alerts) else "warning"
        self.publish(
            {
                "source": "monitoring",
                "run_id": snapshot_id,
                "severity": severity,
                "outcome": {
                    "status": f"{len(alerts)} {noun} crossed",
                    "model_version": (snapshot.get("model") or {}).get("version"),
                    "window": snapshot.get("window"),
                    "alerts": [
                        f"[{a['severity']}] {a['rule']}: {a['message']} (limit {a['threshold']})"
                        for a in alerts
                    ],
                    "dashboard": dashboard_uri,
                    "retraining_started": retrain_arn,
                },
            }
        )
