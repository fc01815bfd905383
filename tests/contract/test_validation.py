"""The data contract: every row ends valid or rejected with a reason naming the column."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender import contract
from recommender.contract import (
    CAMPAIGNS,
    CREATORS,
    OUTCOMES,
    REJECT_REASON,
    KeySet,
    _keyset,
    validate,
)
from recommender.errors import ContractError


def one_bad(frame: pd.DataFrame, column: str, value: object) -> contract.Validated:
    frame = frame.copy()
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    return validate(frame, CREATORS)


def test_valid_rows_are_typed_and_normalised(creators_frame):
    checked = validate(creators_frame, CREATORS)
    assert checked.counts == (3, 0)
    valid = checked.valid
    assert valid["followers"].tolist() == [1000, 0, 250000]
    assert valid["avg_likes"].tolist() == [50.0, 0.0, 3000.5]
    assert valid["platform"].tolist() == ["instagram", "tiktok", "youtube"]
    assert valid["niche"].tolist() == ["pet", "food", "tech"]


def test_zero_followers_is_legal(creators_frame):
    valid = validate(creators_frame, CREATORS).valid
    assert valid.loc[valid["creator_id"] == "b", "followers"].item() == 0


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("followers", "-5", "followers: must be >= 0 (got '-5')"),
        ("followers", "many", "followers: not a number (got 'many')"),
        ("followers", "12.5", "followers: not a whole number (got '12.5')"),
        ("avg_likes", "nan", "avg_likes: not a number (got 'nan')"),
        ("avg_likes", "inf", "avg_likes: not a finite number (got 'inf')"),
        ("avg_likes", float("-inf"), "avg_likes: not a finite number"),
        ("avg_comments", "", "avg_comments: required value missing"),
        ("avg_comments", None, "avg_comments: required value missing"),
        ("niche", "   ", "niche: required value missing"),
        ("creator_id", "", "creator_id: required value missing"),
        (
            "platform",
            "myspace",
            "platform: must be one of instagram, tiktok, youtube (got 'myspace')",
        ),
    ],
)
def test_bad_required_value_is_rejected_with_its_reason(creators_frame, column, value, expected):
    checked = one_bad(creators_frame, column, value)
    assert checked.counts == (2, 1)
    assert checked.rejects[REJECT_REASON].item().startswith(expected)
    assert "b" not in checked.valid["creator_id"].tolist()


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("audience_female_share", "1.5", "audience_female_share: must be <= 1"),
        ("audience_female_share", "-0.1", "audience_female_share: must be >= 0"),
        ("price_per_post_usd", "-10", "price_per_post_usd: must be >= 0"),
        ("following", "-1", "following: must be >= 0"),
        ("audience_country", "USA", "audience_country: not a two-letter country code"),
        ("recent_posts", "abc", "recent_posts: not a number"),
    ],
)
def test_bad_optional_value_is_rejected(creators_frame, column, value, expected):
    frame = creators_frame.assign(**{column: ""})
    checked = one_bad(frame, column, value)
    assert checked.counts == (2, 1)
    assert checked.rejects[REJECT_REASON].item().startswith(expected)


def test_empty_optional_values_are_missing_not_rejected(creators_frame):
    frame = creators_frame.assign(
        price_per_post_usd=["", "12", ""], audience_country=["us", "", ""]
    )
    checked = validate(frame, CREATORS)
    assert checked.counts == (3, 0)
    assert checked.valid["price_per_post_usd"].isna().tolist() == [True, False, True]
    assert checked.valid["audience_country"].tolist()[0] == "US"


def test_sponsored_posts_cannot_exceed_recent_posts(creators_frame):
    frame = creators_frame.assign(
        recent_posts=["10", "3", ""], recent_sponsored_posts=["2", "5", "4"]
    )
    checked = validate(frame, CREATORS)
    assert checked.counts == (2, 1)
    assert checked.rejects["creator_id"].item() == "b"
    assert checked.rejects[REJECT_REASON].item() == (
        "recent_sponsored_posts: greater than recent_posts (got '5')"
    )


def test_every_problem_of_a_row_is_named(creators_frame):
    frame = creators_frame.assign(price_per_post_usd="")
    frame.loc[0, ["followers", "price_per_post_usd"]] = ["-1", "-2"]
    reason = validate(frame, CREATORS).rejects[REJECT_REASON].item()
    assert "followers: must be >= 0" in reason
    assert "price_per_post_usd: must be >= 0" in reason


def test_duplicate_ids_keep_the_first(creators_frame):
    frame = pd.concat([creators_frame, creators_frame.iloc[[0]].assign(niche="food")])
    checked = validate(frame, CREATORS)
    assert checked.counts == (3, 1)
    assert checked.valid.loc[checked.valid["creator_id"] == "a", "niche"].item() == "pet"
    assert checked.rejects[REJECT_REASON].item() == "creator_id: duplicate of an earlier row"
    assert checked.rejects["niche"].item() == "food"  # the original value, untouched


# One account, however an export spells it: '@', case, invisible and look-alike letters.
CYRILLIC_A, ZERO_WIDTH_SPACE, SOFT_HYPHEN = "\u0430", "\u200b", "\u00ad"
SPELLINGS = {
    "@Handle": "'@Handle'",
    "HANDLE": "'HANDLE'",
    f"hand{ZERO_WIDTH_SPACE}le": "'hand\\u200ble'",
    f"h{CYRILLIC_A}ndle": "'h\\u0430ndle'",  # shown escaped: it reads like a Latin a
    "\uff48\uff41\uff4e\uff44\uff4c\uff45": "'\uff48\uff41\uff4e\uff44\uff4c\uff45'",  # fullwidth
    f"@{SOFT_HYPHEN}handle ": "'@\\xadhandle'",
}


def test_spellings_of_one_account_are_duplicates_of_the_first(creators_frame):
    rows = creators_frame.iloc[[0] * (len(SPELLINGS) + 1)].assign(creator_id=["handle", *SPELLINGS])
    frame = pd.concat([rows, creators_frame.iloc[[1, 2]]], ignore_index=True)
    checked = validate(frame, CREATORS)
    assert checked.valid["creator_id"].tolist() == ["handle", "b", "c"]
    assert checked.rejects["creator_id"].tolist() == list(SPELLINGS)  # as written
    assert checked.rejects[REJECT_REASON].tolist() == [
        f"creator_id: duplicate of an earlier row (got {shown}, the same account as 'handle')"
        for shown in SPELLINGS.values()
    ]


def test_the_first_spelling_is_kept_and_named(creators_frame):
    frame = creators_frame.assign(creator_id=["@Handle", "b", "handle"])
    checked = validate(frame, CREATORS)
    assert checked.valid["creator_id"].tolist() == ["@Handle", "b"]
    assert checked.rejects[REJECT_REASON].item() == (
        "creator_id: duplicate of an earlier row (got 'handle', the same account as '@Handle')"
    )


def test_distinct_accounts_stay_distinct(creators_frame):
    """Only letters outside ASCII are read as the Latin letter they look like: handles
    that differ in ASCII ('l' and '1', 'rn' and 'm', '.' and '_') are other accounts."""
    ids = ["handle", "handle1", "handlel", "handIe", "hand_le", "hand.le", "rnia", "mia", "ha ndle"]
    frame = creators_frame.iloc[[0] * len(ids)].assign(creator_id=ids)
    checked = validate(frame, CREATORS)
    assert checked.valid["creator_id"].tolist() == ids


def test_an_id_that_names_no_account_is_refused(creators_frame):
    frame = creators_frame.assign(creator_id=["@", ZERO_WIDTH_SPACE, "c"])
    checked = validate(frame, CREATORS)
    assert checked.valid["creator_id"].tolist() == ["c"]
    assert checked.rejects[REJECT_REASON].tolist() == [
        "creator_id: names no account (got '@')",
        "creator_id: names no account (got '\\u200b')",
    ]


def test_outcomes_name_known_creators_however_spelled():
    frame = pd.DataFrame(
        {"campaign_id": ["c1", "c1", "c1", "C1"], "creator_id": ["@Handle", "b\u200b", "@zz", "b"],
         "sales_lift_usd": ["1", "2", "3", "4"]}
    )  # fmt: skip
    known = {"creator_id": ["handle", "B"], "campaign_id": ["c1"]}
    checked = validate(frame, OUTCOMES, known=known)
    assert checked.valid["creator_id"].tolist() == ["@Handle", "b\u200b"]  # kept as written
    # Campaign ids are the brand's own codes: compared as written.
    assert checked.rejects[REJECT_REASON].tolist() == [
        "creator_id: unknown creator (got '@zz')",
        "campaign_id: unknown campaign (got 'C1')",
    ]


def test_a_campaign_list_is_keyed_by_campaign_as_written_and_account():
    frame = pd.DataFrame(
        {"campaign_id": ["c1", "c1", "C1", "c2"],
         "creator_id": ["handle", "@Handle", "@Handle", "HANDLE"],
         "sales_lift_usd": ["1", "2", "3", "4"]}
    )  # fmt: skip
    checked = validate(frame, OUTCOMES)
    assert checked.valid["campaign_id"].tolist() == ["c1", "C1", "c2"]
    assert checked.rejects[REJECT_REASON].item() == (
        "campaign_id+creator_id: duplicate of an earlier row "
        "(got '@Handle', the same account as 'handle')"
    )


def test_an_outcome_joins_its_creator_however_spelled(creators_frame):
    creators = validate(creators_frame.assign(creator_id=["a", "Handle", "c"]), CREATORS).valid
    campaigns = pd.DataFrame({"campaign_id": ["k1"], "niche": ["pet"]})
    outcomes = pd.DataFrame(
        {"campaign_id": ["k1", "k1"], "creator_id": ["@HANDLE", "nobody"], "sales_lift_usd": [1, 2]}
    )
    pairs = contract.pair_frame(creators, campaigns, outcomes)
    assert pairs["creator_id"].tolist() == ["Handle", "nobody"]  # as the creators file has it
    assert pairs["followers"].tolist()[0] == 0  # creator b's row, now called Handle
    assert pd.isna(pairs["followers"].tolist()[1])


def test_keys_seen_before_are_compared_as_accounts(creators_frame):
    seen = KeySet()
    validate(creators_frame.assign(creator_id=["@Handle", "b", "c"]), CREATORS, seen=seen)
    later = validate(creators_frame.assign(creator_id=["HANDLE", "@b", "d"]), CREATORS, seen=seen)
    assert later.valid["creator_id"].tolist() == ["d"]
    assert later.rejects[REJECT_REASON].tolist() == [
        "creator_id: duplicate of an earlier row (got 'HANDLE', the same account as '@Handle')",
        "creator_id: duplicate of an earlier row (got '@b', the same account as 'b')",
    ]


def test_a_history_is_compared_as_accounts_with_its_first_spelling_named():
    history = pd.DataFrame({"campaign_id": ["c1", "c:1"], "creator_id": ["@Handle", "x"]})
    seen = KeySet(history)
    new = pd.DataFrame(
        {"campaign_id": ["c1", "c2", "c:1"], "creator_id": ["handle", "handle", "X"],
         "sales_lift_usd": ["1", "2", "3"]}
    )  # fmt: skip
    checked = validate(new, OUTCOMES, seen=seen, seen_problem="already known")
    assert checked.valid["campaign_id"].tolist() == ["c2"]
    assert checked.rejects[REJECT_REASON].tolist() == [
        "campaign_id+creator_id: already known (got 'handle', the same account as '@Handle')",
        "campaign_id+creator_id: already known (got 'X', the same account as 'x')",
    ]


def test_niches_match_case_insensitively(creators_frame):
    frame = creators_frame.assign(secondary_niches=[" Food ; PET", "", "Tech;"])
    valid = validate(frame, CREATORS).valid
    assert valid["niche"].tolist()[0] == "pet"
    assert valid["secondary_niches"].tolist()[0] == "food;pet"
    assert valid["secondary_niches"].tolist()[2] == "tech"


def test_extra_columns_pass_through_untouched(creators_frame):
    frame = creators_frame.assign(agency_note=["  Keep  ME ", "007", ""])
    frame.loc[2, "followers"] = "-1"
    checked = validate(frame, CREATORS)
    assert checked.valid["agency_note"].tolist() == ["  Keep  ME ", "007"]
    assert checked.rejects["agency_note"].tolist() == [""]
    assert list(checked.valid.columns) == list(frame.columns)


def test_rejects_keep_original_values(creators_frame):
    frame = creators_frame.copy()
    frame.loc[0, "followers"] = " -12 "
    rejects = validate(frame, CREATORS).rejects
    assert rejects.drop(columns=REJECT_REASON).iloc[0].tolist() == frame.iloc[0].tolist()


def test_missing_required_column_is_a_contract_error(creators_frame):
    with pytest.raises(
        ContractError, match=r"f.csv: missing required creators column\(s\): followers"
    ):
        validate(creators_frame.drop(columns="followers"), CREATORS, source="f.csv")


def test_numeric_columns_from_parquet_or_json_are_checked_too(creators_frame):
    frame = creators_frame.assign(
        followers=[1000, -3, 5], avg_likes=[1.0, np.inf, np.nan], creator_id=[1, 2, 3]
    )
    checked = validate(frame, CREATORS)
    assert checked.valid["creator_id"].tolist() == ["1"]
    reasons = checked.rejects[REJECT_REASON].tolist()
    assert reasons[0].startswith(
        "followers: must be >= 0 (got '-3'); avg_likes: not a finite number"
    )
    assert reasons[1] == "avg_likes: required value missing"


def test_campaign_defaults_and_checks():
    frame = pd.DataFrame(
        {
            "campaign_id": ["c1", "c2", "c3", "c4"],
            "niche": ["Pet", "food", "food", "food"],
            "objective": ["", "Awareness", "fame", ""],
            "budget_usd": ["1000", "0", "", ""],
            "target_age_min": ["18", "", "", "40"],
            "target_age_max": ["30", "", "", "30"],
        }
    )
    checked = validate(frame, CAMPAIGNS)
    assert checked.valid["campaign_id"].tolist() == ["c1"]
    assert checked.valid["objective"].tolist() == ["sales"]
    reasons = dict(zip(checked.rejects["campaign_id"], checked.rejects[REJECT_REASON], strict=True))
    assert reasons["c2"] == "budget_usd: must be > 0 (got '0')"
    assert reasons["c3"].startswith("objective: must be one of sales, awareness, content")
    assert reasons["c4"] == "target_age_min: greater than target_age_max (got '40')"


def test_campaign_without_optional_columns_gets_the_default_objective():
    valid = validate(pd.DataFrame({"campaign_id": ["c1"], "niche": ["pet"]}), CAMPAIGNS).valid
    assert valid["objective"].tolist() == ["sales"]


def test_outcomes_must_name_known_creators_and_campaigns():
    frame = pd.DataFrame(
        {
            "campaign_id": ["c1", "c1", "zz", "c1"],
            "creator_id": ["a", "nobody", "a", "a"],
            "sales_lift_usd": ["10", "5", "5", "-3"],
            "fit_rating": ["4", "", "", "2"],
        }
    )
    checked = validate(frame, OUTCOMES, known={"creator_id": ["a", "b"], "campaign_id": ["c1"]})
    assert checked.counts == (1, 3)
    assert checked.rejects[REJECT_REASON].tolist() == [
        "creator_id: unknown creator (got 'nobody')",
        "campaign_id: unknown campaign (got 'zz')",
        "campaign_id+creator_id: duplicate of an earlier row",
    ]


def test_negative_sales_lift_is_legal_but_fit_rating_is_bounded():
    frame = pd.DataFrame(
        {"campaign_id": ["c1", "c1"], "creator_id": ["a", "b"], "sales_lift_usd": ["-50", "1"],
         "fit_rating": ["0", "5"]}
    )  # fmt: skip
    checked = validate(frame, OUTCOMES)
    assert checked.valid["sales_lift_usd"].tolist() == [-50.0]
    assert checked.rejects[REJECT_REASON].item() == "fit_rating: must be <= 4 (got '5')"


def test_tiers():
    followers = np.array(
        [0, 999, 1_000, 9_999, 10_000, 99_999, 100_000, 500_000, 1_000_000, np.nan]
    )
    assert contract.tier_of(followers).tolist() == [
        "nano", "nano", "nano", "nano", "micro", "micro", "mid", "macro", "mega", "nano",
    ]  # fmt: skip


cell = st.one_of(
    st.sampled_from(
        ["", " ", "nan", "inf", "-inf", "-1", "0", "1", "2.5", "1e3", "abc", "0.5", "1.5"]
    ),
    st.text(max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(cell, cell, cell, cell, cell, cell, cell), min_size=1, max_size=15))
def test_every_row_ends_in_exactly_one_place(rows):
    frame = pd.DataFrame(
        rows,
        columns=["creator_id", "platform", "followers", "avg_likes", "avg_comments", "niche",
                 "audience_female_share"],
    )  # fmt: skip
    frame["platform"] = [("instagram", "tiktok", "x")[len(p) % 3] for p in frame["platform"]]
    frame["row"] = range(len(frame))
    checked = validate(frame, CREATORS)
    assert sorted(checked.valid["row"].tolist() + checked.rejects["row"].tolist()) == list(
        range(len(frame))
    )
    assert (checked.rejects[REJECT_REASON].str.len() > 0).all()
    valid = checked.valid
    assert (valid["followers"] >= 0).all()
    assert np.isfinite(valid["avg_likes"]).all() and (valid["avg_likes"] >= 0).all()
    share = valid["audience_female_share"].dropna()
    assert share.between(0, 1).all()
    assert not valid["creator_id"].duplicated().any()
    assert (valid["niche"].str.len() > 0).all()


def test_a_broken_earlier_row_does_not_block_a_valid_duplicate(creators_frame):
    frame = pd.concat([creators_frame.iloc[[0]].assign(followers="x"), creators_frame])
    checked = validate(frame, CREATORS)
    assert checked.valid["creator_id"].tolist() == ["a", "b", "c"]
    assert checked.rejects[REJECT_REASON].tolist() == ["followers: not a number (got 'x')"]


@pytest.mark.parametrize(
    ("column", "cell", "problem"),
    [
        ("followers", "1e30", "implausibly large"),
        ("followers", "9007199254740993", "implausibly large"),  # not rounded to ...992
        ("avg_likes", "1e308", "implausibly large"),
        ("avg_likes", "2e10", "must be <= 1e+10"),
        ("price_per_post_usd", "$5,000,000,000,000", "implausibly large"),
        ("audience_female_share", "62.5", "must be <= 1; a share is 0.625 or 62.5%"),
    ],
)
def test_absurd_magnitudes_are_rejected(creators_frame, column, cell, problem):
    checked = validate(creators_frame.assign(**{column: [cell, "1", "0"]}), CREATORS)
    assert checked.rejects[REJECT_REASON].item() == f"{column}: {problem} (got '{cell}')"


@pytest.mark.parametrize(
    "cells",
    [
        ["1", " 2 ", "+3", "-4", "1e3", ".5", "5.", "007", "", "  ", "1e400", "nan", "inf"],
        ["1", "1_000", "0x10", "abc", "", "2"],  # some cells are not numbers
    ],
)
def test_plain_numbers_parse_as_pandas_parses_them(cells: list[str]):
    from recommender.contract._cells import numeric

    text = pd.Series(cells, dtype="string")
    expected = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(float, na_value=np.nan)
    np.testing.assert_array_equal(numeric(text, CREATORS.column("avg_likes")), expected)


def test_pair_frame_prefixes_campaign_columns(creators_frame):
    campaigns = pd.DataFrame({"campaign_id": ["k"], "niche": ["pet"], "platform": ["tiktok"]})
    pairs = contract.pair_frame(
        creators_frame, campaigns, pd.DataFrame({"campaign_id": ["k"], "creator_id": ["b"]})
    )
    assert pairs.loc[0, "niche"] == "food" and pairs.loc[0, "campaign_niche"] == "pet"
    assert pairs.loc[0, "platform"] == "TikTok" and pairs.loc[0, "campaign_platform"] == "tiktok"
    assert len(contract.cross_pairs(creators_frame, campaigns)) == 3


def test_output_columns_are_named_once():
    assert (
        tuple(c for c in contract.SCORED_COLUMNS if c not in ("rank", "flags", "reasons"))
        == contract.PREDICTION_COLUMNS
    )
    names = [name for name, _, _ in contract.pair_columns()]
    assert names[0] == "campaign_id" and "campaign_niche" in names and "followers" in names
    assert len(names) == len(set(names))


def test_keys_seen_before_are_rejected_and_remembered(creators_frame):
    seen = KeySet(pd.DataFrame({"creator_id": ["a"]}))
    checked = validate(creators_frame, CREATORS, seen=seen, seen_problem="already known")
    assert checked.rejects[REJECT_REASON].tolist() == ["creator_id: already known"]
    assert len(seen) == 3  # the valid rows' keys join the set
    assert seen.met(np.array(["a", "b", "c", "d"], dtype=object)).tolist() == [1, 1, 1, 0]
    again = validate(creators_frame, CREATORS, seen=seen)
    assert again.rejects[REJECT_REASON].tolist() == ["creator_id: duplicate of an earlier row"] * 3


def test_a_broken_row_is_rejected_for_its_own_problem_not_as_seen(creators_frame):
    broken = creators_frame.assign(followers=["-1", "0", "5"])
    checked = validate(broken, CREATORS, seen=KeySet(pd.DataFrame({"creator_id": ["a"]})))
    assert checked.rejects[REJECT_REASON].tolist() == ["followers: must be >= 0 (got '-1')"]


@given(st.lists(st.lists(st.text(max_size=3), max_size=20), max_size=6))
def test_a_key_set_answers_as_a_python_set_does(batches):
    keys, reference = KeySet(), set()
    for batch in batches:
        texts = np.array(list(dict.fromkeys(batch)), dtype=object)
        assert keys.met(texts).tolist() == [t in reference for t in texts]
        new = texts[~keys.met(texts)]
        keys.add(new)
        reference.update(new)
        assert len(keys) == len(reference)


def test_a_key_set_tells_keys_apart_whose_hashes_collide(monkeypatch):
    monkeypatch.setattr(_keyset, "hashed", lambda texts: np.zeros(len(texts), np.uint64))
    keys = KeySet()
    keys.add(np.array(["a", "b"], dtype=object))
    keys.add(np.array(["c"], dtype=object))
    assert keys.met(np.array(["b", "x", "c", "a"], dtype=object)).tolist() == [1, 0, 1, 1]


def test_reason_first_orders_the_rejects_columns():
    rejects = pd.DataFrame({"x": [1], REJECT_REASON: ["bad"], "table": ["creators"]})
    assert list(contract.reason_first(rejects)) == [REJECT_REASON, "x", "table"]
    assert list(contract.reason_first(rejects, "table")) == ["table", REJECT_REASON, "x"]
    assert list(contract.reason_first(pd.DataFrame())) == [REJECT_REASON]


def test_the_docs_document_the_contract_as_it_is():
    """The data contract page's tables of columns list exactly the contract's, with what is
    required."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
    for table in contract.TABLES.values():
        start = page.index(f"\n`{table.name}`: ")
        block = page[start : page.index("\n\n", page.index("| column", start))]
        rows = [line.split("|")[1:4] for line in block.splitlines() if line.startswith("| `")]
        documented = [(name.strip(" `"), required.strip() == "yes") for name, _, required in rows]
        assert documented == [(c.name, c.required) for c in table.columns], table.name


