"""Operator commands that run where the layer is installed (a Lambda shell, a bastion):

    python -m credit_risk mint-token --subject alice@lender --role scorer --ttl 3600
    python -m credit_risk revoke-token --jti TOKEN_ID | --subject alice@lender
    python -m credit_risk verify-audit [--database-url URL] [--anchor SEQ:HASH]
    python -m credit_risk redrive EXECUTION_ARN

``mint-token`` signs with the key the settings name (``API_TOKEN_SECRET_ARN`` or
``API_TOKEN_KEY``); ``revoke-token`` revokes one token by its id (``jti``) or every token
of a subject issued up to now, in the configured database; ``verify-audit`` checks the
audit trail's hash chain of the configured (or given) database and exits with 1 when it is
broken; ``redrive`` redrives a failed execution in AWS (RedriveExecution: a re-score's Map
re-runs only its failed chunks; the local cloud, whose moto lacks it, has ``./run
redrive`` with the same semantics). These sit above the composition root
(:mod:`credit_risk.runtime`), the only place that turns settings into adapters.
"""

from __future__ import annotations

import argparse
import sys

from credit_risk.governance.audit import verify_chain
from credit_risk.governance.auth import ROLES, mint_token


def mint_token_command(argv: list[str] | None = None) -> int:
    """Print a token signed with the configured key."""
    parser = argparse.ArgumentParser(
        prog="python -m credit_risk mint-token", description="Mint a bearer token for the risk API."
    )
    parser.add_argument("--subject", required=True, help="who the token is for")
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    from credit_risk.runtime import get_runtime

    print(mint_token(get_runtime().api_token_key, args.subject, args.role, args.ttl))
    return 0


def _revoke_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Revoke API bearer tokens.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--jti", help="the id of one token (its jti claim)")
    which.add_argument("--subject", help="every token of this subject issued up to now")
    parser.add_argument("--by", default="operator", help="who revokes (kept with the record)")
    return parser


def revoke_token_command(argv: list[str] | None = None) -> int:
    """Revoke a token by id, or every token of a subject, in the configured database."""
    args = _revoke_parser("python -m credit_risk revoke-token").parse_args(argv)
    from credit_risk.governance.revocation import revoke
    from credit_risk.runtime import get_runtime

    print(revoke(get_runtime().revocations, jti=args.jti, subject=args.subject, by=args.by))
    return 0


def verify_audit_command(argv: list[str] | None = None) -> int:
    """Verify the audit chain of the configured (or given) database; 1 when broken."""
    parser = argparse.ArgumentParser(
        prog="python -m credit_risk verify-audit",
        description="Verify the audit trail's hash chain.",
    )
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: from the settings)")
    parser.add_argument("--anchor", help="SEQ:HASH of a head recorded earlier")
    args = parser.parse_args(argv)
    anchor = None
    if args.anchor:
        seq, _, digest = args.anchor.partition(":")
        anchor = (int(seq), digest)
    if args.database_url:
        from credit_risk.db.engine import get_engine

        engine = get_engine(args.database_url)
    else:
        from credit_risk.runtime import get_runtime

        engine = get_runtime().engine
    report = verify_chain(engine, anchor=anchor)
    print(report)
    return 0 if report.ok else 1


def redrive_command(argv: list[str] | None = None) -> int:
    """Redrive a failed execution (within AWS's 14-day redrive window)."""
    parser = argparse.ArgumentParser(
        prog="python -m credit_risk redrive", description="Redrive a failed execution in AWS."
    )
    parser.add_argument("execution_arn")
    args = parser.parse_args(argv)
    from credit_risk.runtime import get_runtime

    print(f"redriven at {get_runtime().workflows.redrive(args.execution_arn)}")
    return 0


COMMANDS = {
    "mint-token": mint_token_command,
    "revoke-token": revoke_token_command,
    "verify-audit": verify_audit_command,
    "redrive": redrive_command,
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``python -m credit_risk <command> ...``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m credit_risk {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
