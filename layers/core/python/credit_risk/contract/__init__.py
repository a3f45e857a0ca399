"""The dataset contract: what a lender's files look like, and the platform's config files.

All pure (no boto3, botocore or SQLAlchemy), used by every layer above:

- :mod:`.spec`: the contract's columns, datasets, derived features and maturity window;
- :mod:`.expressions`: the safe evaluator of derived-feature expressions;
- :mod:`.files`: reading YAML configuration files into typed models, one kind of error
  for every way a file can be wrong.
"""

from credit_risk.contract.spec import (
    DATASETS,
    Actionable,
    ColumnSpec,
    Contract,
    DatasetSpec,
    DerivedFeature,
    Maturity,
    load_contract,
)

__all__ = [
    "DATASETS",
    "Actionable",
    "ColumnSpec",
    "Contract",
    "DatasetSpec",
    "DerivedFeature",
    "Maturity",
    "load_contract",
]
