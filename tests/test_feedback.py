"""The feedback loop: plan, run in the demo market, add outcomes once each, retrain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.feedback import add_outcome_file, add_outcomes
from recommender.modeling.training import TrainConfig, fit_and_evaluate
from recommender.planning import plan
from recommender.simulate import generate_campaigns, generate_market, outcomes_for, write_market


def test_new_outcomes_join_once_and_bad_rows_are_refused():
    history = pd.DataFrame(
        {"campaign_id": ["c1", "c1"], "creator_id": ["a", "b"], "sales_lift_usd": [1.0, 2.0]}
    )
    new = pd.DataFrame(
        {"campaign_id": ["c1", "c2", "c2", "c2"], "creator_id": ["a", "a", "a", "zz"],
         "sales_lift_usd": ["5", "7", "8", "1"]}
    )  # fmt: skip
    result = add_outcomes(history, new, creator_ids=pd.Series(["a", "b"]))
    assert result.added == 1
    assert len(result.combined) == 3
    assert sorted(result.rejects["reject_reason"]) == [
        "campaign_id+creator_id: already in the outcome history",
        "campaign_id+creator_id: duplicate of an earlier row",
        "creator_id: unknown creator (got 'zz')",
    ]
    assert len(result.combined) - len(history) + len(result.rejects) == len(new)  # nothing lost


@pytest.mark.slow
def test_three_rounds_of_plan_run_retrain_improve_lift_per_dollar():
    market = generate_market(n_creators=4_000, n_campaigns=15, seed=11)
    rng = np.random.default_rng(11)
    campaigns, outcomes = market.campaigns.copy(), market.outcomes.copy()
    config = TrainConfig(seed=0, folds=3, n_estimators=100, losses=("l2", "huber"))
    launch = generate_campaigns(10, rng)  # the same launches, planned again each round
    pools = [
        market.creators.iloc[rng.choice(len(market.creators), 600, replace=False)]
        for _ in range(10)
    ]
    per_dollar = []
    for round_ in (1, 2, 3):
        model = fit_and_evaluate(market.creators, campaigns, outcomes, None, config).recommender
        runs = launch.assign(campaign_id=[f"launch{i}-r{round_}" for i in range(len(launch))])
        hired = []
        for pool, campaign in zip(pools, runs.to_dict(orient="records"), strict=True):
            chosen = plan(pool, campaign, float(campaign["budget_usd"]), model, explore=0.2).chosen
            assert chosen["cost_usd"].sum() <= campaign["budget_usd"] + 1e-6
            hired.append(chosen[["campaign_id", "creator_id"]])
        campaigns = pd.concat([campaigns, runs], ignore_index=True)
        measured, truth = outcomes_for(
            pd.concat(hired, ignore_index=True),
            market.creators,
            market.creator_traits,
            campaigns,
            rng,
        )
        per_dollar.append(truth["expected_lift_usd"].sum() / truth["true_cost_usd"].sum())
        added = add_outcomes(
            outcomes, measured, market.creators["creator_id"], campaigns["campaign_id"]
        )
        assert added.added == len(measured) and added.rejects.empty  # no row lost or doubled
        assert len(added.combined) == len(outcomes) + len(measured)
        outcomes = added.combined
    assert not outcomes.duplicated(["campaign_id", "creator_id"]).any()
    assert per_dollar[0] < per_dollar[1] < per_dollar[2], per_dollar


def test_the_history_and_its_rejects_are_put_in_place_together(tmp_path, monkeypatch):
    """A full disk as the rejects file is put in place: the history is not half-updated."""
    from helpers import files_in, rename_fails

    from recommender.errors import DataFileError

    market = generate_market(n_creators=300, n_campaigns=3, seed=2)
    data = tmp_path / "data"
    write_market(market, data)
    campaign = market.campaigns["campaign_id"].iloc[0]
    hired = set(market.outcomes.loc[market.outcomes["campaign_id"] == campaign, "creator_id"])
    fresh = next(c for c in market.creators["creator_id"] if c not in hired)
    new = pd.DataFrame({"campaign_id": campaign, "creator_id": [fresh, "nobody"],
                        "sales_lift_usd": 3.0})  # fmt: skip
    new.to_csv(tmp_path / "new.csv", index=False)
    before = files_in(data)
    rename_fails(monkeypatch, data, 2)
    with pytest.raises(Exception) as info:  # the type is checked below
        add_outcome_file(data, tmp_path / "new.csv", data / "new.rejects.csv")
    assert files_in(data) == before
    assert isinstance(info.value, DataFileError) and "No space left" in str(info.value)
    monkeypatch.undo()
    added, _ = add_outcome_file(data, tmp_path / "new.csv", data / "new.rejects.csv")
    assert added.added == 1 and len(added.rejects) == 1