def test_a_frame_read_with_the_wrong_delimiter_gets_a_hint():
    frame = pd.read_csv(io.StringIO("creator_id;platform;followers\na;tiktok;1\n"))
    with pytest.raises(ContractError, match="is the file delimited by ';'"):
        validate(frame, CREATORS)


# --- quick paths read as the general ones do -----------------------------------------------

# Numbers as JSON clients send them, with those whose text reads another way (1.125 in a
# count is 1125: see dots_as_thousands) and those too large for a float.
json_number = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.125, -12.5, 123.456, 2.0, 1e16, 2**53 + 1, -0.0, 10**400]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(json_number, min_size=1, max_size=8),
    st.sampled_from(["followers", "avg_likes", "audience_female_share", "price_per_post_usd"]),
)
def test_numbers_sent_as_numbers_read_as_their_text_does(cells, column):
    """A cell of 3 or 1.125 reads as the text "3" or "1.125" does, though a column of such
    numbers is read without writing them out."""
    rows = len(cells)
    others = {"creator_id": [f"c{i}" for i in range(rows)], "platform": "tiktok",
              "followers": "1", "avg_likes": "1", "avg_comments": "1", "niche": "pet"}  # fmt: skip
    numbers = pd.DataFrame({**others, column: pd.Series(cells, dtype=object)})
    text = [None if pd.isna(c) else str(c) for c in cells]
    as_numbers = validate(numbers, CREATORS)
    as_text = validate(numbers.assign(**{column: pd.Series(text, dtype=object)}), CREATORS)
    pd.testing.assert_frame_equal(
        as_numbers.valid.drop(columns=column), as_text.valid.drop(columns=column)
    )
    pd.testing.assert_series_equal(as_numbers.valid[column], as_text.valid[column])
    assert as_numbers.rejects[REJECT_REASON].tolist() == as_text.rejects[REJECT_REASON].tolist()


