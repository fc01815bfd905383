"""What another policy would have earned on logged decisions: off-policy estimates.

    w = weights(target_prob, logging_prob, clip=10)   # per round, clipped
    ipw(reward, target_prob, logging_prob)           # Estimate: +1,234 [+1,100, +1,368]
    doubly_robust(reward, target_prob, logging_prob, predicted, target_value)

A round is one decision of the log: the logging policy took an action with a known
probability (`logging_prob`, as a plan states its `selection_probability`) and the
action brought `reward`. For a target policy (a new model's plans), `target_prob` is the
probability it would have taken the logged action, and `target_value` the reward it
expects in that round by the reward model (the sum over actions of its probability of
each times the predicted reward). The estimators are those of Open Bandit Pipeline
(Saito et al. 2021), its math ported:

- direct method (DM): the mean of `target_value`; biased as far as the reward model is;
- inverse probability weighting (IPW): the mean of w * reward, w = target / logging;
- self-normalised IPW (SNIPW): sum(w * reward) / sum(w), a little biased, less variable;
- doubly robust (DR): DM plus IPW of the reward model's misses; unbiased when either the
  probabilities or the reward model are right.

Each gives its value with a Student t interval over rounds (SNIPW's by the delta
method), as the champion gate's intervals are, and the weights' effective sample size
(sum(w)^2 / sum(w^2)): how many rounds of the target policy the log is worth. Weights
above `clip` are cut to it (biased towards the logging policy, bounded in variance).

Pure: arrays in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.90  # the intervals' coverage


@dataclass(frozen=True)
class Estimate:
    """A policy's estimated value per round, its interval, the rounds it rests on and what
    they are worth for the target policy (the weights' effective sample size)."""

    value: float
    low: float
    high: float
    rounds: int
    effective_rounds: float

    def __str__(self) -> str:
        return (f"{self.value:+,.4g} [{self.low:+,.4g}, {self.high:+,.4g}] over {self.rounds} "
                f"rounds (worth {self.effective_rounds:,.0f})")  # fmt: skip


def weights(
    target_prob: np.ndarray, logging_prob: np.ndarray, clip: float | None = None
) -> np.ndarray:
    """target / logging probability of each logged action, cut at `clip`. Raises
    ValueError for a logging probability outside (0, 1] or a target one outside [0, 1]."""
    target = np.asarray(target_prob, dtype=float)
    logging = np.asarray(logging_prob, dtype=float)
    if target.shape != logging.shape:
        raise ValueError("target and logging probabilities differ in length")
    if not np.all((logging > 0) & (logging <= 1)):  # NaN fails too
        raise ValueError("every logging probability must be in (0, 1]")
    if not np.all((target >= 0) & (target <= 1)):
        raise ValueError("every target probability must be in [0, 1]")
    ratio = target / logging
    return np.asarray(ratio if clip is None else np.minimum(ratio, clip), dtype=float)


def effective_sample_size(w: np.ndarray) -> float:
    """sum(w)^2 / sum(w^2): the rounds of the target policy that the weighted log is worth."""
    w = np.asarray(w, dtype=float)
    total = float(np.sum(w**2))
    return float(np.sum(w) ** 2 / total) if total > 0 else 0.0


def _mean_interval(terms: np.ndarray, value: float, w: np.ndarray) -> Estimate:
    """`value` with a Student t interval from the per-round `terms` whose mean it is."""
    n = terms.size
    if n < 2:
        return Estimate(value, -np.inf, np.inf, n, effective_sample_size(w))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1) * np.std(terms, ddof=1) / np.sqrt(n))
    return Estimate(value, value - half, value + half, n, effective_sample_size(w))


def direct(target_value: np.ndarray) -> Estimate:
    """DM: the reward model's value of the target policy, per round, averaged."""
    values = np.asarray(target_value, dtype=float)
    return _mean_interval(values, float(np.mean(values)), np.ones_like(values))


def ipw(
    reward: np.ndarray,
    target_prob: np.ndarray,
    logging_prob: np.ndarray,
    clip: float | None = None,
) -> Estimate:
    """IPW: the mean of w * reward."""
    w = weights(target_prob, logging_prob, clip)
    terms = w * np.asarray(reward, dtype=float)
    return _mean_interval(terms, float(np.mean(terms)), w)


def snipw(
    reward: np.ndarray,
    target_prob: np.ndarray,
    logging_prob: np.ndarray,
    clip: float | None = None,
) -> Estimate:
    """SNIPW: sum(w * reward) / sum(w); its interval by the delta method."""
    w = weights(target_prob, logging_prob, clip)
    r = np.asarray(reward, dtype=float)
    mean_w = float(np.mean(w))
    if mean_w == 0:  # the target policy takes none of the logged actions
        return Estimate(np.nan, np.nan, np.nan, w.size, 0.0)
    value = float(np.sum(w * r) / np.sum(w))
    return _mean_interval(value + w * (r - value) / mean_w, value, w)


def doubly_robust(
    reward: np.ndarray,
    target_prob: np.ndarray,
    logging_prob: np.ndarray,
    predicted: np.ndarray,
    target_value: np.ndarray,
    clip: float | None = None,
) -> Estimate:
    """DR: `target_value` (the DM term) plus w * (reward - `predicted`), where `predicted`
    is the reward model's prediction for the logged action."""
    w = weights(target_prob, logging_prob, clip)
    misses = np.asarray(reward, dtype=float) - np.asarray(predicted, dtype=float)
    terms = np.asarray(target_value, dtype=float) + w * misses
    return _mean_interval(terms, float(np.mean(terms)), w)
