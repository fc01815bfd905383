"""The models: the lift model, its calibration and intervals, the fit ranker, the recommender,
and scikit-learn's estimator contract for each."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from recommender.contract import pair_frame
from recommender.features import CreatorFeatures, MatchFeatures, PairFeatures
from recommender.modeling._lgbm import THREADS
from recommender.modeling.estimator import Recommender, without_outcomes
from recommender.modeling.lift import (
    ReturnRegressor,
    conformal_margin,
    from_model_scale,
    leaf_size,
    mean_calibration,
    return_scale,
    to_model_scale,
)
from recommender.modeling.ranker import CampaignFitRanker, campaign_fit_labels
from recommender.modeling.training import TrainResult, market_sample

# The feature transformers and the recommender take a pair frame: a DataFrame whose
# columns are the contract's. These checks of scikit-learn's feed arrays, so they fail
# for that reason alone (a TypeError saying so); tests below check the same promises on
# pair frames.
ARRAY_INPUT_CHECKS = {
    "check_complex_data", "check_dict_unchanged", "check_dont_overwrite_parameters",
    "check_dtype_object", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag", "check_estimators_dtypes",
    "check_estimators_empty_data_messages", "check_estimators_fit_returns_self",
    "check_estimators_nan_inf", "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit1d", "check_fit2d_1feature",
    "check_fit2d_1sample", "check_fit2d_predict1d", "check_fit_check_is_fitted",
    "check_fit_idempotent", "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_pipeline_consistency",
    "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
    "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes",
}  # fmt: skip


@parametrize_with_checks([ReturnRegressor(), CampaignFitRanker()])
def test_sklearn_estimator_contract(estimator, check):
    """The array models pass every check, with no exception listed. (scikit-learn skips its
    array-API check itself unless SCIPY_ARRAY_API is set: no array-API support is claimed.)"""
    check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # the array-API one
@pytest.mark.parametrize(
    "estimator", [CreatorFeatures(), MatchFeatures(), PairFeatures(), Recommender()], ids=repr
)
def test_pair_frame_estimators_fail_only_the_listed_checks(estimator):
    """The same suite through check_estimator: every check passes but the listed ones, and
    each listed one fails (one test each, so 128 expected failures format no tracebacks)."""
    results = check_estimator(estimator, on_fail=None)
    ran = {r["check_name"] for r in results}
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert failed == ARRAY_INPUT_CHECKS & ran  # the recommender gets no transformer checks
    assert len(failed) >= len(ARRAY_INPUT_CHECKS) - 3
    assert {"check_estimator_cloneable", "check_get_params_invariance", "check_set_params",
            "check_no_attributes_set_in_init", "check_estimators_unfitted"} <= passed  # fmt: skip


def test_return_scale_round_trips():
    returns = np.array([-3.0, 0.0, 0.5, 2.0, 40.0, np.nan])
    scale = return_scale(returns)
    assert scale == pytest.approx(np.median([3.0, 0.0, 0.5, 2.0, 40.0]) / 5)
    back = from_model_scale(to_model_scale(returns, scale), scale)
    np.testing.assert_allclose(back[:-1], returns[:-1])
    assert return_scale(np.zeros(3)) == 1e-6  # never 0: asinh needs a scale


def test_conformal_margin_reaches_the_asked_coverage():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 5_000)
    low, high = np.full_like(y, -0.5), np.full_like(y, 0.5)  # too narrow: ~38% coverage
    margin = conformal_margin(low, high, y, 0.8)
    assert margin > 0
    fresh = rng.normal(0, 1, 5_000)
    covered = np.mean((fresh >= low - margin) & (fresh <= high + margin))
    assert covered == pytest.approx(0.8, abs=0.02)
    assert conformal_margin(np.full_like(y, -5), np.full_like(y, 5), y, 0.8) < 0  # too wide: shrink


def test_mean_calibration():
    assert mean_calibration(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(
        2.0
    )
    assert mean_calibration(np.array([1.0, np.nan]), np.array([3.0, 100.0])) == pytest.approx(3.0)
    assert mean_calibration(np.array([0.0]), np.array([1.0])) == 1.0  # undefined: no change


def test_return_regressor_learns_a_heavy_tailed_relation():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.uniform(0, 1, 3_000), "noise": rng.uniform(0, 1, 3_000)})
    truth = np.exp(3 * X["x"])  # returns from 1 to 20
    y = truth * np.exp(0.5 * rng.standard_t(3, 3_000))  # heavy-tailed measurements
    y[:30] = -2.0  # and some negative ones
    for loss in ("l2", "huber", "fair", "l1"):
        model = ReturnRegressor(loss=loss, n_estimators=200).fit(X, y)
        predicted = model.predict(X)
        assert pd.Series(predicted).corr(pd.Series(truth), method="spearman") > 0.9, loss
    low = ReturnRegressor(loss="quantile", alpha=0.1, n_estimators=200).fit(X, y).predict(X)
    high = ReturnRegressor(loss="quantile", alpha=0.9, n_estimators=200).fit(X, y).predict(X)
    assert (low < high).mean() > 0.95


def test_a_small_history_gets_smaller_leaves_never_below_the_floor():
    assert [leaf_size(n) for n in (0, 150, 300, 600, 750, 10_000)] == [20, 20, 20, 40, 50, 50]
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.uniform(0, 1, 400)})
    y = np.where(np.arange(400) < 100, np.nan, np.exp(X["x"]))  # 300 learnable rows
    model = ReturnRegressor(n_estimators=5).fit(X, y)
    assert model.model_.get_params()["min_child_samples"] == leaf_size(300)
    # Each leaf of the trees holds at least that many of the rows learnt from.
    leaves = model.model_.booster_.predict(X[np.isfinite(y)], pred_leaf=True)
    assert min(np.unique(tree, return_counts=True)[1].min() for tree in leaves.T) >= 20
    assert model.model_.get_params()["n_jobs"] == THREADS


def test_fit_labels_use_ratings_and_fill_gaps_from_outcomes():
    campaign = pd.Series(["a"] * 5)
    measured = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    assert campaign_fit_labels(None, measured, campaign).tolist() == [0, 1, 2, 3, 4]
    rating = pd.Series([4, None, None, 0, 2])
    assert campaign_fit_labels(rating, measured, campaign).tolist() == [4, 1, 2, 0, 2]


def test_ranker_orders_within_campaigns_and_scores_fit_from_0_to_1():
    rng = np.random.default_rng(0)
    n = 2_000
    X = pd.DataFrame({"signal": rng.uniform(0, 1, n), "noise": rng.uniform(0, 1, n)})
    labels = np.clip((X["signal"] * 5).astype(int), 0, 4)
    groups = pd.Series([f"c{i // 40}" for i in range(n)])
    ranker = CampaignFitRanker(n_estimators=50).fit(X, labels, groups=groups)
    assert ranker.model_.get_params()["n_jobs"] == THREADS
    raw = ranker.predict(X)
    assert pd.Series(raw).corr(X["signal"], method="spearman") > 0.9
    scores = ranker.fit_score(raw)
    assert scores.min() >= 0 and scores.max() <= 1
    assert ranker.fit_score(np.array([raw.max() + 1]))[0] == 1.0


def test_models_refuse_to_predict_before_fit():
    X = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(NotFittedError):
        ReturnRegressor().predict(X)
    with pytest.raises(NotFittedError):
        CampaignFitRanker().predict(X)
    with pytest.raises(NotFittedError):
        Recommender().predict(pd.DataFrame({"campaign_id": ["k"], "creator_id": ["a"]}))


def trained_pairs(market) -> pd.DataFrame:
    """The pairs the session's model was fitted on: the whole history."""
    return pair_frame(market.creators, market.campaigns, market.outcomes)


