"""The API's OpenAPI 3.1 document, served at ``GET /api/openapi.json``.

Paths come from the routes the app declares (so the document cannot miss one: building it
fails on a route without an entry in :data:`OPERATIONS`), request bodies from the same
pydantic models that validate them (built from the contract), responses from the models
below. The fuzz test feeds this document to schemathesis and checks every answer against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from chalicelib.auth import RouteRoles
from chalicelib.policy_requests import PolicyPromoteRequest, PolicySimulateRequest
from chalicelib.requests import (
    VERSION_PATTERN,
    ExecutionsQuery,
    HealthQuery,
    MetricsQuery,
    PromoteRequest,
    RequestModels,
)

TITLE = "Credit risk API"
VERSION = "1.0.0"
REF = "#/components/schemas/{model}"


# --- response bodies -------------------------------------------------------------------------


class FieldProblem(BaseModel):
    """One thing wrong with a request."""

    field: str
    rule: str
    message: str


class ErrorBody(BaseModel):
    """Every error: a name, a readable message, the request id and, for bad input, each
    field with the rule it broke."""

    error: str
    message: str
    request_id: str
    errors: list[FieldProblem] | None = None


class Reason(BaseModel):
    """A principal reason: a feature that pushed the PD up, with its contribution to the
    log-odds of default and its plain-language text."""

    feature: str
    contribution: float
    text: str


class TermChange(BaseModel):
    """One loan term changed from the applicant's value."""

    field: str
    from_: float = Field(alias="from")
    to: float


class Counterfactual(BaseModel):
    """A change that turns the decision into an approval, re-scored."""

    changes: list[TermChange]
    probability_of_default: float = Field(ge=0, le=1)
    score: int
    grade: str
    decision: Literal["approve"]


class Counterfactuals(BaseModel):
    """For a decline or referral: the smallest approving changes, or why there is none."""

    found: bool
    options: list[Counterfactual]
    searched: int = Field(description="Changed applications scored to find them")
    message: str | None = None


class DecisionBody(BaseModel):
    """A decision on one application."""

    request_id: str
    application_id: str
    probability_of_default: float = Field(ge=0, le=1)
    score: int
    grade: str
    decision: Literal["approve", "review", "decline"]
    expected_loss: float | None
    reasons: list[Reason] = Field(max_length=4)
    reason_codes: list[str] = Field(
        default_factory=list,
        description=(
            "Why the decision was overridden, e.g. OUT_OF_TRAINING_RANGE:<feature> when an "
            "input lies outside what the model was trained on (the decision is then review)"
        ),
    )
    counterfactuals: Counterfactuals | None = Field(
        default=None,
        description="Declines and referrals: the smallest changes to the contract's "
        "actionable terms (amount, term) that would be approved, each re-scored",
    )
    policy_version: str
    model_version: str
    artifact_sha256: str
    scored_at: str = Field(json_schema_extra={"format": "date-time"})


class RiskScoreBody(BaseModel):
    """A customer's latest stored score."""

    request_id: str
    customer_id: str
    application_id: str
    probability_of_default: float = Field(ge=0, le=1)
    score: int
    grade: str
    decision: str
    expected_loss: float | None
    reasons: list[Reason]
    model_version: str
    source: str = Field(
        description="batch (the pipeline), api (a predict call) or rescore (a re-score of the book)"
    )
    scored_at: str = Field(json_schema_extra={"format": "date-time"})


class KeptTable(BaseModel):
    """Rows kept at erasure, and why."""

    rows: int
    reason: str


class CustomerDataBody(BaseModel):
    """Everything held about a customer: rows by table (raw in staging, pseudonymised in
    analytics and scores) and how many audit rows name the customer."""

    request_id: str
    customer: str
    data: dict[str, list[dict[str, Any]]]
    audit: dict[str, int]
    erased: bool = Field(default=False, description="True once the customer was erased")
    erased_at: str | None = None
    kept: dict[str, KeptTable] | None = Field(
        default=None, description="After erasure: the pseudonymised rows kept, and why"
    )


