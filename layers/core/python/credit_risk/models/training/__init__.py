"""Training: candidate pipelines with imbalance handling, search, calibration, metrics.

Pure: :mod:`.config` (candidates and search spaces), :mod:`.pipelines`,
:mod:`.calibration`, :mod:`.metrics`, :mod:`.candidate` (what a trained candidate is),
:mod:`.trainer` (search and fit), :mod:`.stacking` (the stacked candidate),
:mod:`.selection` (choosing the champion), :mod:`.export` (to the lean serving model).
I/O: :mod:`.orchestration` (the training state machine's steps over S3 and the database).
"""