def test_a_cloned_recommender_refits_to_the_same_model(market, trained: TrainResult):
    history = trained_pairs(market)
    before = history.copy()
    again = clone(trained.recommender)
    assert again.get_params() == trained.recommender.get_params()
    assert not hasattr(again, "lift_")  # a clone holds parameters only
    could_hire = market_sample(market.creators, market.campaigns, history, seed=1)
    assert again.fit(history, market=could_hire) is again
    pd.testing.assert_frame_equal(history, before)  # fit leaves its input alone
    held_out = without_outcomes(trained.test)
    pd.testing.assert_frame_equal(again.predict(held_out), trained.recommender.predict(held_out))


def test_a_pickled_recommender_predicts_the_same(trained: TrainResult):
    held_out = without_outcomes(trained.test)
    copy = pickle.loads(pickle.dumps(trained.recommender))
    pd.testing.assert_frame_equal(copy.predict(held_out), trained.recommender.predict(held_out))


def test_predictions_keep_the_pairs_index_and_order(trained: TrainResult):
    held_out = without_outcomes(trained.test).head(30)
    shuffled = held_out.sample(frac=1.0, random_state=0).set_axis(range(100, 130))
    predicted = trained.recommender.predict(shuffled)
    assert predicted.index.tolist() == list(range(100, 130))
    assert predicted["creator_id"].tolist() == shuffled["creator_id"].tolist()
    by_position = trained.recommender.predict(held_out).set_index("creator_id")
    pd.testing.assert_series_equal(
        predicted.set_index("creator_id")["score"], by_position.loc[shuffled["creator_id"], "score"]
    )


