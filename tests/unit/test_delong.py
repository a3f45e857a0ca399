"""DeLong's AUC variance and paired test, against what they must agree with."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from credit_risk.models.training.metrics import auc_interval, delong, paired_auc_test


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    strong = y + rng.normal(0, 1, n)
    weak = np.round(0.4 * y + rng.normal(0, 1, n), 1)  # rounded: many ties
    return y, strong, weak


def test_delong_aucs_equal_sklearns_with_ties() -> None:
    y, strong, weak = _scores(800, 1)
    aucs, cov = delong(y, strong, weak)
    assert aucs == pytest.approx([roc_auc_score(y, strong), roc_auc_score(y, weak)])
    assert cov.shape == (2, 2) and cov[0, 0] > 0 and cov[1, 1] > 0


def test_the_interval_covers_the_true_auc_about_95_times_in_100() -> None:
    # GIVEN 200 samples from one population whose AUC is known from a very large sample
    y, strong, _ = _scores(400_000, 0)
    truth = roc_auc_score(y, strong)
    covered = 0
    for seed in range(200):
        ys, s, _ = _scores(400, seed + 10)
        low, high = auc_interval(ys, s)
        covered += low <= truth <= high
    # THEN the nominal 95% interval covers it close to 95% of the time
    assert 0.9 <= covered / 200 <= 0.99


def test_the_paired_test_tells_a_real_difference_from_none() -> None:
    y, strong, weak = _scores(1000, 3)
    assert paired_auc_test(y, strong, weak)["p_value"] < 0.001
    same = paired_auc_test(y, strong, strong + 1e-9)
    assert same["difference"] == pytest.approx(0) and same["p_value"] == pytest.approx(1)
