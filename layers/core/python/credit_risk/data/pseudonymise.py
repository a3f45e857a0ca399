"""Keyed pseudonyms for personal data (HMAC-SHA256), so analytics never holds it raw."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only for whole columns (ETL); the API pseudonymises one id
    import pandas as pd


ERASED = "pseudonym:"
"""Marks a value that erasure already replaced by its pseudonym (in staging)."""


def erased(pseudonym_value: str) -> str:
    """What erasure writes in place of a raw key: the pseudonym, marked as one."""
    return ERASED + pseudonym_value


def pseudonym(value: str, key: bytes) -> str:
    """The stable pseudonym of one value under ``key`` (hex HMAC-SHA256).

    A value erasure already replaced (``pseudonym:<hex>``) is its own pseudonym, so
    re-running ETL on an erased batch keys its rows exactly as before.
    """
    if value.startswith(ERASED):
        return value[len(ERASED) :]
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """Pseudonyms for a column; missing values stay missing."""
    import pandas as pd

    if not key:
        raise ValueError("the pseudonymisation key is empty")
    out = [None if pd.isna(v) else pseudonym(str(v), key) for v in values.tolist()]
    return pd.Series(out, index=values.index, dtype="object")
