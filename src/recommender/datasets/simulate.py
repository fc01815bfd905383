"""The built-in demo market: creators, campaigns, past outcomes and their ground truth.

    creator-recommender simulate --out DIR [--seed N] [--creators N] [--campaigns N]
                                 [--hires N] [--hiring market|habitual|random]

Writes DIR/creators.csv, DIR/campaigns.csv and DIR/outcomes.csv in the data
contract, and DIR/truth/ with what no real export has: each creator's hidden
traits (real fake-follower share, genuine engagement, true price) and the
noise-free expected lift and fit of every outcome pair. The truth is for
evaluation only; nothing that learns may read it.

Brands hire the way the market does (by niche, leaning to bigger names they can
pay) unless told otherwise: `hiring="habitual"` makes the small, biased
histories of brands that always hire the biggest names of their niche, and
`hiring="random"` an experiment's uniform hires; `hires` fixes how many each
campaign hires.

Calibration (see tests/test_calibration.py): follower counts, engagement by
tier, comments-to-likes and niche shares follow the 33,935 real Instagram
creators of data/external/instagram; prices follow published rate cards (nano
$10-$150 a post, micro $100-$500). The same seed gives byte-identical files.

This module is the only place that knows how the demo market works. Models
must learn it from the files, so the formulas here are deliberately not shared
with features.py or the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.io import write_table

# --- calibration constants --------------------------------------------------

# Quantiles of log10(followers) measured on the real creators (min 1,000; the
# top knots extend the real maximum of ~96M to the largest accounts there are).
FOLLOWER_LOG10_QUANTILES = (
    (0.0, 3.0),
    (0.05, 3.129),
    (0.10, 3.272),
    (0.25, 3.695),
    (0.50, 4.207),
    (0.75, 4.729),
    (0.90, 5.255),
    (0.95, 5.620),
    (0.99, 6.319),
    (0.999, 7.2),
    (1.0, 8.6),
)

# Niche shares of the real creators; the real "other" (16.9%) is split over
# niches the real data does not name. Each niche lists its related niches.
NICHES: dict[str, tuple[float, tuple[str, ...]]] = {
    "fashion": (0.351, ("beauty", "travel")),
    "travel": (0.124, ("food", "fashion")),
    "family": (0.120, ("food", "pet", "interior")),
    "food": (0.105, ("wellness", "family", "travel")),
    "beauty": (0.045, ("fashion", "wellness")),
    "interior": (0.035, ("family",)),
    "fitness": (0.033, ("wellness", "sports", "food")),
    "pet": (0.017, ("family", "wellness")),
    "wellness": (0.040, ("fitness", "food", "beauty", "pet")),
    "tech": (0.035, ("gaming", "finance")),
    "gaming": (0.035, ("tech",)),
    "music": (0.025, ("fashion",)),
    "sports": (0.020, ("fitness",)),
    "finance": (0.015, ("tech",)),
}
REAL_NICHES = ("fashion", "travel", "family", "food", "beauty", "interior", "fitness", "pet")

# Share of the niche's audience that is female, and its age offset in years.
NICHE_AUDIENCE = {
    "fashion": (0.78, -1.0),
    "travel": (0.58, 2.0),
    "family": (0.72, 6.0),
    "food": (0.62, 3.0),
    "beauty": (0.86, -2.0),
    "interior": (0.74, 6.0),
    "fitness": (0.50, 0.0),
    "pet": (0.66, 2.0),
    "wellness": (0.76, 3.0),
    "tech": (0.24, 1.0),
    "gaming": (0.20, -5.0),
    "music": (0.52, -3.0),
    "sports": (0.30, 0.0),
    "finance": (0.32, 7.0),
}

COUNTRIES = {
    "US": 0.30, "GB": 0.08, "BR": 0.08, "IN": 0.08, "DE": 0.06, "FR": 0.05, "ES": 0.05,
    "IT": 0.05, "MX": 0.05, "ID": 0.05, "CA": 0.04, "AU": 0.03, "JP": 0.03, "NL": 0.03,
    "PL": 0.02,
}  # fmt: skip

PLATFORMS = {"instagram": 0.55, "tiktok": 0.30, "youtube": 0.15}
# Engagement relative to Instagram, posts per 90 days, audience age base.
PLATFORM_TRAITS = {
    "instagram": (1.0, 30.0, 28.0),
    "tiktok": (1.6, 45.0, 22.0),
    "youtube": (0.6, 10.0, 30.0),
}

FAKE_SHARE = 0.2  # accounts with a substantial share of bought followers
HAWKER_SHARE = 0.12  # accounts that sponsor about every other post

BRANDS = ("Acme", "Brightside", "Cobalt", "Dune", "Evergreen", "Fable", "Gusto", "Harbor",
          "Indigo", "Juniper", "Kite", "Lumen", "Maple", "Nimbus", "Orbit", "Pebble")  # fmt: skip


@dataclass(frozen=True)
class Market:
    """A whole demo market: the three contract tables, and the truth no export carries."""

    creators: pd.DataFrame  # the creators contract
    campaigns: pd.DataFrame  # the campaigns contract
    outcomes: pd.DataFrame  # the outcomes contract
    creator_traits: pd.DataFrame  # hidden: creator_id + true traits
    expected: pd.DataFrame  # hidden: campaign_id, creator_id, expected_lift_usd, true_fit


# --- creators ---------------------------------------------------------------


def _choice(rng: np.random.Generator, weights: dict[str, float], size: int) -> np.ndarray:
    names = np.array(list(weights), dtype=object)
    p = np.array(list(weights.values()), dtype=float)
    return names[rng.choice(len(names), size=size, p=p / p.sum())]


def _followers(rng: np.random.Generator, n: int) -> np.ndarray:
    q, log10 = np.array(FOLLOWER_LOG10_QUANTILES).T
    return np.asarray(np.round(10 ** np.interp(rng.random(n), q, log10)), dtype=np.int64)


def median_engagement_rate(followers: np.ndarray) -> np.ndarray:
    """Median (likes + comments) / followers on Instagram, fitted to the real medians."""
    return np.asarray(0.021 + 0.035 * (np.maximum(followers, 1) / 1_000) ** -0.45)


def _comment_share(followers: np.ndarray) -> np.ndarray:
    """Median comments per like, fitted to the real posts (4% for nano, under 1% for mega)."""
    return np.asarray(0.062 * (np.maximum(followers, 1) / 1_000) ** -0.3)


def _price(followers: np.ndarray) -> np.ndarray:
    """Rate-card price per post: ~$20 at 1k, ~$100 at 10k, ~$500 at 100k, steeper above."""
    f = np.maximum(followers, 1).astype(float)
    low = 100.0 * (f / 10_000) ** 0.7
    high = 100.0 * 10**0.7 * (f / 100_000) ** 0.9
    return np.asarray(np.where(f <= 100_000, low, high))


def generate_creators(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`n` creators in the contract, and their hidden traits."""
    ids = np.array([f"cr{i:07d}" for i in range(n)], dtype=object)
    platform = _choice(rng, PLATFORMS, n)
    niche_weights = {k: v[0] for k, v in NICHES.items()}
    niche = _choice(rng, niche_weights, n)
    # Every helper draws from rng in this order: the same seed gives the same market.
    reach = _reach(rng, platform)
    following, growth = _fake_follower_signals(rng, reach)
    recent_posts, sponsor_ratio, recent_sponsored = _sponsorship(rng, platform)
    country, age, female = _audience(rng, niche, platform)
    secondary = _secondary_niches(rng, niche)
    views = np.where(
        platform == "instagram",
        np.nan,
        reach.genuine_followers
        * rng.uniform(0.15, 0.6, n)
        * np.where(platform == "tiktok", 1.5, 1.0),
    )
    true_price = _asking_price(rng, platform, reach)
    creators = pd.DataFrame(
        {
            "creator_id": ids,
            "platform": platform,
            "followers": reach.followers,
            "avg_likes": np.round(reach.likes, 1),
            "avg_comments": np.round(reach.comments, 1),
            "niche": niche,
            "secondary_niches": secondary,
            "following": np.round(following).astype(np.int64),
            "avg_views": np.round(views, 0),
            "recent_posts": recent_posts,
            "recent_sponsored_posts": recent_sponsored,
            "audience_country": country,
            "audience_age_median": np.round(age, 1),
            "audience_female_share": np.round(female, 3),
            "follower_growth_30d": np.round(growth, 4),
            "price_per_post_usd": np.round(true_price, 2),
        }
    )
    traits = pd.DataFrame(
        {
            "creator_id": ids,
            "true_audience_country": country,
            "true_audience_age_median": age,
            "true_audience_female_share": female,
            "fake_follower_share": reach.fake_follower_share,
            "genuine_followers": reach.genuine_followers,
            "genuine_engagement_rate": reach.genuine_engagement_rate,
            "engagement_quality": reach.quality,
            "sponsored_ratio": sponsor_ratio,
            "true_price_usd": true_price,
        }
    )
    return _thin(creators, rng), traits


