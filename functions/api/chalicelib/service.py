"""What each endpoint does, over the platform's adapters (database, registry, workflows).

One :class:`RiskService` per container, built lazily from the runtime (so a cold start
imports code but touches nothing until the first request) and rebuilt when the runtime is
reset (tests and the local cloud).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, insert, select, text

from chalicelib.auth import RouteRoles
from chalicelib.requests import (
    ExecutionsQuery,
    HealthQuery,
    MetricsQuery,
    PromoteRequest,
    RequestModels,
    check_version,
    parse_query,
    read_json_object,
)
from chalicelib.store import CustomerStore, PersonalDataStore
from credit_risk.adapters.observability import metrics
from credit_risk.contract import Contract
from credit_risk.data.features import build_feature_row, build_feature_variant_columns
from credit_risk.data.pseudonymise import pseudonym
from credit_risk.db import schema
from credit_risk.db.engine import DriverStatement, is_postgres
from credit_risk.decisions.counterfactuals import find_counterfactuals
from credit_risk.decisions.policy import DecisionPolicy
from credit_risk.decisions.scoring import (
    OUT_OF_RANGE_CODE,
    LoadedModel,
    decide_columns_without_reasons,
    decide_rows,
    outside_training_range,
)
from credit_risk.decisions.serving import ChampionLoader
from credit_risk.decisions.shadow import shadow_row
from credit_risk.errors import (
    ConfigurationError,
    ConflictError,
    CreditRiskError,
    GoneError,
    NotFoundError,
    ValidationError,
)
from credit_risk.governance.audit import AuditRecord, AuditTrail, canonical_json, input_hash
from credit_risk.governance.auth import Caller
from credit_risk.models.registry import MODEL_NAME, ModelVersion, Registry
from credit_risk.runtime import Runtime, get_runtime

if TYPE_CHECKING:
    from credit_risk.data.erasure import RawErasure

_INSERT_SHADOW = insert(schema.shadow_scores)  # built once; each request's row bound
_SHADOW_COLUMNS = [c.name for c in schema.shadow_scores.c if c.name != "id"]
# Postgres: the score and the shadow row in one statement (a data-modifying WITH), as
# pg8000 pays three round trips for each statement; their values bound as score columns
# and "shadow_" + shadow columns.
_INSERT_SCORE_AND_SHADOW = insert(schema.scores).add_cte(
    insert(schema.shadow_scores)
    .values(
        {
            name: bindparam(f"shadow_{name}", type_=schema.shadow_scores.c[name].type)
            for name in _SHADOW_COLUMNS
        }
    )
    .cte("shadow_row")
)
KEPT_REASON = "pseudonymised; retained for credit-decision records"
WITHOUT_PERSONAL_VALUES = {
    "training snapshots (S3 artifacts)": (
        "analytics rows only: the pseudonym and non-personal features, kept with the model "
        "versions they trained (as analytics is kept)"
    ),
    "quality reports": (
        "figures and examples of features, targets and application ids only: personal "
        "columns are never features, so no report quotes one"
    ),
    "alerts, logs and execution histories": (
        "name rows, columns and rules, never a personal value (tests/security/"
        "test_pii_in_errors.py)"
    ),
}
"""Stores erasure has nothing to remove from, and why (stated in every erasure answer)."""
MACHINES = {
    "pipeline": "pipeline_state_machine_arn",
    "training": "training_state_machine_arn",
    "rescore": "rescore_state_machine_arn",
}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def _plain_number(value: float) -> str:
    """A bound as a person writes it: 500000, 0.1875."""
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.6g}"


def _erased() -> GoneError:
    """410 for a customer who was erased: nothing is decided or shown for them."""
    return GoneError(
        "this customer's personal data was erased; nothing is decided or returned "
        "for them (a returning applicant gets a new customer number)",
        field="customer_id",
        rule="erased",
    )


class RiskService:
    """The API's behaviour; views parse, call one method, and return its result."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._artifact_hashes: dict[str, str] = {}
        self._openapi: dict[str, Any] | None = None

    # --- parts, built on first use -----------------------------------------------------

    @property
    def contract(self) -> Contract:
        return self.runtime.contract

    @property
    def policy(self) -> DecisionPolicy:
        # The promoted policy (the packaged default before any), re-read every 30 s.
        return self.runtime.policy_loader.get()

    @cached_property
    def requests(self) -> RequestModels:
        return RequestModels(self.contract)

    @cached_property
    def store(self) -> CustomerStore:
        # The request's one read draws its audit row's number too: a statement fewer.
        return CustomerStore(self.runtime.engine, self.contract, read_also=[self.audit.next_seq])

    @cached_property
    def personal_data(self) -> PersonalDataStore:
        return PersonalDataStore(self.runtime.engine, self.contract)

    @cached_property
    def raw_erasure(self) -> RawErasure:
        from credit_risk.data.erasure import RawErasure  # pandas: off the scoring path

        return RawErasure(
            engine=self.runtime.engine,
            store=self.runtime.store,
            bucket=self.runtime.settings.raw_bucket,
            contract=self.contract,
        )

    @cached_property
    def _postgres(self) -> bool:
        return is_postgres(self.runtime.engine)

    @cached_property
    def _score_and_shadow(self) -> DriverStatement:
        return DriverStatement(_INSERT_SCORE_AND_SHADOW, self.runtime.engine)

    @cached_property
    def registry(self) -> Registry:
        return self.runtime.registry

    @cached_property
    def loader(self) -> ChampionLoader:
        return self.runtime.champion_loader

    @cached_property
    def audit(self) -> AuditTrail:
        return self.runtime.audit_trail

    def _pseudonym(self, customer_id: str) -> str:
        return pseudonym(customer_id, self.runtime.pseudonym_key)

    # --- scoring ---------------------------------------------------------------------

    def predict(
        self, raw_body: bytes | str | None, caller: Caller, request_id: str
    ) -> dict[str, Any]:
        """Decide on one application: PD, score, grade, decision, expected loss, reasons.

        The decision, its reasons and the features it was made from are written to the
        audit trail, and the score under the customer's key, in one transaction.
        """
        parsed = self.requests.parse_predict(read_json_object(raw_body))
        loaded = self.loader.get()
        policy = self.policy  # read once: a promotion landing mid-request changes nothing
        # Before the transaction: a refresh reads the registry on a connection of its own
        # (a Lambda's pool has one).
        challenger = self.runtime.challenger_loader.get(loaded)
        # One connection, one transaction: the customer's read, then the rows (a read on a
        # connection of its own would cost its own begin and rollback round trips).
        with self.runtime.engine.begin() as conn:
            result, audited = self._decide_and_record(
                conn, parsed, caller, request_id, loaded, policy, challenger
            )
        self.audit.seal_if_due(audited)
        metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name=f"{str(result['decision']).capitalize()}Decisions", unit=MetricUnit.Count, value=1
        )
        return result

    def _decide_and_record(
        self,
        conn: Connection,
        parsed: BaseModel,
        caller: Caller,
        request_id: str,
        loaded: LoadedModel,
        policy: DecisionPolicy,
        challenger: LoadedModel | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """:meth:`predict`'s answer and its audit row, inside the request's transaction
        ``conn``: the reads, the decision, then the audit row, the score and the shadow
        row."""
        now = datetime.now(UTC)
        if isinstance(parsed, self.requests.new_applicant):  # else checked in the one read
            self._refuse_erased(self._customer_named(parsed), conn)
        application, customer_key, application_id, audit_seq = self._application(
            conn, parsed, now, request_id
        )
        features = build_feature_row(self.contract, application)
        row = dict(features)
        ead = policy.ead_feature
        if ead and ead not in row:
            row[ead] = application.get(ead)
        decision = decide_rows(loaded, [row], self.contract, policy)[0]
        decision["reason_codes"] = self._check_training_range(loaded, row, decision)
        if decision["decision"] != "approve" and self.contract.actionable:
            decision["counterfactuals"] = find_counterfactuals(
                application,
                self.contract,
                lambda changes: self._decide_variants(loaded, policy, application, changes),
            )
        result = {
            "request_id": request_id,
            "application_id": application_id,
            **decision,
            "model_version": loaded.version.version,
            "artifact_sha256": loaded.version.artifact_sha256,
            "scored_at": now.isoformat(),
        }
        record = AuditRecord(
            caller=caller.subject,
            role=caller.role,
            request_id=request_id,
            action="predict",
            input_sha256=input_hash(parsed.model_dump(mode="json"), self.runtime.pseudonym_key),
            output={**result, "features": features},
            customer_key=customer_key,
            model_version=loaded.version.version,
            artifact_sha256=loaded.version.artifact_sha256,
        )
        shadow = self._shadow(challenger, policy, row, result, request_id, now)
        audited = self.audit.append(conn, record, at=now, seq=audit_seq)
        score = None if customer_key is None else self._score_row(result, customer_key, now)
        if score is not None and shadow is not None and self._postgres:
            both = {**score, **{f"shadow_{name}": shadow[name] for name in _SHADOW_COLUMNS}}
            self._score_and_shadow.execute(conn, both)
        else:
            if score is not None:
                self.store.save_score(conn, score)
            if shadow is not None:
                conn.execute(_INSERT_SHADOW, shadow)
        return result, audited

    def _decide_variants(
        self,
        loaded: LoadedModel,
        policy: DecisionPolicy,
        application: Mapping[str, Any],
        changes: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Decide ``application`` with each of ``changes`` applied as :meth:`predict`
        decides it (features, the model, the policy, the training-range check sending a
        decision to review): PD, score, grade and decision, without the reasons a
        counterfactual search does not show."""
        columns = build_feature_variant_columns(self.contract, application, changes)
        return decide_columns_without_reasons(loaded, columns, len(changes), policy)

    def _check_training_range(
        self, loaded: LoadedModel, row: dict[str, Any], decision: dict[str, Any]
    ) -> list[str]:
        """Never extrapolate silently: an input outside the champion's training range is
        refused (400 naming the feature) or sends the decision to review with a reason
        code per feature, as ``OUT_OF_RANGE`` says. Returns the reason codes."""
        outside = outside_training_range(loaded.model, row)
        if not outside:
            return []
        if self.runtime.settings.out_of_range == "refuse":
            name = outside[0]
            message = f"{name} is outside the range the model was trained on"
            bounds = loaded.model.metadata["feature_ranges"][name]
            if name in self.contract.loan_terms:  # a loan term, not personal data
                low, high = (_plain_number(bounds[end]) for end in ("min", "max"))
                message += f" ({low} to {high})"
            raise ValidationError(
                message, field=name, rule="out_of_training_range", features=", ".join(outside)
            )
        decision["decision"] = "review"
        return [f"{OUT_OF_RANGE_CODE}:{name}" for name in outside]

    def _application_date(self, given: date | None, today: date) -> date:
        """The application date of a real-time request: today (UTC) unless the client
        gives one within the configured window back from today; never a future date."""
        if given is None:
            return today
        name = self.requests.event_field or "application_date"
        window = self.runtime.settings.application_date_window_days
        if given > today:
            raise ValidationError(
                f"{name} cannot be in the future; leave it out to apply today",
                field=name,
                rule="future_date",
            )
        if given < today - timedelta(days=window):
            raise ValidationError(
                f"{name} may be at most {window} days before today; leave it out to apply today",
                field=name,
                rule="date_window",
            )
        return given

    def _application(
        self, conn: Connection, parsed: BaseModel, now: datetime, request_id: str
    ) -> tuple[dict[str, Any], str | None, str, int | None]:
        """The application to score, the customer's pseudonymised key, the application's
        id and the audit row's number when the read drew it, for either kind of request
        (read on ``conn``)."""
        models, spec = self.requests, self.contract.applications
        if isinstance(parsed, models.new_applicant):
            values = parsed.application.model_dump()  # type: ignore[attr-defined]
            customer = values.get(models.customer_field)
            application = {k: v for k, v in values.items() if v is not None}
            application.pop(spec.customer_key or "", None)
            if models.event_field:
                application[models.event_field] = self._application_date(
                    values.get(models.event_field), now.date()
                )
            key = None if customer is None else self._pseudonym(customer)
            if key is not None and self.store.knows(key, conn):
                # A made-up application must never replace a real customer's score.
                raise ConflictError(
                    "this customer is already on file; ask with the customer's id and the "
                    "new loan's terms instead of a whole application",
                    field=models.customer_field,
                    rule="customer_exists",
                )
            return application, key, str(values.get(spec.id) or request_id), None
        terms = parsed.model_dump(exclude_none=True)
        key = self._pseudonym(terms.pop(models.customer_field))
        stored, erased_at, drawn = self.store.latest_application_unless_erased(conn, key)
        if erased_at is not None:
            raise _erased()
        if stored is None:
            raise NotFoundError(
                "no application is on file for this customer",
                field=models.customer_field,
                rule="unknown_customer",
            )
        application = {**stored, **terms}
        if models.event_field:
            application[models.event_field] = self._application_date(
                terms.get(models.event_field), now.date()
            )
        return application, key, request_id, int(drawn[0])

    def _shadow(
        self,
        challenger: LoadedModel | None,
        policy: DecisionPolicy,
        row: Mapping[str, Any],
        result: Mapping[str, Any],
        request_id: str,
        now: datetime,
    ) -> dict[str, Any] | None:
        """The shadow ``challenger``'s row for this request (stored with the audit row), or
        None: off, no challenger, or one that failed to load or score. Never raises."""
        if challenger is None:
            return None
        return shadow_row(challenger, row, result, policy, request_id=request_id, scored_at=now)

    @staticmethod
    def _score_row(result: dict[str, Any], customer_key: str, now: datetime) -> dict[str, Any]:
        return {
            "application_id": result["application_id"],
            "customer_key": customer_key,
            "probability_of_default": result["probability_of_default"],
            "score": result["score"],
            "grade": result["grade"],
            "decision": result["decision"],
            "expected_loss": result["expected_loss"],
            "reasons": canonical_json(result["reasons"]),
            "model_version": result["model_version"],
            "source": "api",
            "scored_at": now,
        }

    def risk_score(self, customer_id: str, caller: Caller, request_id: str) -> dict[str, Any]:
        """The customer's latest stored score and decision, when and by which model."""
        self._check_customer_id(customer_id)
        self._refuse_erased(customer_id)
        key = self._pseudonym(customer_id)
        score = self.store.latest_score(key)
        version = None if score is None else str(score["model_version"])
        output = {"found": False} if score is None else {"found": True, **score}
        self.audit.record(
            self._about_customer(
                caller,
                request_id,
                "risk_score",
                customer_id,
                key,
                output,
                model_version=version,
                artifact_sha256=None if version is None else self._artifact_hash(version),
            )
        )
        if score is None:
            raise NotFoundError(
                "no score is on file for this customer", field="customer_id", rule="unknown"
            )
        return {"request_id": request_id, "customer_id": customer_id, **score}

    # --- personal data (GDPR) --------------------------------------------------------

    def _about_customer(
        self,
        caller: Caller,
        request_id: str,
        action: str,
        customer_id: str,
        key: str,
        output: Mapping[str, Any],
        **more: Any,
    ) -> AuditRecord:
        """The audit record of an action on one customer: its keyed input hash and
        pseudonym, never the raw id."""
        return AuditRecord(
            caller=caller.subject,
            role=caller.role,
            request_id=request_id,
            action=action,
            input_sha256=input_hash({"customer_id": customer_id}, self.runtime.pseudonym_key),
            output=output,
            customer_key=key,
            **more,
        )

    def _customer_named(self, parsed: BaseModel) -> object:
        """The customer id a predict request names (either kind), or None."""
        models = self.requests
        if isinstance(parsed, models.new_applicant):
            return parsed.application.model_dump().get(models.customer_field)  # type: ignore[attr-defined]
        return getattr(parsed, models.customer_field, None)

    def _refuse_erased(self, customer_id: object, conn: Connection | None = None) -> None:
        """410 for a customer who was erased: nothing is decided or shown for them."""
        if customer_id is None:
            return
        if self.store.erased_at(self._pseudonym(str(customer_id)), conn) is not None:
            raise _erased()

    @staticmethod
    def _check_customer_id(customer_id: str) -> None:
        if not 1 <= len(customer_id) <= 200:
            raise ValidationError(
                "customer_id must be 1 to 200 characters", field="customer_id", rule="length"
            )

    def customer_data(self, customer_id: str, caller: Caller, request_id: str) -> dict[str, Any]:
        """Everything held about a customer (admin): raw rows in staging (quarantined rows
        included), pseudonymised rows in analytics and scores, and how many audit rows
        name the customer. Every answer leaves an audit row saying who looked and how many
        rows each table gave (never the data, nor the raw id)."""
        self._check_customer_id(customer_id)
        key = self._pseudonym(customer_id)
        erased_at = self.store.erased_at(key)
        if erased_at is not None:
            output, answer = self._erased_answer(key, erased_at)
        else:
            output, answer = self._held_answer(customer_id, key)
        self.audit.record(
            self._about_customer(caller, request_id, "data_access", customer_id, key, output)
        )
        return {"request_id": request_id, "customer": customer_id, **answer}

    def _held_answer(self, customer_id: str, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """What is held about a customer on file (404 when nothing): the audit output (row
        counts, never data) and the answer."""
        held = self.personal_data.find(customer_id, key)
        audit = self.personal_data.count_kept(key)["audit.decisions"]
        if audit == 0 and not any(held.values()):
            raise NotFoundError(
                "nothing is held about this customer", field="customer_id", rule="unknown"
            )
        output = {"rows": {t: len(rows) for t, rows in held.items()}, "audit.decisions": audit}
        return output, {"data": held, "audit": {"audit.decisions": audit}}

    def _erased_answer(
        self, key: str, erased_at: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """For an erased customer: that they were erased, when, and what pseudonymised,
        non-personal history is kept and why."""
        kept = self.personal_data.count_kept(key)
        return {"erased": True, "kept": kept}, {
            "erased": True,
            "erased_at": erased_at.isoformat(),
            "data": {},
            "audit": {"audit.decisions": kept.get("audit.decisions", 0)},
            "kept": {t: {"rows": n, "reason": KEPT_REASON} for t, n in kept.items()},
        }

    def erase_customer(self, customer_id: str, caller: Caller, request_id: str) -> dict[str, Any]:
        """Erase a customer's personal data (admin), in one audited transaction.

        Staging loses every personal-data column of the customer's rows (the customer key
        becomes its pseudonym) and the quarantined cells naming the customer; analytics,
        scores and the audit trail hold only the pseudonym and are kept. A second call
        erases nothing and says so.

        First, the raw bucket: every landed file, older version and quarantine copy naming
        the customer is rewritten without their rows (or deleted) and its older versions
        deleted (:class:`~credit_risk.data.erasure.RawErasure`); a failure there leaves the
        database untouched, so the request can be repeated.
        """
        self._check_customer_id(customer_id)
        key = self._pseudonym(customer_id)
        kept = self.personal_data.count_kept(key)
        if not any(kept.values()) and not any(self.personal_data.find(customer_id, key).values()):
            raise NotFoundError(
                "nothing is held about this customer", field="customer_id", rule="unknown"
            )
        objects = self.raw_erasure.erase(customer_id).to_dict()
        with self.runtime.engine.begin() as conn:
            erased = self.personal_data.erase(conn, customer_id, key)
            done = schema.erasures.c.customer_key == key
            already = conn.execute(select(schema.erasures.c.customer_key).where(done)).first()
            if already is None:
                conn.execute(
                    insert(schema.erasures).values(
                        customer_key=key, erased_at=datetime.now(UTC), request_id=request_id[:80]
                    )
                )
            audited = self.audit.append(
                conn,
                self._about_customer(
                    caller,
                    request_id,
                    "erasure",
                    customer_id,
                    key,
                    {"erased": erased, "kept": kept, "objects": objects["stores"]},  # counts
                ),
            )
        self.audit.seal_if_due(audited, reason="erasure")
        return {
            "request_id": request_id,
            "customer": customer_id,
            "erased": erased,
            "already_erased": already is not None,
            "objects": objects,
            "kept": {t: {"rows": n, "reason": KEPT_REASON} for t, n in kept.items()},
            "expiring": self._expiring(),
            "without_personal_values": WITHOUT_PERSONAL_VALUES,
        }

    def _expiring(self) -> dict[str, str]:
        """What erasure does not rewrite, and when it goes by itself."""
        days = self.runtime.settings.raw_retention_days
        return {
            "raw files that cannot be read and do not show the customer's id (S3)": (
                f"deleted by the raw bucket's lifecycle rule {days} days after landing"
            )
        }

    def _artifact_hash(self, version: str) -> str | None:
        if version not in self._artifact_hashes:
            try:
                self._artifact_hashes[version] = self.registry.get(version).artifact_sha256
            except NotFoundError:
                return None
        return self._artifact_hashes[version]

    # --- models ----------------------------------------------------------------------

    def model_metrics(self, params: dict[str, str] | None) -> dict[str, Any]:
        """The champion's metrics, or a given version's."""
        query = parse_query(MetricsQuery, params)
        if query.version is None:
            version = self.registry.require_champion()
        else:
            version = self.registry.get(query.version)
        return {
            "model_name": version.model_name,
            "version": version.version,
            "candidate": version.candidate,
            "status": version.status,
            "created_at": _iso(version.created_at),
            "promoted_at": _iso(version.promoted_at),
            "metrics": version.metrics,
        }

    def models(self) -> dict[str, Any]:
        """Every registered version, newest first, and which is champion."""
        versions = self.registry.versions()
        champion = next((v.version for v in versions if v.status == "champion"), None)
        return {
            "model_name": MODEL_NAME,
            "champion": champion,
            "versions": [v.summary() for v in versions],
        }

    def promote(
        self, version: str, raw_body: bytes | str | None, caller: Caller, request_id: str
    ) -> dict[str, Any]:
        """Make ``version`` the champion by hand (admin); audited."""
        check_version(version)
        body = read_json_object(raw_body) if raw_body and raw_body.strip() else {}
        request = PromoteRequest.model_validate(body)
        previous = self.registry.champion()
        self._require_shadow_evidence(self.registry.get(version), previous)
        reason = f"{request.reason} (by {caller.subject})"
        champion = self.registry.promote(version, reason)
        return self._changed_champion("promote", champion, previous, caller, request_id, body)

    def _require_shadow_evidence(self, target: ModelVersion, previous: ModelVersion | None) -> None:
        """409 when the promotion policy's ``require_shadow`` is on and a version never
        promoted has too little shadow evidence (a former champion was gated already)."""
        from credit_risk.models.shadow_gate import load_shadow_requirement, shadow_refusal
        from credit_risk.monitoring.shadow_store import shadow_evidence

        requirement = load_shadow_requirement(self.runtime.settings.promotion_policy_path)
        if requirement is None or previous is None or target.promoted_at is not None:
            return
        refusal = shadow_refusal(shadow_evidence(self.runtime.engine, target.version), requirement)
        if refusal is not None:
            raise ConflictError(refusal, field="version", rule="shadow_evidence")

    def rollback(self, caller: Caller, request_id: str) -> dict[str, Any]:
        """Restore the previous champion (admin); audited."""
        previous = self.registry.champion()
        champion = self.registry.rollback()
        return self._changed_champion("rollback", champion, previous, caller, request_id, {})

    def _changed_champion(
        self,
        action: str,
        champion: ModelVersion,
        previous: ModelVersion | None,
        caller: Caller,
        request_id: str,
        body: dict[str, Any],
    ) -> dict[str, Any]:
        result = {
            "request_id": request_id,
            "champion": champion.summary(),
            "previous_champion": None if previous is None else previous.version,
        }
        self.audit.record(
            AuditRecord(
                caller=caller.subject,
                role=caller.role,
                request_id=request_id,
                action=action,
                input_sha256=input_hash(body, self.runtime.pseudonym_key),
                output=result,
                model_version=champion.version,
                artifact_sha256=champion.artifact_sha256,
            )
        )
        self.loader.refresh()
        self.runtime.challenger_loader.refresh()
        return result

    # --- operations ------------------------------------------------------------------

    def executions(self, params: dict[str, str] | None) -> dict[str, Any]:
        """The newest pipeline and training executions, as the Step Functions console
        lists them."""
        query = parse_query(ExecutionsQuery, params)
        settings = self.runtime.settings
        arns = {name: getattr(settings, attr) for name, attr in MACHINES.items()}
        if not any(arns.values()):
            raise ConfigurationError("no state machine ARN is configured for this API")
        chosen = [query.machine] if query.machine else list(arns)
        items = []
        for machine in chosen:
            arn = arns[machine]
            if not arn:
                continue
            for run in self.runtime.workflows.executions(
                arn, status=query.status, limit=query.limit
            ):
                items.append(
                    {
                        "machine": machine,
                        "name": run["name"],
                        "execution_arn": run["executionArn"],
                        "status": run["status"],
                        "started_at": _iso(run.get("startDate")),
                        "stopped_at": _iso(run.get("stopDate")),
                    }
                )
        items.sort(key=lambda e: e["started_at"] or "", reverse=True)
        return {"executions": items[: query.limit]}

    def health(self, params: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
        """Liveness, and readiness: the database answers and a champion is loaded."""
        query = parse_query(HealthQuery, params)
        body: dict[str, Any] = {"status": "ok", "live": True}
        if query.probe == "live":
            return 200, body
        checks: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            with self.runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = {"ok": True}
        except Exception as exc:  # readiness reports any failure instead of raising it
            checks["database"] = {"ok": False, "error": type(exc).__name__}
        checks["database"]["ms"] = round((time.perf_counter() - started) * 1000, 2)
        try:
            _ = self.policy  # the decision policy fitted to the contract
            checks["configuration"] = {"ok": True}
        except CreditRiskError as exc:  # names the setting; never a personal value
            checks["configuration"] = {"ok": False, "error": exc.name, "reason": exc.message}
        try:
            loaded: LoadedModel = self.loader.get()
            checks["champion"] = {
                "ok": True,
                "version": loaded.version.version,
                "candidate": loaded.version.candidate,
                "kind": loaded.model.kind,
                "artifact_sha256": loaded.version.artifact_sha256,
            }
        except Exception as exc:  # as above
            checks["champion"] = {"ok": False, "error": type(exc).__name__}
        ready = all(c["ok"] for c in checks.values())
        body.update(
            {
                "status": "ok" if ready else "unavailable",
                "ready": ready,
                "checks": checks,
                "policy_version": self.policy.version if checks["configuration"]["ok"] else None,
                "contract": self.contract.name,
            }
        )
        return (200 if ready else 503), body

    def dashboard(self) -> str:
        """The portfolio and model dashboard, from the latest monitoring run."""
        return self.runtime.monitor().render_latest()

    def openapi(self, routes: RouteRoles) -> dict[str, Any]:
        """The OpenAPI document of this API (built once)."""
        if self._openapi is None:
            from chalicelib.openapi import build_document

            self._openapi = build_document(routes, self.requests)
        return self._openapi

    # --- decision policies (issue 14) ------------------------------------------------

    def policy_versions(self) -> dict[str, Any]:
        """The decision policy in force and every promoted version."""
        policy = self.policy
        return {
            "version": policy.version,
            "policy": policy.model_dump(mode="json"),
            "versions": self.runtime.policy_store.versions(),
        }

    def simulate_policy(self, raw_body: bytes | str | None, request_id: str) -> dict[str, Any]:
        """A proposed policy replayed over the champion's scored book beside the one in
        force: figures (observed and inferred from PD), swap set, efficient frontier."""
        from chalicelib.policy_requests import PolicySimulateRequest
        from credit_risk.decisions.policy_store import parse_policy, simulate_policy

        request = PolicySimulateRequest.model_validate(read_json_object(raw_body))
        proposed = parse_policy(request.policy, self.contract, source="policy")
        champion = self.registry.require_champion()
        result = simulate_policy(
            self.runtime.engine,
            self.contract,
            current=self.policy,
            proposed=proposed,
            model_version=champion.version,
            margin=request.margin,
        )
        return {"request_id": request_id, **result}

    def promote_policy(
        self, raw_body: bytes | str | None, caller: Caller, request_id: str
    ) -> dict[str, Any]:
        """Put a decision policy in force (admin); versioned and audited."""
        from chalicelib.policy_requests import PolicyPromoteRequest
        from credit_risk.decisions.policy_store import parse_policy
        from credit_risk.governance.policy_promotion import promote_policy

        request = PolicyPromoteRequest.model_validate(read_json_object(raw_body))
        policy = parse_policy(request.policy, self.contract, source="policy")
        promoted = promote_policy(
            policy,
            store=self.runtime.policy_store,
            loader=self.runtime.policy_loader,
            audit=self.audit,
            subject=caller.subject,
            role=caller.role,
            request_id=request_id,
            reason=f"{request.reason} (by {caller.subject})",
            pseudonym_key=self.runtime.pseudonym_key,
        )
        return {"request_id": request_id, "policy": promoted}


_lock = threading.Lock()
_service: RiskService | None = None


def get_service() -> RiskService:
    """The container's service, rebuilt when the runtime was reset."""
    global _service
    runtime = get_runtime()
    service = _service
    if service is None or service.runtime is not runtime:
        with _lock:
            if _service is None or _service.runtime is not runtime:
                _service = RiskService(runtime)
            service = _service
    return service
