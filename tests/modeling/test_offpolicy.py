"""Off-policy estimators recover a known policy value from simulated logs."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

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
    """The truth lies within `errors` standard errors of the estimate."""
    standard_error = (estimate.high - estimate.low) / (2 * 1.645)
    return abs(estimate.value - truth) <= errors * standard_error


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_weighted_estimators_recover_the_target_policys_value(seed: int):
    log = simulated_log(seed)
    logged = log.mean.mean()  # the logging policy's value is far from the target's
    assert abs(log.truth - logged) > 0.5
    ipw = offpolicy.ipw(log.reward, log.target_prob, log.logging_prob)
    snipw = offpolicy.snipw(log.reward, log.target_prob, log.logging_prob)
    assert within(ipw, log.truth) and within(snipw, log.truth), (ipw, snipw, log.truth)
    assert ipw.low < log.truth < ipw.high or within(ipw, log.truth, 2.0)
    assert 0 < ipw.effective_rounds < ipw.rounds == len(log.reward)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_doubly_robust_corrects_a_biased_reward_model_that_misleads_the_direct_method(seed):
    log = simulated_log(seed)
    rows = np.arange(len(log.reward))
    biased = log.mean + 0.5  # a reward model off by +0.5 everywhere
    target_value = np.sum(log.target * biased, axis=1)
    direct = offpolicy.direct(target_value)
    dr = offpolicy.doubly_robust(log.reward, log.target_prob, log.logging_prob,
                                 biased[rows, log.action], target_value)  # fmt: skip
    assert direct.value - log.truth == pytest.approx(0.5, abs=0.05)
    assert not direct.low <= log.truth <= direct.high  # sure of the wrong value
    assert within(dr, log.truth), (dr, log.truth)


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
    ("logging_prob", "message"),
    [([0.5, 0.0], r"logging probability must be in \(0, 1\]"),
     ([0.5, 1.2], r"logging probability must be in \(0, 1\]"),
     ([0.5, np.nan], r"logging probability must be in \(0, 1\]"),
     ([0.5], "differ in length")],
)  # fmt: skip
def test_probabilities_no_policy_could_have_are_refused(logging_prob, message):
    with pytest.raises(ValueError, match=message):
        offpolicy.ipw(np.array([1.0, 2.0]), np.array([0.5, 0.5]), np.array(logging_prob))
