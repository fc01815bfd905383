"""What a history says about a model: out-of-sample NDCG campaign by campaign, and how sure.

    folds = campaign_folds(history, seed=0)
    judged = judge(model, history, folds)              # NDCG@10 per campaign, unseen ones only
    evidence = Evidence.of(judged, history, features)   # beside the baselines on the same campaigns
    evidence.versus_best_baseline()                     # Comparison: +0.08 [+0.02, +0.14] on 12

A model is judged on every campaign of the history, but never by what it learnt from the
campaign itself: a campaign it was trained on (most of its hires, lifts included, are among
the hires it kept the keys of) is predicted by its recipe refitted without that campaign's
fold (cross-fitting); any other campaign by the model as it is. Two models judged over the
same folds are paired campaign by campaign, and `paired` puts a Student t interval over
campaigns on the mean difference (a percentile bootstrap was too narrow with few
campaigns: on pure noise, 14% of its intervals lay above zero at 4 campaigns and 7%
at 10 and 12, for 5%; the t interval's, 4-5%). The truth is what the history measured: each hire's
return per dollar, or its lift where no cost is known.

Pure: frames in, numbers out. The champion gate (mlops.champion) decides with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from recommender.modeling import evaluation
from recommender.modeling.estimator import Recommender, hire_keys, without_outcomes
from recommender.modeling.lift import measured_return

K = 10  # NDCG@K: the gate's metric, of the sales ranking against the measured return
FOLDS = 5  # campaign folds the refits leave out, one at a time
LEVEL = 0.90  # the intervals' coverage: a promotion needs the lower end above zero
MIN_CAMPAIGNS = 4  # fewer judged campaigns than this: no interval can say anything
MODEL = "model"


@dataclass(frozen=True)
class Comparison:
    """The mean paired difference of NDCG@K over `campaigns` campaigns, with its interval."""

    estimate: float
    low: float
    high: float
    campaigns: int

    @property
    def credible(self) -> bool:
        """Whether the interval lies above zero: an improvement the evidence supports."""
        return bool(self.campaigns >= MIN_CAMPAIGNS and self.low > 0)

    @property
    def credibly_behind(self) -> bool:
        """Whether the interval lies below zero: a loss the evidence supports."""
        return bool(self.campaigns >= MIN_CAMPAIGNS and self.high < 0)

    def __str__(self) -> str:
        if not self.campaigns:
            return "no campaign to compare on"
        if not np.isfinite(self.low):
            return f"{self.estimate:+.2f} [no interval]"
        return f"{self.estimate:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"

    def as_dict(self) -> dict[str, float | int]:
        """The comparison as plain numbers, for logs and the promotion history."""
        return {
            "estimate": round(self.estimate, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "campaigns": self.campaigns,
        }


def paired(a: pd.Series, b: pd.Series, level: float = LEVEL) -> Comparison:
    """Mean of a - b over the campaigns both judge, with a Student t interval over
    campaigns at `level` (two-sided). Fewer than MIN_CAMPAIGNS campaigns: no interval
    (low -inf, high +inf), so nothing is credible."""
    both = pd.concat([a, b], axis=1, keys=["a", "b"]).dropna()
    differences = (both["a"] - both["b"]).to_numpy(dtype=float)
    if not differences.size:
        return Comparison(float("nan"), -np.inf, np.inf, 0)
    estimate = float(differences.mean())
    if differences.size < MIN_CAMPAIGNS:
        return Comparison(estimate, -np.inf, np.inf, int(differences.size))
    half = t_half_width(differences, level)
    return Comparison(estimate, estimate - half, estimate + half, int(differences.size))


def t_half_width(values: np.ndarray, level: float = LEVEL) -> float:
    """Half the width of a two-sided Student t interval at `level` on the mean of `values`
    (at least two of them)."""
    n = values.size
    return float(stats.t.ppf(0.5 + level / 2, n - 1) * np.std(values, ddof=1) / np.sqrt(n))


def measured_gain(history: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Each hire's measured return per dollar, or its lift when the history knows no cost;
    and which ("return per dollar" or "lift")."""
    returns = measured_return(history).to_numpy(dtype=float)
    if np.isfinite(returns).any():
        return returns, "return per dollar"
    return history["sales_lift_usd"].to_numpy(dtype=float), "lift"


def campaign_folds(history: pd.DataFrame, folds: int = FOLDS, seed: int = 0) -> pd.Series:
    """Each campaign's fold (0..folds-1, at random, as even as can be), by campaign id."""
    ids = np.array(sorted(pd.unique(history["campaign_id"].astype(str))), dtype=object)
    np.random.default_rng(seed).shuffle(ids)
    return pd.Series(np.arange(ids.size) % max(1, min(folds, ids.size)), index=ids, name="fold")


