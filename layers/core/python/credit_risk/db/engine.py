"""The database engine: RDS Postgres through pg8000, or the embedded SQLite default.

Postgres schemas (``staging``, ``analytics``, ``ml``, ``audit``) are SQLite attached
databases, so the same qualified table names work on both.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SCHEMAS = ("staging", "analytics", "ml", "audit")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


RDS_CA_BUNDLE = Path(__file__).with_name("certs") / "rds-global-bundle.pem"


def url_from_secret(secret: dict[str, Any], host: str | None = None) -> URL:
    """Build a pg8000 URL from an RDS-style secret (username, password, host, port, dbname);
    ``host`` (an RDS Proxy endpoint) replaces the secret's host when given."""
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=host or secret["host"],
        port=int(secret.get("port", 5432)),
        database=secret.get("dbname", "postgres"),
    )


@cache
def rds_tls_context() -> ssl.SSLContext:
    """TLS that verifies the server: the RDS CA bundle shipped with this package (a direct
    connection to the instance) and the system's roots (RDS Proxy presents an Amazon
    Trust Services certificate). Hostnames are checked."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(RDS_CA_BUNDLE))
    return context


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


def get_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    tls: ssl.SSLContext | None = None,
    password: Callable[[], str] | None = None,
) -> Engine:
    """Return the process-wide engine for ``url``, creating it on first use.

    Postgres keeps ``pool_size`` connections (1 on Lambda, which serves one request at a
    time), checked before use. ``tls`` verifies the server; ``password`` is asked again for
    every new connection, so a rotated secret is picked up without a restart.
    """
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
                engine = create_engine(
                    parsed,
                    pool_pre_ping=True,
                    pool_size=pool_size,
                    max_overflow=0 if pool_size == 1 else pool_size,
                    connect_args={"ssl_context": tls} if tls is not None else {},
                )
                if password is not None:
                    _refresh_password(engine, password)
            _engines[key] = engine
        return engine


def _refresh_password(engine: Engine, password: Callable[[], str]) -> None:
    @event.listens_for(engine, "do_connect")
    def _on_connect(_dialect: Any, _record: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        kwargs["password"] = password()


def dispose_all() -> None:
    """Close every engine (tests and the local cloud between runs)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def is_postgres(engine: Engine) -> bool:
    """True when the engine talks to Postgres (the fast COPY path applies)."""
    return engine.dialect.name == "postgresql"
