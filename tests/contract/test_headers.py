"""Exports read as written: display headers and their synonyms, numbers as people write them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.contract import (
    CAMPAIGNS,
    CREATORS,
    HEADER_SYNONYMS,
    OUTCOMES,
    REJECT_REASON,
    TABLES,
    contract_headers,
    header_key,
    read_numbers,
    validate,
)
from recommender.errors import ContractError

# The spellings users meet in platform exports (issue 13), each with the column it means.
CREATOR_HEADERS = {
    "Username": "creator_id", "Handle": "creator_id", "Account": "creator_id",
    "Followers": "followers", "Follower Count": "followers", "Following": "following",
    "Avg Likes": "avg_likes", "Average Likes": "avg_likes", "Avg. Likes": "avg_likes",
    "AVG_LIKES": "avg_likes", "Avg Comments": "avg_comments", "Avg Views": "avg_views",
    "Category": "niche", "Niche": "niche", "Secondary Niches": "secondary_niches",
    "Categories": "secondary_niches", "Posts (90d)": "recent_posts",
    "Recent Posts": "recent_posts", "Sponsored Posts": "recent_sponsored_posts",
    "Ads": "recent_sponsored_posts", "Country": "audience_country",
    "Audience Country": "audience_country", "Top Country": "audience_country",
    "Audience Age": "audience_age_median", "Female %": "audience_female_share",
    "Audience Female Share": "audience_female_share", "Growth": "follower_growth_30d",
    "Follower Growth": "follower_growth_30d", "Price": "price_per_post_usd",
    "Rate": "price_per_post_usd", "Price per Post": "price_per_post_usd",
    "Price (USD)": "price_per_post_usd", "Price per Post ($)": "price_per_post_usd",
    "Rate [US$]": "price_per_post_usd", "Platform": "platform", " platform ": "platform",
}  # fmt: skip


@pytest.mark.parametrize(("header", "column"), CREATOR_HEADERS.items())
def test_export_headers_mean_contract_columns(header, column):
    match = contract_headers(pd.DataFrame(columns=[header, "tags"]), "creators")
    assert match.frame.columns.tolist() == [column, "tags"]  # an unknown header is untouched
    assert match.renamed == ((header, column),)


@pytest.mark.parametrize("table", sorted(HEADER_SYNONYMS))
def test_the_synonym_table_names_contract_columns_and_no_spelling_twice(table):
    contract = set(TABLES[table].names) | {"campaign_id", "start_date"}
    assert set(HEADER_SYNONYMS[table]) <= contract
    claimed: dict[str, str] = {}
    for column, spellings in HEADER_SYNONYMS[table].items():
        for spelling in (column, *spellings):
            assert claimed.setdefault(header_key(spelling), column) == column, spelling


def test_contract_headers_are_left_as_they_are():
    frame = pd.DataFrame(columns=list(CREATORS.names))
    assert contract_headers(frame, "creators").renamed == ()


def test_two_headers_for_one_column_is_one_line():
    frame = pd.DataFrame(columns=["Username", "creator_id", "Followers"])
    with pytest.raises(ContractError) as info:
        validate(frame, CREATORS, source="export.csv")
    assert str(info.value) == (
        "export.csv: columns 'Username' and 'creator_id' both mean creator_id; keep one"
    )


def test_each_table_has_its_own_synonyms():
    frame = pd.DataFrame({"Campaign": ["k"], "Handle": ["a"], "Lift": ["$1,200"], "Cost": ["$80"]})
    checked = validate(frame, OUTCOMES)
    assert checked.valid[["campaign_id", "creator_id", "sales_lift_usd", "cost_usd"]].to_numpy(
    ).tolist() == [["k", "a", 1200.0, 80.0]]  # fmt: skip


# (cell, column, value read, or the reason it is rejected)
NUMBERS = [
    ("12.5K", "followers", 12_500), ("1.25M", "followers", 1_250_000), ("2B", "followers", 2e9),
    ("3,400", "followers", 3_400), ("1 200", "followers", 1_200), ("1,234,567", "followers",
    1_234_567), ("1.1K", "followers", 1_100), ("12.5k", "avg_likes", 12_500),
    ("1,250.5", "avg_likes", 1_250.5), ("62.5%", "audience_female_share", 0.625),
    ("+2.1%", "follower_growth_30d", 0.021), ("-3%", "follower_growth_30d", -0.03),
    ("$1,250.00", "price_per_post_usd", 1_250), ("USD 80", "price_per_post_usd", 80),
    ("80 USD", "price_per_post_usd", 80), ("$1.2K", "price_per_post_usd", 1_200),
    ("1.5", "followers", "not a whole number"), ("1.2345K", "followers", "not a whole number"),
    ("12,5", "avg_likes", 12.5), ("1,23,456", "followers", "not a number"),
    ("62.5%", "avg_likes", "not a number"), ("$80", "followers", "not a number"),
    ("€80", "price_per_post_usd", "not a number"), ("12.5K%", "audience_female_share",
    "not a number"), ("lots", "followers", "not a number"),
    ("0,050", "avg_likes", "not a number"), ("$0,250", "price_per_post_usd", "not a number"),
    ("000,001", "followers", "not a number"),
]  # fmt: skip


@pytest.mark.parametrize(("cell", "column", "expected"), NUMBERS)
def test_numbers_as_people_write_them(creators_frame, cell, column, expected):
    frame = creators_frame.head(1).assign(**{column: cell})
    checked = validate(frame, CREATORS)
    if isinstance(expected, str):
        assert checked.rejects[REJECT_REASON].item() == f"{column}: {expected} (got '{cell}')"
    else:
        assert checked.valid[column].astype(float).item() == pytest.approx(expected, rel=1e-12)


def test_money_columns_read_losses_in_brackets_and_signs():
    text = pd.Series(["($1,200)", "-$5", "$-5", "\u22125", "+$3"])
    assert read_numbers(text, money=True).tolist() == [-1200, -5, -5, -5, 3]
    assert np.isnan(read_numbers(pd.Series(["-+5", "($5", "$5$"]), money=True)).all()


def test_platform_names_in_any_case(creators_frame):
    frame = creators_frame.assign(platform=["TikTok", "YouTube", "INSTAGRAM"])
    assert validate(frame, CREATORS).valid["platform"].tolist() == [
        "tiktok",
        "youtube",
        "instagram",
    ]


@pytest.mark.parametrize("cell", [["dog", "cat"], {"a": 1}, ("x",)])
def test_a_list_or_mapping_in_a_contract_column_is_rejected(creators_frame, cell):
    frame = creators_frame.astype(object)
    frame.at[0, "niche"] = cell
    frame["tags"] = [["dog"], None, "x"]  # an extra column may hold anything
    checked = validate(frame, CREATORS)
    assert checked.rejects[REJECT_REASON].item().startswith("niche: not a single value (got ")
    assert checked.valid["tags"].tolist() == [None, "x"]


# --- an export scores as the same list in the contract's columns ----------------------

DISPLAY = {
    "creator_id": "Username", "platform": "Platform", "followers": "Followers",
    "avg_likes": "Avg. Likes", "avg_comments": "Avg Comments", "niche": "Category",
    "secondary_niches": "Secondary Niches", "following": "Following",
    "recent_posts": "Posts (90d)", "recent_sponsored_posts": "Sponsored Posts",
    "audience_country": "Top Country", "audience_age_median": "Audience Age",
    "audience_female_share": "Female %", "follower_growth_30d": "Follower Growth",
    "price_per_post_usd": "Price per Post ($)",
}  # fmt: skip


def contract_and_export(creators: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same creators in the contract's columns, and as a platform exports them: display
    headers, 12.5K and 3,400, 62.5%, $1,250.00, platforms capitalised."""
    contract = creators[list(DISPLAY)].copy()
    for column in ("audience_female_share", "follower_growth_30d"):
        contract[column] = contract[column].round(4)
    contract["price_per_post_usd"] = contract["price_per_post_usd"].round(2)
    contract["avg_likes"] = contract["avg_likes"].round(1)
    export = contract.astype(object).copy()
    export["platform"] = contract["platform"].str.title().str.replace("tube", "Tube")
    export["followers"] = [
        f"{n / 1000:g}K" if n >= 10_000 and n % 100 == 0 else f"{n:,}"
        for n in contract["followers"]
    ]
    export["avg_likes"] = [f"{v:,.1f}" for v in contract["avg_likes"]]
    export["following"] = [
        "" if pd.isna(v) else f"{v:,.0f}".replace(",", " ") for v in contract["following"]
    ]
    for column, sign in (("audience_female_share", ""), ("follower_growth_30d", "+")):
        export[column] = ["" if pd.isna(v) else f"{v * 100:{sign}.2f}%" for v in contract[column]]
    export["price_per_post_usd"] = [
        "" if pd.isna(v) else f"${v:,.2f}" for v in contract["price_per_post_usd"]
    ]
    return contract, export.rename(columns=DISPLAY)


