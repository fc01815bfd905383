"""What another policy would have earned on logged decisions: off-policy estimates.

    ipw(reward, target_prob, logging_prob, clip=10)   # Estimate: +1.23 [+1.10, +1.37] ...
    doubly_robust(reward, target_prob, logging_prob, predicted, target_value)

A round is one decision of the log: the logging policy took an action with a known
probability (`logging_prob`) and the action brought `reward`. For a target policy,
`target_prob` is the probability it would have taken the logged action, and
`target_value` the reward it expects in that round by a reward model (the sum over
actions of its probability of each times the predicted reward). The estimators are
those of Open Bandit Pipeline (Saito et al. 2021), its math ported:

- direct method (DM): the mean of `target_value`; biased as far as the reward model is;
- inverse probability weighting (IPW): the mean of w * reward, w = target / logging;
- self-normalised IPW (SNIPW): sum(w * reward) / sum(w), a little biased, less variable;
- doubly robust (DR): DM plus IPW of the reward model's misses on the logged actions;
  unbiased when either the probabilities or the reward model are right.

Each gives its value with a 90% Student t interval over rounds (SNIPW's by the delta
method), as the champion gate's intervals are (Open Bandit Pipeline bootstraps its
own), and the weights' effective sample size (sum(w)^2 / sum(w^2)): how many rounds of
the target policy the log is worth. Weights above `clip` are cut to it (biased towards
the logging policy, bounded in variance). How a plan's `selection_probability` (the
chance a creator is among a budget's hires, not of one action among several) maps onto
rounds is the next step of issue 28; nothing calls these yet.

Pure: arrays in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.modeling.evidence import LEVEL, t_half_width


@dataclass(frozen=True)
class Estimate:
    """A policy's estimated value per round, its interval, the rounds it rests on and what
    they are worth for the target policy (the weights' effective sample size; the direct
    method weighs every round alike, so it is worth all of them)."""

    value: float
    low: float
    high: float
    rounds: int
    effective_rounds: float

    def __str__(self) -> str:
        worth = f"over {self.rounds:,} rounds (worth {self.effective_rounds:,.0f})"
        if not np.isfinite(self.low):
            return f"{self.value:+,.2f} [no interval] {worth}"
        return f"{self.value:+,.2f} [{self.low:+,.2f}, {self.high:+,.2f}] {worth}"


def _rounds(**arrays: object) -> dict[str, np.ndarray]:
    """The arrays as 1-D floats of one length (at least one round), or ValueError naming the
    first that is not; rewards and predictions must be finite."""
    out = {name: np.asarray(values, dtype=float) for name, values in arrays.items()}
    lengths = {name: a.shape for name, a in out.items()}
    if any(len(shape) != 1 for shape in lengths.values()):
        raise ValueError(f"every array must be one value per round (shapes: {lengths})")
    if len({shape[0] for shape in lengths.values()}) > 1:
        raise ValueError(f"the arrays differ in length ({lengths})")
    if not next(iter(lengths.values()))[0]:
        raise ValueError("no round to estimate from")
    for name in ("reward", "predicted", "target_value"):
        if name in out and not np.all(np.isfinite(out[name])):
            raise ValueError(f"every {name} must be a finite number")
    return out


def weights(
    target_prob: np.ndarray, logging_prob: np.ndarray, clip: float | None = None
) -> np.ndarray:
    """target / logging probability of each logged action, cut at `clip` (above 0). Raises
    ValueError for a logging probability outside (0, 1] or a target one outside [0, 1]."""
    return _logged(clip, target=target_prob, logging=logging_prob)[1]


def _logged(clip: float | None, **arrays: object) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The arrays checked as _rounds checks them (`target` and `logging` among them), and
    the weights target / logging, cut at `clip`."""
    a = _rounds(**arrays)
    if not np.all((a["logging"] > 0) & (a["logging"] <= 1)):  # NaN fails too
        raise ValueError("every logging probability must be in (0, 1]")
    if not np.all((a["target"] >= 0) & (a["target"] <= 1)):
        raise ValueError("every target probability must be in [0, 1]")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be above 0 (got {clip})")
    ratio: np.ndarray = a["target"] / a["logging"]
    return a, (ratio if clip is None else np.minimum(ratio, clip))


def effective_sample_size(w: np.ndarray) -> float:
    """sum(w)^2 / sum(w^2): the rounds of the target policy that the weighted log is worth."""
    w = np.asarray(w, dtype=float)
    total = float(np.sum(w**2))
    return float(np.sum(w) ** 2 / total) if total > 0 else 0.0


def _estimate(terms: np.ndarray, value: float, w: np.ndarray) -> Estimate:
    """`value` with a Student t interval from the per-round `terms` whose mean it is."""
    ess = effective_sample_size(w)
    if terms.size < 2:
        return Estimate(value, -np.inf, np.inf, terms.size, ess)
    half = t_half_width(terms, LEVEL)
    return Estimate(value, value - half, value + half, terms.size, ess)


def _nothing_taken(w: np.ndarray) -> Estimate:
    """No estimate: the target policy takes none of the logged actions (every weight 0)."""
    return Estimate(np.nan, -np.inf, np.inf, w.size, 0.0)


def direct(target_value: np.ndarray) -> Estimate:
    """DM: the reward model's value of the target policy, per round, averaged."""
    values = _rounds(target_value=target_value)["target_value"]
    return _estimate(values, float(np.mean(values)), np.ones_like(values))


def ipw(
    reward: np.ndarray,
    target_prob: np.ndarray,
    logging_prob: np.ndarray,
    clip: float | None = None,
) -> Estimate:
    """IPW: the mean of w * reward; NaN when the target policy takes no logged action."""
    a, w = _logged(clip, reward=reward, target=target_prob, logging=logging_prob)
    if not w.any():
        return _nothing_taken(w)
    terms = w * a["reward"]
    return _estimate(terms, float(np.mean(terms)), w)


def snipw(
    reward: np.ndarray,
    target_prob: np.ndarray,
    logging_prob: np.ndarray,
    clip: float | None = None,
) -> Estimate:
    """SNIPW: sum(w * reward) / sum(w); its interval by the delta method. NaN when the
    target policy takes no logged action."""
    a, w = _logged(clip, reward=reward, target=target_prob, logging=logging_prob)
    if not w.any():
        return _nothing_taken(w)
    r = a["reward"]
    value = float(np.sum(w * r) / np.sum(w))
    return _estimate(value + w * (r - value) / float(np.mean(w)), value, w)


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
    a, w = _logged(clip, reward=reward, predicted=predicted, target_value=target_value,
                   target=target_prob, logging=logging_prob)  # fmt: skip
    terms = a["target_value"] + w * (a["reward"] - a["predicted"])
    return _estimate(terms, float(np.mean(terms)), w)