def test_one_campaign_pairs_as_the_joins_pair_it(creators_frame):
    creators = validate(creators_frame.assign(notes=["x", None, "z"]), CREATORS).valid
    campaign = {"campaign_id": "k", "niche": "pet", "budget_usd": 3000, "platform": "tiktok"}
    campaigns = validate(pd.DataFrame([campaign]).astype(object), CAMPAIGNS).valid
    for some in (creators, creators.iloc[[2, 0]], creators.iloc[:0]):
        ids = pd.MultiIndex.from_product(
            [campaigns["campaign_id"], some["creator_id"]], names=["campaign_id", "creator_id"]
        ).to_frame(index=False)
        pd.testing.assert_frame_equal(
            contract.cross_pairs(some, campaigns),
            contract.pair_frame(some, campaigns, ids),
            check_exact=True,
            check_column_type=True,
        )


def test_writing_to_the_valid_rows_leaves_the_input_as_it_was(creators_frame):
    given_frame = creators_frame.assign(notes="mine").astype(object)
    before = given_frame.copy()
    valid = validate(given_frame, CREATORS).valid
    valid.loc[0, "notes"] = "changed"
    valid.loc[0, "creator_id"] = "changed"
    pd.testing.assert_frame_equal(given_frame, before)


# --- cells as damaged or spreadsheet exports hold them (issue 25) ------------------------


