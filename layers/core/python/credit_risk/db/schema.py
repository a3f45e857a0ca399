"""Table definitions: the one source both Postgres and SQLite are migrated from.

Fixed tables (object ledger, quarantine, registry, scores, audit) are declared here. The
staging and analytics tables that hold a lender's own columns are built from the dataset
contract by :func:`staging_table` and :func:`features_table`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine

from credit_risk.contract import Contract, DatasetSpec

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    schema="ml",
)

objects = Table(
    "objects",
    metadata,
    Column("batch_id", String(80), primary_key=True),
    Column("dataset", String(40), nullable=False),
    Column("bucket", String(255), nullable=False),
    Column("key", Text, nullable=False),
    Column("etag", String(100)),
    Column("version_id", String(200)),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger),
    Column("status", String(20), nullable=False),
    Column("rows_total", Integer, nullable=False, default=0),
    Column("rows_loaded", Integer, nullable=False, default=0),
    Column("rows_quarantined", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("execution_arn", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset", "sha256", name="uq_objects_dataset_sha256"),
    schema="staging",
)

object_keys = Table(
    "object_keys",
    metadata,
    Column("bucket", String(255), nullable=False),
    Column("key", Text, nullable=False),
    Column("etag", String(100), nullable=False),
    Column("batch_id", String(80), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("bucket", "key", "etag", name="pk_object_keys"),
    schema="staging",
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("batch_id", String(80), nullable=False),
    Column("key", Text, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("column_name", String(200), nullable=False),
    Column("value", Text),
    Column("rule", Text, nullable=False),
    # The refused row's raw customer key (staging holds raw personal data), so that GDPR
    # access and erasure find a row refused for another cell; migration 5 adds it.
    Column("customer_id", Text),
    Index("ix_quarantine_customer", "customer_id"),
    schema="staging",
)

quality_reports = Table(
    "quality_reports",
    metadata,
    Column("batch_id", String(80), primary_key=True),
    Column("dataset", String(40), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("summary", Text, nullable=False),
    Column("report", Text, nullable=False),
    Column("report_uri", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    schema="analytics",
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_name", String(100), nullable=False),
    Column("version", String(40), nullable=False),
    Column("candidate", String(60), nullable=False),
    Column("status", String(20), nullable=False),
    Column("artifact_uri", Text, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("data_snapshot_hash", String(64), nullable=False),
    Column("code_version", String(60), nullable=False),
    Column("params", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("promoted_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("model_name", "version", name="pk_model_versions"),
    schema="ml",
)

scores = Table(
    "scores",
    metadata,
    Column("application_id", String(200), nullable=False),
    Column("customer_key", String(64), nullable=False),
    Column("probability_of_default", Float, nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(4), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("expected_loss", Float),
    Column("reasons", Text, nullable=False),
    Column("model_version", String(40), nullable=False),
    Column("source", String(20), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Index("ix_scores_customer_latest", "customer_key", "scored_at"),
    # A re-score (source "rescore") leaves exactly one score per loan and model version,
    # however often a chunk is retried, redriven or run again; the chunk replaces its rows
    # in one transaction, and this index holds the rule in the database itself.
    Index(
        "uq_scores_rescore_once",
        "application_id",
        "model_version",
        unique=True,
        postgresql_where=text("source = 'rescore'"),
        sqlite_where=text("source = 'rescore'"),
    ),
    schema="ml",
)
RESCORE_SOURCE = "rescore"
"""``ml.scores.source`` of scores written by the re-score state machine."""

decisions_audit = Table(
    "decisions",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("role", String(40), nullable=False),
    Column("request_id", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("customer_key", String(64)),
    Column("model_version", String(40)),
    Column("artifact_sha256", String(64)),
    Column("input_sha256", String(64), nullable=False),
    Column("output", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    # HMAC of row_hash under the audit seal key (not in the database); migration 4 adds
    # it to databases built before it, whose earlier rows have none.
    Column("row_mac", String(64)),
    # One chain per writer stripe (governance.audit): the row's chain and its place in it.
    # Revision 0008 adds them to databases built before it, whose earlier rows have none
    # (they form the one chain they always were, ordered by seq).
    Column("chain_id", String(16)),
    Column("chain_seq", BigInteger),
    Index("uq_decisions_chain_seq", "chain_id", "chain_seq", unique=True),
    schema="audit",
)

# Tables added after migration 1 live in their own MetaData: migration 1 creates every
# table of ``metadata``, and must create on a fresh database exactly what it always did.
later_metadata = MetaData()

monitoring_snapshots = Table(
    "monitoring_snapshots",
    later_metadata,
    Column("snapshot_id", String(40), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("trigger", String(40), nullable=False),
    Column("model_version", String(40)),
    Column("status", String(10), nullable=False),
    Column("window_start", String(7)),
    Column("window_end", String(7)),
    Column("rows", Integer, nullable=False),
    Column("score_psi", Float),
    Column("alerts", Integer, nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("dashboard_uri", Text),
    Column("retrain_execution_arn", Text),
    schema="ml",
)

erasures = Table(
    # One row per erased customer (the pseudonym only), written with the erasure: the API
    # answers 410 for them afterwards. Append-only, like the rest of audit.
    "erasures",
    later_metadata,
    Column("customer_key", String(64), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("request_id", String(80), nullable=False),
    schema="audit",
)

token_revocations = Table(
    "token_revocations",
    later_metadata,
    Column("kind", String(10), primary_key=True),  # "token" (a jti) or "subject"
    Column("value", String(200), primary_key=True),
    # subject: every token issued (iat, epoch seconds) at or before this is refused; 0 for
    # a token. Append-only, like the rest of audit: a later revocation adds a row.
    Column("issued_before", BigInteger, primary_key=True, autoincrement=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
    Column("revoked_by", String(200), nullable=False),
    schema="audit",
)

# Decision policies (issue 14): every promoted policy, versioned; exactly one is active
# and the serving path decides by it (the packaged default until the first promotion).
decision_policies = Table(
    "decision_policies",
    later_metadata,
    Column("version", String(80), primary_key=True),
    Column("policy", Text, nullable=False),  # the policy as canonical JSON
    Column("policy_sha256", String(64), nullable=False),
    Column("status", String(10), nullable=False),  # "active" or "retired"
    Column("promoted_at", DateTime(timezone=True), nullable=False),
    Column("promoted_by", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    schema="ml",
)

# The newest simulations of a proposed policy against the active one: the dashboard draws
# the latest one's efficient frontier.
policy_simulations = Table(
    "policy_simulations",
    later_metadata,
    Column("simulation_id", String(40), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("current_version", String(80), nullable=False),
    Column("proposed_version", String(80), nullable=False),
    Column("model_version", String(40)),
    Column("result", Text, nullable=False),
    schema="ml",
)

shadow_scores = Table(
    # The shadow challenger's PD and decision beside the champion's, one row per scored API
    # request (decisions.shadow), written in the request's own transaction. No customer
    # key: rows are compared by application id with the matured outcomes (monitoring.shadow).
    "shadow_scores",
    later_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(80), nullable=False),
    Column("application_id", String(200), nullable=False),
    Column("champion_version", String(40), nullable=False),
    Column("champion_pd", Float, nullable=False),
    Column("champion_decision", String(20), nullable=False),
    Column("challenger_version", String(40), nullable=False),
    Column("challenger_pd", Float, nullable=False),
    Column("challenger_decision", String(20), nullable=False),
    Column("challenger_ms", Float, nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Index("ix_shadow_scores_challenger", "challenger_version", "scored_at"),
    Index("ix_shadow_scores_application", "application_id"),
    schema="ml",
)

_SQL_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "string": Text,
    "category": Text,
    "integer": BigInteger,
    "float": Float,
    "date": Date,
    "boolean": Boolean,
}


def staging_table(contract: Contract, dataset: str, meta: MetaData | None = None) -> Table:
    """The staging table for one dataset: the contract's columns plus batch bookkeeping."""
    spec: DatasetSpec = contract.dataset(dataset)
    columns: list[Any] = [
        Column("_batch_id", String(80), nullable=False),
        Column("_row_number", Integer, nullable=False),
    ]
    columns += [Column(name, _SQL_TYPES[col.type]()) for name, col in spec.columns.items()]
    return Table(dataset, meta or MetaData(), *columns, schema="staging")


