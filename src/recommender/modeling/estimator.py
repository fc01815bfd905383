"""The recommender: features, the campaign-fit ranker and the lift models as one estimator.

    Recommender(random_state=0).fit(history)   # a pair frame with outcome columns
    recommender.predict(pairs)                  # PREDICTION_COLUMNS for each pair
    recommender.score_pairs(pairs)              # the same, with what reasons and flags need

`fit` learns everything from the campaigns it is given: out-of-fold
predictions over campaign folds choose the lift loss, fix the mean calibration
and calibrate the interval (conformal), then the final models are fitted on
all of them. `clone(recommender).fit(other_history)` trains afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from recommender import contract
from recommender.features import FEATURES, PairFeatures
from recommender.modeling import evaluation
from recommender.modeling._lgbm import Checked
from recommender.modeling.lift import (
    LOSSES,
    ReturnRegressor,
    conformal_margin,
    from_model_scale,
    mean_calibration,
    measured_return,
    return_scale,
    to_model_scale,
)
from recommender.modeling.ranker import CampaignFitRanker, campaign_fit_labels
from recommender.modeling.support import HireSupport

# Raised when a saved model's structure changes; an older model must be retrained.
MODEL_FORMAT = 7  # 7: the lift models start from the marketing prior; the training hires' keys
MIN_COST_USD = 1.0  # a gifted post still costs something (product, time)
MIN_COSTS = 50  # hires with a known cost needed to learn return per dollar
RETURN_PER_DOLLAR, LIFT_USD = "return_per_dollar", "lift_usd"  # what the lift models learn


class ScoreParts(NamedTuple):
    """What every objective's score is made of, for each pair."""

    sales: np.ndarray  # expected return per dollar (expected lift when costs were unknown)
    fit_score: np.ndarray
    engagements_per_dollar: np.ndarray


class Objective(NamedTuple):
    """How a campaign objective ranks: its score, and the model whose output drives it
    (whose contributions explain the score)."""

    model: str  # "lift" or "fit"
    score: Callable[[ScoreParts], np.ndarray]


OBJECTIVES = {
    "sales": Objective("lift", lambda parts: parts.sales),
    "awareness": Objective("fit", lambda parts: parts.fit_score * parts.engagements_per_dollar),
    "content": Objective("fit", lambda parts: parts.fit_score),
}
assert set(OBJECTIVES) == set(contract.OBJECTIVES)


@dataclass(frozen=True)
class PairScores:
    """What scoring a pair frame gives, in one object: nothing else reaches into the model.

    predictions: PREDICTION_COLUMNS, one row per pair (the pairs' index);
    features: the FEATURES the models read;
    contributions: per-feature contributions (plus the bias, last) of the model
    behind each row's score (OBJECTIVES), on that model's own scale;
    anomaly_threshold: the anomaly score above which an account is among the
    10% most unusual of the training market (for flags);
    unlike_hires: for each row unlike any the history hired, why ('' for the others).
    """

    predictions: pd.DataFrame
    features: pd.DataFrame
    contributions: np.ndarray
    anomaly_threshold: float
    unlike_hires: np.ndarray