def test_an_export_scores_as_its_contract_version(tmp_path, market, model_dir):
    from helpers import CAMPAIGN, SCORED_COLUMNS

    from recommender.cli import main

    contract, export = contract_and_export(market.creators.head(150))
    assert (
        export["Followers"].str.endswith("K").any() and export["Followers"].str.contains(",").any()
    )
    contract.to_csv(tmp_path / "contract.csv", index=False)
    # A European spreadsheet's CSV: semicolons, a BOM, CRLF; and the same list as a workbook.
    export.to_csv(tmp_path / "export.csv", sep=";", index=False, encoding="utf-8-sig",
                  lineterminator="\r\n")  # fmt: skip
    export.to_excel(tmp_path / "export.xlsx", sheet_name="Creators", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN), encoding="utf-8-sig")
    outputs = {}
    for name in ("contract.csv", "export.csv", "export.xlsx"):
        out = tmp_path / f"scored-{name}.csv"
        code = main(["score", "--creators", str(tmp_path / name), "--campaign",
                     str(tmp_path / "campaign.json"), "--model", str(model_dir),
                     "--out", str(out)])  # fmt: skip
        assert code == 0
        outputs[name] = pd.read_csv(out)[list(SCORED_COLUMNS)]
        assert len(outputs[name]) == 150
    pd.testing.assert_frame_equal(outputs["export.csv"], outputs["contract.csv"])
    pd.testing.assert_frame_equal(outputs["export.xlsx"], outputs["contract.csv"])