def features_table(contract: Contract, meta: MetaData | None = None) -> Table:
    """analytics.application_features: pseudonymised keys, model features and the
    non-personal inputs derived features read; no raw personal data."""
    columns: list[Any] = [
        Column("application_id", String(200), primary_key=True),
        Column("customer_key", String(64), nullable=False),
        Column("event_date", Date, nullable=False),
        Column("_batch_id", String(80), nullable=False),
    ]
    columns += [Column(name, Float) for name in contract.numeric_features]
    columns += [Column(name, Text) for name in contract.categorical_features]
    spec = contract.applications
    columns += [
        Column(name, _SQL_TYPES[spec.columns[name].type]()) for name in contract.input_columns
    ]
    # The API reads a customer's latest application by its pseudonymised key.
    latest = Index("ix_application_features_customer", "customer_key", "event_date")
    return Table("application_features", meta or MetaData(), *columns, latest, schema="analytics")


def protected_table(contract: Contract, meta: MetaData | None = None) -> Table:
    """analytics.protected_attributes: each application's protected attributes (the
    contract's ``protected: true`` columns) as keyed pseudonyms, apart from the features
    so that nothing that scores or answers a viewer reads them; training and monitoring
    join it to measure fairness per group."""
    columns: list[Any] = [
        Column("application_id", String(200), primary_key=True),
        Column("_batch_id", String(80), nullable=False),
    ]
    columns += [Column(name, String(64)) for name in contract.applications.protected_columns]
    return Table("protected_attributes", meta or MetaData(), *columns, schema="analytics")


def labels_table(meta: MetaData | None = None) -> Table:
    """analytics.labels: one outcome per application, with whether it has matured."""
    return Table(
        "labels",
        meta or MetaData(),
        Column("application_id", String(200), primary_key=True),
        Column("target", Integer, nullable=False),
        Column("observed_until", Date, nullable=False),
        Column("matured", Boolean, nullable=False),
        Column("_batch_id", String(80), nullable=False),
        schema="analytics",
    )