@pytest.mark.parametrize("text", ["arrow", "objects"])  # as a CSV is read; as JSON clients send
def test_a_nul_character_rejects_its_row_in_any_column(creators_frame, text):
    frame = creators_frame.assign(bio=["fine", "also fine", "b\0io"])
    frame.loc[0, "niche"] = "p\0et"
    frame.loc[1, "followers"] = "1\x000"
    frame = frame.astype("str" if text == "arrow" else object)
    checked = validate(frame, CREATORS)
    assert checked.counts == (0, 3)
    assert checked.rejects[REJECT_REASON].tolist() == [
        "niche: contains a NUL character (got 'p\\x00et')",
        "followers: contains a NUL character (got '1\\x000')",  # not also "not a number"
        "bio: contains a NUL character (got 'b\\x00io')",
    ]
    assert checked.rejects["bio"].tolist()[2] == "b\0io"  # the row as it came in


@pytest.mark.parametrize(
    ("column", "cell", "reason"),
    [
        ("avg_likes", "#DIV/0!", "avg_likes: an Excel error (#DIV/0!)"),
        ("followers", " #n/a ", "followers: an Excel error (#N/A)"),
        ("price_per_post_usd", "#VALUE!", "price_per_post_usd: an Excel error (#VALUE!)"),
        ("niche", "#REF!", "niche: an Excel error (#REF!)"),
        ("platform", "#NAME?", "platform: an Excel error (#NAME?)"),
        ("audience_country", "#N/A", "audience_country: an Excel error (#N/A)"),
        ("creator_id", "#NULL!", "creator_id: an Excel error (#NULL!)"),
    ],
)
def test_a_spreadsheet_error_is_rejected_as_such_not_as_missing(
    creators_frame, column, cell, reason
):
    frame = creators_frame.assign(price_per_post_usd="", audience_country="")
    checked = one_bad(frame, column, cell)
    assert checked.counts == (2, 1)
    assert checked.rejects[REJECT_REASON].item() == reason
    assert checked.rejects[column].item() == cell


def test_a_hash_that_is_no_spreadsheet_error_is_text(creators_frame):
    frame = creators_frame.assign(niche=["#fitness", "#N/A food", "pet"])
    assert validate(frame, CREATORS).valid["niche"].tolist() == ["#fitness", "#n/a food", "pet"]


def test_a_number_of_thousands_of_digits_is_rejected_on_its_row(creators_frame):
    digits = "9" * 5_000
    checked = one_bad(creators_frame, "followers", digits)
    assert checked.counts == (2, 1)
    reason = checked.rejects[REJECT_REASON].item()
    assert reason.startswith("followers: not a finite number (got '9999") and "digits" not in reason
