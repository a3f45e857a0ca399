"""A tree ensemble's margins for a few rows in numpy, equal bit for bit to xgboost's.

xgboost's ``inplace_predict`` costs about 0.3 ms per call whatever the number of rows: the
Python wrapper builds an array interface, a JSON configuration and a result buffer each
time. Scoring one request with a tree model (the shadow challenger on every API request,
or a tree champion's margin) pays that for one row. :class:`TreeTable` holds the booster's
trees as flat arrays and walks every tree at once, one numpy step per tree level, in about
a third of that time.

It computes what xgboost computes, in the same arithmetic: the input as float32, a split
sending a row left when ``value < threshold`` (a missing value goes the node's default
way), and the margin as the float32 sum of the base margin and each tree's leaf value in
tree order. :meth:`TreeTable.of` checks that on probe rows spread over every split
threshold and returns None, so that xgboost scores the model itself, when anything
differs in a single bit or the booster has anything this walk does not cover
(categorical splits, several outputs, an objective other than ``binary:logistic``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

WALK_BUDGET = 4000
"""Node visits (rows × trees × depth) up to which the walk is clearly faster than
xgboost's predictor (``bench_tree_table.py``: it breaks even near 8,000 visits)."""
_PROBE_ROWS = 256


@dataclass(frozen=True)
class TreeTable:
    """Every tree's nodes in flat arrays; a leaf's children are itself."""

    roots: np.ndarray  # (trees,) node index of each tree's root
    feature: np.ndarray  # (nodes,) column a node splits on (0 at a leaf)
    threshold: np.ndarray  # (nodes,) float32 split value; a leaf's value at a leaf
    left: np.ndarray
    right: np.ndarray
    default_left: np.ndarray  # (nodes,) where a missing value goes
    depth: int  # the deepest path, in splits
    base_margin: np.float32

    @classmethod
    def of(cls, booster: Any, n_columns: int) -> TreeTable | None:
        """The table of an xgboost ``booster`` over ``n_columns`` design columns, or None
        when it does not reproduce the booster's margins exactly."""
        try:
            model = json.loads(bytes(booster.save_raw("json")))["learner"]
            table = cls._from_model(model)
        except (KeyError, ValueError, TypeError, IndexError):
            return None
        if table is None or int(table.feature.max(initial=0)) >= n_columns:
            return None
        probe = table._probe_rows(n_columns)
        expected = np.asarray(booster.inplace_predict(probe, predict_type="margin"))
        if expected.shape != (len(probe),) or expected.dtype != np.float32:
            return None
        for base in table._base_candidates(model):
            candidate = cls(**{**table.__dict__, "base_margin": base})
            if np.array_equal(candidate.margins(probe), expected):
                return candidate
        return None

    @classmethod
    def _from_model(cls, learner: dict[str, Any]) -> TreeTable | None:
        if learner["objective"]["name"] != "binary:logistic":
            return None
        booster = learner["gradient_booster"]
        if booster.get("name") != "gbtree":
            return None
        trees = booster["model"]["trees"]
        if not trees or any(int(t["tree_param"].get("size_leaf_vector", "1")) > 1 for t in trees):
            return None
        if any(any(int(s) != 0 for s in t.get("split_type", [])) for t in trees):
            return None  # categorical splits: the design is one-hot, so none are expected
        roots, feature, threshold, left, right, default_left = [], [], [], [], [], []
        offset, depth = 0, 0
        for tree in trees:
            lefts = np.asarray(tree["left_children"], dtype=np.int64)
            rights = np.asarray(tree["right_children"], dtype=np.int64)
            own = np.arange(len(lefts), dtype=np.int64)
            leaf = lefts == -1
            roots.append(offset)
            left.append(np.where(leaf, own, lefts) + offset)
            right.append(np.where(leaf, own, rights) + offset)
            feature.append(np.where(leaf, 0, np.asarray(tree["split_indices"], dtype=np.int64)))
            threshold.append(np.asarray(tree["split_conditions"], dtype=np.float32))
            default_left.append(np.asarray(tree["default_left"], dtype=bool))
            depth = max(depth, _depth(lefts, rights))
            offset += len(lefts)
        return cls(
            roots=np.asarray(roots, dtype=np.int64),
            feature=np.concatenate(feature),
            threshold=np.concatenate(threshold),
            left=np.concatenate(left),
            right=np.concatenate(right),
            default_left=np.concatenate(default_left),
            depth=depth,
            base_margin=np.float32(0.0),
        )

    @staticmethod
    def _base_candidates(learner: dict[str, Any]) -> list[np.float32]:
        """The base margin as xgboost computes it from ``base_score`` (a probability):
        ``-logf(1/p - 1)`` in single precision (its ``ProbToMargin``), with a correctly
        rounded logarithm; then the plain log-odds in double, should a version differ."""
        p = float(str(learner["learner_model_param"]["base_score"]).strip("[]"))
        if not 0.0 < p < 1.0:
            return []
        odds = np.float32(1.0) / np.float32(p) - np.float32(1.0)
        return [np.float32(-math.log(float(odds))), np.float32(math.log(p / (1.0 - p)))]

    def _probe_rows(self, n_columns: int) -> np.ndarray:
        """Rows that reach both sides of every split: each column takes values at, just
        below and just above its split thresholds, and is missing in some rows."""
        rng = np.random.default_rng(0)
        rows = np.zeros((_PROBE_ROWS, n_columns), dtype=np.float32)
        splits = self.left != np.arange(len(self.left))
        for column in range(n_columns):
            cuts = self.threshold[splits & (self.feature == column)]
            if len(cuts) == 0:
                rows[:, column] = rng.normal(size=_PROBE_ROWS)
                continue
            picked = rng.choice(cuts, size=_PROBE_ROWS)
            nudge = rng.choice(np.asarray([-1, 0, 1], dtype=np.int64), size=_PROBE_ROWS)
            rows[:, column] = np.where(
                nudge == 0,
                picked,
                np.nextafter(picked, np.where(nudge > 0, np.inf, -np.inf).astype(np.float32)),
            )
        rows[rng.random(rows.shape) < 0.1] = np.nan
        return rows

    def walks(self, design: np.ndarray) -> bool:
        """Whether the rows of ``design`` are cheaper walked here than scored by xgboost,
        and are all either a float32 number or missing (an infinite value, or one too
        large for float32, is left to xgboost's own rule for it)."""
        return self._walkable(design) is not None

    def margins_if_walked(self, design: np.ndarray) -> np.ndarray | None:
        """:meth:`margins` of ``design`` when it :meth:`walks`, else None (cast once)."""
        x = self._walkable(design)
        return None if x is None else self._walk(x)

    def _walkable(self, design: np.ndarray) -> np.ndarray | None:
        """``design`` as float32 when :meth:`walks` holds for it, else None."""
        if design.shape[0] * len(self.roots) * max(self.depth, 1) > WALK_BUDGET:
            return None
        with np.errstate(over="ignore"):
            x = np.asarray(design, dtype=np.float32)
        return None if np.isinf(x).any() else x

    def margins(self, design: np.ndarray) -> np.ndarray:
        """float32 margins of the rows of ``design``, as the booster's
        ``inplace_predict(predict_type="margin")`` gives them."""
        return self._walk(np.asarray(design, dtype=np.float32))

    def _walk(self, x: np.ndarray) -> np.ndarray:
        """The margins of float32 rows ``x``: every tree at once, one step per level."""
        n = x.shape[0]
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            value = x[rows, self.feature[node]]
            below = value < self.threshold[node]
            go_left = np.where(np.isnan(value), self.default_left[node], below)
            node = np.where(go_left, self.left[node], self.right[node])
        terms = np.empty((n, len(self.roots) + 1), dtype=np.float32)
        terms[:, 0] = self.base_margin
        terms[:, 1:] = self.threshold[node]  # a leaf's value is kept where its split would be
        return np.cumsum(terms, axis=1, dtype=np.float32)[:, -1]  # in order, as xgboost adds


def _depth(lefts: np.ndarray, rights: np.ndarray) -> int:
    """The number of splits on a tree's longest path from its root (node 0)."""
    deepest, level = 0, [0]
    while level:
        children = [c for n in level for c in (lefts[n], rights[n]) if c != -1]
        if children:
            deepest += 1
        level = children
    return deepest