def test_the_python_api_reads_an_export_as_the_command_does(market, model):
    from helpers import CAMPAIGN

    import recommender

    contract, export = contract_and_export(market.creators.head(60))
    by_contract = recommender.score(contract, CAMPAIGN, model)
    by_export = recommender.score(export, CAMPAIGN, model)
    assert by_export["score"].tolist() == by_contract["score"].tolist()
    assert "Username" not in by_export.columns and "creator_id" in by_export.columns


@pytest.mark.parametrize("header", ["Price (€)", "Price €", "Price per Post (£)", "Rate (₹)"])
def test_a_price_in_another_currency_is_not_read_as_dollars(header):
    match = contract_headers(pd.DataFrame(columns=["Username", header]), "creators")
    assert match.renamed == (("Username", "creator_id"),)


@pytest.mark.parametrize("cell", ["-", "N/A", "n/a", "\u2014", "null", "?"])
def test_an_unknown_number_written_as_a_placeholder_is_empty(creators_frame, cell):
    checked = validate(creators_frame.assign(price_per_post_usd=cell, followers=["1", cell, "2"]),
                       CREATORS)  # fmt: skip
    assert checked.valid["price_per_post_usd"].isna().all() and len(checked.valid) == 2
    assert (
        checked.rejects[REJECT_REASON].item() == f"followers: required value missing (got '{cell}')"
    )


def test_a_campaigns_start_date_is_found_under_its_display_name():
    campaigns = pd.DataFrame({"Campaign": ["k"], "Category": ["pet"], "Start Date": ["2026-01-05"]})
    assert validate(campaigns, CAMPAIGNS).valid["start_date"].tolist() == ["2026-01-05"]


def test_secondary_niches_sent_as_a_list_are_read(creators_frame):
    frame = creators_frame.astype(object)
    frame["secondary_niches"] = [["Food", "travel"], [], None]
    assert validate(frame, CREATORS).valid["secondary_niches"].tolist()[0] == "food;travel"


def test_a_column_written_with_decimal_commas_is_read_in_that_convention(creators_frame):
    frame = creators_frame.assign(avg_likes=["12,5", "1.250,50", "3,400"],
                                  audience_female_share=["62,5 %", "0,5", ""])  # fmt: skip
    valid = validate(frame, CREATORS).valid
    assert valid["avg_likes"].tolist() == [12.5, 1250.5, 3.4]
    assert valid["audience_female_share"].tolist()[:2] == [0.625, 0.5]


@pytest.mark.parametrize(
    ("cells", "rejected"),
    [
        (["3,400", "12,500", "1,25"], "1,25"),  # a stray decimal comma among thousands
        (["12.5", "12,5", "7"], "12,5"),  # a decimal point elsewhere in the column
        (["1,234", "1,5", "7"], "1,5"),  # as many thousands as decimal commas: thousands
        (["12,5", "1.2345", "7"], "1.2345"),  # no thousands group in a decimal-comma column
    ],
)
def test_a_stray_decimal_comma_is_rejected_not_adopted(creators_frame, cells, rejected):
    checked = validate(creators_frame.assign(avg_likes=cells), CREATORS)
    assert checked.rejects[REJECT_REASON].tolist() == [
        f"avg_likes: not a number (got '{rejected}')"
    ]


def test_counts_written_with_dot_thousands_are_thousands(creators_frame):
    frame = creators_frame.assign(followers=["2.000", "12.500", "2.5"])
    checked = validate(frame, CREATORS)
    assert checked.valid["followers"].tolist() == [2000, 12500]
    assert checked.rejects[REJECT_REASON].item() == "followers: not a whole number (got '2.5')"
