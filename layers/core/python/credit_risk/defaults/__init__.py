"""The packaged YAML defaults: copy one and point its setting at the copy to change it.

- ``contract.yaml``: the dataset contract of the synthetic lender (``CONTRACT_PATH``);
- ``decisions.yaml``: the decision policy (scaling, grades, bands, LGD, EAD);
- ``quality.yaml``: the data-quality gate (``QUALITY_CONFIG_PATH``);
- ``monitoring.yaml``: monitoring thresholds and alerts;
- ``models.yaml``: candidate models and search spaces (``TRAINING_CONFIG_PATH``);
- ``promotion.yaml``: when a candidate may replace the champion.
"""