class ErasureBody(BaseModel):
    """What an erasure changed: rows erased per table, and the pseudonymised rows kept."""

    request_id: str
    customer: str
    erased: dict[str, int]
    already_erased: bool = Field(
        default=False, description="True when an earlier erasure had already run"
    )
    objects: dict[str, Any] = Field(
        default_factory=dict,
        description="The raw bucket: the mechanism, and per store (landed files, quarantine "
        "copies) the objects that named the customer, rewritten, deleted, rows removed, "
        "versions deleted (counts only)",
    )
    kept: dict[str, KeptTable]
    expiring: dict[str, str] = Field(
        default_factory=dict, description="Stores erasure does not rewrite, and when they expire"
    )
    without_personal_values: dict[str, str] = Field(
        default_factory=dict,
        description="Stores that hold no personal value by construction, and why",
    )


class ModelMetricsBody(BaseModel):
    """A model version's evaluation: holdout metrics, cross-validation, calibration."""

    model_name: str
    version: str
    candidate: str
    status: str
    created_at: str | None
    promoted_at: str | None
    metrics: dict[str, Any]


class ModelSummary(BaseModel):
    """One registered model version."""

    model_config = ConfigDict(extra="allow")

    model_name: str
    version: str
    candidate: str
    status: Literal["candidate", "champion", "rejected", "retired"]
    auc: float | None
    artifact_uri: str
    artifact_sha256: str
    created_at: str | None
    promoted_at: str | None


class ModelListBody(BaseModel):
    """Every model version, newest first."""

    model_name: str
    champion: str | None
    versions: list[ModelSummary]


class ChampionChangeBody(BaseModel):
    """The champion after a promotion or rollback."""

    request_id: str
    champion: ModelSummary
    previous_champion: str | None


class Execution(BaseModel):
    """One pipeline or training execution."""

    machine: Literal["pipeline", "training", "rescore"]
    name: str
    execution_arn: str
    status: str
    started_at: str | None
    stopped_at: str | None


class ExecutionsBody(BaseModel):
    """Executions, newest first."""

    executions: list[Execution]


class HealthBody(BaseModel):
    """Liveness, and readiness with each check."""

    status: Literal["ok", "unavailable"]
    live: bool
    ready: bool | None = None
    checks: dict[str, dict[str, Any]] | None = None
    policy_version: str | None = None
    contract: str | None = None


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """The documentation of one route."""

    summary: str
    description: str
    response: type[BaseModel] | None
    errors: tuple[int, ...] = ()
    query: type[BaseModel] | None = None
    body: str | None = None  # "predict", "promote" or one of POLICY_BODIES
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    media_type: str = "application/json"