def ndcg_by_campaign(
    history: pd.DataFrame, score: np.ndarray, gain: np.ndarray, k: int = K
) -> pd.Series:
    """NDCG@k of `score`'s order against `gain`, per campaign (NaN where it cannot be told:
    no positive gain, or no score); negative gains count as 0, ties count against the score."""
    frame = pd.DataFrame(
        {"campaign_id": history["campaign_id"].astype(str).to_numpy(), "s": score, "g": gain}
    )
    # A pair the ranking cannot score comes last; a campaign it scores not at all, NaN.
    scored = frame.groupby("campaign_id")["s"].transform(lambda s: np.isfinite(s).any())
    frame = frame[np.isfinite(frame["g"]) & scored.to_numpy(dtype=bool)]
    frame = frame.assign(s=frame["s"].where(np.isfinite(frame["s"]), -np.inf))
    return evaluation.ndcg_by_group(frame, "s", "g", k).reindex(
        sorted(pd.unique(history["campaign_id"].astype(str)))
    )


def seen_campaigns(model: Recommender, history: pd.DataFrame) -> set[str] | None:
    """The history's campaigns `model` was trained on (any of their hires, lift included,
    among its training hires); None for a model that kept no record of them."""
    kept = getattr(model, "trained_hires_", None)
    if kept is None:
        return None
    known = np.isin(hire_keys(history), kept)
    share = pd.Series(known).groupby(history["campaign_id"].astype(str).to_numpy()).mean()
    return set(share.index[share > 0])


@dataclass(frozen=True)
class Judged:
    """A model's sales-ranking score for every hire of a history, out of sample, and how
    each campaign was judged: "as fitted" (never seen), "refitted" (seen: cross-fitted),
    "unknown" (a model with no record of its training: as fitted, which may favour it)."""

    scores: np.ndarray
    how: pd.Series  # by campaign id


def judge(model: Recommender, history: pd.DataFrame, folds: pd.Series) -> Judged:
    """`model`'s out-of-sample sales ranking over `history` (see the module's docstring)."""
    history = history.reset_index(drop=True)
    campaign = history["campaign_id"].astype(str)
    seen = seen_campaigns(model, history)
    scores = np.asarray(sales_ranking(model, model.predict(without_outcomes(history))))
    scores = scores.astype(float, copy=True)
    how = pd.Series("as fitted" if seen is not None else "unknown", index=folds.index)
    for fold in sorted(set(folds[list(seen or ())])):
        held = {c for c in seen or () if folds[c] == fold}
        rest = campaign.isin(seen or ()) & ~campaign.isin(held)
        rows = campaign.isin(held).to_numpy()
        if not rest.any():
            scores[rows] = np.nan  # nothing left to learn from: not judged
            how[list(held)] = "not judged"
            continue
        try:
            refitted = model.refit_ranking(history[rest.to_numpy()])
        except ValueError:  # nothing its target can be learnt from there (no cost known)
            scores[rows] = np.nan
            how[list(held)] = "not judged"
            continue
        scores[rows] = refitted(history[rows])
        how[list(held)] = "refitted"
    return Judged(scores, how)


def sales_ranking(model: Recommender, predictions: pd.DataFrame) -> np.ndarray:
    """What the sales objective ranks by in `predictions`: expected ROI, or expected lift
    for a model that learnt lift (its training knew no costs)."""
    column = "expected_roi" if model.target_ == "return_per_dollar" else "expected_lift_usd"
    return predictions[column].to_numpy(dtype=float)


