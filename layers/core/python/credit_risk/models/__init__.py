"""Models: training candidates, the lean serving model, and the registry of versions.

Pure (no boto3, botocore or SQLAlchemy):

- :mod:`.lean`: the lean serving model (plain numbers, and a booster for trees);
- :mod:`.versions`: what a registered version is, and how versions are named;
- :mod:`.card`: the model card (one self-contained HTML page);
- :mod:`.fairness`: approval rate, adverse impact ratio, calibration and AUC per
  protected group, and the promotion gate's fairness test (:mod:`.fairness_table`: the
  same figures as HTML tables);
- :mod:`.training`: candidates, search, calibration, metrics and export to the lean
  model (all pure but :mod:`.training.orchestration`).

I/O:

- :mod:`.registry`: versions in ``ml.model_versions``, artifacts in S3, hash-checked;
- :mod:`.training.orchestration`: snapshot, train, evaluate and promote for the training
  state machine.
"""
