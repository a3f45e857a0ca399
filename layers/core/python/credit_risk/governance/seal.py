"""Seals of the audit trail's head, kept outside the database.

A seal names the heads of the trail's chains at a moment: the newest row (its global
``seq`` and ``row_hash``) and, for every chain, its last position and hash (``heads``; the
rows written before chains existed are the chain ``""``, placed by ``seq``). It is
HMAC-signed with the audit seal key, a secret the database does not hold. Seals are
written to S3 under ``audit/seals/<seq, zero-padded>.json`` in a versioned bucket with
Object Lock, so a database user who truncates or rewrites the chain can neither remove
the seal that names the lost rows nor write one that names the forged head. The newest
seal is the one under the highest key: a copy of an old seal put under a higher key
says another ``seq`` than its key and is refused as forged.

The same key signs every audit row (``row_mac``): a row appended by someone who can write
to the database but does not hold the key is named as forged even after the last seal.

Pure: the object store is given (:class:`credit_risk.adapters.aws.ObjectStore`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credit_risk.adapters.aws import ObjectStore

SEAL_PREFIX = "audit/seals/"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SEAL_KEY = re.compile(re.escape(SEAL_PREFIX) + r"(\d{20})\.json")


def _mac(key: bytes, purpose: str, message: str) -> str:
    """Hex HMAC-SHA256 of ``message`` under ``key``, bound to one purpose."""
    return hmac.new(key, f"{purpose}\n{message}".encode(), hashlib.sha256).hexdigest()


def row_mac(key: bytes, row_hash: str) -> str:
    """The MAC of one audit row: its hash signed with the audit seal key."""
    return _mac(key, "credit-risk audit row", row_hash)


def is_hex64(value: Any) -> bool:
    """True for a 64-character lower-case hex text (a sha256 or HMAC-SHA256 digest)."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


class SealError(ValueError):
    """A seal in the store is malformed or not signed with the audit seal key."""


LEGACY_CHAIN = ""
"""The chain of the rows written before chains existed (placed by their ``seq``)."""


@dataclass(frozen=True)
class Seal:
    """The trail at ``sealed_at``: its newest row (``seq``, ``row_hash``) and every chain's
    head, ``{chain: (seq, position, row_hash)}``."""

    seq: int
    row_hash: str
    sealed_at: str
    reason: str
    heads: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    def chain_heads(self) -> dict[str, tuple[int, int, str]]:
        """Every chain's head; a seal from before chains names the one chain there was."""
        return self.heads or {LEGACY_CHAIN: (self.seq, self.seq, self.row_hash)}

    def _fields(self) -> dict[str, Any]:
        fields = asdict(self)
        if self.heads:
            fields["heads"] = {c: [s, p, h] for c, (s, p, h) in sorted(self.heads.items())}
        else:  # a seal as written before chains: signed without the field
            del fields["heads"]
        return fields

    def signature(self, key: bytes) -> str:
        """The HMAC of the seal's fields under ``key``."""
        body = json.dumps(self._fields(), sort_keys=True, separators=(",", ":"))
        return _mac(key, "credit-risk audit seal", body)

    def signed(self, key: bytes) -> bytes:
        """The seal as the JSON document stored: its fields and their signature."""
        return json.dumps({**self._fields(), "signature": self.signature(key)}).encode()

    @classmethod
    def read(cls, document: bytes, key: bytes, *, object_key: str) -> Seal:
        """The seal in ``document`` stored under ``object_key``; SealError when it is
        malformed, its signature is not ours, or it names another row than its key."""
        try:
            raw = json.loads(document)
            fields = {name: raw[name] for name in ("seq", "row_hash", "sealed_at", "reason")}
            heads = {
                str(chain): (int(seq), int(pos), str(digest))
                for chain, (seq, pos, digest) in dict(raw.get("heads") or {}).items()
            }
            signature = raw["signature"]
        except (ValueError, TypeError, KeyError) as exc:
            raise SealError(f"seal {object_key} is malformed") from exc
        seal = cls(**fields, heads=heads)
        if not isinstance(signature, str) or not hmac.compare_digest(
            signature, seal.signature(key)
        ):
            raise SealError(f"seal {object_key} is not signed with the audit seal key: forged")
        if not isinstance(seal.seq, int) or object_key != seal_object_key(seal.seq):
            raise SealError(f"seal {object_key} names row {seal.seq}: a copy of another seal")
        if not is_hex64(seal.row_hash) or not all(is_hex64(h) for _s, _p, h in heads.values()):
            raise SealError(f"seal {object_key} holds a malformed hash")
        return seal


def seal_object_key(seq: int) -> str:
    """Where the seal of row ``seq`` is stored (keys sort as the rows do)."""
    return f"{SEAL_PREFIX}{seq:020d}.json"


class SealStore:
    """Writes seals to, and reads the newest seal from, the seal bucket."""

    def __init__(self, store: ObjectStore, bucket: str, key: bytes) -> None:
        if not key:
            raise ValueError("the audit seal key is empty")
        self.store = store
        self.bucket = bucket
        self.key = key

    def put(self, seal: Seal) -> str:
        """Store ``seal``; return its s3:// URI."""
        return self.store.put(
            self.bucket, seal_object_key(seal.seq), seal.signed(self.key), "application/json"
        )

    def latest(self) -> Seal | None:
        """The newest seal (the highest row sealed), checked; None when nothing was sealed.

        Raises SealError when the newest object under the prefix is not a genuine seal.
        """
        keys = [o["Key"] for o in self.store.keys(self.bucket, SEAL_PREFIX)]
        if not keys:
            return None
        newest = max(keys)
        if _SEAL_KEY.fullmatch(newest) is None:
            raise SealError(f"{newest} in the seal bucket is not a seal")
        return Seal.read(self.store.get(self.bucket, newest), self.key, object_key=newest)
