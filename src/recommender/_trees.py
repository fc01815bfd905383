"""Tree ensembles as flat arrays, scored by two compiled kernels.

Scoring a long candidate list is mostly walking trees: the fit ranker, three
lift models, the price model and the IsolationForest, and for the reasons,
each feature's contribution along the path a row takes. Two kernels apply the
same split rules as LightGBM and scikit-learn, and collect the contributions
in the same pass (benchmarks/score_330k.py measures them):
- shallow ensembles (LightGBM's, at most COMPLETE_MAX_DEPTH deep) are grown to
  complete trees, and every split of a tree is decided for a block of rows at
  once, one feature column at a time, which the CPU does several rows per
  instruction; each row then reads its leaf off those decisions. At depth 4
  that is twice as fast as walking, though it decides 15 splits where a walk
  takes 4;
- deeper ones (the IsolationForest's) are walked: a block of rows one tree
  level at a time so the rows' walks overlap in the CPU, each tree only as
  deep as it goes.
Both add the same numbers in the same order: their results are equal to the bit.

Contributions are the tree-path ("Saabas") decomposition: every split hands
the change in node value (child minus parent) to the feature it splits on, so
contributions plus the bias add up exactly to the raw prediction, like
pred_contrib's TreeSHAP values, at a small fraction of TreeSHAP's cost.
tests/test_trees.py holds the kernel to LightGBM's and scikit-learn's own
predictions (NaN, zero and on-the-threshold values included), and checks that
its leading feature mostly agrees with TreeSHAP's.

This module imports nothing of the project: features and models both build on it.
"""

from __future__ import annotations

import functools
import os
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd


def _cache_dir() -> str:
    """The user's cache folder: numba would otherwise cache compiled code beside this file,
    which in an installed package is site-packages."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base.startswith("~"):  # no home folder to expand
        base = tempfile.gettempdir()
    return str(Path(base) / "creator-recommender" / "numba")


# numba sets its config's attributes at run time, which mypy cannot see.
if not numba.config.CACHE_DIR:  # type: ignore[attr-defined]  # NUMBA_CACHE_DIR: the user's
    numba.config.CACHE_DIR = _cache_dir()  # type: ignore[attr-defined]

# LightGBM's missing-value handling of a numerical split (include/LightGBM/tree.h).
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
MISSING_TYPES = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}
ZERO_THRESHOLD = float(np.float32(1e-35))  # kZeroThreshold = 1e-35f
BLOCK_ROWS = 128  # rows walked together: their features stay in the L1 cache


@numba.njit(parallel=True, cache=True, nogil=True)
def _walk(
    X: np.ndarray,
    roots: np.ndarray,
    depths: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    nan_right: np.ndarray,
    zero_default: np.ndarray,
    default_right: np.ndarray,
    children: np.ndarray,
    value: np.ndarray,
    contributions: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_trees.py checks its results
    """Sum over trees of each row's leaf value; when `contributions` has a row per row
    of X, adds each split's change in node value to its feature's column.

    Leaves point to themselves, so every walk in a tree takes its depth in steps.
    """
    n = X.shape[0]
    want = contributions.shape[0] == n
    out = np.zeros(n)
    for block in numba.prange((n + BLOCK_ROWS - 1) // BLOCK_ROWS):
        start = block * BLOCK_ROWS
        rows = min(n, start + BLOCK_ROWS) - start
        nodes = np.empty(rows, dtype=np.int64)
        for tree in range(roots.size):
            nodes[:] = roots[tree]
            for _ in range(depths[tree]):
                for k in range(rows):
                    node = nodes[k]
                    f = feature[node]
                    x = X[start + k, f]
                    go = np.int64(x > threshold[node])
                    go = nan_right[node] if x != x else go
                    if zero_default[node] and abs(x) <= ZERO_THRESHOLD:
                        go = default_right[node]
                    child = children[2 * node + go]
                    if want:
                        contributions[start + k, f] += value[child] - value[node]
                    nodes[k] = child
            for k in range(rows):
                out[start + k] += value[nodes[k]]
    return out


def _named(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """`function` under another name: numba caches compiled code by the function's name,
    so two compilations of one function need two names to be cached both."""
    code = function.__code__.replace(co_name=name, co_qualname=name)
    renamed = types.FunctionType(code, function.__globals__, name, function.__defaults__)
    renamed.__qualname__, renamed.__module__ = name, function.__module__
    return renamed


# The same kernel on one thread, for worker processes: it never starts OpenMP, which
# is not safe to use in a process forked from one that had (batch.py's workers). Cached
# like the other: each worker would otherwise compile it anew, half a second apiece.
_walk_serial = numba.njit(nogil=True, cache=True)(_named(_walk.py_func, "_walk_serial"))
_threads = {"on": True}


def use_threads(threads: bool) -> None:
    """Score with both kernels on every core (the default) or on this thread only."""
    _threads["on"] = threads


def _run(
    threaded: Callable[..., np.ndarray],
    serial: Callable[..., np.ndarray],
    block_rows: int,
    rows: int,
    *args: Any,
) -> np.ndarray:
    """A kernel on every core, or its one-thread twin: where `use_threads` said so, and
    for rows that fit in one block whatever was said. One block is one thread's work
    anyway, and starting the others only adds their wake-up, which on a busy machine
    (another process on the cores) can cost milliseconds."""
    kernel = threaded if _threads["on"] and rows > block_rows else serial
    return np.asarray(kernel(*args))


def walk(X: np.ndarray, *args: Any) -> np.ndarray:
    """Run the walking kernel (arguments as `_walk`'s), as `_run` chooses."""
    return _run(_walk, _walk_serial, BLOCK_ROWS, X.shape[0], X, *args)


# Deeper than this, deciding every split of a complete tree costs more than walking a path.
COMPLETE_MAX_DEPTH = 5
SPLIT_BLOCK_ROWS = 256  # rows whose split decisions (rows x splits of a tree) stay in L1


@numba.njit(parallel=True, cache=True, nogil=True)
def _split_all(
    columns: np.ndarray,
    depth: int,
    feature: np.ndarray,
    threshold: np.ndarray,
    nan_right: np.ndarray,
    zero_default: np.ndarray,
    default_right: np.ndarray,
    leaf_value: np.ndarray,
    path_feature: np.ndarray,
    path_change: np.ndarray,
    contributions: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tests/test_trees.py checks its results
    """_walk's sums and contributions over complete trees (_Complete's arrays), reading
    the features as `columns` (one row per feature). Adds what _walk adds, in its order."""
    n = columns.shape[1]
    want = contributions.shape[0] == n
    splits = 2**depth - 1
    leaves = splits + 1
    out = np.zeros(n)
    for block in numba.prange((n + SPLIT_BLOCK_ROWS - 1) // SPLIT_BLOCK_ROWS):
        start = block * SPLIT_BLOCK_ROWS
        rows = min(n, start + SPLIT_BLOCK_ROWS) - start
        right = np.empty((max(splits, 1), rows), dtype=np.int64)
        at = np.empty(rows, dtype=np.int64)
        for tree in range(leaf_value.size // leaves):
            for j in range(splits):  # every split, for every row: branch-free, vectorized
                node = tree * splits + j
                x = columns[feature[node], start : start + rows]
                cut, nan_goes = threshold[node], nan_right[node]
                goes = right[j]
                if zero_default[node]:
                    zero_goes = default_right[node]
                    for k in range(rows):
                        go = nan_goes if x[k] != x[k] else np.int64(x[k] > cut)
                        goes[k] = zero_goes if abs(x[k]) <= ZERO_THRESHOLD else go
                else:
                    for k in range(rows):
                        goes[k] = nan_goes if x[k] != x[k] else np.int64(x[k] > cut)
            at[:] = 0  # heap order: split j's children are 2j + 1 and 2j + 2
            for _ in range(depth):
                for k in range(rows):
                    at[k] = 2 * at[k] + 1 + right[at[k], k]
            for k in range(rows):
                leaf = tree * leaves + at[k] - splits
                if want:
                    for level in range(depth):
                        contributions[start + k, path_feature[leaf, level]] += path_change[
                            leaf, level
                        ]
                out[start + k] += leaf_value[leaf]
    return out


_split_all_serial = numba.njit(nogil=True, cache=True)(
    _named(_split_all.py_func, "_split_all_serial")
)


@dataclass(frozen=True)
class _Complete:
    """An ensemble with every tree grown to the same depth, in heap order (split j's
    children at 2j + 1 and 2j + 2), for _split_all: a leaf above that depth becomes
    splits that send every row left (as _walk's leaves send a row to themselves), under
    which its value repeats. A leaf's path holds, root first, each split's feature and
    the change in node value its way takes."""

    depth: int
    feature: np.ndarray
    threshold: np.ndarray
    nan_right: np.ndarray
    zero_default: np.ndarray
    default_right: np.ndarray
    leaf_value: np.ndarray
    path_feature: np.ndarray  # (trees x leaves, depth)
    path_change: np.ndarray

    @classmethod
    def of(cls, trees: Trees) -> _Complete:
        depth = int(trees.depths.max()) if trees.depths.size else 0
        splits, leaves = 2**depth - 1, 2**depth
        node = np.empty((trees.roots.size, splits + leaves), dtype=np.int64)
        node[:, 0] = trees.roots
        for j in range(splits):  # a leaf's children are itself: it repeats down to `depth`
            node[:, 2 * j + 1] = trees.children[2 * node[:, j]]
            node[:, 2 * j + 2] = trees.children[2 * node[:, j] + 1]
        split, leaf = node[:, :splits], node[:, splits:]
        ancestors = np.empty((leaves, depth + 1), dtype=np.int64)  # heap positions, root first
        ancestors[:, depth] = np.arange(splits, splits + leaves)
        for level in range(depth - 1, -1, -1):
            ancestors[:, level] = (ancestors[:, level + 1] - 1) // 2
        on_path = node[:, ancestors]  # (trees, leaves, depth + 1): the nodes a leaf's path takes
        change = trees.value[on_path[:, :, 1:]] - trees.value[on_path[:, :, :-1]]
        paths = (trees.roots.size * leaves, depth)
        return cls(
            depth=depth,
            feature=trees.feature[split].ravel(),
            threshold=trees.threshold[split].ravel(),
            nan_right=trees.nan_right[split].ravel(),
            zero_default=trees.zero_default[split].ravel(),
            default_right=trees.default_right[split].ravel(),
            leaf_value=trees.value[leaf].ravel(),
            path_feature=trees.feature[on_path[:, :, :-1]].reshape(paths),
            path_change=change.reshape(paths),
        )

    def sum(self, matrix: np.ndarray, contributions: np.ndarray) -> np.ndarray:
        """_walk's result (and contributions) for the rows of `matrix`."""
        return _run(
            _split_all, _split_all_serial, SPLIT_BLOCK_ROWS, matrix.shape[0],
            np.ascontiguousarray(matrix.T), self.depth, self.feature, self.threshold,
            self.nan_right, self.zero_default, self.default_right, self.leaf_value,
            self.path_feature, self.path_change, contributions,
        )  # fmt: skip


def warm_up() -> None:
    """Load the one-thread kernels' compiled code (from numba's cache) for every kind of
    call Trees makes, on a tree of one split: a process forked after this has them."""
    nodes = _Nodes()
    split = nodes.add_split(0, 0.5, MISSING_NAN, default_left=True, value=0.0)
    nodes.link(split, nodes.add_leaf(-1.0), nodes.add_leaf(1.0))
    nodes.roots.append(split)
    trees = nodes.freeze(1)
    matrix = np.array([[0.0], [1.0]])
    for contributions in (np.zeros((0, 0)), np.zeros((2, 2))[:, :-1]):  # predict's; a view's
        _walk_serial(matrix, *trees._arrays(), contributions)
        _Complete.of(trees).sum(matrix, contributions)


@dataclass(frozen=True)
class Trees:
    """Every node of an ensemble, flat: build with `from_lightgbm` or `from_isolation_forest`.

    A split sends x right when x > threshold; NaN goes where nan_right says;
    on a zero-as-missing split, zero goes the default way. value is a node's
    value (a leaf's: what the tree predicts); a leaf's children are itself.
    """

    n_features: int
    roots: np.ndarray
    depths: np.ndarray  # of each tree: the most splits from its root to a leaf
    feature: np.ndarray
    threshold: np.ndarray
    nan_right: np.ndarray
    zero_default: np.ndarray
    default_right: np.ndarray
    children: np.ndarray  # left of node i at 2i, right at 2i + 1
    value: np.ndarray
    isolation_scale: float = 1.0  # trees x c(max_samples), for an IsolationForest

    @property
    def bias(self) -> float:
        """The sum of the roots' values: what every row starts from."""
        return float(self.value[self.roots].sum())

    @classmethod
    def from_lightgbm(cls, booster: Any) -> Trees:
        """A LightGBM Booster's trees (numerical splits; a categorical one raises ValueError)."""
        dump = booster.dump_model()
        nodes = _Nodes()
        for tree in dump["tree_info"]:
            nodes.roots.append(nodes.add_lightgbm(tree["tree_structure"]))
        return nodes.freeze(len(dump["feature_names"]))

    @classmethod
    def from_isolation_forest(cls, forest: Any) -> Trees:
        """A fitted sklearn IsolationForest: a row's value sums its path lengths over the trees.

        Each leaf holds its depth plus the expected depth of the samples it still
        held (the paper's c(n)), as IsolationForest.score_samples counts them.
        """
        nodes = _Nodes()
        for estimator, features in zip(forest.estimators_, forest.estimators_features_,
                                       strict=True):  # fmt: skip
            tree = estimator.tree_
            depth = np.zeros(tree.node_count, dtype=int)  # the root's is 0
            index: list[int] = []
            for node in range(tree.node_count):  # parents come before children
                left, right = tree.children_left[node], tree.children_right[node]
                if left == -1:
                    samples = int(tree.n_node_samples[node])
                    index.append(nodes.add_leaf(depth[node] + _average_path_length(samples)))
                    continue
                depth[left] = depth[right] = depth[node] + 1
                index.append(nodes.add_split(
                    int(features[tree.feature[node]]), float(tree.threshold[node]),
                    MISSING_NONE, default_left=True, value=0.0,
                ))  # fmt: skip
            for node in range(tree.node_count):
                if tree.children_left[node] != -1:
                    nodes.link(index[node], index[tree.children_left[node]],
                               index[tree.children_right[node]])  # fmt: skip
            nodes.roots.append(index[0])
        scale = len(forest.estimators_) * _average_path_length(int(forest.max_samples_))
        return nodes.freeze(int(forest.n_features_in_), isolation_scale=scale)

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The raw prediction: the sum of each tree's leaf value."""
        return self._sum(self.matrix(X), np.zeros((0, 0)))

    def contributions(self, X: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, contributions): one column per feature plus the bias last, adding
        up to the prediction (like LightGBM's pred_contrib)."""
        matrix = self.matrix(X)
        out = np.zeros((len(matrix), self.n_features + 1))
        prediction = self._sum(matrix, out[:, :-1])
        out[:, -1] = self.bias
        return prediction, out

    def isolation_score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """IsolationForest.score_samples (higher = more normal); compares in float32, as sklearn."""
        matrix = self.matrix(X).astype(np.float32).astype(np.float64)
        return np.asarray(-(2.0 ** (-self.predict(matrix) / self.isolation_scale)))

    def matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """X as the kernel reads it; pass the result to several ensembles to convert once."""
        matrix = np.ascontiguousarray(
            X.to_numpy(dtype=np.float64) if isinstance(X, pd.DataFrame) else X, dtype=np.float64
        )
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} feature columns, got {matrix.shape}")
        return matrix

    def _sum(self, matrix: np.ndarray, contributions: np.ndarray) -> np.ndarray:
        """Each row's sum of leaf values, by the kernel that suits the trees' depth."""
        if self.depths.size and self.depths.max() <= COMPLETE_MAX_DEPTH:
            return self._complete.sum(matrix, contributions)
        return walk(matrix, *self._arrays(), contributions)

    @functools.cached_property
    def _complete(self) -> _Complete:
        # Worked out on first use, in the process that scores: a few milliseconds for a
        # few hundred trees. A model file keeps the walk's arrays only (__getstate__).
        return _Complete.of(self)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_complete", None)
        return state

    def _arrays(self) -> tuple[Any, ...]:
        return (self.roots, self.depths, self.feature, self.threshold, self.nan_right,
                self.zero_default, self.default_right, self.children, self.value)  # fmt: skip


class _Nodes:
    """Collects nodes tree by tree, then freezes them into Trees' arrays."""

    def __init__(self) -> None:
        self.splits: list[tuple[int, float, int, bool]] = []  # feature, threshold, missing, left
        self.children: list[tuple[int, int]] = []
        self.values: list[float] = []
        self.roots: list[int] = []

    def add_leaf(self, value: float) -> int:
        """A leaf node holding `value`; returns its index."""
        index = len(self.values)
        self.splits.append((-1, np.inf, MISSING_NONE, True))
        self.children.append((index, index))
        self.values.append(value)
        return index

    def add_split(self, feature: int, threshold: float, missing: int, default_left: bool,
                  value: float) -> int:  # fmt: skip
        """A split node (children linked later); returns its index."""
        index = self.add_leaf(value)
        self.splits[index] = (feature, threshold, missing, default_left)
        return index

    def link(self, node: int, left: int, right: int) -> None:
        """Make `left` and `right` the children of split `node`."""
        self.children[node] = (left, right)

    def add_lightgbm(self, node: dict[str, Any]) -> int:
        """A node of LightGBM's model dump and everything under it; returns its index."""
        if "split_feature" not in node:
            return self.add_leaf(float(node["leaf_value"]))
        if node["decision_type"] != "<=":
            raise ValueError("categorical splits are not supported; encode categories as numbers")
        index = self.add_split(
            int(node["split_feature"]), float(node["threshold"]),
            MISSING_TYPES[node["missing_type"]], bool(node["default_left"]),
            float(node["internal_value"]),
        )  # fmt: skip
        self.link(index, self.add_lightgbm(node["left_child"]),
                  self.add_lightgbm(node["right_child"]))  # fmt: skip
        return index

    def freeze(self, n_features: int, isolation_scale: float = 1.0) -> Trees:
        """The collected nodes as Trees' flat arrays."""
        count = len(self.values)
        feature = np.array([s[0] for s in self.splits], dtype=np.int64).reshape(count)
        threshold = np.array([s[1] for s in self.splits], dtype=np.float64).reshape(count)
        missing = np.array([s[2] for s in self.splits], dtype=np.int64).reshape(count)
        default_right = ~np.array([s[3] for s in self.splits], dtype=np.bool_).reshape(count)
        leaf = feature < 0
        # Where NaN goes: the default way, except on a split that reads NaN as 0.
        nan_right = np.where(missing == MISSING_NONE, threshold < 0.0, default_right)
        depth = np.zeros(count, dtype=np.int64)
        for node in range(count):  # children come after parents
            if not leaf[node]:
                depth[list(self.children[node])] = depth[node] + 1
        roots = np.asarray(self.roots, dtype=np.int64)
        return Trees(
            n_features=n_features,
            roots=roots,
            depths=np.maximum.reduceat(depth, roots) if count else roots,
            feature=np.where(leaf, 0, feature),
            threshold=threshold,
            nan_right=(nan_right & ~leaf).astype(np.int64),
            zero_default=(missing == MISSING_ZERO) & ~leaf,
            default_right=default_right.astype(np.int64),
            children=np.asarray(self.children, dtype=np.int64).reshape(2 * count),
            value=np.asarray(self.values, dtype=np.float64).reshape(count),
            isolation_scale=isolation_scale,
        )


def _average_path_length(n_samples: int) -> float:
    """c(n): the average depth of an unsuccessful search in a binary tree of n samples
    (Liu, Ting and Zhou, 2008), as sklearn's IsolationForest computes it."""
    if n_samples <= 1:
        return 0.0
    if n_samples == 2:
        return 1.0
    return float(
        2.0 * (np.log(n_samples - 1.0) + np.euler_gamma) - 2.0 * (n_samples - 1.0) / n_samples
    )
