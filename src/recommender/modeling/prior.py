"""What a marketer knows before any outcome, as the lift model's starting point.

The rule of thumb: engagements per dollar, halved for a creator outside the campaign's
niche (a secondary niche counts between), and discounted when the audience lives
elsewhere and when most recent posts are sponsored. On the log scale it is a sum of one
term per feature, so its part of a prediction is shared out among those features in the
reasons, like the trees' parts.

`MarketingPrior.fit` learns how much of it to believe from the history: a weight and an
intercept on the lift model's scale, by least squares, the weight kept at zero or above (a
history that contradicts the rule turns it off, it never turns it round). The lift model
then boosts from the prior (LightGBM's init_score): where the history holds nothing (small
creators a habitual brand never hired, other niches), the prediction stays the prior's;
where it holds much, the trees move it as far as the data says.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# The rule's features: (name, how a known value becomes the rule's factor)
COLUMNS = (
    "engagements_per_dollar", "niche_exact", "niche_in_secondary", "country_match",
    "sponsorship_ratio",
)  # fmt: skip
UNKNOWN = {  # a factor's input when the feature is unknown
    "engagements_per_dollar": np.nan,  # the history's median, learnt in fit
    "niche_exact": 0.0,
    "niche_in_secondary": 0.0,
    "country_match": 0.5,
    "sponsorship_ratio": 0.0,
}
EPD_FLOOR = 1e-3  # engagements per dollar below this count as this (a log needs a floor)


def rule_factors(columns: Mapping[str, np.ndarray], epd_unknown: float) -> dict[str, np.ndarray]:
    """The rule's multiplicative factors, by feature, from its input columns (NaN as
    UNKNOWN, engagements per dollar as `epd_unknown`); their product is the rule's score.
    The niche factor sits with niche_exact (niche_in_secondary's factor is 1)."""

    def column(name: str, unknown: float) -> np.ndarray:
        values = np.asarray(columns[name], dtype=float)
        return np.where(np.isnan(values), unknown, values)

    niche = np.maximum(column("niche_exact", 0.0), 0.5 * column("niche_in_secondary", 0.0))
    epd = column("engagements_per_dollar", epd_unknown)
    return {
        "engagements_per_dollar": np.maximum(epd, EPD_FLOOR),
        "niche_exact": 0.5 + 0.5 * niche,
        "niche_in_secondary": np.ones_like(niche),
        "country_match": 0.5 + 0.5 * column("country_match", UNKNOWN["country_match"]),
        "sponsorship_ratio": 1 - 0.5 * column("sponsorship_ratio", 0.0).clip(0, 1),
    }


class MarketingPrior:
    """The rule of thumb on the lift model's scale: intercept + weight * log(rule), its
    strength learnt from the history (see the module's docstring)."""

    def __init__(self, feature_names: list[str]) -> None:
        missing = [c for c in COLUMNS if c not in feature_names]
        if missing:
            raise ValueError(f"the prior needs the features {missing}")
        self.index = {name: feature_names.index(name) for name in COLUMNS}
        self.n_features = len(feature_names)

    def _logs(self, X: np.ndarray) -> dict[str, np.ndarray]:
        columns = {name: X[:, i] for name, i in self.index.items()}
        return {k: np.log(v) for k, v in rule_factors(columns, self.epd_unknown_).items()}

    def fit(self, X: np.ndarray, target: np.ndarray) -> MarketingPrior:
        """Learn the weight and intercept from features X (FEATURES order, as floats) and
        the target on the model's scale (rows with a finite target only)."""
        epd = X[:, self.index["engagements_per_dollar"]]
        known = epd[np.isfinite(epd)]
        self.epd_unknown_ = float(np.median(known)) if known.size else 1.0
        logs = self._logs(X)
        self.means_ = {name: float(np.mean(values)) for name, values in logs.items()}
        z = np.sum([values - self.means_[name] for name, values in logs.items()], axis=0)
        spread = float(np.dot(z, z))
        slope = float(np.dot(z, target - target.mean()) / spread) if spread > 0 else 0.0
        self.weight_ = max(slope, 0.0)
        self.intercept_ = float(target.mean())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The prior on the model's scale for each row of X."""
        return np.asarray(self.contributions(X).sum(axis=1))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """The prior shared out among its features, as the trees' contributions are (one
        column per feature, the intercept last)."""
        parts = np.zeros((len(X), self.n_features + 1))
        for name, values in self._logs(X).items():  # each term against its training mean
            parts[:, self.index[name]] = self.weight_ * (values - self.means_[name])
        parts[:, -1] = self.intercept_
        return parts