@dataclass(frozen=True)
class _Reach:
    """Who a creator reaches: followers (bought ones included), genuine engagement, likes."""

    followers: np.ndarray
    fake: np.ndarray
    fake_follower_share: np.ndarray
    genuine_followers: np.ndarray
    genuine_engagement_rate: np.ndarray
    quality: np.ndarray
    likes: np.ndarray
    comments: np.ndarray
    tier_engagement_rate: np.ndarray  # the median for the platform and size


def _reach(rng: np.random.Generator, platform: np.ndarray) -> _Reach:
    """Genuine audience and engagement, then what bought followers and likes do to them."""
    n = len(platform)
    observed_followers = _followers(rng, n)
    fake = rng.random(n) < FAKE_SHARE
    fake_follower_share = np.where(
        fake, rng.uniform(0.3, 0.85, n), rng.beta(1.0, 30.0, n)
    )  # even honest accounts carry a few bots
    genuine_followers = observed_followers * (1 - fake_follower_share)
    platform_er = np.array([PLATFORM_TRAITS[p][0] for p in platform])
    # Engagement quality is a creator's own: how much their genuine audience cares.
    quality = rng.lognormal(0.0, 0.45, n)
    genuine_er = median_engagement_rate(observed_followers) * platform_er * quality
    engagements = genuine_followers * genuine_er
    comment_share = _comment_share(observed_followers) * rng.lognormal(0.0, 0.45, n)
    genuine_comments = engagements * comment_share / (1 + comment_share)
    genuine_likes = engagements - genuine_comments
    bought_likes = fake & (rng.random(n) < 0.6)
    likes = genuine_likes * np.where(bought_likes, rng.uniform(1.5, 4.0, n), 1.0)
    # Calibrate overall engagement so the observed median matches reality: fakes pull it down.
    scale = 1.0 / 0.93
    return _Reach(
        followers=observed_followers,
        fake=fake,
        fake_follower_share=fake_follower_share,
        genuine_followers=genuine_followers,
        genuine_engagement_rate=genuine_er,
        quality=quality,
        likes=likes * scale,
        comments=genuine_comments * scale,
        tier_engagement_rate=median_engagement_rate(observed_followers) * platform_er,
    )