def test_feature_importance_is_a_share_per_feature_and_model(trained: TrainResult):
    importance = trained.recommender.feature_importance()
    assert list(importance.columns) == ["lift", "fit"]
    np.testing.assert_allclose(importance.sum().to_numpy(), [1.0, 1.0])


@pytest.mark.parametrize("transformer", [CreatorFeatures, MatchFeatures, PairFeatures])
def test_feature_transformers_keep_the_estimator_contract_on_pair_frames(market, transformer):
    """What scikit-learn's array checks would check, on the pair frames these take."""
    pairs = pair_frame(market.creators, market.campaigns, market.outcomes).head(600)
    before = pairs.copy()
    signal = np.linspace(0, 1, len(pairs))
    fitted = transformer()
    assert fitted.fit(pairs, signal) is fitted
    pd.testing.assert_frame_equal(pairs, before)  # fit leaves its input alone
    assert fitted.get_params() == transformer().get_params()  # fit changed no parameter
    out = fitted.transform(pairs)
    assert list(out.columns) == list(fitted.get_feature_names_out())
    again = clone(fitted).fit(pairs, signal)
    pd.testing.assert_frame_equal(again.transform(pairs), out)  # refitting is idempotent
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(fitted)).transform(pairs), out)
    shuffled = pairs.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(fitted.transform(shuffled).loc[pairs.index], out)


def test_scoring_checks_the_features_once_as_each_model_would(trained: TrainResult):
    """score_pairs converts the features once for its four models: each reads them as from
    its own check of its input, and what that check refuses is still refused."""
    model = trained.recommender
    pairs = without_outcomes(trained.test).head(300)
    X = model.features_for(pairs)
    checked = model._checked(X)
    for each in (model.ranker_, model.lift_, model.lift_low_, model.lift_high_):
        np.testing.assert_array_equal(each.contributions(checked), each.contributions(X))
    np.testing.assert_array_equal(model.ranker_.predict(checked), model.ranker_.predict(X))
    with pytest.raises(ValueError, match="infinity"):  # a price of next to nothing
        model.score_pairs(pairs.head(3).assign(price_per_post_usd=1e-320))
    with pytest.raises(ValueError, match="0 sample"):
        model.score_pairs(pairs.head(0))
