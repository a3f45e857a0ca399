"""A database built before the contract declared its protected attributes."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from credit_risk.contract import Contract, load_contract
from credit_risk.db import migrations
from credit_risk.db.engine import get_engine
from credit_risk.errors import ContractError

pytestmark = pytest.mark.integration


def _without_protected(contract: Contract) -> Contract:
    raw = contract.model_dump()
    columns = raw["applications"]["columns"]
    for name in contract.applications.protected_columns:
        del columns[name]
    return Contract.model_validate(raw)


def test_protected_columns_the_contract_gained_are_added_not_refused(database_url: str) -> None:
    # GIVEN a database whose contract tables were built before the protected attributes
    contract = load_contract()
    engine = get_engine(database_url)
    migrations.migrate(engine)
    migrations.ensure_contract_tables(engine, _without_protected(contract))
    before = {c["name"] for c in inspect(engine).get_columns("applications", schema="staging")}
    assert "applicant_group" not in before

    # WHEN the contract with them is applied
    migrations.ensure_contract_tables(engine, contract)

    # THEN staging and analytics have their columns; nothing else changed
    inspector = inspect(engine)
    after = {c["name"] for c in inspector.get_columns("applications", schema="staging")}
    assert after - before == {"age_band", "applicant_group"}
    kept = {c["name"] for c in inspector.get_columns("protected_attributes", schema="analytics")}
    assert {"age_band", "applicant_group"} <= kept

    # AND any other change of the contract is still refused, naming the columns
    raw = contract.model_dump()
    raw["applications"]["columns"]["postcode"] = {"type": "string"}
    with pytest.raises(ContractError, match=r"missing \['postcode'\]"):
        migrations.ensure_contract_tables(engine, Contract.model_validate(raw))