def _fake_follower_signals(
    rng: np.random.Generator, reach: _Reach
) -> tuple[np.ndarray, np.ndarray]:
    """Accounts followed and 30-day follower growth: bought followers show in both."""
    n, fake, followers = len(reach.fake), reach.fake, reach.followers
    following = np.where(
        fake,
        np.minimum(followers * rng.uniform(0.5, 1.3, n), 7_500),  # follow-for-follow
        np.minimum(rng.lognormal(np.log(600), 0.9, n), 7_500),
    )
    growth = np.where(
        fake & (rng.random(n) < 0.7),
        rng.uniform(0.15, 0.8, n),  # a purchase shows as a spike
        rng.normal(0.015, 0.02, n),
    )
    return following, growth


def _sponsorship(
    rng: np.random.Generator, platform: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recent posts, the creator's sponsoring habit, and the sponsored posts among them."""
    n = len(platform)
    posts_per_90d = np.array([PLATFORM_TRAITS[p][1] for p in platform])
    recent_posts = rng.poisson(posts_per_90d) + 1
    hawker = rng.random(n) < HAWKER_SHARE
    sponsor_ratio = np.where(hawker, rng.beta(8, 7, n), rng.beta(1.0, 16.0, n))
    return recent_posts, sponsor_ratio, rng.binomial(recent_posts, sponsor_ratio)


def _audience(
    rng: np.random.Generator, niche: np.ndarray, platform: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The audience's top country, median age and female share."""
    n = len(niche)
    country = _choice(rng, COUNTRIES, n)
    niche_female = np.array([NICHE_AUDIENCE[x][0] for x in niche])
    niche_age = np.array([NICHE_AUDIENCE[x][1] for x in niche])
    base_age = np.array([PLATFORM_TRAITS[p][2] for p in platform])
    age = np.clip(base_age + niche_age + rng.normal(0, 4, n), 14, 70)
    female = np.clip(niche_female + rng.normal(0, 0.1, n), 0.02, 0.98)
    return country, age, female


def _asking_price(rng: np.random.Generator, platform: np.ndarray, reach: _Reach) -> np.ndarray:
    """Rate-card price for the size and platform, negotiated on the engagement shown."""
    shown_engagement = (reach.likes + reach.comments) / np.maximum(reach.followers, 1)
    return np.asarray(
        _price(reach.followers)
        * np.array([{"instagram": 1.0, "tiktok": 0.8, "youtube": 1.6}[p] for p in platform])
        # Rates are negotiated on the engagement a creator shows, bought likes included.
        * (shown_engagement / reach.tier_engagement_rate) ** 0.6
        * rng.lognormal(0.0, 0.3, len(platform))  # asking prices vary at one size
    )


def _thin(creators: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Real exports are thin: leave optional fields empty at realistic rates."""
    creators = _blank(creators, rng, {
        "following": 0.05, "follower_growth_30d": 0.10, "price_per_post_usd": 0.25,
        "audience_country": 0.08, "audience_age_median": 0.15, "audience_female_share": 0.15,
        "recent_posts": 0.05,
    })  # fmt: skip
    creators.loc[creators["recent_posts"].isna(), "recent_sponsored_posts"] = np.nan
    for col in ("following", "recent_posts", "recent_sponsored_posts"):
        creators[col] = creators[col].astype("Int64")
    return creators


def _secondary_niches(rng: np.random.Generator, niche: np.ndarray) -> np.ndarray:
    n = len(niche)
    count = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])
    all_niches = list(NICHES)
    out = np.empty(n, dtype=object)
    picks = rng.random((n, 2))
    for i in range(n):
        related = NICHES[niche[i]][1]
        chosen: list[str] = []
        for j in range(count[i]):
            # mostly related niches, sometimes an unrelated side interest
            pool = related if picks[i, j] < 0.8 else tuple(all_niches)
            candidate = pool[int(picks[i, j] * 1e6) % len(pool)]
            if candidate != niche[i] and candidate not in chosen:
                chosen.append(candidate)
        out[i] = ";".join(chosen)
    return out


def _blank(frame: pd.DataFrame, rng: np.random.Generator, rates: dict[str, float]) -> pd.DataFrame:
    frame = frame.copy()
    for col, rate in rates.items():
        mask = rng.random(len(frame)) < rate
        frame[col] = frame[col].astype(float if frame[col].dtype.kind in "if" else object)
        frame.loc[mask, col] = np.nan
    return frame


# --- campaigns --------------------------------------------------------------


def generate_campaigns(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` campaigns with objectives, budgets and (often partial) targets."""
    # Brands come from every niche, not only the big ones.
    niche_weights = {k: np.sqrt(v[0]) for k, v in NICHES.items()}
    niche = _choice(rng, niche_weights, n)
    female = np.array([NICHE_AUDIENCE[x][0] for x in niche])
    age_center = 27 + np.array([NICHE_AUDIENCE[x][1] for x in niche]) + rng.normal(0, 3, n)
    half_width = rng.uniform(4, 10, n)
    campaigns = pd.DataFrame(
        {
            "campaign_id": [f"cmp{i:05d}" for i in range(n)],
            "niche": niche,
            "objective": _choice(rng, {"sales": 0.7, "awareness": 0.2, "content": 0.1}, n),
            "brand": np.array(BRANDS, dtype=object)[rng.integers(0, len(BRANDS), n)],
            "budget_usd": np.round(np.clip(rng.lognormal(np.log(5_000), 0.9, n), 500, 200_000), -1),
            "platform": _choice(rng, PLATFORMS, n),
            "target_country": _choice(rng, COUNTRIES, n),
            "target_age_min": np.round(age_center - half_width),
            "target_age_max": np.round(age_center + half_width),
            "target_female_share": np.round(np.clip(female + rng.normal(0, 0.08, n), 0, 1), 2),
            "product_price_usd": np.round(np.clip(rng.lognormal(np.log(35), 0.7, n), 5, 500), 2),
        }
    )
    blank_rates = {"platform": 0.6, "target_country": 0.15, "target_female_share": 0.5,
                   "product_price_usd": 0.15}  # fmt: skip
    campaigns = _blank(campaigns, rng, blank_rates)
    no_age = rng.random(n) < 0.4
    campaigns.loc[no_age, ["target_age_min", "target_age_max"]] = np.nan
    return campaigns


# --- outcomes ---------------------------------------------------------------


def expected_outcomes(
    pairs: pd.DataFrame, creators: pd.DataFrame, traits: pd.DataFrame, campaigns: pd.DataFrame
) -> pd.DataFrame:
    """Noise-free expected lift (USD) and fit (0..1) of each (campaign_id, creator_id) pair.

    The ground truth of the demo market: a creator sells through their genuine
    audience's engagement, scaled by how well niche and audience match the
    campaign, and discounted when trust is spent on frequent sponsorships.
    """
    df = (
        pairs[["campaign_id", "creator_id"]]
        .merge(creators[["creator_id", "niche", "secondary_niches", "followers"]], on="creator_id")
        .merge(traits, on="creator_id", how="left")
        .merge(campaigns.rename(columns={"niche": "campaign_niche"}), on="campaign_id", how="left")
    )
    same = (df["niche"] == df["campaign_niche"]).to_numpy()
    secondary = np.array(
        [
            c in str(s).split(";")
            for c, s in zip(df["campaign_niche"], df["secondary_niches"], strict=True)
        ]
    )
    related = np.array(
        [n in NICHES[c][1] for c, n in zip(df["campaign_niche"], df["niche"], strict=True)]
    )
    niche_match = np.select([same, secondary, related], [1.0, 0.7, 0.5], default=0.1)

    country_ok = df["target_country"].isna() | (df["target_country"] == df["true_audience_country"])
    country_match = np.where(country_ok, 1.0, 0.1)
    age = df["true_audience_age_median"].to_numpy()
    lo = df["target_age_min"].fillna(-np.inf).to_numpy()
    hi = df["target_age_max"].fillna(np.inf).to_numpy()
    age_gap = np.maximum(lo - age, 0) + np.maximum(age - hi, 0)
    age_match = np.exp(-age_gap / 4)
    target_female = df["target_female_share"].to_numpy()
    gender_gap = np.abs(np.nan_to_num(target_female - df["true_audience_female_share"], nan=0.0))
    gender_match = np.clip(1 - 2 * gender_gap, 0.1, 1)
    audience_match = country_match * age_match * gender_match

    trust = 1 / (1 + (df["sponsored_ratio"].to_numpy() / 0.2) ** 2)
    quality = df["engagement_quality"].to_numpy()
    fit = niche_match * audience_match**0.7 * trust**0.5 * (1 - df["fake_follower_share"]) ** 0.5
    fit = fit * np.clip(quality, 0.5, 1.5) ** 0.3

    # Buyers are the genuine engaged audience; big accounts' audiences trust less.
    engaged = df["genuine_followers"].to_numpy() * df["genuine_engagement_rate"].to_numpy()
    trust_by_size = (np.maximum(df["followers"].to_numpy(), 1) / 10_000) ** -0.25
    price = df["product_price_usd"].fillna(35.0).to_numpy()
    buyers = engaged * 0.06 * trust_by_size * niche_match * audience_match * trust
    lift = buyers * price * (quality**0.5)
    out = pairs[["campaign_id", "creator_id"]].copy()
    out["expected_lift_usd"] = lift
    out["true_fit"] = np.clip(fit, 0, 1)
    out["true_cost_usd"] = df["true_price_usd"].to_numpy()
    return out.reset_index(drop=True)


class Hiring(StrEnum):
    """How the brands of a demo market pick the creators they hire."""

    MARKET = "market"  # by niche, mostly their own, leaning to bigger names they can pay
    HABITUAL = "habitual"  # by habit: the biggest affordable names of their own niche
    RANDOM = "random"  # uniformly on their platform, any niche: an experiment


def pick_hires(
    creators: pd.DataFrame,
    campaigns: pd.DataFrame,
    rng: np.random.Generator,
    hires: int | None = None,
    hiring: Hiring | str = Hiring.MARKET,
) -> pd.DataFrame:
    """The creators each campaign hired: `hires` each (default 20 to 60, drawn per
    campaign), fewer only when the campaign finds fewer, picked the way `hiring` says.

    market: mostly niche-related creators on the campaign's platform, some others;
    brands lean towards bigger names and prices their budget can pay.
    habitual: by habit, as brands with small histories do: creators of the campaign's
    niche (and platform) priced at most 3x budget/hires, drawn among the 2*hires
    biggest, strongly towards the biggest; small names are hired only when the niche
    has no bigger ones the budget can pay.
    random: uniformly among the creators on the campaign's platform, any niche.
    """
    hiring = Hiring(hiring)
    if hires is not None and hires < 1:
        raise ValueError(f"hires must be at least 1 (got {hires})")
    pool = _Pool.of(creators)
    ids = creators["creator_id"].to_numpy(dtype=object)
    platform_names = list(PLATFORMS)

    rows = []
    for campaign_id, niche, platform, budget in zip(
        campaigns["campaign_id"],
        campaigns["niche"],
        campaigns["platform"],
        campaigns["budget_usd"].to_numpy(dtype=float),
        strict=True,
    ):
        # Drawn only at the default: the default market's draws stay what they always were.
        n_hires = int(rng.integers(20, 61)) if hires is None else hires
        niche_code = _NICHE_NAMES.index(str(niche))
        platform_code = platform_names.index(platform) if isinstance(platform, str) else None
        if hiring is Hiring.MARKET:
            chosen = _hire_like_the_market(pool, niche_code, platform_code, budget, n_hires, rng)
        elif hiring is Hiring.HABITUAL:
            chosen = _hire_by_habit(pool, niche_code, platform_code, budget, n_hires, rng)
        else:
            chosen = _hire_at_random(pool, platform_code, n_hires, rng)
        rows.append(pd.DataFrame({"campaign_id": campaign_id, "creator_id": ids[chosen]}))
    return pd.concat(rows, ignore_index=True)


_NICHE_NAMES = list(NICHES)


def _niche_search_weight() -> np.ndarray:
    """[campaign niche, creator niche]: brands search by niche, so mostly their own."""
    weight = np.ones((len(_NICHE_NAMES), len(_NICHE_NAMES)))
    for i, name in enumerate(_NICHE_NAMES):
        weight[i, i] = 60.0
        for other in NICHES[name][1]:
            weight[i, _NICHE_NAMES.index(other)] = 8.0
    return weight


_NICHE_SEARCH_WEIGHT = _niche_search_weight()


@dataclass(frozen=True)
class _Pool:
    """The creators as brands see them when they hire: niche, platform, size, price."""

    niche: np.ndarray  # codes into _NICHE_NAMES
    platform: np.ndarray  # codes into PLATFORMS
    followers: np.ndarray
    price_guess_usd: np.ndarray  # the price given, else the rate card's

    @classmethod
    def of(cls, creators: pd.DataFrame) -> _Pool:
        followers = creators["followers"].to_numpy(dtype=float)
        price_known = creators["price_per_post_usd"].to_numpy(dtype=float, na_value=np.nan)
        return cls(
            niche=pd.Categorical(creators["niche"], categories=_NICHE_NAMES).codes,
            platform=pd.Categorical(creators["platform"], categories=list(PLATFORMS)).codes,
            followers=followers,
            price_guess_usd=np.where(np.isnan(price_known), _price(followers), price_known),
        )

    def on(self, platform: int | None) -> np.ndarray:
        """Whether each creator is on the platform (all are when the campaign names none)."""
        return (
            np.ones(len(self.niche), dtype=bool) if platform is None else self.platform == platform
        )


def _hire_like_the_market(
    pool: _Pool,
    niche: int,
    platform: int | None,
    budget_usd: float,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mostly the campaign's niche and related ones, leaning to bigger names it can pay."""
    weight = (pool.followers / 10_000) ** 0.15 * _NICHE_SEARCH_WEIGHT[niche, pool.niche]
    weight = weight * pool.on(platform)
    weight = weight / (1 + (pool.price_guess_usd / (3 * budget_usd / n)) ** 2)
    return _sample_without_replacement(rng, weight, n)


def _hire_by_habit(
    pool: _Pool,
    niche: int,
    platform: int | None,
    budget_usd: float,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """n of the 2n biggest affordable creators of the niche, the bigger the likelier."""
    affordable = pool.price_guess_usd <= 3 * budget_usd / n
    candidates = np.flatnonzero((pool.niche == niche) & pool.on(platform) & affordable)
    if len(candidates) <= n:
        return candidates
    biggest = candidates[np.argsort(-pool.followers[candidates], kind="stable")[: 2 * n]]
    # Weighted sampling without replacement (Efraimidis-Spirakis): the n smallest of
    # Exp(1) / weight; weights of followers squared keep the randomness little.
    keys = rng.exponential(size=len(biggest)) / pool.followers[biggest] ** 2
    return np.sort(biggest[np.argsort(keys, kind="stable")[:n]])


def _hire_at_random(
    pool: _Pool, platform: int | None, n: int, rng: np.random.Generator
) -> np.ndarray:
    """n creators drawn uniformly on the campaign's platform, whatever their niche."""
    candidates = np.flatnonzero(pool.on(platform))
    return np.sort(rng.choice(candidates, size=min(n, len(candidates)), replace=False))


def _sample_without_replacement(rng: np.random.Generator, weight: np.ndarray, k: int) -> np.ndarray:
    """Up to k distinct indices drawn in proportion to weight (sorted); O(n), not O(n*k)."""
    cdf = np.cumsum(weight)
    k = min(k, int((weight > 0).sum()))
    chosen = np.empty(0, dtype=np.int64)
    while chosen.size < k:
        draws = np.searchsorted(cdf, rng.random(4 * k) * cdf[-1], side="right")
        _, first = np.unique(np.concatenate([chosen, draws]), return_index=True)
        merged = np.concatenate([chosen, draws])[np.sort(first)]
        chosen = merged[:k]
    return np.sort(chosen)


def _lift_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(np.clip(0.5 * rng.standard_t(3, n), -4, 4))


# Dividing by the noise's mean keeps the expected lift the mean of what is measured.
_LIFT_NOISE_MEAN = float(np.mean(_lift_noise(np.random.default_rng(12345), 1_000_000)))


def measure_outcomes(
    expected: pd.DataFrame, campaigns: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """What brands measure for each hire: noisy, heavy-tailed lift; a rated fit; funnel counts."""
    n = len(expected)
    lift = expected["expected_lift_usd"].to_numpy()
    # Heavy tails: a Student-t (3 dof) on the log scale, mean-corrected, plus
    # attribution noise that can make a measured lift zero or negative.
    multiplier = _lift_noise(rng, n) / _LIFT_NOISE_MEAN
    attribution = rng.normal(0, 0.15 * np.median(lift) + 0.1 * lift, n)
    measured = lift * multiplier + attribution
    cost = expected["true_cost_usd"].to_numpy() * rng.uniform(0.85, 1.1, n)
    fit_rating = np.clip(
        np.round(4 * expected["true_fit"].to_numpy() + rng.normal(0, 0.5, n)), 0, 4
    )
    price = expected.merge(campaigns, on="campaign_id", how="left")["product_price_usd"].fillna(
        35.0
    )
    conversions = np.maximum(np.round(np.maximum(measured, 0) / price.to_numpy()), 0)
    clicks = np.round(conversions * rng.uniform(15, 40, n))
    engagements = np.round(clicks * rng.uniform(3, 10, n))
    impressions = np.round(engagements * rng.uniform(15, 40, n))
    return pd.DataFrame(
        {
            "campaign_id": expected["campaign_id"],
            "creator_id": expected["creator_id"],
            "sales_lift_usd": np.round(measured, 2),
            "cost_usd": np.round(cost, 2),
            "fit_rating": fit_rating.astype(np.int64),
            "impressions": impressions.astype(np.int64),
            "engagements": engagements.astype(np.int64),
            "clicks": clicks.astype(np.int64),
            "conversions": conversions.astype(np.int64),
        }
    )


def outcomes_for(
    pairs: pd.DataFrame,
    creators: pd.DataFrame,
    traits: pd.DataFrame,
    campaigns: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What hiring these (campaign_id, creator_id) pairs brings: (measured outcomes, truth).

    For the feedback loop: plans are 'run' in the demo market and their results
    come back in the outcomes contract.
    """
    expected = expected_outcomes(pairs, creators, traits, campaigns)
    return measure_outcomes(expected, campaigns, rng), expected


def generate_market(
    n_creators: int = 20_000,
    n_campaigns: int = 300,
    seed: int = 0,
    hires: int | None = None,
    hiring: Hiring | str = Hiring.MARKET,
) -> Market:
    """A whole demo market, deterministic in `seed`; `hires` and `hiring` say how many
    creators each campaign hired and how it picked them (see pick_hires). Creators,
    their traits and campaigns are the same whatever the two say; only the hires and
    what they brought change."""
    rng = np.random.default_rng(seed)
    creators, traits = generate_creators(n_creators, rng)
    campaigns = generate_campaigns(n_campaigns, rng)
    pairs = pick_hires(creators, campaigns, rng, hires, hiring)
    outcomes, expected = outcomes_for(pairs, creators, traits, campaigns, rng)
    return Market(creators, campaigns, outcomes, traits, expected)


def write_market(market: Market, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """Write the market's files; the truth goes under out_dir/truth/."""
    out = Path(out_dir)
    files = {
        out / f"creators.{fmt}": market.creators,
        out / f"campaigns.{fmt}": market.campaigns,
        out / f"outcomes.{fmt}": market.outcomes,
        out / "truth" / f"creator_traits.{fmt}": market.creator_traits,
        out / "truth" / f"expected_outcomes.{fmt}": market.expected,
    }
    for path, frame in files.items():
        write_table(frame, path)
    return list(files)