_CUSTOMER_ID = {"type": "string", "minLength": 1, "maxLength": 200}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/api/predict", "POST"): Operation(
        "Decide on a loan application",
        "A customer on file by id with the new loan's terms, or a whole application for a "
        "new applicant. Returns the probability of default, score points, grade, decision, "
        "expected loss and up to four principal reasons. Audited. 409 when a whole "
        "application names a customer already on file; 410 for an erased customer.",
        DecisionBody,
        (400, 404, 409, 410, 413, 415, 503),
        body="predict",
    ),
    ("/api/risk-score/{customer_id}", "GET"): Operation(
        "A customer's latest score",
        "The latest stored score and decision (batch or API), when and by which model. "
        "Audited. 410 for an erased customer.",
        RiskScoreBody,
        (400, 404, 410),
        parameters={"customer_id": _CUSTOMER_ID},
    ),
    ("/api/customers/{customer_id}/data", "GET"): Operation(
        "Everything held about a customer (admin)",
        "GDPR access: the customer's raw rows in staging (found by the customer id), the "
        "rows refused at ingestion (quarantine), the pseudonymised rows in analytics and "
        "scores, and a count of the audit rows naming the customer. Audited. 404 when "
        "nothing is held; for an erased customer, that they were erased, when, and the "
        "pseudonymised rows kept and why.",
        CustomerDataBody,
        (400, 404),
        parameters={"customer_id": _CUSTOMER_ID},
    ),
    ("/api/customers/{customer_id}", "DELETE"): Operation(
        "Erase a customer's personal data (admin)",
        "GDPR erasure, in one transaction: every personal-data column of the customer's "
        "staging rows becomes NULL (the customer key becomes its pseudonym), quarantined "
        "cells naming the customer are deleted. Analytics, scores and the audit trail hold "
        "only the pseudonym and are kept. In the raw bucket, every landed file, older "
        "version and quarantine copy naming the customer is rewritten without their rows "
        "and its older versions deleted. Idempotent: a second call erases zero rows. "
        "404 when nothing is held. Audited.",
        ErasureBody,
        (400, 404),
        parameters={"customer_id": _CUSTOMER_ID},
    ),
    ("/api/model-metrics", "GET"): Operation(
        "Model metrics",
        "The champion's metrics, or a given version's with ?version=.",
        ModelMetricsBody,
        (400, 404, 503),
        query=MetricsQuery,
    ),
    ("/api/health", "GET"): Operation(
        "Health",
        "Liveness (?probe=live touches nothing) and readiness: the database answers and a "
        "champion is loaded. 503 when not ready.",
        HealthBody,
        (400, 503),
        query=HealthQuery,
    ),
    ("/api/models", "GET"): Operation(
        "Model versions", "Every registered version, newest first.", ModelListBody
    ),
    ("/api/models/{version}/promote", "POST"): Operation(
        "Promote a version (admin)",
        "Make a registered version the champion by hand. Audited. 409 when the promotion "
        "policy's require_shadow is on and a version never promoted has too little shadow "
        "evidence.",
        ChampionChangeBody,
        (400, 404, 409, 413, 415),
        body="promote",
        parameters={"version": {"type": "string", "pattern": VERSION_PATTERN}},
    ),
    ("/api/models/rollback", "POST"): Operation(
        "Roll back (admin)",
        "Restore the previous champion. Audited.",
        ChampionChangeBody,
        (404,),
    ),
    ("/api/executions", "GET"): Operation(
        "Pipeline and training executions",
        "The newest Step Functions executions of the pipeline, training and re-score machines.",
        ExecutionsBody,
        (400,),
        query=ExecutionsQuery,
    ),
    ("/api/dashboard", "GET"): Operation(
        "The portfolio and model dashboard",
        "One self-contained HTML page (text/html, no external loads): portfolio by grade "
        "and decision, expected loss, default rate by vintage, drift, champion vs "
        "challengers, recent executions.",
        None,
        media_type="text/html",
    ),
    ("/api/openapi.json", "GET"): Operation(
        "This document", "The OpenAPI 3.1 document of the API.", None
    ),
}

# Decision policies (issue 14): bodies are free-form policy mappings, answers plain objects.
OPERATIONS.update(
    {
        ("/api/policy", "GET"): Operation(
            "The decision policy in force",
            "The policy decisions are made under (the packaged default before any promotion) "
            "and every promoted version: when, by whom, why, its hash.",
            None,
        ),
        ("/api/policy/simulate", "POST"): Operation(
            "Simulate a proposed decision policy",
            "Replays a proposed policy (cut-offs, grade bands, LGD, exposure) over the book "
            "the champion scored, beside the policy in force: approval rate, bad rate among "
            "approved (observed on granted, matured loans; inferred from PD elsewhere; "
            "combined), expected and realised loss, the swap set, and the efficient "
            "frontier for every PD cut-off. 400 names the setting of an invalid policy; "
            "404 when the champion has scored nothing yet; 503 without a champion.",
            None,
            (400, 404, 413, 415, 503),
            body="policy_simulate",
        ),
        ("/api/policy/promote", "POST"): Operation(
            "Put a decision policy in force (admin)",
            "Versioned and audited: the serving path decides by it within 30 s on every "
            "container. 409 when the version is already in force or was promoted before "
            "with other settings (a version is immutable).",
            None,
            (400, 409, 413, 415),
            body="policy_promote",
        ),
    }
)

