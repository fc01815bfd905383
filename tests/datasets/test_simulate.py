"""The demo market: deterministic, valid under the contract, with the field's tell-tales."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender import contract
from recommender.contract import tier_of
from recommender.datasets.simulate import NICHES, Hiring, generate_market, write_market


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.csv"))
    }


def test_same_seed_gives_byte_identical_files(tmp_path):
    for name in ("a", "b"):
        write_market(generate_market(n_creators=800, n_campaigns=6, seed=11), tmp_path / name)
    write_market(generate_market(n_creators=800, n_campaigns=6, seed=12), tmp_path / "c")
    first, second, other = (digests(tmp_path / n) for n in "abc")
    assert len(first) == 5 and first == second
    assert first["creators.csv"] != other["creators.csv"]


def test_every_file_passes_the_contract(market):
    creators = contract.validate(market.creators, contract.CREATORS)
    campaigns = contract.validate(market.campaigns, contract.CAMPAIGNS)
    outcomes = contract.validate(
        market.outcomes,
        contract.OUTCOMES,
        known={
            "creator_id": creators.valid["creator_id"],
            "campaign_id": campaigns.valid["campaign_id"],
        },
    )
    assert creators.counts[1] == campaigns.counts[1] == outcomes.counts[1] == 0


def test_creators_span_platforms_tiers_and_audiences(market):
    creators = market.creators
    assert set(creators["platform"]) == {"instagram", "tiktok", "youtube"}
    tiers = pd.Series(tier_of(creators["followers"]))
    assert set(tiers) == {"nano", "micro", "mid", "macro", "mega"}
    assert tiers.isin(["nano", "micro"]).mean() > 0.7
    assert creators["audience_country"].nunique() >= 10
    assert creators["audience_female_share"].dropna().between(0, 1).all()
    # thin exports: every optional column the simulator fills is sometimes empty
    for col in ("price_per_post_usd", "audience_country", "follower_growth_30d", "following"):
        assert 0.02 < creators[col].isna().mean() < 0.5, col
    secondary = creators["secondary_niches"].fillna("")
    assert (secondary != "").mean() > 0.4


def test_fake_follower_accounts_show_the_tell_tales(market):
    df = market.creators.merge(market.creator_traits, on="creator_id")
    fake = df["fake_follower_share"] > 0.3
    assert 0.08 < fake.mean() < 0.25
    ratio = df["following"] / df["followers"]
    comment_ratio = df["avg_comments"] / df["avg_likes"]
    assert ratio[fake].median() > 5 * ratio[~fake].median()
    assert (
        df.loc[fake, "follower_growth_30d"].median()
        > 0.1
        > df.loc[~fake, "follower_growth_30d"].median()
    )
    assert comment_ratio[fake].median() < 0.8 * comment_ratio[~fake].median()


def test_hires_lean_to_the_campaign_niche_and_platform(market):
    hired = market.outcomes.merge(market.creators, on="creator_id").merge(
        market.campaigns, on="campaign_id", suffixes=("", "_campaign")
    )
    same_niche = (hired["niche"] == hired["niche_campaign"]).mean()
    base_rate = (
        market.creators["niche"].value_counts(normalize=True)
        .reindex(market.campaigns["niche"]).mean()
    )  # fmt: skip
    assert same_niche > 2.5 * base_rate
    assert same_niche < 0.9  # brands also try creators outside their niche
    restricted = hired["platform_campaign"].notna()
    assert (hired.loc[restricted, "platform"] == hired.loc[restricted, "platform_campaign"]).all()
    per_campaign = hired.groupby("campaign_id").size()
    assert per_campaign.between(20, 60).all()


def hires_of(market):
    """Each hire with its creator's columns and its campaign's (suffixed _campaign)."""
    return market.outcomes.merge(market.creators, on="creator_id").merge(
        market.campaigns, on="campaign_id", suffixes=("", "_campaign")
    )


def test_the_default_hiring_is_the_market_of_20_to_60_hires(tmp_path):
    write_market(generate_market(n_creators=800, n_campaigns=6, seed=11), tmp_path / "default")
    explicit = generate_market(n_creators=800, n_campaigns=6, seed=11, hires=None, hiring="market")
    write_market(explicit, tmp_path / "explicit")
    assert digests(tmp_path / "default") == digests(tmp_path / "explicit")


def test_the_hiring_knobs_change_only_who_is_hired():
    default = generate_market(n_creators=800, n_campaigns=6, seed=11)
    for hiring in Hiring:
        other = generate_market(n_creators=800, n_campaigns=6, seed=11, hires=9, hiring=hiring)
        pd.testing.assert_frame_equal(other.creators, default.creators)
        pd.testing.assert_frame_equal(other.campaigns, default.campaigns)
        pd.testing.assert_frame_equal(other.creator_traits, default.creator_traits)
        assert not other.outcomes[["campaign_id", "creator_id"]].equals(
            default.outcomes[["campaign_id", "creator_id"]]
        )


@pytest.mark.parametrize("hiring", list(Hiring))
def test_hires_gives_exactly_that_many_per_campaign(hiring):
    # 6,000 creators: even the smallest niche on the narrowest platform has 8 to hire.
    market = generate_market(n_creators=6_000, n_campaigns=40, seed=0, hires=8, hiring=hiring)
    per_campaign = market.outcomes.groupby("campaign_id").size()
    assert len(per_campaign) == 40 and (per_campaign == 8).all()
    assert not market.outcomes.duplicated(["campaign_id", "creator_id"]).any()


def test_a_campaign_short_of_creators_hires_what_exists():
    # 100 creators, 31 of them on TikTok; campaign 5 is TikTok's, campaigns 0 and 1 name
    # no platform, campaigns 2-4 Instagram's (55 creators).
    market = generate_market(n_creators=100, n_campaigns=6, seed=1, hires=40, hiring="random")
    per_campaign = market.outcomes.groupby("campaign_id").size()
    assert per_campaign.tolist() == [40, 40, 40, 40, 40, 31]
    habitual = hires_of(generate_market(n_creators=100, n_campaigns=6, seed=1, hires=40,
                                     hiring="habitual"))  # fmt: skip
    assert habitual.groupby("campaign_id").size().max() < 40
    assert (habitual["niche"] == habitual["niche_campaign"]).all()


def test_hires_below_one_are_refused():
    with pytest.raises(ValueError, match="hires must be at least 1"):
        generate_market(n_creators=100, n_campaigns=1, hires=0)


def test_habitual_hires_are_bigger_and_more_in_niche_than_random_ones():
    habitual, random = (
        hires_of(generate_market(n_creators=3_000, n_campaigns=40, seed=2, hires=25, hiring=h))
        for h in ("habitual", "random")
    )
    # measured: a median of 50,697 followers against 16,780; in niche 100% against 8%
    assert habitual["followers"].median() > 2 * random["followers"].median()
    assert (habitual["niche"] == habitual["niche_campaign"]).all()
    assert (random["niche"] == random["niche_campaign"]).mean() < 0.25
    for hires in (habitual, random):  # both stay on the campaign's platform
        named = hires["platform_campaign"].notna()
        assert (hires.loc[named, "platform"] == hires.loc[named, "platform_campaign"]).all()


def test_random_hires_span_niches():
    random = hires_of(generate_market(n_creators=3_000, n_campaigns=40, seed=2, hires=25,
                                   hiring="random"))  # fmt: skip
    assert set(random["niche"]) == set(NICHES)
    assert random.groupby("campaign_id")["niche"].nunique().median() >= 6
    # about as often in the campaign's niche as the niche's share of creators
    share = random["niche_campaign"].map(random["niche"].value_counts(normalize=True))
    in_niche = (random["niche"] == random["niche_campaign"]).mean()
    assert abs(in_niche - share.mean()) < 0.05


def test_measured_lift_is_noisy_heavy_tailed_and_centred_on_the_truth(market):
    both = market.outcomes.merge(market.expected, on=["campaign_id", "creator_id"])
    measured, expected = both["sales_lift_usd"], both["expected_lift_usd"]
    assert (measured <= 0).mean() > 0.02  # measured lift can be zero or negative
    assert (expected > 0).all()
    relative = measured / expected
    assert relative.quantile(0.99) > 4  # heavy right tail
    assert 0.8 < measured.sum() / expected.sum() < 1.25  # unbiased in total
    assert measured.corr(expected, method="spearman") > 0.6
    assert set(both["fit_rating"]) <= {0, 1, 2, 3, 4}
    assert both["fit_rating"].corr(both["true_fit"], method="spearman") > 0.6


def test_niche_fit_and_sponsorship_drive_the_truth(market):
    df = (
        market.expected.merge(market.creators[["creator_id", "niche"]], on="creator_id")
        .merge(market.campaigns[["campaign_id", "niche"]], on="campaign_id", suffixes=("", "_c"))
        .merge(market.creator_traits[["creator_id", "sponsored_ratio"]], on="creator_id")
    )
    roi = df["expected_lift_usd"] / df["true_cost_usd"]
    same = df["niche"] == df["niche_c"]
    assert roi[same].median() > 2 * roi[~same].median()
    hawker = df["sponsored_ratio"] > 0.4
    assert roi[hawker].median() < 0.7 * roi[~hawker].median()
    tiers = pd.Series(
        tier_of(market.creators.set_index("creator_id").loc[df["creator_id"], "followers"])
    )
    by_tier = roi.groupby(tiers.to_numpy()).median()
    assert by_tier["nano"] > by_tier["mid"]  # nanos sell more per dollar
    assert np.isfinite(roi).all()
