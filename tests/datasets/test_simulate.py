"""The demo market: deterministic, valid under the contract, with the field's tell-tales."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from recommender import contract
from recommender.contract import tier_of
from recommender.datasets.simulate import generate_market, write_market


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
