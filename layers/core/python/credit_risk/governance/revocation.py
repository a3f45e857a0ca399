"""Revoked API tokens, kept in ``audit.token_revocations``.

A token is revoked by its id (the ``jti`` claim every minted token carries), or every
token of a subject issued up to a moment (the subject's "revoked before" time; a later
revocation moves it forward). The authorizer refuses a revoked token and the API checks
again on every request, so a revocation holds at once on the API and, for the gateway's
cached answers, within the authorizer's cache time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError

from credit_risk.db import schema
from credit_risk.errors import AuthenticationError, ValidationError
from credit_risk.governance.auth import Caller

TOKEN, SUBJECT = "token", "subject"
AUTHORIZER_CACHE_SECONDS = 300  # API Gateway's ReauthorizeEvery (template.yaml)
_REMEMBERED = 10_000  # tokens remembered per process before the memory starts again


class Revocations:
    """Revoke tokens and tell whether a verified caller's token is revoked."""

    def __init__(
        self,
        engine: Engine,
        *,
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= cache_seconds <= AUTHORIZER_CACHE_SECONDS:
            raise ValueError(
                f"cache_seconds must be 0 to {AUTHORIZER_CACHE_SECONDS} (the authorizer's cache "
                "time), so a revocation holds on the API within it"
            )
        self.engine = engine
        self.table = schema.token_revocations
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._good: dict[tuple[str, str | None, datetime | None], float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _check(what: str, value: str) -> str:
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= 200:
            raise ValidationError(f"the {what} must be 1 to 200 characters", field=what)
        return value.strip()

    def revoke_token(self, jti: str, *, by: str, at: datetime | None = None) -> None:
        """Revoke one token by its id (idempotent)."""
        self._put(TOKEN, self._check("jti", jti), 0, by, at or datetime.now(UTC))

    def revoke_subject(self, subject: str, *, by: str, at: datetime | None = None) -> int:
        """Revoke every token of ``subject`` issued up to now (or ``at``); returns that
        time as epoch seconds. Tokens minted afterwards are valid."""
        when = at or datetime.now(UTC)
        before = int(when.timestamp())
        self._put(SUBJECT, self._check("subject", subject), before, by, when)
        return before

    def _put(self, kind: str, value: str, before: int, by: str, at: datetime) -> None:
        """Add a revocation; rows are only ever inserted (the audit schema is append-only
        for the application's database role)."""
        t = self.table
        key = and_(t.c.kind == kind, t.c.value == value, t.c.issued_before == before)
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(t.c.kind).where(key)).first() is None:
                    conn.execute(
                        insert(t).values(
                            kind=kind,
                            value=value,
                            issued_before=before,
                            revoked_at=at,
                            revoked_by=by,
                        )
                    )
        except IntegrityError:
            pass  # the same revocation, made at the same moment by someone else
        with self._lock:
            self._good.clear()  # committed: a revocation made here holds here at once

    def is_revoked(self, caller: Caller) -> bool:
        """True when the caller's token id, or its subject up to the token's issue time,
        is revoked. A token without an issue time counts as revoked for a revoked subject."""
        t = self.table
        by_subject = and_(t.c.kind == SUBJECT, t.c.value == caller.subject)
        if caller.issued_at is not None:
            by_subject = and_(by_subject, t.c.issued_before >= int(caller.issued_at.timestamp()))
        rule = by_subject
        if caller.token_id:
            rule = or_(and_(t.c.kind == TOKEN, t.c.value == caller.token_id), by_subject)
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.kind).where(rule).limit(1)).first() is not None

    def check(self, caller: Caller) -> Caller:
        """``caller``, or :class:`AuthenticationError` when its token is revoked (read
        from the table now)."""
        if self.is_revoked(caller):
            raise AuthenticationError("the token has been revoked")
        with self._lock:
            if len(self._good) >= _REMEMBERED:
                self._good.clear()
            self._good[(caller.subject, caller.token_id, caller.issued_at)] = self.clock()
        return caller

    def check_cached(self, caller: Caller) -> Caller:
        """As :meth:`check`, answered from memory when this token was found good less
        than ``cache_seconds`` ago (the API's per-request check)."""
        key = (caller.subject, caller.token_id, caller.issued_at)
        with self._lock:
            found = self._good.get(key)
        if found is not None and self.clock() - found < self.cache_seconds:
            return caller
        return self.check(caller)


def revoke(revocations: Revocations, *, jti: str | None, subject: str | None, by: str) -> str:
    """Revoke a token id or a subject's tokens (exactly one of them); what was done, in a
    line for a shell."""
    if (jti is None) == (subject is None):
        raise ValidationError("give exactly one of --jti and --subject", field="jti")
    if jti is not None:
        revocations.revoke_token(jti, by=by)
        return f"revoked token {jti.strip()}"
    assert subject is not None
    before = revocations.revoke_subject(subject, by=by)
    when = datetime.fromtimestamp(before, UTC).isoformat()
    return f"revoked every token of {subject.strip()} issued up to {when}"
