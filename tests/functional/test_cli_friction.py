"""The command line answers at once and plainly where a new user trips."""

from __future__ import annotations

import socket
import time

import pytest

from credit_risk_local import cli


def test_up_on_a_taken_port_exits_at_once_naming_the_port_and_the_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        started = time.monotonic()
        assert cli.main(["up", "--port", str(port)]) == 2
        assert time.monotonic() - started < 5
    message = capsys.readouterr().err
    assert f"--port {port} already in use" in message
    assert "./run up --port N --api-port M" in message


def test_score_takes_any_contract_field_and_refuses_a_malformed_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parsed = cli.build_parser().parse_args(
        ["score", "123", "--set", "loan_amount=5000", "--set", "purpose=car"]
    )
    assert parsed.set == ["loan_amount=5000", "purpose=car"]
    assert cli._typed("5000") == 5000 and cli._typed("car") == "car"
    assert cli._typed("true") is True
    assert cli.main(["score", "123", "--set", "loan_amount"]) == 2
    assert "--set takes NAME=VALUE, not 'loan_amount'" in capsys.readouterr().err
