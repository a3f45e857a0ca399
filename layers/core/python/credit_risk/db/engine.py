"""The database engine: RDS Postgres through pg8000, or the embedded SQLite default.

Postgres schemas (``staging``, ``analytics``, ``ml``, ``audit``) are SQLite attached
databases, so the same qualified table names work on both.
"""

from __future__ import annotations

import copy
import json
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.exc import DisconnectionError

SCHEMAS = ("staging", "analytics", "ml", "audit")
# A pooled Postgres connection idle longer than this is pinged before use (a frozen Lambda,
# a proxy's idle timeout); one returned to the pool moments ago is used as it is.
PING_AFTER_IDLE_SECONDS = 10.0

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
        # On the driver's connection: through SQLAlchemy's execution it cost the request
        # path a statement's bookkeeping (a cursor, events, a result) for every begin.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")


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
                    pool_size=pool_size,
                    max_overflow=0 if pool_size == 1 else pool_size,
                    connect_args={"ssl_context": tls} if tls is not None else {},
                )
                _ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
                if password is not None:
                    _refresh_password(engine, password)
            _engines[key] = engine
        return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """SQLAlchemy's pre-ping, for connections that sat idle in the pool ``idle_seconds`` or
    more: a dead one is replaced before use. ``pool_pre_ping`` pings on every checkout, two
    round trips (BEGIN, SELECT 1) per checkout, which the request path paid twice."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just connected, or back in the pool moments ago
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:  # any failure means the connection is gone
            raise DisconnectionError("the pooled connection did not answer") from exc


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


class DriverStatement:
    """A Core statement compiled once for ``engine`` and, on Postgres, run through the
    driver as its plain text with its values in order: for the request path.

    pg8000 scans each statement's text in Python on every execution, and SQLAlchemy renders
    a cast after every value for it (``%s::VARCHAR``, ``%s::TIMESTAMP WITH TIME ZONE``),
    which made the request's audit insert 687 characters against 503 without them. pg8000
    sends every value untyped, so the server gives each the type its place in the
    statement wants (a column, a function's argument). Compiled here once, it also skips
    SQLAlchemy's per-execution cache look-up. Values go through the statement's own bind
    processors; results come back as the driver gives them, so it is for statements whose
    result columns need no processing on Postgres (numbers, text, dates and timestamps).
    On SQLite, which has neither cost and stores dates through SQLAlchemy's processors, it
    is the statement itself.
    """

    def __init__(
        self, statement: Any, engine: Engine, *, columns: Sequence[str] | None = None
    ) -> None:
        """``columns``: an insert's columns that each execution gives values for (as
        SQLAlchemy takes them from an execution's parameters); needed only when the
        insert sets some itself (``.values(...)``), since then it is compiled with those
        alone. Without ``.values`` an insert is compiled with every column of its table."""
        self.statement = statement
        self._compiled: Any = None
        if is_postgres(engine):
            dialect = copy.copy(engine.dialect)
            dialect.bind_typing = BindTyping.NONE
            dialect._bind_typing_render_casts = False  # type: ignore[misc]
            keys = None if columns is None else list(columns)
            self._compiled = statement.compile(dialect=dialect, column_keys=keys)
            self._names = list(self._compiled.positiontup or ())
            self._processors = dict(self._compiled._bind_processors)

    @property
    def sql(self) -> str:
        """The text the driver is sent (Postgres), or the statement's own."""
        return str(self.statement if self._compiled is None else self._compiled)

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Run it on ``conn`` with ``params`` (the statement's bind names)."""
        if self._compiled is None:
            return conn.execute(self.statement, params)
        values = self._compiled.construct_params(params)
        for name, process in self._processors.items():
            values[name] = process(values[name])
        return conn.exec_driver_sql(
            self._compiled.string, tuple(values[name] for name in self._names)
        )
