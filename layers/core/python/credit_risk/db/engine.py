"""The database engine: RDS Postgres through pg8000, or the embedded SQLite default.

Postgres schemas (``staging``, ``analytics``, ``ml``, ``audit``) are SQLite attached
databases, so the same qualified table names work on both.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SCHEMAS = ("staging", "analytics", "ml", "audit")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def url_from_secret(secret: dict[str, Any]) -> URL:
    """Build a pg8000 URL from an RDS-style secret (username, password, host, port, dbname)."""
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=secret["host"],
        port=int(secret.get("port", 5432)),
        database=secret.get("dbname", "postgres"),
    )


def sqlite_url(directory: Path) -> str:
    """The embedded default: one SQLite file per schema under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(directory / 'credit_risk.db').resolve()}"


def _attach_schemas(engine: Engine) -> None:
    main = Path(engine.url.database or "")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLite's own transaction handling is replaced by explicit BEGIN so that a
        # file's load and its bookkeeping commit or roll back together.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        for schema in SCHEMAS:
            path = main.with_name(f"{main.stem}.{schema}.db")
            # The file name is a bound parameter: a data folder may hold any character.
            # The schema name is one of our own constants (an identifier cannot be bound).
            cursor.execute(f"ATTACH DATABASE ? AS {schema}", (str(path),))
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | URL) -> Engine:
    """Return the process-wide engine for ``url``, creating it on first use."""
    key = str(url) if isinstance(url, str) else url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite":
                engine = create_engine(
                    parsed,
                    connect_args={"timeout": 30, "check_same_thread": False},
                    json_serializer=json.dumps,
                )
                _attach_schemas(engine)
            else:
                engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
            _engines[key] = engine
        return engine


def dispose_all() -> None:
    """Close every engine (tests and the local cloud between runs)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def is_postgres(engine: Engine) -> bool:
    """True when the engine talks to Postgres (the fast COPY path applies)."""
    return engine.dialect.name == "postgresql"