@dataclass(frozen=True)
class Evidence:
    """NDCG@K per campaign of one model and of each baseline, on one history's campaigns;
    `gain` names the truth ("return per dollar" or "lift"). `prior` names the baseline the
    model starts from (its marketing prior), None if it starts from nothing: the model is
    that rule plus what it learnt, so the rule is said beside it but is not its bar."""

    ndcg: pd.DataFrame  # index campaign_id; columns MODEL and the baselines' names
    gain: str
    how: pd.Series
    prior: str | None = None

    @classmethod
    def of(
        cls,
        judged: Judged,
        history: pd.DataFrame,
        features: pd.DataFrame,
        seed: int = 0,
        prior: str | None = None,
    ) -> Evidence:
        """`judged`'s NDCG per campaign of `history`, beside each baseline's on `features`
        (the history's, in its order); `prior`: the baseline the model starts from."""
        history = history.reset_index(drop=True)
        gain, what = measured_gain(history)
        columns = {MODEL: ndcg_by_campaign(history, judged.scores, gain)}
        for name, baseline in evaluation.BASELINES.items():
            score = baseline(features.reset_index(drop=True), seed)
            columns[name] = ndcg_by_campaign(history, np.asarray(score, dtype=float), gain)
        return cls(pd.DataFrame(columns), what, judged.how, prior)

    def for_model(self, judged: Judged, history: pd.DataFrame) -> Evidence:
        """Another model's evidence on the same history (the one these baselines were
        judged on), beside the same baselines."""
        history = history.reset_index(drop=True)
        ndcg = self.ndcg.copy()
        ndcg[MODEL] = ndcg_by_campaign(history, judged.scores, measured_gain(history)[0])
        return Evidence(ndcg, self.gain, judged.how)

    @property
    def campaigns(self) -> int:
        """Campaigns whose NDCG the model has (some positive measured gain)."""
        return int(self.ndcg[MODEL].notna().sum())

    def best_baseline(self) -> str:
        """The baseline with the highest mean NDCG on these campaigns (random and the
        model's prior aside)."""
        aside = [MODEL, "random"] + ([self.prior] if self.prior in self.ndcg else [])
        means = self.ndcg.drop(columns=aside).mean()
        return str(means.idxmax()) if means.notna().any() else "random"

    def versus_prior(self) -> Comparison | None:
        """This model minus the rule it starts from, paired (None: it starts from none)."""
        return self.versus(self.ndcg[self.prior]) if self.prior in self.ndcg else None

    def versus(self, other: pd.Series) -> Comparison:
        """This model minus `other` (NDCG per campaign), paired."""
        return paired(self.ndcg[MODEL], other)

    def versus_best_baseline(self) -> tuple[str, Comparison]:
        """The best baseline's name, and this model minus it, paired."""
        name = self.best_baseline()
        return name, self.versus(self.ndcg[name])


@dataclass(frozen=True)
class Decision:
    """What the gate decided, the line that says why, and the comparison behind it."""

    promote: bool
    line: str
    record: dict[str, object]


def decide(
    challenger: Evidence, champion: Evidence | None, names: tuple[str, str | None]
) -> Decision:
    """Promote the challenger only when the history credibly says it is better: the interval
    on its paired improvement over the champion, and over the best baseline, above zero,
    and not below zero over the rule it starts from. `names` are the challenger's and the
    champion's versions; a first model (no champion) is promoted, saying how it stands
    against the baselines."""
    new, old = names
    baseline, over_baseline = challenger.versus_best_baseline()
    over_prior = challenger.versus_prior()
    against_baseline = f"{over_baseline} over the best baseline ({baseline})"
    record: dict[str, object] = {
        "metric": f"ndcg@{K} of {challenger.gain}",
        "level": LEVEL,
        "best_baseline": baseline,
        "versus_best_baseline": over_baseline.as_dict(),
    }
    if over_prior is not None:
        against_baseline += f", {over_prior} over its prior ({challenger.prior})"
        record["prior"] = challenger.prior
        record["versus_prior"] = over_prior.as_dict()
    if champion is None or old is None:
        standing = (
            f"against the best baseline ({baseline}): {over_baseline} NDCG@{K} on "
            f"{over_baseline.campaigns} campaigns"
            if over_baseline.campaigns
            else "no campaign has a positive measured return to judge it by"
        )
        if over_prior is not None and over_prior.campaigns:
            standing += f", against its prior ({challenger.prior}): {over_prior}"
        return Decision(True, f"version {new} is the first champion; {standing}", record)
    over_champion = challenger.versus(champion.ndcg[MODEL])
    record["versus_champion"] = over_champion.as_dict()
    record["champion_judged"] = {str(k): int(v) for k, v in champion.how.value_counts().items()}
    said = (
        f"challenger v{new} {over_champion} NDCG@{K} over champion v{old} on "
        f"{over_champion.campaigns} campaigns, {against_baseline}"
    )
    if over_champion.campaigns < MIN_CAMPAIGNS:
        line = (
            f"challenger v{new} and champion v{old} judged on {over_champion.campaigns} "
            f"campaigns with a positive measured return, fewer than the {MIN_CAMPAIGNS} needed "
            f"to tell them apart: kept v{old}"
        )
        return Decision(False, line, record)
    if not over_champion.credible:
        return Decision(False, f"{said}: not credibly better, kept v{old}", record)
    if not over_baseline.credible:
        return Decision(
            False, f"{said}: not credibly ahead of the best baseline, kept v{old}", record
        )
    if over_prior is not None and over_prior.credibly_behind:
        return Decision(False, f"{said}: credibly behind its prior, kept v{old}", record)
    return Decision(True, f"{said}: v{new} is champion now", record)


__all__ = [
    "Comparison", "Decision", "Evidence", "Judged", "campaign_folds", "decide", "judge",
    "measured_gain", "ndcg_by_campaign", "paired", "sales_ranking", "seen_campaigns",
]  # fmt: skip
