"""The Postgres pool pings a connection before use once it sat idle (not on every
checkout, which cost the request path two round trips each time): a connection the server
dropped meanwhile is replaced before use."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from credit_risk.db import engine as engines


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_dropped_while_idle_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(engines.time, "monotonic", lambda: clock[0])
    engine = engines.get_engine(database_url, pool_size=1)
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    # GIVEN a connection back in the pool moments ago: handed out again as it is
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
    # WHEN the server drops it while it sits idle past the ping time
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    admin.dispose()
    clock[0] += engines.PING_AFTER_IDLE_SECONDS + 1
    # THEN the next checkout finds it dead and hands out a new connection that works
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