class Recommender(BaseEstimator):  # type: ignore[misc]
    """Campaign fit, expected sales lift with an interval, ROI and a score per objective.

    Parameters are the training settings: `losses` are the lift losses compared
    out of fold on `folds` campaign folds; the interval is calibrated to
    `interval_coverage`; `n_estimators` rounds per lift model; with `prior`, the lift
    models start from the marketing prior (prior.py), as strong as the history says.
    """

    def __init__(
        self,
        random_state: int | None = 0,
        n_estimators: int = 300,
        folds: int = 4,
        losses: Sequence[str] = LOSSES,
        interval_coverage: float = 0.8,
        prior: bool = True,
    ) -> None:
        self.prior = prior
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.folds = folds
        self.losses = losses
        self.interval_coverage = interval_coverage

    # --- training -------------------------------------------------------------------

    def fit(
        self,
        X: pd.DataFrame,
        y: Any = None,
        *,
        progress: Callable[[str], None] | None = None,
        market: pd.DataFrame | None = None,
    ) -> Recommender:
        """Learn from past hires: X is a pair frame carrying the outcome columns
        (sales_lift_usd; cost_usd and fit_rating where known); `y` is ignored.
        `market`: pairs of the same campaigns with creators they could have hired (no
        outcomes), to learn where the history looked (support.py); without it, intervals
        have one margin and nothing is flagged as unlike past hires.
        `progress` is told what is happening. Returns self."""
        say = progress or (lambda message: None)
        history = contract.require_pair_frame(X, type(self).__name__).reset_index(drop=True)
        if history["campaign_id"].nunique() < 2:
            raise ValueError(
                "fit needs hires from at least 2 campaigns (its calibration is out of fold); "
                f"got {history['campaign_id'].nunique()}"
            )
        target = self._target(history, say)
        grades = campaign_fit_labels(
            history.get("fit_rating"), pd.Series(target), history["campaign_id"]
        )
        affinity_signal = evaluation.within_group_percentile(
            history.assign(_return=target), "_return"
        ).fillna(0.5)
        self.return_scale_ = return_scale(target)  # over the hires whose return is known
        start = time.perf_counter()
        self._fit_calibration(history, target, affinity_signal, say)
        calibrated = time.perf_counter()

        self.features_ = PairFeatures(random_state=self.random_state)
        X_all = self.features_.fit_transform(history, affinity_signal)
        self.ranker_ = CampaignFitRanker(random_state=self.random_state).fit(
            X_all, grades, groups=history["campaign_id"]
        )
        alpha = self._alpha
        self.lift_ = self._regressor(self.lift_loss_).fit(X_all, target)
        self.lift_low_ = self._regressor("quantile", alpha).fit(X_all, target)
        self.lift_high_ = self._regressor("quantile", 1 - alpha).fit(X_all, target)
        self.support_: HireSupport | None = None
        if market is not None and len(market):
            X_market = self.features_.transform(without_outcomes(market))
            self.support_ = HireSupport().fit(
                X_all, X_market, self.conformal_scores_, self.interval_coverage
            )
        self.trained_hires_ = np.unique(hire_keys(history))
        self.model_format_ = MODEL_FORMAT
        self.trained_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        self.fit_seconds_ = {
            "out_of_fold_s": calibrated - start,
            "final_fit_s": time.perf_counter() - calibrated,
        }
        return self

    def refit_ranking(self, history: pd.DataFrame) -> Callable[[pd.DataFrame], np.ndarray]:
        """This model's sales ranking learnt afresh from `history` alone: its recipe (the
        features and the lift model with the loss it chose) fitted on those hires, returned
        as a function giving each pair's ranking score (expected ROI, or lift where this
        model learnt lift). How the champion gate judges a model on a campaign it was trained
        on: by what the same recipe predicts without it. The calibration, a factor, and the
        interval do not change the order, so they are not refitted."""
        check_is_fitted(self, "lift_")
        history = contract.require_pair_frame(history, type(self).__name__).reset_index(drop=True)
        if self.target_ == RETURN_PER_DOLLAR:
            target = measured_return(history).to_numpy(dtype=float)
        else:
            target = history["sales_lift_usd"].to_numpy(dtype=float)
        affinity_signal = evaluation.within_group_percentile(
            history.assign(_return=target), "_return"
        ).fillna(0.5)
        features = PairFeatures(random_state=self.random_state)
        X_train = features.fit_transform(history, affinity_signal)
        lift = self._regressor(self.lift_loss_, scale=return_scale(target)).fit(X_train, target)

        def ranking(pairs: pd.DataFrame) -> np.ndarray:
            X = features.transform(without_outcomes(contract.require_pair_frame(pairs, "ranking")))
            return self._sales(lift.to_return(lift.predict_transformed(X)), X)

        return ranking

    def _sales(self, predicted_return: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        """What the sales objective ranks by: expected ROI, or lift where costs were unknown;
        `predicted_return` is the lift model's prediction (before the calibration factor)."""
        cost = X["price_usd"].to_numpy(dtype=float)
        if self.target_ == RETURN_PER_DOLLAR:
            return np.asarray(predicted_return * cost / np.maximum(cost, MIN_COST_USD))
        return np.asarray(predicted_return, dtype=float)

    @property
    def _alpha(self) -> float:
        return (1 - self.interval_coverage) / 2

    def _target(self, history: pd.DataFrame, say: Callable[[str], None]) -> np.ndarray:
        """Return per dollar of each hire; lift in USD when too few costs are known."""
        returns = measured_return(history)
        if int(returns.notna().sum()) >= MIN_COSTS:
            self.target_ = RETURN_PER_DOLLAR
            return returns.to_numpy(dtype=float)
        self.target_ = LIFT_USD
        say(
            f"fewer than {MIN_COSTS} hires with a known cost (cost_usd or price_per_post_usd): "
            "learning lift in USD; return per dollar will be unknown"
        )
        return history["sales_lift_usd"].to_numpy(dtype=float)

    def _fit_calibration(
        self,
        history: pd.DataFrame,
        target: np.ndarray,
        affinity_signal: pd.Series,
        say: Callable[[str], None],
    ) -> None:
        """Out of fold: choose the lift loss, the mean calibration and the interval's margin."""
        oof = self._out_of_fold(history, target, affinity_signal, say)
        has_return = np.isfinite(target)
        scored = history.loc[has_return, ["campaign_id"]].assign(_return=target[has_return])
        comparison = {}
        for loss in self.losses:
            scored["_pred"] = oof[loss][has_return]
            comparison[loss] = {
                "oof_ndcg_roi@10": evaluation.ndcg_at_k(scored, "_pred", "_return", 10),
                "oof_spearman_roi": evaluation.spearman(scored, "_pred", "_return"),
            }
        self.loss_comparison_ = pd.DataFrame.from_dict(comparison, orient="index")
        self.loss_comparison_.index.name = "loss"
        ndcg = self.loss_comparison_["oof_ndcg_roi@10"]
        if ndcg.notna().any():
            self.lift_loss_ = str(ndcg.idxmax())
            say(f"lift loss: {self.lift_loss_} (best out-of-fold NDCG@10 of the ROI ranking)")
        else:  # no campaign has a hire with a positive return: nothing to rank by
            self.lift_loss_ = str(self.losses[0])
            say(f"lift loss: {self.lift_loss_} (no hire had a positive return to rank by)")
        scale = self.return_scale_
        self.calibration_ = mean_calibration(from_model_scale(oof[self.lift_loss_], scale), target)
        self.margin_ = conformal_margin(
            oof["q_low"][has_return], oof["q_high"][has_return],
            to_model_scale(target, scale)[has_return], self.interval_coverage,
        )  # fmt: skip
        learnt = to_model_scale(target, scale)
        self.conformal_scores_ = np.maximum(oof["q_low"] - learnt, learnt - oof["q_high"])

    def _out_of_fold(
        self,
        history: pd.DataFrame,
        target: np.ndarray,
        affinity_signal: pd.Series,
        say: Callable[[str], None],
    ) -> dict[str, np.ndarray]:
        """Each loss's (and each interval quantile's) predictions for campaigns it did not see."""
        campaigns = history["campaign_id"]
        n_folds = max(2, min(self.folds, campaigns.nunique()))
        oof = {name: np.full(len(history), np.nan) for name in (*self.losses, "q_low", "q_high")}
        quantiles = (("q_low", self._alpha), ("q_high", 1 - self._alpha))
        folds = GroupKFold(n_splits=n_folds).split(history, groups=campaigns)
        for number, (train_rows, held_rows) in enumerate(folds, start=1):
            features = PairFeatures(random_state=self.random_state)
            X_train = features.fit_transform(
                history.iloc[train_rows], affinity_signal.iloc[train_rows]
            )
            X_held = features.transform(without_outcomes(history.iloc[held_rows]))
            for loss in self.losses:
                model = self._regressor(loss).fit(X_train, target[train_rows])
                oof[loss][held_rows] = model.predict_transformed(X_held)
            for name, alpha in quantiles:
                model = self._regressor("quantile", alpha).fit(X_train, target[train_rows])
                oof[name][held_rows] = model.predict_transformed(X_held)
            say(f"fold {number}/{n_folds}: compared {len(self.losses)} lift losses")
        return oof

    def _regressor(
        self, loss: str, alpha: float = 0.5, scale: float | None = None
    ) -> ReturnRegressor:
        # 300 rounds at 0.04 by default; fewer rounds learn proportionally faster. The
        # interval's quantile models get half the rounds at twice the rate: the conformal
        # step corrects their band, and every round costs at scoring time.
        rounds, rate = self.n_estimators, min(12.0 / self.n_estimators, 0.3)
        if loss == "quantile":
            rounds, rate = max(rounds // 2, 1), min(2 * rate, 0.3)
        return ReturnRegressor(
            loss=loss, alpha=alpha, scale=self.return_scale_ if scale is None else scale,
            random_state=self.random_state, prior=self.prior,
            n_estimators=rounds, learning_rate=rate,
        )  # fmt: skip

    # --- prediction -----------------------------------------------------------------

    def features_for(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """The FEATURES of each pair, as the models read them."""
        check_is_fitted(self, "features_")
        return self.features_.transform(contract.require_pair_frame(pairs, type(self).__name__))

    def predict(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """PREDICTION_COLUMNS for each row of the pair frame `pairs` (same index)."""
        X = self.features_for(pairs)
        checked = self._checked(X)
        lift_point = self.lift_.predict_transformed(checked)
        objective = contract.objectives(pairs)
        return self._predictions(pairs, X, checked, lift_point, objective)[0]

    def score_pairs(self, pairs: pd.DataFrame) -> PairScores:
        """Predictions, features and the contributions behind each row's score, in one pass."""
        X = self.features_for(pairs)
        checked = self._checked(X)
        lift_contributions = self.lift_.contributions(checked)
        objective = contract.objectives(pairs)
        # The contributions add up to the lift model's prediction.
        lift_point = lift_contributions.sum(axis=1)
        predictions, unbounded = self._predictions(pairs, X, checked, lift_point, objective)
        support = getattr(self, "support_", None)
        unlike = (
            support.unlike(X, unbounded)
            if support is not None
            else np.full(len(X), "", dtype=object)
        )
        by_fit = np.isin(objective, [o for o, how in OBJECTIVES.items() if how.model == "fit"])
        contributions = lift_contributions.copy()
        if by_fit.any():
            contributions[by_fit] = self.ranker_.contributions(Checked(checked.matrix[by_fit]))
        return PairScores(predictions, X, contributions, self.features_.anomaly_threshold, unlike)

    def _checked(self, X: pd.DataFrame) -> Checked:
        """features_for's frame as all four models read it, converted once for them.

        It holds the FEATURES every model was fitted on, as floats, so the models' own
        check of their input has nothing to add but its refusals: of no rows at all and
        of an infinite value. Those still go through it, for its error.
        """
        matrix = self.lift_.trees_.matrix(X)
        if not len(matrix) or np.isinf(matrix).any():
            return self.lift_.checked(X)
        return Checked(matrix)

    def _predictions(
        self,
        pairs: pd.DataFrame,
        X: pd.DataFrame,
        checked: Checked,
        lift_point: np.ndarray,
        objective: np.ndarray,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """PREDICTION_COLUMNS, and which rows are so unlike past hires that their interval
        could not be bounded by them (the widest margin then)."""
        fit_score = self.ranker_.fit_score(self.ranker_.predict(checked))
        support = getattr(self, "support_", None)
        margin: np.ndarray | float = self.margin_
        unbounded = np.zeros(len(X), dtype=bool)
        if support is not None:
            margin, unbounded = support.margins(X)
        low = self.lift_low_.predict_transformed(checked) - margin
        high = self.lift_high_.predict_transformed(checked) + margin
        cost = X["price_usd"].to_numpy(dtype=float)
        # What a predicted return multiplies to give lift in USD: the cost, or 1 when the
        # models learned lift itself (training knew no costs).
        cost_basis = cost if self.target_ == RETURN_PER_DOLLAR else np.ones_like(cost)
        expected_lift = self.calibration_ * self.lift_.to_return(lift_point) * cost_basis
        lift_low = np.minimum(self.lift_.to_return(low) * cost_basis, expected_lift)
        lift_high = np.maximum(self.lift_.to_return(high) * cost_basis, expected_lift)
        expected_roi = expected_lift / np.maximum(cost, MIN_COST_USD)
        engagements_per_dollar = X["engagements_per_dollar"].to_numpy(dtype=float)
        parts = ScoreParts(
            sales=expected_roi if self.target_ == RETURN_PER_DOLLAR else expected_lift,
            fit_score=fit_score,
            engagements_per_dollar=np.where(
                np.isnan(engagements_per_dollar), 0.0, engagements_per_dollar
            ),
        )
        score = np.select(
            [objective == name for name in OBJECTIVES],
            [how.score(parts) for how in OBJECTIVES.values()],
            parts.sales,  # an objective the contract does not know (unvalidated input)
        )
        columns = {
            "campaign_id": pairs["campaign_id"].to_numpy(),
            "creator_id": pairs["creator_id"].to_numpy(),
            "score": score,
            "fit_score": fit_score,
            "expected_lift_usd": expected_lift,
            "lift_low_usd": lift_low,
            "lift_high_usd": lift_high,
            "cost_usd": cost,
            "expected_roi": expected_roi,
            "tier": contract.tier_of(pairs["followers"]),
        }
        # (in PREDICTION_COLUMNS order already: naming them again would only reindex)
        return pd.DataFrame(columns, index=pairs.index), unbounded

    def feature_importance(self) -> pd.DataFrame:
        """Share of split gain per feature, for the lift model and the fit ranker."""
        check_is_fitted(self, "lift_")
        frame = pd.DataFrame(
            {"lift": self.lift_.feature_importance(), "fit": self.ranker_.feature_importance()},
            index=list(FEATURES),
        )
        return frame / frame.sum()


def hire_keys(pairs: pd.DataFrame) -> np.ndarray:
    """One number per hire (row) of a history: its campaign, creator and measured lift,
    hashed. A model keeps its training history's keys so that the champion gate
    can tell which campaigns it was trained on: a campaign whose lifts were changed (or
    shuffled) is another campaign."""
    keys = pairs[["campaign_id", "creator_id"]].astype(str)
    keys["lift"] = pd.to_numeric(pairs["sales_lift_usd"], errors="coerce").round(2).to_numpy()
    return pd.util.hash_pandas_object(keys, index=False).to_numpy(dtype=np.uint64)


def without_outcomes(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pair frame without what a hire brought: what a model may see before hiring."""
    return pairs.drop(columns=[c for c in contract.OUTCOME_COLUMNS if c in pairs.columns])
