"""Off-policy estimators recover a known policy value from simulated logs."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from scipy import stats

from recommender.modeling import offpolicy


class Log(NamedTuple):
    reward: np.ndarray
    logging_prob: np.ndarray  # of the logged action
    target_prob: np.ndarray  # of the logged action, under the target policy
    mean: np.ndarray  # (rounds, actions): each action's true mean reward
    target: np.ndarray  # (rounds, actions): the target policy's probabilities
    action: np.ndarray
    truth: float  # the target policy's value on these rounds


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def simulated_log(seed: int, rounds: int = 4_000, actions: int = 5) -> Log:
    """Rounds with a context each; the logging policy is a mild softmax of the true mean
    rewards, the target a greedy one, so the two differ much; rewards are noisy."""
    rng = np.random.default_rng(seed)
    context = rng.normal(size=(rounds, 2))
    effect = rng.normal(size=(2, actions))
    mean = 1.0 + context @ effect
    logging, target = softmax(0.5 * mean), softmax(3.0 * mean)
    action = np.array([rng.choice(actions, p=p) for p in logging])
    rows = np.arange(rounds)
    reward = mean[rows, action] + rng.normal(0, 1.0, rounds)
    truth = float(np.mean(np.sum(target * mean, axis=1)))
    return Log(reward, logging[rows, action], target[rows, action], mean, target, action, truth)


def within(estimate: offpolicy.Estimate, truth: float, errors: float = 3.0) -> bool:
    """The truth lies within `errors` standard errors of the estimate (a finite interval)."""
    z = stats.norm.ppf(0.5 + offpolicy.LEVEL / 2)
    standard_error = (estimate.high - estimate.low) / (2 * z)
    return bool(
        np.isfinite(standard_error) and abs(estimate.value - truth) <= errors * standard_error
    )


def test_each_estimator_on_a_log_one_can_check_by_hand():
    """Three rounds: w = [2, 2, 0]. IPW (4 + 0 + 0) / 3; SNIPW 4 / 4; DR with every
    prediction 1 and target value 1.5: mean of 1.5 + [2, -2, 0]; SNIPW's terms
    1 + w * (r - 1) / (4 / 3) = [2.5, -0.5, 1], sd 1.5."""
    reward, target, logging = [2.0, 0.0, 4.0], [0.5, 1.0, 0.0], [0.25, 0.5, 0.5]
    assert offpolicy.weights(target, logging).tolist() == [2.0, 2.0, 0.0]
    ipw = offpolicy.ipw(reward, target, logging)
    snipw = offpolicy.snipw(reward, target, logging)
    dr = offpolicy.doubly_robust(reward, target, logging, [1.0] * 3, [1.5] * 3)
    assert (ipw.value, snipw.value, dr.value) == pytest.approx((4 / 3, 1.0, 1.5))
    assert ipw.effective_rounds == snipw.effective_rounds == pytest.approx(2.0)
    half = stats.t.ppf(0.95, 2) * 1.5 / np.sqrt(3)
    assert (snipw.low, snipw.high) == pytest.approx((1 - half, 1 + half))
    assert str(snipw) == "+1.00 [-1.53, +3.53] over 3 rounds (worth 2)"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_weighted_estimators_recover_the_target_policys_value(seed: int):
    log = simulated_log(seed)
    logged = log.mean.mean()  # the logging policy's value is far from the target's
    assert abs(log.truth - logged) > 0.5
    ipw = offpolicy.ipw(log.reward, log.target_prob, log.logging_prob)
    snipw = offpolicy.snipw(log.reward, log.target_prob, log.logging_prob)
    assert within(ipw, log.truth) and within(snipw, log.truth), (ipw, snipw, log.truth)
    assert snipw.high - snipw.low < 0.85 * (ipw.high - ipw.low)  # 0.09-0.14 against 0.15-0.19
    assert 0 < ipw.effective_rounds < ipw.rounds == len(log.reward)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_doubly_robust_corrects_a_biased_reward_model_that_misleads_the_direct_method(
    seed: int,
):
    """The reward model overrates each round's best action by 1, the one the greedy target
    policy takes most and the mild logging policy less: only a correction weighted by
    target / logging probability removes that bias."""
    log = simulated_log(seed)
    rows = np.arange(len(log.reward))
    biased = log.mean + 1.0 * (log.mean == log.mean.max(axis=1, keepdims=True))
    target_value = np.sum(log.target * biased, axis=1)
    direct = offpolicy.direct(target_value)
    dr = offpolicy.doubly_robust(log.reward, log.target_prob, log.logging_prob,
                                 biased[rows, log.action], target_value)  # fmt: skip
    unweighted = np.mean(target_value + log.reward - biased[rows, log.action])
    assert direct.value - log.truth > 0.5
    assert not direct.low <= log.truth <= direct.high  # sure of the wrong value
    assert within(dr, log.truth), (dr, log.truth)
    assert unweighted - log.truth > 0.2  # an unweighted correction would not do


def test_doubly_robust_with_a_good_reward_model_is_surer_than_ipw():
    log = simulated_log(3)
    rows = np.arange(len(log.reward))
    target_value = np.sum(log.target * log.mean, axis=1)
    dr = offpolicy.doubly_robust(log.reward, log.target_prob, log.logging_prob,
                                 log.mean[rows, log.action], target_value)  # fmt: skip
    ipw = offpolicy.ipw(log.reward, log.target_prob, log.logging_prob)
    assert within(dr, log.truth)
    assert dr.high - dr.low < 0.75 * (ipw.high - ipw.low)  # 0.11 against 0.18 here


def test_clipped_weights_are_bounded_and_the_same_policy_is_worth_every_round():
    log = simulated_log(4)
    assert offpolicy.weights(log.target_prob, log.logging_prob).max() > 2.5
    w = offpolicy.weights(log.target_prob, log.logging_prob, clip=2.0)
    assert w.max() == 2.0
    clipped = offpolicy.ipw(log.reward, log.target_prob, log.logging_prob, clip=2.0)
    unclipped = offpolicy.ipw(log.reward, log.target_prob, log.logging_prob)
    assert clipped.effective_rounds > unclipped.effective_rounds
    same = offpolicy.ipw(log.reward, log.logging_prob, log.logging_prob)
    assert same.effective_rounds == pytest.approx(same.rounds)
    assert same.value == pytest.approx(log.reward.mean())


@pytest.mark.parametrize(
    ("arrays", "message"),
    [({"logging_prob": [0.5, 0.0]}, r"logging probability must be in \(0, 1\]"),
     ({"logging_prob": [0.5, 1.2]}, r"logging probability must be in \(0, 1\]"),
     ({"logging_prob": [0.5, np.nan]}, r"logging probability must be in \(0, 1\]"),
     ({"target_prob": [0.5, -0.1]}, r"target probability must be in \[0, 1\]"),
     ({"target_prob": [0.5, np.nan]}, r"target probability must be in \[0, 1\]"),
     ({"logging_prob": [0.5]}, "differ in length"),
     ({"reward": [1.0]}, "differ in length"),
     ({"reward": [1.0, np.nan]}, "every reward must be a finite number"),
     ({"predicted": [[1.0], [2.0]]}, "one value per round"),
     ({"target_value": [1.0, np.inf]}, "every target_value must be a finite number"),
     ({"clip": 0.0}, "clip must be above 0"),
     ({"reward": [], "target_prob": [], "logging_prob": [], "predicted": [],
       "target_value": []}, "no round")],
)  # fmt: skip
def test_inputs_no_log_could_hold_are_refused(arrays: dict, message: str):
    given = {"reward": [1.0, 2.0], "target_prob": [0.5, 0.5], "logging_prob": [0.5, 0.5],
             "predicted": [1.0, 1.0], "target_value": [1.0, 1.0], **arrays}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        offpolicy.doubly_robust(**given)


def test_a_target_policy_that_takes_no_logged_action_has_no_weighted_estimate():
    for estimator in (offpolicy.ipw, offpolicy.snipw):
        estimate = estimator([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5])
        assert np.isnan(estimate.value) and estimate.effective_rounds == 0
        assert "[no interval]" in str(estimate)
