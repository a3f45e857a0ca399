"""Promoting a decision policy: versioned, audited, admin only (like promoting a model).

The promotion and its audit row are written in one transaction: a promoted policy always
has its audit row, and a failed audit append leaves the policy in force unchanged.

I/O (SQLAlchemy).
"""

from __future__ import annotations

from typing import Any

from credit_risk.decisions.policy import DecisionPolicy
from credit_risk.decisions.policy_store import PolicyLoader, PolicyStore, policy_json
from credit_risk.errors import ConflictError
from credit_risk.governance.audit import AuditRecord, AuditTrail, input_hash

ACTION = "policy_promote"
"""The audit action of a policy promotion."""


def promote_policy(
    policy: DecisionPolicy,
    *,
    store: PolicyStore,
    loader: PolicyLoader,
    audit: AuditTrail,
    subject: str,
    role: str,
    request_id: str,
    reason: str,
    pseudonym_key: bytes,
) -> dict[str, Any]:
    """Make ``policy`` the one in force, audited; the loader re-reads it at once (other
    containers within their refresh interval). Returns the promotion."""
    current = loader.get()
    if policy.version == current.version and policy_json(policy) != policy_json(current):
        raise ConflictError(
            f"decision policy version '{policy.version}' is the one in force, with other "
            "settings; a version is immutable: give the changed policy a new version",
            field="version",
            rule="immutable_version",
        )
    with store.engine.begin() as conn:
        promoted = store.promote(policy, by=subject, reason=reason, conn=conn)
        promoted["previous_version"] = promoted["previous_version"] or current.version
        row = audit.append(
            conn,
            AuditRecord(
                caller=subject,
                role=role,
                request_id=request_id,
                action=ACTION,
                input_sha256=input_hash(policy.model_dump(mode="json"), pseudonym_key),
                output={"policy": promoted},
            ),
        )
    audit.seal_if_due(row)
    loader.refresh()
    return promoted
