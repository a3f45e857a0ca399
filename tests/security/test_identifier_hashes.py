"""Finding 5: no identifier is hashed unkeyed, so the audit trail cannot be reversed by
hashing every customer number.

Customer numbers are short and sequential (``C0000001`` ...): a plain sha256 of
``{"customer_id": ...}`` is undone by hashing the first hundred thousand. Every hash of
an identifier is an HMAC-SHA256 under the pseudonym key.
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path
from typing import Any

from functional.api.conftest import ApiWorld

from chalicelib.requests import RequestModels
from credit_risk.governance.audit import AuditTrail, canonical_json
from credit_risk.runtime import get_runtime

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "layers" / "core" / "python", ROOT / "functions", ROOT / "infra"]
ENUMERATED = 100_000
_HEX64 = re.compile(r"[0-9a-f]{64}")

# Every unkeyed digest the platform takes, and why what it hashes is not an identifier.
UNKEYED_ALLOWED = {
    ("credit_risk/data/ingestion.py", "ingest"): "a landed file's bytes (duplicate uploads)",
    ("credit_risk/adapters/aws.py", "spool_chunks"): (
        "a landed file's bytes, hashed as they stream to disk (duplicate uploads)"
    ),
    ("credit_risk/data/erasure.py", "_erase_object"): (
        "a rewritten landed file's bytes (the ingest ledger's marker)"
    ),
    ("credit_risk/models/versions.py", "sha256_hex"): "a model artifact's bytes",
    ("credit_risk/models/training/orchestration.py", "snapshot"): ("a training snapshot's content"),
    ("credit_risk/decisions/rescore.py", "portfolio_run"): (
        "an S3 object's bucket, key and ETag (an execution name)"
    ),
    ("credit_risk/governance/audit.py", "sha256_text"): "an audit row (the chain's hash)",
    ("deploy_check.py", "ensure_sam"): "a requirements file",
    ("credit_risk/decisions/policy_store.py", "policy_sha256"): (
        "a decision policy's canonical JSON (its version's content hash)"
    ),
}
# Helpers that hash unkeyed, and the only functions allowed to call them.
WRAPPERS = {
    "sha256_text": {("credit_risk/governance/audit.py", "row_hash")},
    "sha256_hex": {
        ("credit_risk/models/registry.py", "register"),
        ("credit_risk/models/registry.py", "load_artifact"),
        ("credit_risk/models/training/orchestration.py", "_write_candidate"),
        ("credit_risk/models/training/orchestration.py", "_load_run_artifact"),
        ("credit_risk/models/training/orchestration.py", "_stack_from_runs"),
    },
}
DIGESTS = {"sha256", "sha1", "md5", "sha512", "sha384", "sha224", "blake2b", "blake2s", "new"}


def _calls(path: Path) -> list[tuple[str, str]]:
    """(called digest or helper, enclosing function) for every unkeyed hash call."""
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if isinstance(child, ast.Call):
                func = child.func
                if (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "hashlib"
                    and func.attr in DIGESTS
                ):
                    found.append((f"hashlib.{func.attr}", function))
                elif isinstance(func, ast.Name) and func.id in WRAPPERS:
                    found.append((func.id, function))
            visit(child, name)

    visit(ast.parse(path.read_text()), "<module>")
    return found


def test_no_module_hashes_an_identifier_unkeyed() -> None:
    # GIVEN every source module of the platform (the package, the functions, the tools)
    unexpected = []
    for base in SOURCES:
        for path in sorted(base.rglob("*.py")):
            if ".aws-sam" in path.parts or "site-packages" in path.parts:
                continue
            rel = str(path.relative_to(base))
            for called, function in _calls(path):
                # hmac.new(key, msg, hashlib.sha256) passes the constructor, never calls it
                if called.startswith("hashlib."):
                    allowed = (rel, function) in UNKEYED_ALLOWED
                else:
                    allowed = (rel, function) in WRAPPERS[called]
                if not allowed:
                    unexpected.append(f"{rel}:{function} calls {called}")
    # THEN each unkeyed hash is one of the known content hashes, none of an identifier
    assert unexpected == []


def _plain_hashes(models: RequestModels) -> dict[str, str]:
    """Unkeyed sha256 of every way the first ids could have been hashed."""
    hashes: dict[str, str] = {}
    for i in range(1, ENUMERATED + 1):
        for candidate in (f"C{i:07d}", str(i)):
            for text in (
                candidate,
                canonical_json({"customer_id": candidate}),
                canonical_json(
                    models.parse_predict({"customer_id": candidate}).model_dump(mode="json")
                ),
            ):
                hashes[hashlib.sha256(text.encode()).hexdigest()] = candidate
    return hashes


def _digests(row: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for value in row.values():
        if isinstance(value, str):
            found.update(_HEX64.findall(value))
    return found


def test_enumerating_customer_numbers_finds_nobody_in_the_audit_trail(api: ApiWorld) -> None:
    # GIVEN customers decided on, looked up, looked at and erased through the API
    customers = [str(c) for c in api.models.data.applications["customer_id"].head(3)]
    first, second, third = customers
    assert (
        api.call("POST", "/api/predict", role="scorer", body={"customer_id": first}).status == 200
    )
    assert api.call("GET", f"/api/risk-score/{first}", role="viewer").status == 200
    assert api.call("GET", f"/api/risk-score/{second}", role="viewer").status == 404
    assert api.call("DELETE", f"/api/customers/{third}").status in (200, 404)
    rows = list(AuditTrail(get_runtime().engine).rows())
    assert len(rows) >= 3

    # WHEN an attacker hashes the first hundred thousand customer numbers every way
    hashes = _plain_hashes(RequestModels(get_runtime().contract))
    assert all(int(c[1:]) <= ENUMERATED for c in customers)  # they are in the range tried

    # THEN no hash in any audit row matches one of them
    matched = {hashes[d] for row in rows for d in _digests(row) if d in hashes}
    assert matched == set()
