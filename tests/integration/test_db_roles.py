"""On Postgres the functions run as an application role that cannot rewrite the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from credit_risk.db.engine import get_engine
from credit_risk.db.migrations import migrate
from credit_risk.db.roles import grant_application_role
from credit_risk.governance.audit import AuditRecord, AuditTrail

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.fixture
def app_url(database_url: str) -> Iterator[str]:
    """The database migrated by its owner, and a URL of the application role on it."""
    owner = get_engine(database_url)
    migrate(owner)
    role = f"cr_app_{uuid.uuid4().hex[:8]}"
    assert grant_application_role(owner, role, "not-used-with-trust-auth") is True
    assert grant_application_role(owner, role, "ignored") is False  # idempotent
    url = make_url(database_url).set(username=role, password="x")
    yield url.render_as_string(hide_password=False)
    with owner.begin() as conn:
        conn.execute(text(f"REASSIGN OWNED BY {role} TO CURRENT_USER"))
        conn.execute(text(f"DROP OWNED BY {role}"))
    owner.dispose()
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
    admin.dispose()


def _record() -> AuditRecord:
    return AuditRecord(
        caller="test",
        role="scorer",
        request_id="r1",
        action="predict",
        customer_key=None,
        model_version=None,
        artifact_sha256=None,
        input_sha256="0" * 64,
        output={"decision": "approve"},
    )


def test_the_application_role_appends_and_reads_the_audit_trail(app_url: str) -> None:
    app = create_engine(app_url)
    AuditTrail(app).record(_record())
    with app.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit.decisions")).scalar() == 1
        conn.execute(text("SELECT count(*) FROM ml.scores"))
    app.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.decisions SET output = '{}'",
        "DELETE FROM audit.decisions",
        "TRUNCATE audit.decisions",
        "ALTER TABLE audit.decisions DISABLE TRIGGER ALL",
        "ALTER TABLE audit.decisions DISABLE TRIGGER decisions_append_only",
        "DROP TRIGGER decisions_append_only ON audit.decisions",
        "DROP TABLE audit.decisions",
        "SET session_replication_role = replica",
    ],
)
def test_the_application_role_cannot_rewrite_the_audit_trail(app_url: str, statement: str) -> None:
    app = create_engine(app_url)
    AuditTrail(app).record(_record())
    denied = pytest.raises(DBAPIError, match=r"permission denied|must be owner|superuser")
    with denied, app.begin() as conn:
        conn.execute(text(statement))
    with app.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit.decisions")).scalar() == 1
    app.dispose()
