"""Governance: who may do what, and the record of what was done.

Pure (no boto3, botocore or SQLAlchemy):

- :mod:`.auth`: signed bearer tokens and the roles they carry.
- :mod:`.seal`: HMAC-signed seals of the audit head, kept in S3 (the store is given).

I/O:

- :mod:`.audit`: the append-only, hash-chained audit trail and its verifier.
- :mod:`.revocation`: revoked API tokens (by token id) and subjects (every token issued
  before a time).
- :mod:`.policy_promotion`: putting a decision policy in force, versioned and audited.
"""
