"""Each feature on hand-computed rows, and robustness to thin exports."""

from __future__ import annotations

import feature_reference
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.contract import cross_pairs, pair_frame
from recommender.datasets.simulate import generate_market
from recommender.features import (
    FEATURES,
    CreatorFeatures,
    MatchFeatures,
    PairFeatures,
    creator_basics,
    niche_similarity,
    sponsorship_ratio,
)


def creators(**overrides: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "creator_id": ["a", "b", "c"],
        "platform": ["instagram", "tiktok", "instagram"],
        "followers": [2_000, 50_000, 0],
        "avg_likes": [100.0, 1_000.0, 0.0],
        "avg_comments": [4.0, 10.0, 0.0],
        "niche": ["pet", "food", "tech"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_row_features_by_hand():
    frame = creators(
        recent_posts=[20, 10, np.nan],
        recent_sponsored_posts=[5, 0, np.nan],
        following=[500, 50, 10],
        avg_views=[np.nan, 20_000.0, np.nan],
    )
    basics = creator_basics(frame)
    assert basics["engagement_rate"].tolist()[:2] == pytest.approx([104 / 2_000, 1_010 / 50_000])
    assert basics["comment_like_ratio"].tolist()[:2] == pytest.approx([0.04, 0.01])
    assert basics["sponsorship_ratio"].tolist()[:2] == pytest.approx([0.25, 0.0])
    assert basics["following_ratio"].tolist()[:2] == pytest.approx([0.25, 0.001])
    assert basics["views_per_follower"].tolist()[1] == pytest.approx(0.4)
    assert basics["tier_code"].tolist() == [0.0, 1.0, 0.0]  # nano, micro, nano
    assert basics["log_followers"].tolist()[0] == pytest.approx(np.log10(2_001))


def test_zero_followers_never_divides_by_zero():
    basics = creator_basics(creators())
    row = basics.iloc[2]
    assert np.isnan(row["engagement_rate"]) and np.isnan(row["following_ratio"])
    assert np.isnan(row["comment_like_ratio"])  # 0 likes too
    assert not np.isinf(basics.to_numpy(dtype=float)).any()


def test_missing_optional_columns_give_nan_features_not_errors():
    thin = creators()
    campaigns = pd.DataFrame({"campaign_id": ["k"], "niche": ["pet"]})
    pairs = cross_pairs(thin, campaigns)
    X = PairFeatures().fit_transform(pairs)
    assert list(X.columns) == list(FEATURES)
    for column in ("sponsorship_ratio", "following_ratio", "age_gap_years", "gender_gap",
                   "follower_growth_30d", "niche_similarity"):  # fmt: skip
        assert X[column].iloc[1:].isna().all(), column
    assert X["country_match"].tolist() == [1.0, 1.0, 1.0]  # no target country to miss
    targeted = cross_pairs(thin, campaigns.assign(target_country="US"))
    assert PairFeatures().fit_transform(targeted)["country_match"].isna().all()
    assert X["niche_exact"].tolist() == [1.0, 0.0, 0.0]


def norms_market() -> pd.DataFrame:
    # Four nano instagram creators with engagement 2%, 4%, 6%, 8%: median 5%.
    return pd.DataFrame(
        {
            "creator_id": list("pqrs"),
            "platform": "instagram",
            "followers": [1_000, 2_000, 3_000, 4_000],
            "avg_likes": [19.0, 78.0, 177.0, 316.0],
            "avg_comments": [1.0, 2.0, 3.0, 4.0],
            "niche": "pet",
        }
    )


def test_engagement_is_judged_against_the_same_tier_and_platform():
    fitted = CreatorFeatures().fit(norms_market())
    probe = pd.DataFrame(
        {
            "creator_id": ["x", "y"],
            "platform": ["instagram", "youtube"],  # no youtube norm: falls back to the tier's
            "followers": [5_000, 5_000],
            "avg_likes": [490.0, 240.0],
            "avg_comments": [10.0, 10.0],
            "niche": "pet",
        }
    )
    out = fitted.transform(probe)
    assert out["engagement_vs_tier"].tolist() == pytest.approx([0.10 / 0.05, 0.05 / 0.05])


def test_price_is_the_asking_price_when_given_else_estimated():
    rng = np.random.default_rng(0)
    n = 300
    followers = rng.integers(1_000, 200_000, n)
    market = pd.DataFrame(
        {
            "creator_id": [f"c{i}" for i in range(n)],
            "platform": "instagram",
            "followers": followers,
            "avg_likes": followers * 0.03,
            "avg_comments": followers * 0.001,
            "niche": "pet",
            "price_per_post_usd": followers / 100,  # $10 per 1k followers
        }
    )
    fitted = CreatorFeatures().fit(market)
    probe = market.iloc[:2].copy()
    probe["price_per_post_usd"] = [123.0, np.nan]
    out = fitted.transform(probe)
    assert out["price_usd"].iloc[0] == 123.0 and out["price_estimated"].tolist() == [0.0, 1.0]
    assert out["price_usd"].iloc[1] == pytest.approx(followers[1] / 100, rel=0.25)
    assert out["engagements_per_dollar"].iloc[0] == pytest.approx(
        (probe["avg_likes"].iloc[0] + probe["avg_comments"].iloc[0]) / 123.0
    )
    # A creator 50x bigger than any priced one costs more than the biggest, not the same.
    star = probe.iloc[[1]].assign(followers=10_000_000, avg_likes=300_000.0,
                                  avg_comments=10_000.0)  # fmt: skip
    estimate = fitted.transform(star)["price_usd"].iloc[0]
    assert estimate == pytest.approx(10_000_000 / 100, rel=0.25)


def test_fake_follower_tell_tales_raise_the_anomaly_score():
    rng = np.random.default_rng(1)
    n = 400
    followers = rng.integers(2_000, 50_000, n)
    honest = pd.DataFrame(
        {
            "creator_id": [f"h{i}" for i in range(n)],
            "platform": "instagram",
            "followers": followers,
            "avg_likes": followers * rng.uniform(0.02, 0.05, n),
            "avg_comments": followers * rng.uniform(0.0008, 0.0015, n),
            "niche": "pet",
            "following": rng.integers(200, 1_500, n),
            "follower_growth_30d": rng.normal(0.01, 0.01, n),
        }
    )
    fitted = CreatorFeatures().fit(honest)
    suspect = honest.iloc[[0]].assign(
        creator_id="fake", following=honest["followers"].iloc[0], follower_growth_30d=0.6,
        avg_comments=honest["avg_likes"].iloc[0] * 0.001,
    )  # fmt: skip
    scores = fitted.transform(pd.concat([honest.iloc[[0]], suspect]))["anomaly_score"]
    assert scores.iloc[1] > scores.iloc[0] + 0.1


def pet_history() -> tuple[pd.DataFrame, pd.Series]:
    """Pet campaigns: 'family' creators succeed, 'tech' ones fail, over many campaigns."""
    rows, success = [], []
    for k in range(10):
        for j, (niche, ok) in enumerate(
            [("family", 1.0), ("family", 0.9), ("tech", 0.1), ("tech", 0.0)]
        ):
            rows.append({"campaign_id": f"k{k}", "creator_id": f"c{k}{j}", "niche": niche,
                         "campaign_niche": "pet"})  # fmt: skip
            success.append(ok)
    return pd.DataFrame(rows), pd.Series(success)


def test_niche_affinity_is_learned_from_outcomes_for_any_niche_names():
    history, success = pet_history()
    fitted = MatchFeatures(smoothing=2.0).fit(history, success)
    probe = pd.DataFrame(
        {
            "niche": ["family", "tech", "knitting", "PET", "tech"],
            "secondary_niches": ["", "family;gaming", "", "", "gaming; Pet;;"],
            "campaign_niche": ["pet", "pet", "pet", "Pet", "pet"],
        },
        index=[7, 7, 3, 2, 1],  # pair features line up by position, whatever the index
    )
    out = fitted.transform(probe)
    prior = success.mean()
    assert out["niche_affinity"].iloc[0] == pytest.approx((19.0 + 2 * prior) / (20 + 2))
    assert out["niche_affinity"].iloc[1] == pytest.approx((1.0 + 2 * prior) / (20 + 2))
    assert out["niche_affinity"].iloc[2] == pytest.approx(prior)  # never seen: the prior
    assert out["secondary_niche_affinity"].iloc[1] == out["niche_affinity"].iloc[0]
    assert np.isnan(out["secondary_niche_affinity"].iloc[0])
    assert out["niche_exact"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]  # case-insensitive
    assert out["niche_in_secondary"].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]  # items trimmed
    assert out["secondary_niche_affinity"].iloc[4] == pytest.approx(out["niche_affinity"].iloc[3])
    assert out.index.tolist() == [7, 7, 3, 2, 1]


def test_affinity_on_training_rows_is_out_of_fold():
    history, success = pet_history()
    # One campaign alone pairs 'pet' with 'opera'; its own success must not leak into its feature.
    history.loc[0, "niche"] = "opera"
    encoder = MatchFeatures(smoothing=2.0, n_splits=5)
    in_fold = encoder.fit_transform(history, success)
    assert in_fold["niche_affinity"].iloc[0] != pytest.approx(encoder.affinity_[("opera", "pet")])
    assert encoder.transform(history)["niche_affinity"].iloc[0] == pytest.approx(
        encoder.affinity_[("opera", "pet")]
    )


def test_audience_match_by_hand():
    pairs = pd.DataFrame(
        {
            "niche": "pet",
            "campaign_niche": "pet",
            "audience_country": ["US", "BR", None, "us"],
            "campaign_target_country": ["US", "US", "US", None],
            "audience_age_median": [25.0, 40.0, 30.0, 17.0],
            "campaign_target_age_min": [18.0, 18.0, np.nan, 20.0],
            "campaign_target_age_max": [30.0, 34.0, np.nan, np.nan],
            "audience_female_share": [0.7, 0.2, 0.5, np.nan],
            "campaign_target_female_share": [0.6, 0.8, np.nan, 0.5],
        }
    )
    out = MatchFeatures().fit(pairs).transform(pairs)
    # Unknown audience: the target's share of the market (US is 2 of 3 known); no target: 1.
    assert out["country_match"].tolist() == pytest.approx([1.0, 0.0, 2 / 3, 1.0])
    # A target no known audience is in: rare (1 in 3 known + 1), never a certain miss.
    elsewhere = pairs.assign(campaign_target_country="IS")
    assert MatchFeatures().fit(pairs).transform(elsewhere)["country_match"].tolist() == (
        pytest.approx([0.0, 0.0, 1 / 4, 0.0])
    )
    assert out["age_gap_years"].tolist()[:2] == [0.0, 6.0]
    assert np.isnan(out["age_gap_years"].iloc[2])  # no target range
    assert out["age_gap_years"].iloc[3] == 3.0  # only a minimum given
    assert out["gender_gap"].tolist()[:2] == pytest.approx([0.1, 0.6])
    assert out["gender_gap"].iloc[2:].isna().all()


def test_niche_similarity_by_hand():
    # Two pet creators both list food, one lists travel; the food creator lists pet;
    # the travel creator lists nothing (so travel -> pet is unknown, not 0).
    market = pd.DataFrame(
        {
            "creator_id": list("abcde"),
            "niche": ["pet", "pet", "Food", "travel", "pet"],
            "secondary_niches": ["food", "food;travel", "pet", None, "food"],
        }
    )
    similarity = niche_similarity(pd.concat([market, market.head(1)]))  # a twice counts once
    key = "\x1f".join
    assert similarity[key(["pet", "food"])] == pytest.approx((3 / 3 + 1 / 1) / 2)
    assert similarity[key(["pet", "travel"])] == pytest.approx(1 / 3)
    assert similarity[key(["food", "travel"])] == 0.0  # the food creator does not list travel
    pairs = cross_pairs(market, pd.DataFrame({"campaign_id": ["k"], "niche": ["pet"]}))
    X = MatchFeatures().fit(pairs).transform(pairs)
    expected = [1.0, 1.0, 1.0, 1 / 3, 1.0]  # exact niches are 1; food and travel as above
    assert X["niche_similarity"].tolist() == pytest.approx(expected)
    assert niche_similarity(market.drop(columns="secondary_niches")).empty


def test_same_transform_in_training_and_scoring(market):
    pairs = pair_frame(market.creators, market.campaigns, market.outcomes)
    pipeline = PairFeatures(random_state=0)
    pipeline.fit(pairs, np.linspace(0, 1, len(pairs)))
    first = pipeline.transform(pairs.drop(columns=["sales_lift_usd", "cost_usd"]))
    second = pipeline.transform(pairs.iloc[::-1]).iloc[::-1]
    pd.testing.assert_frame_equal(first, second)  # row order and outcome columns don't matter


def test_sponsorship_ratio_is_unknown_without_both_counts():
    frame = creators(recent_posts=[10, 0, np.nan], recent_sponsored_posts=[3, 0, 1])
    ratio = sponsorship_ratio(frame)
    assert ratio.iloc[0] == pytest.approx(0.3)
    assert ratio.iloc[1:].isna().all()  # no posts; posts unknown
    assert sponsorship_ratio(creators()).isna().all()  # an export without the counts


def test_transformers_refuse_to_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    pairs = cross_pairs(creators(), pd.DataFrame({"campaign_id": ["k"], "niche": ["pet"]}))
    for transformer in (CreatorFeatures(), MatchFeatures(), PairFeatures()):
        with pytest.raises(NotFittedError):
            transformer.transform(pairs)
        with pytest.raises(TypeError, match=r"takes a pair frame .* not ndarray"):
            transformer.fit(np.zeros((3, 2)))


def test_feature_names_come_out_in_order():
    pairs = cross_pairs(creators(), pd.DataFrame({"campaign_id": ["k"], "niche": ["pet"]}))
    features = PairFeatures().fit(pairs)
    assert list(features.transform(pairs).columns) == list(FEATURES)
    assert list(features.get_feature_names_out()) == list(FEATURES)
    assert 0 < features.anomaly_threshold < 1


# --- the array implementation against the pandas one it replaced --------------------------


@pytest.fixture(scope="module")
def fitted_features() -> dict[str, PairFeatures]:
    """Features fitted on a small market, and on the same market as a thin export (no
    prices, no secondary niches, no audience countries: every fallback)."""
    market = generate_market(n_creators=800, n_campaigns=10, seed=7)
    history = pair_frame(market.creators, market.campaigns, market.outcomes)
    signal = np.linspace(0, 1, len(history))
    thin = history.drop(columns=["price_per_post_usd", "cost_usd", "secondary_niches",
                                 "audience_country"])  # fmt: skip
    return {"full": PairFeatures().fit(history, signal), "thin": PairFeatures().fit(thin)}


TEXTS = {  # the niches and countries of the market above, as people might write them
    "platform": ["instagram", " TikTok", "YOUTUBE ", "myspace", "", None],
    "niche": ["fashion", " Family ", "MUSIC", "tech", "İstanbul", "\x1ffashion", "travel\x85",
              "", None],
    "campaign_niche": ["fashion", " Family", "GAMING ", "travel", "istanbul", "pet", None],
    "secondary_niches": ["music;fashion", " Travel ; FAMILY;;", ";", "gaming\x85;\x1ffashion",
                         "wellness; finance ; music", "", None],
    "audience_country": ["US", " us", "GB", "zz", "İ", None],
    "campaign_target_country": ["us", "gb", "qq", "Mx", None],
    "campaign_objective": ["sales", " Awareness", "CONTENT", "weird", None],
}  # fmt: skip
NUMBERS = {
    "followers": [0, 1, 950, 12_000, 2_500_000, -3, None],
    "avg_likes": [0.0, 5.0, 1_000.5, -1.0, None],
    "avg_comments": [0.0, 2.0, 40.0, None],
    "following": [0, 10, 5_000, None],
    "avg_views": [0.0, 300.0, 90_000.0, None],
    "recent_posts": [0, 3, 40, None],
    "recent_sponsored_posts": [0, 1, 30, None],
    "follower_growth_30d": [-2.0, 0.0, 0.05, 7.0, None],
    "audience_age_median": [15.0, 24.0, 41.0, None],
    "audience_female_share": [0.0, 0.48, 1.0, None],
    "price_per_post_usd": [0.0, 12.5, 4_000.0, -5.0, None],
    "campaign_target_age_min": [18.0, 30.0, None],
    "campaign_target_age_max": [25.0, 44.0, None],
    "campaign_target_female_share": [0.2, 0.9, None],
    "campaign_product_price_usd": [0.0, 24.0, 310.0, None],
}


@st.composite
def pair_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Pair frames as users send them: any of the columns, text in any case and spacing,
    numbers as numbers or as text, missing values of every kind, any index."""
    n = draw(st.integers(1, 12))
    columns: dict[str, pd.Series] = {}
    for name, pool in TEXTS.items():
        if draw(st.booleans()) or name in ("niche", "campaign_niche"):
            values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
            kind = draw(st.sampled_from(["object", "str", "string", "category", "numbers"]))
            if kind == "numbers":  # a text column that came in as numbers
                columns[name] = pd.Series([np.nan if v is None else float(len(v)) for v in values])
            else:
                columns[name] = pd.Series(values, dtype=kind)
    for name, pool in NUMBERS.items():
        if draw(st.booleans()) or name == "followers":
            values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
            kind = draw(st.sampled_from(["float", "Int64", "object", "text"]))
            if kind == "Int64":
                values = [None if v is None else int(v) for v in values]
            elif kind == "text":  # numbers as text, one of them not a number at all
                values = [None if v is None else str(v) for v in values]
                values[draw(st.integers(0, n - 1))] = draw(st.sampled_from(["1,000", "lots"]))
            columns[name] = pd.Series(values, dtype=None if kind == "text" else kind)
    frame = pd.DataFrame(columns)
    index = draw(st.lists(st.integers(-5, 50), min_size=n, max_size=n))
    return frame.set_axis(index)


def bits(frame: pd.DataFrame) -> np.ndarray:
    """A float frame's values bit for bit (NaN as one pattern: where, not which)."""
    values = frame.to_numpy(dtype=float)
    return np.where(np.isnan(values), np.nan, values).view(np.int64)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log10")  # negative counts
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(pair_frames(), st.sampled_from(["full", "thin"]))
def test_the_features_are_those_the_pandas_implementation_computed(fitted_features, frame, fitted):
    features = fitted_features[fitted]
    fast, reference = features.transform(frame), feature_reference.transform(features, frame)
    pd.testing.assert_index_equal(fast.columns, reference.columns, exact=True)
    pd.testing.assert_index_equal(fast.index, reference.index, exact=True)
    assert (fast.dtypes == reference.dtypes).all()
    np.testing.assert_array_equal(bits(fast), bits(reference))