POLICY_BODIES: dict[str, type[BaseModel]] = {
    "policy_simulate": PolicySimulateRequest,
    "policy_promote": PolicyPromoteRequest,
}
_VALIDATED: tuple[type[BaseModel], ...] = (PromoteRequest, *POLICY_BODIES.values())

_STATUS_TEXT = {
    400: "The request is invalid; each field and the rule it broke are listed",
    401: "No valid bearer token",
    403: "The token's role may not call this",
    404: "Not found",
    409: "Conflicts with what is on file",
    410: "The customer was erased",
    413: "The body is too large",
    415: "The body is not JSON",
    503: "Not ready: no champion model, or a dependency is down",
}


_GATEWAY_ERROR = {
    "type": "object",
    "description": 'API Gateway\'s own answer, e.g. {"message": "Unauthorized"}',
    "additionalProperties": {"type": "string"},
}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def build_document(routes: RouteRoles, requests: RequestModels) -> dict[str, Any]:
    """The OpenAPI document for the declared routes and the contract's request models."""
    models: list[type[BaseModel]] = [
        ErrorBody,
        DecisionBody,
        RiskScoreBody,
        CustomerDataBody,
        ErasureBody,
        ModelMetricsBody,
        ModelListBody,
        ChampionChangeBody,
        ExecutionsBody,
        HealthBody,
        PromoteRequest,
        *POLICY_BODIES.values(),
        requests.existing_customer,
        requests.new_applicant,
    ]
    keyed, schemas = models_json_schema(
        [(m, "validation" if m in _VALIDATED else "serialization") for m in models],
        ref_template=REF,
    )
    components = schemas.get("$defs", {})

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        mode: Literal["validation", "serialization"] = (
            "validation" if model in _VALIDATED else "serialization"
        )
        return keyed[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    for rule in routes.rules:
        for method in rule.methods:
            op = OPERATIONS[(rule.path, method)]
            schema = ref(op.response) if op.response else {}
            if op.media_type != "application/json":
                schema = {"type": "string"}
            responses: dict[str, Any] = {
                "200": {"description": "OK", "content": {op.media_type: {"schema": schema}}}
            }
            for status in op.errors:
                responses[str(status)] = {
                    "description": _STATUS_TEXT[status],
                    "content": {"application/json": {"schema": ref(ErrorBody)}},
                }
            for status in (401, 403):  # answered by API Gateway before our code runs
                responses[str(status)] = {
                    "description": _STATUS_TEXT[status],
                    "content": {"application/json": {"schema": _GATEWAY_ERROR}},
                }
            if op.response is HealthBody:  # not ready is a health answer, not an error
                responses["503"]["content"]["application/json"]["schema"] = ref(HealthBody)
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": schema}
                for name, schema in op.parameters.items()
            ]
            if op.query is not None:
                parameters += _query_parameters(op.query)
            operation: dict[str, Any] = {
                "operationId": f"{method.lower()}_{rule.path.strip('/').replace('/', '_')}".replace(
                    "{", ""
                )
                .replace("}", "")
                .replace("-", "_")
                .replace(".", "_"),
                "summary": op.summary,
                "description": f"{op.description} Needs the {rule.role} role or above.",
                "parameters": parameters,
                "responses": responses,
            }
            if op.body == "predict":
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    ref(requests.existing_customer),
                                    ref(requests.new_applicant),
                                ]
                            }
                        }
                    },
                }
            elif op.body in POLICY_BODIES:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(POLICY_BODIES[op.body])}},
                }
            elif op.body == "promote":
                operation["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": ref(PromoteRequest)}},
                }
            paths.setdefault(rule.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Real-time credit decisions with reasons, model governance and operations. "
                f"Requests follow the dataset contract '{requests.contract.name}'. "
                "Every call needs a bearer token; roles: viewer < analyst < scorer < admin."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
    }
