"""Credit risk platform core: one package, its folders in the order data flows.

Layers, lowest first. A module may import from its own layer and the layers below it,
never from a layer above (``tests/unit/test_architecture.py`` walks the package and
holds this, and that the package has no import circle)::

    errors        the one error hierarchy
    contract      the dataset contract, its expression language, config-file loading
    charts        dependency-free SVG charts (model card and dashboard)
    adapters      settings, Powertools observability, AWS clients, alerts
    db            the database: engine, schema, migrations, bulk load and read
    data          reading, validation, ingestion, ETL, features, quality gate, drift,
                  pseudonymisation, the synthetic generator
    models        the lean serving model, versions and registry, model card, training
    decisions     decision policy, scoring rows, the champion in service
    monitoring    portfolio and model figures, the dashboard, monitoring runs
    governance    API tokens and roles, the audit trail
    runtime       the composition root: settings turned into adapters, once per container
    __main__      operator commands (mint a token, verify the audit trail)

Inside each sub-package, pure modules (no boto3, botocore or SQLAlchemy, directly or
through another module) are kept apart from the modules that do I/O; each package's
docstring says which is which. ``defaults/`` holds the packaged YAML defaults.
"""

__version__ = "0.1.0"

LAYERS = (
    "errors",
    "contract",
    "charts",
    "adapters",
    "db",
    "data",
    "models",
    "decisions",
    "monitoring",
    "governance",
    "runtime",
    "__main__",
)
"""The declared order of the package's layers, lowest first (see the docstring)."""
