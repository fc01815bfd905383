"""The HTTP endpoint and MLflow's own scoring server, started for real on 127.0.0.1: its
answers, its bounds and API key, many clients at once, a scoring process killed, and
schemathesis against the service's own OpenAPI document."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from helpers import CAMPAIGN, free_port, wait_until_up

import recommender
from recommender.contract import cross_pairs
from recommender.mlops.signature import as_model_input
from recommender.scoring.planning import Constraints

ROOT = Path(__file__).resolve().parents[2]


def start_server(model_dir: Path, *flags: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    command = [sys.executable, str(ROOT / "serve.py"), "http", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--model", str(model_dir), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/openapi.json", process)
    except BaseException:
        stop(process)
        raise
    return base, process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[str]:
    """The service as `http` starts it by default, with two scoring processes."""
    base, process = start_server(model_dir, "--workers", "2")
    try:
        yield base
    finally:
        stop(process)


KEY = "s3cret-key-for-tests"


@pytest.fixture(scope="module")
def guarded(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A service with an API key (from a file), a 0.1 MB body limit and 3 extra keys."""
    key_file = tmp_path_factory.mktemp("key") / "api-key"
    key_file.write_text(KEY + "\n")
    base, process = start_server(model_dir, "--workers", "1", "--api-key-file", str(key_file),
                                 "--max-body-mb", "0.1", "--max-extra-keys", "3")  # fmt: skip
    try:
        yield base
    finally:
        stop(process)


def creators_json(market, n: int = 40) -> list[dict[str, object]]:
    frame = market.creators.head(n).astype(object)
    return frame.where(frame.notna(), None).to_dict(orient="records")


def test_score_matches_the_library(server: str, market, model_dir: Path):
    body = {"campaign": CAMPAIGN, "creators": creators_json(market)}
    response = requests.post(f"{server}/score", json=body, timeout=60)
    assert response.status_code == 200
    payload = response.json()
    assert payload["counts"] == {"scored": 40, "rejected": 0}
    over_http = pd.DataFrame(payload["scored"])
    local = recommender.score(market.creators.head(40), CAMPAIGN, model_dir)
    assert over_http["creator_id"].tolist() == local["creator_id"].tolist()
    assert over_http["score"].to_numpy() == pytest.approx(local["score"].to_numpy())
    assert over_http["reasons"].tolist() == local["reasons"].tolist()


def test_answers_say_where_the_time_went(server: str, market):
    response = post(
        server,
        key=None,
        data=json.dumps({"campaign": CAMPAIGN, "creators": creators_json(market, 5)}),
    )
    timing = dict(part.strip().split(";dur=") for part in response.headers["Server-Timing"]
                  .split(","))  # fmt: skip
    assert 0 < float(timing["score"]) <= float(timing["total"])


def test_bad_rows_come_back_rejected_with_reasons(server: str, market):
    rows = creators_json(market, 3)
    rows[1]["followers"] = -3
    response = requests.post(
        f"{server}/score", json={"campaign": CAMPAIGN, "creators": rows}, timeout=60
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["counts"] == {"scored": 2, "rejected": 1}
    assert payload["rejected"][0]["reject_reason"] == "followers: must be >= 0 (got '-3')"


def test_plan_matches_the_library(server: str, market, model_dir: Path):
    rows = creators_json(market, 300)
    rows[0]["followers"] = -3
    limits = {"max_niche_share": 0.6, "excluded_flags": []}
    body = {"campaign": CAMPAIGN, "creators": rows, "budget_usd": 2_000, "explore": 0.1,
            "seed": 11, "constraints": limits}  # fmt: skip
    response = requests.post(f"{server}/plan", json=body, timeout=120)
    assert response.status_code == 200, response.text[:300]
    payload = response.json()
    creators = market.creators.head(300).copy()
    creators.loc[creators.index[0], "followers"] = -3
    limited = Constraints(max_niche_share=0.6, excluded_flags=())
    local = recommender.plan(creators, CAMPAIGN, 2_000, model_dir, 0.1, limited, seed=11)
    assert [r["creator_id"] for r in payload["chosen"]] == local.chosen["creator_id"].tolist()
    assert [r["selection_probability"] for r in payload["chosen"]] == pytest.approx(
        local.chosen["selection_probability"].tolist()
    )
    assert payload["summary"] == local.summary and local.summary["seed"] == 11
    assert sum(r["cost_usd"] for r in payload["chosen"]) <= 2_000 + 1e-6
    assert [r["reject_reason"] for r in payload["rejected"]] == [
        "followers: must be >= 0 (got '-3')"
    ]


def test_a_thin_file_with_a_sponsorship_limit_is_planned_not_a_500(server: str, market):
    rows = [{k: v for k, v in r.items() if k != "recent_sponsored_posts"}
            for r in creators_json(market, 20)]  # fmt: skip
    body = {"campaign": CAMPAIGN, "creators": rows, "budget_usd": 500,
            "constraints": {"max_sponsorship_ratio": 0.3}}  # fmt: skip
    response = requests.post(f"{server}/plan", json=body, timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["summary"]["left_out"]["sponsorship unknown"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"budget_usd": 0}, "budget_usd"), ({"explore": 1.2}, "explore"),
     ({"constraints": {"max_segment_share": 2}}, "max_segment_share"),
     ({"constraints": {"min_followers": 9_000, "max_followers": 10}}, "above max_followers"),
     ({"budget_usd": float("inf")}, "budget_usd"), ({"budget_usd": float("nan")}, "budget_usd"),
     ({"budget_usd": -5}, "budget_usd"), ({"budget_usd": 1e300}, "budget_usd"),
     ({"constraints": {"target_country": "usa"}}, "two-letter country code")],
)  # fmt: skip
def test_impossible_plans_get_a_422(server: str, market, extra, message):
    body = {"campaign": CAMPAIGN, "creators": creators_json(market, 5), "budget_usd": 500, **extra}
    response = requests.post(  # as Python's json writes it: an infinite budget is Infinity
        f"{server}/plan",
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 422 and message in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "extra", "says"),
    [("/plan", {"constraints": {"target_county": "US"}},
      "constraints.target_county: unknown key (did you mean target_country?)"),
     ("/plan", {"constraints": {"max_follower": 10_000}},
      "constraints.max_follower: unknown key (did you mean max_followers?)"),
     ("/plan", {"explor": 0.2}, "explor: unknown key (did you mean explore?)"),
     ("/plan", {"budget": 500}, "budget: unknown key (did you mean budget_usd?)"),
     ("/score", {"topp": 3}, "topp: unknown key (did you mean top?)"),
     ("/score", {"callback": "https://x"}, "callback: unknown key")],
)  # fmt: skip
def test_a_misspelt_request_key_is_a_422_naming_it(server: str, market, path, extra, says):
    """Ignored, each of these would plan against a limit the user never got."""
    body = {"campaign": CAMPAIGN, "creators": creators_json(market, 5), **extra}
    if path == "/plan":
        body.setdefault("budget_usd", 500)
    assert_refused(post(server, path, key=None, data=json.dumps(body)), 422, says)


def test_a_campaign_key_one_typo_from_a_column_is_refused_other_keys_pass(server: str, market):
    rows = creators_json(market, 5)
    countryless = {k: v for k, v in CAMPAIGN.items() if k != "target_country"}
    for typo, column in [("target_county", "target_country"), ("Platfrom", "platform"),
                         ("objectve", "objective")]:  # fmt: skip
        body = {"campaign": {**countryless, typo: "x"}, "creators": rows}
        says = f"campaign.{typo}: not a campaigns column (did you mean {column}?"
        assert_refused(post(server, key=None, data=json.dumps(body)), 422, says)
    # The campaigns contract keeps a campaign's own keys; a display header is the column.
    own = {**CAMPAIGN, "notes": "spring push", "brand_manager": "kim", "start_date": "2026-03-01"}
    plain = post(server, key=None, data=json.dumps({"campaign": CAMPAIGN, "creators": rows}))
    with_own = post(server, key=None, data=json.dumps({"campaign": own, "creators": rows}))
    assert with_own.status_code == 200, with_own.text[:300]
    assert with_own.json()["scored"] == plain.json()["scored"]
    headed = {**countryless, "Country": "US"}
    assert post(server, key=None, data=json.dumps({"campaign": headed, "creators": rows})).ok


@pytest.mark.parametrize("budget", [1e-15, 1e-300, 0.01])
def test_a_budget_below_every_price_is_an_empty_plan_not_a_500(server: str, market, budget):
    body = {"campaign": CAMPAIGN, "creators": creators_json(market, 20), "budget_usd": budget}
    response = requests.post(f"{server}/plan", json=body, timeout=60)
    assert response.status_code == 200, response.text[:300]
    payload = response.json()
    assert payload["chosen"] == [] and payload["summary"]["creators"] == 0


PET = b'{"campaign_id": "k", "niche": "pet"}'
BAD_REQUESTS = [
    (b"{not json", 400, "JSON"),
    (b'{"creators": []}', 422, "campaign"),
    (b'{"campaign": ' + PET + b', "creators": {"a": 1}}', 422, "creators"),
    (b'{"campaign": {"campaign_id": "k", "niche": ""}, "creators": [{"x": 1}]}', 422,
     "no valid campaign"),
    (b'{"campaign": ' + PET + b', "creators": [{"x": 1}]}', 422, "missing required creators"),
    (b'{"campaign": ' + PET + b', "creators": []}', 422, "no creators in the request"),
    # Python's json keeps the last of a repeated key silently: which one was meant?
    (b'{"campaign": {"campaign_id": "k", "niche": "pet", "niche": "food"}, "creators": [{"x": 1}]}',
     422, "the key 'niche' appears twice"),
    (b'{"campaign": ' + PET + b', "creators": [{"creator_id": "a", "followers": 10, '
     b'"followers": 10000}]}', 422, "the key 'followers' appears twice"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_4xx_json_error(server: str, body: bytes, status: int, message: str):
    response = requests.post(
        f"{server}/score", data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == status
    assert message.lower() in response.json()["error"].lower()


def test_health_and_openapi(server: str):
    assert requests.get(f"{server}/health", timeout=10).json()["status"] == "ok"
    spec = requests.get(f"{server}/openapi.json", timeout=10).json()
    assert {"/score", "/plan", "/health"} <= set(spec["paths"])


def docs_serve_command(model_dir: Path, port: int) -> str:
    """The HTTP page's `mlflow models serve` line, for this venv, model and port."""
    page = (ROOT / "docs" / "http.md").read_text().splitlines()
    line = next(x for x in page if "mlflow models serve -m models/latest" in x)
    assert "$PWD/.venv/bin" in line, line  # the venv's bin on PATH, as MLflow needs it
    line = line.replace("$PWD/.venv/bin", str(Path(sys.executable).parent))
    return f"{line.replace('models/latest', str(model_dir))} --host 127.0.0.1 --port {port}"


def split_json(frame: pd.DataFrame) -> dict[str, dict[str, list[object]]]:
    """A frame as a `dataframe_split` body, numbers as JSON writes them (3000, 3000.0)."""
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}


@pytest.mark.slow
def test_mlflow_scoring_server_gives_the_same_scores(model_dir: Path, market, tmp_path: Path):
    """The docs' line, run by a shell without the venv on PATH, serves the model; counts
    sent as JSON integers or as floats get the library's scores, and a count that is no
    number a 400 naming it."""
    port = free_port()
    venv = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != venv)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path}
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(["bash", "-c", docs_serve_command(model_dir, port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_up(f"{url}/ping", process, seconds=120)
        except (RuntimeError, TimeoutError):
            raise AssertionError((tmp_path / "serve.log").read_text()[-2000:]) from None
        pairs = cross_pairs(market.creators.head(25), pd.DataFrame([CAMPAIGN]))
        floats = as_model_input(pairs)
        counts = ["followers", "following", "recent_posts", "recent_sponsored_posts"]
        integers = floats.assign(**{c: floats[c].fillna(0).astype("int64") for c in counts})
        for frame, sent_as in ((floats, float), (integers, int)):
            body = split_json(frame)
            split = body["dataframe_split"]
            first = dict(zip(split["columns"], split["data"][0], strict=True))
            assert type(first["followers"]) is sent_as  # 3000.0, then 3000
            response = requests.post(f"{url}/invocations", json=body, timeout=60)
            assert response.status_code == 200, response.text[:500]
            served = pd.DataFrame(response.json()["predictions"])
            local = recommender.load_model(model_dir).predict(frame)
            assert served["creator_id"].tolist() == local["creator_id"].tolist()
            assert served["score"].to_numpy() == pytest.approx(local["score"].to_numpy())
        wrong = split_json(integers.astype({"followers": object}).assign(followers="many"))
        response = requests.post(f"{url}/invocations", json=wrong, timeout=60)
        assert response.status_code == 400 and "column followers: 'many'" in response.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_an_export_with_display_headers_scores_as_the_contract(server: str, market):
    rows = market.creators.head(20)
    export = [
        {"Username": r.creator_id, "Platform": r.platform.title(), "Followers": f"{r.followers:,}",
         "Avg. Likes": f"{r.avg_likes:,.2f}", "Avg Comments": str(r.avg_comments),
         "Category": r.niche.upper()}
        for r in rows.itertuples()
    ]  # fmt: skip
    contract = rows[["creator_id", "platform", "followers", "avg_likes", "avg_comments", "niche"]]
    contract = contract.assign(avg_likes=contract["avg_likes"].round(2))
    answers = [
        requests.post(f"{server}/score", json={"campaign": CAMPAIGN, "creators": creators},
                      timeout=60).json()
        for creators in (export, contract.astype(object).to_dict(orient="records"))
    ]  # fmt: skip
    assert answers[0]["counts"] == {"scored": 20, "rejected": 0}
    by_export, by_contract = (pd.DataFrame(answer["scored"]) for answer in answers)
    assert by_export["score"].tolist() == by_contract["score"].tolist()
    assert by_export["creator_id"].tolist() == by_contract["creator_id"].tolist()


# --- bounds, the API key and the error shape ----------------------------------------------


def post(base: str, path: str = "/score", key: str | None = KEY, **kwargs) -> requests.Response:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(f"{base}{path}", headers=headers, timeout=60, **kwargs)


def assert_refused(response: requests.Response, status: int, says: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert set(response.json()) == {"error"}
    assert says.lower() in response.json()["error"].lower()


def test_the_api_key_is_required_and_compared_whole(guarded: str, market):
    body = json.dumps({"campaign": CAMPAIGN, "creators": creators_json(market, 3)})
    assert_refused(post(guarded, key=None, data=body), 401, "API key")
    assert_refused(post(guarded, key=KEY[:-1], data=body), 401, "API key")
    assert_refused(post(guarded, key=KEY + "x", data=body), 401, "API key")
    assert post(guarded, key=KEY, data=body).status_code == 200
    by_header = post(guarded, key=None, data=body, headers={"X-API-Key": KEY})
    assert by_header.json()["counts"] == {"scored": 3, "rejected": 0}
    assert_refused(requests.get(f"{guarded}/health", timeout=10), 401, "API key")
    assert requests.get(f"{guarded}/health", timeout=10, headers={"X-API-Key": KEY}).ok
    assert requests.get(f"{guarded}/openapi.json", timeout=10).ok  # the description is open


def test_the_api_key_comes_from_the_environment_when_no_file_is_given(monkeypatch, tmp_path):
    from recommender.errors import SettingError
    from recommender.serving import API_KEY_ENV, ServiceSettings

    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert ServiceSettings().api_key() is None  # no key anywhere: open, as before
    monkeypatch.setenv(API_KEY_ENV, " from-env \n")
    assert ServiceSettings().api_key() == b"from-env"
    (tmp_path / "key").write_text("from-file\n")
    assert ServiceSettings(api_key_file=str(tmp_path / "key")).api_key() == b"from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingError, match="empty"):
        ServiceSettings(api_key_file=str(tmp_path / "empty")).api_key()
    for unusable in ("  ", "clé", "two words"):  # set but empty fails closed, not open
        monkeypatch.setenv(API_KEY_ENV, unusable)
        with pytest.raises(SettingError, match=API_KEY_ENV):
            ServiceSettings().api_key()


def test_a_body_over_the_limit_is_refused_before_it_is_read(guarded: str, market):
    rows = creators_json(market, 600)  # about 0.15 MB: over the 0.1 MB limit
    body = json.dumps({"campaign": CAMPAIGN, "creators": rows}).encode()
    assert len(body) > 0.1 * 2**20
    assert_refused(post(guarded, data=body), 413, "over the service's limit")

    def chunked():  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    assert_refused(post(guarded, data=chunked()), 413, "over the service's limit")
    # A declared length over the limit is answered at once, before any of the body is sent.
    connection = http.client.HTTPConnection(guarded.removeprefix("http://"), timeout=10)
    connection.putrequest("POST", "/score")
    for name, value in [("Content-Type", "application/json"), ("Content-Length", "999999999"),
                        ("Authorization", f"Bearer {KEY}")]:  # fmt: skip
        connection.putheader(name, value)
    connection.endheaders()
    declared = connection.getresponse()
    assert declared.status == 413 and "limit" in json.loads(declared.read())["error"]
    # Under the limit, the same service answers.
    small = json.dumps({"campaign": CAMPAIGN, "creators": rows[:100]})
    assert post(guarded, data=small).json()["counts"]["scored"] == 100


def test_extra_keys_are_capped_and_only_echoed_when_asked(guarded: str, market):
    rows = creators_json(market, 4)
    for i, row in enumerate(rows[:3]):
        row[f"note_{i}"] = f"n{i}"
    for row in rows:  # a display header is not an extra key
        row["Avg. Likes"] = row.pop("avg_likes")
    body = {"campaign": CAMPAIGN, "creators": rows}
    plain = post(guarded, data=json.dumps(body)).json()
    assert plain["counts"] == {"scored": 4, "rejected": 0}
    assert not any(k.startswith("note_") for row in plain["scored"] for k in row)
    echoed = post(guarded, data=json.dumps({**body, "echo_extras": True})).json()
    notes = {row["creator_id"]: row.get("note_0") for row in echoed["scored"]}
    assert notes[rows[0]["creator_id"]] == "n0" and notes[rows[1]["creator_id"]] is None
    rows[3]["note_3"] = "one too many"
    assert_refused(post(guarded, data=json.dumps(body)), 413, "at most 3 distinct keys")
    rows[3].pop("note_3")
    rows[3]["avg_likes"] = rows[3].pop("Avg. Likes")  # two spellings of one column
    assert_refused(post(guarded, data=json.dumps(body)), 422, "both mean avg_likes")
    rejected = creators_json(market, 2)
    rejected[0]["followers"], rejected[0]["note"] = -5, "kept out"
    answer = post(guarded, data=json.dumps({"campaign": CAMPAIGN, "creators": rejected})).json()
    assert answer["counts"] == {"scored": 1, "rejected": 1}
    assert "note" not in answer["rejected"][0] and "followers" in answer["rejected"][0]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [(b'{"campaign": ' + PET + b', "creators": [{"followers": ' + b"9" * 5000 + b"}]}", 400,
      "could not be parsed"),
     (b'{"campaign": ' + PET + b', "creators": [' + b"[" * 1000 + b"]" * 1000 + b"]}", 400,
      "could not be parsed"),
     (b"[1, 2]", 422, "body")],
)  # fmt: skip
def test_bodies_json_cannot_hold_get_the_error_shape(server: str, body, status, says):
    assert_refused(post(server, key=None, data=body), status, says)


def test_a_number_too_long_to_read_is_said_in_plain_words(server: str):
    body = b'{"campaign": ' + PET + b', "creators": [{"followers": ' + b"9" * 5000 + b"}]}"
    response = post(server, key=None, data=body)
    assert_refused(response, 400, "a whole number of more than 4,300 digits")
    assert "conversion" not in response.text and "sys." not in response.text


def test_malformed_http_gets_the_error_shape(server: str):
    """What uvicorn answers itself, before the application sees a request."""
    status, headers, body, _ = exchange(server, b"GARBAGE\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert "not HTTP" in json.loads(body)["error"]


def test_unknown_paths_and_methods_get_the_error_shape(server: str):
    assert_refused(requests.get(f"{server}/nowhere", timeout=10), 404, "not found")
    assert_refused(requests.put(f"{server}/score", timeout=10), 405, "not allowed")


def test_non_scalar_contract_values_are_rejected_row_by_row(server: str, market):
    rows = creators_json(market, 5)
    rows[0]["creator_id"] = {"id": "x"}
    rows[1]["niche"] = {"name": "pet"}
    rows[2]["followers"] = [1000]
    rows[3]["platform"] = ["instagram"]
    answer = post(server, key=None, data=json.dumps({"campaign": CAMPAIGN, "creators": rows}))
    payload = answer.json()
    assert payload["counts"] == {"scored": 1, "rejected": 4}
    reasons = [r["reject_reason"] for r in payload["rejected"]]
    assert [r.split(":")[0] for r in reasons] == ["creator_id", "niche", "followers", "platform"]
    assert all("not a single value" in r for r in reasons)
    assert payload["scored"][0]["creator_id"] == rows[4]["creator_id"]


def test_health_names_the_model_and_says_it_is_ready(server: str, model_dir: Path):
    from recommender.mlops.model_store import model_identity

    health = requests.get(f"{server}/health", timeout=10)
    payload = health.json()
    assert payload["status"] == "ok" and payload["ready"] is True
    identity = model_identity(model_dir)
    assert payload["model"] == identity.as_dict()
    assert {"version", "run_id", "trained_at", "model_format"} <= set(payload["model"])
    assert payload["model"]["trained_at"] == identity.trained_at is not None


def test_many_clients_at_once_get_the_answers_one_client_gets(server: str, market):
    from concurrent.futures import ThreadPoolExecutor

    bodies = [json.dumps({"campaign": CAMPAIGN, "creators": creators_json(market, 30 + i)})
              for i in range(16)]  # fmt: skip
    alone = [post(server, key=None, data=b).json()["scored"] for b in bodies[:3]]
    with ThreadPoolExecutor(16) as clients:
        answers = list(clients.map(lambda b: post(server, key=None, data=b), bodies))
    assert [a.status_code for a in answers] == [200] * 16
    assert [len(a.json()["scored"]) for a in answers] == [30 + i for i in range(16)]
    assert [a.json()["scored"] for a in answers[:3]] == alone


def test_a_scoring_process_killed_mid_request_costs_that_answer_not_the_service(
    model_dir: Path, market
):
    import signal
    import threading

    import psutil

    base, process = start_server(model_dir, "--workers", "1")
    try:
        small = json.dumps({"campaign": CAMPAIGN, "creators": creators_json(market, 20)})
        assert post(base, key=None, data=small).status_code == 200
        forkserver = [p for p in psutil.Process(process.pid).children()
                      if "forkserver" in " ".join(p.cmdline())]  # fmt: skip
        [scorer] = forkserver[0].children()  # the scoring process is forked from it
        idle = scorer.cpu_times().user
        big = json.dumps({"campaign": CAMPAIGN, "creators": creators_json(market, 4_000) * 5})
        answers: list[requests.Response] = []
        asking = threading.Thread(target=lambda: answers.append(post(base, key=None, data=big)))
        asking.start()
        deadline = time.monotonic() + 60
        while scorer.cpu_times().user < idle + 0.2 and time.monotonic() < deadline:
            time.sleep(0.01)  # until it is well into the 20,000 rows
        os.kill(scorer.pid, signal.SIGKILL)
        asking.join(timeout=60)
        assert_refused(answers[0], 503, "stopped while it held this request")
        after = post(base, key=None, data=small)  # a new process took its place
        assert after.status_code == 200 and after.json()["counts"]["scored"] == 20
    finally:
        stop(process)


def test_requests_beyond_the_waiting_limit_get_a_503_to_retry(model_dir: Path, market):
    from concurrent.futures import ThreadPoolExecutor

    base, process = start_server(model_dir, "--workers", "1", "--max-waiting", "1")
    try:
        body = json.dumps({"campaign": CAMPAIGN, "creators": creators_json(market, 4_000)})
        with ThreadPoolExecutor(6) as clients:
            answers = list(clients.map(lambda _: post(base, key=None, data=body), range(6)))
        busy = [a for a in answers if a.status_code == 503]
        assert busy and all(a.headers["Retry-After"] == "1" for a in busy)
        assert_refused(busy[0], 503, "busy")
        assert sum(a.status_code == 200 for a in answers) >= 2  # one scoring, one waiting
    finally:
        stop(process)


def test_what_json_answers_cannot_hold_is_refused_not_a_500(server: str, market):
    rows = creators_json(market, 2)
    for given in ('"\\ud800"', "1" + "0" * 25, "[" * 300 + "]" * 300):
        body = json.dumps({"campaign": CAMPAIGN, "creators": rows})
        body = body.replace('"niche": "', f'"note": {given}, "niche": "', 1)
        assert_refused(post(server, key=None, data=body), 400, "JSON answers cannot")


def test_a_plan_whose_model_went_missing_is_a_503_not_the_requests_fault(tmp_path, market):
    import multiprocessing

    from recommender.engines._pool import ModelWorkers
    from recommender.errors import ModelNotFound
    from recommender.serving import PlanRequest, ServiceSettings, plan_answer

    settings = ServiceSettings(model=str(tmp_path / "gone"), workers=1)
    body = PlanRequest(campaign=CAMPAIGN, creators=creators_json(market, 3), budget_usd=100)
    fork = multiprocessing.get_context("fork")
    # The scoring process follows the model, as the service's do; the plan is asked of it.
    with ModelWorkers(settings.model, 1, fork, follow=True) as workers:
        planned = workers.submit(plan_answer, body, settings)
        with pytest.raises(ModelNotFound):  # the app's handler answers it with a 503
            planned.result()


@pytest.mark.parametrize("which", ["server", "guarded"])
def test_the_service_meets_its_openapi_document(which: str, request):
    """Schemathesis, a peer's test suite: its examples, coverage and fuzzing phases on every
    operation with its checks (no 5xx; documented status codes, content types and headers;
    answers matching the document's schemas; schema-violating requests refused). Left out:
    positive_data_acceptance, which expects every request the schema allows to be scored.
    The contract's rules are richer than JSON Schema says (a required column given under
    an export's header, numbers as people write them, a niche that is only spaces), and
    what the service cannot score it refuses with a documented 422. The guarded service's
    document declares its key, which schemathesis sends (and checks is needed)."""
    base = request.getfixturevalue(which)
    key = ["--header", f"Authorization: Bearer {KEY}"] if which == "guarded" else []
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(
        [str(schemathesis), "run", f"{base}/openapi.json", "--max-examples", "40",
         "--seed", "16", "--request-timeout", "120", *key,
         "--exclude-checks", "positive_data_acceptance"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout  # every operation was tested


def test_answers_write_missing_values_as_null_and_numbers_as_plain_json():
    from recommender.serving.protocol import Answer, _records

    frame = pd.DataFrame({
        "creator_id": pd.array(["a", None, "c"], dtype="str"),
        "followers": pd.array([1, None, 3], dtype="Int64"),
        "score": [0.5, float("nan"), float("inf")],
        "given": pd.Series([{"k": [1, None]}, None, 7], dtype=object),
        "flag": [True, False, True],
    })  # fmt: skip
    written = json.loads(Answer.of({"rows": _records(frame)}).body)["rows"]
    assert written == [
        {"creator_id": "a", "followers": 1, "score": 0.5, "given": {"k": [1, None]}, "flag": True},
        {"creator_id": None, "followers": None, "score": None, "given": None, "flag": False},
        {"creator_id": "c", "followers": 3, "score": None, "given": 7, "flag": True},
    ]


# --- slow and stalled clients ------------------------------------------------------


def exchange(
    base: str, data: bytes, wait: float = 15
) -> tuple[int | None, dict[str, str], bytes, float]:
    """Send `data` on a fresh connection and read until the server closes it (or `wait`
    seconds pass): the answer's status, headers and body (None, {}, b"" when it sent
    none), and the seconds until it closed."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        with contextlib.suppress(ConnectionResetError):  # closed with what we sent unread
            while chunk := sock.recv(65_536):
                received += chunk
    seconds = time.monotonic() - started
    if not received:
        return None, {}, b"", seconds
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body, seconds


def stall(base: str, declared: int, sent: int) -> socket.socket:
    """A connection that declares a body of `declared` bytes, sends `sent` of them, and
    waits (unless it was answered first: then it sends nothing)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % declared)  # fmt: skip
    if not select.select([sock], [], [], 0.3)[0]:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused meanwhile
            sock.sendall(b" " * sent)
    return sock


@pytest.fixture(scope="module")
def impatient(model_dir: Path) -> Iterator[tuple[str, int]]:
    """A service with a 1 s header timeout, a 2 s body timeout, a 1 MB body limit and
    2 MB of bodies held at once: its address and process id."""
    base, process = start_server(model_dir, "--workers", "1", "--header-timeout", "1",
                                 "--body-timeout", "2", "--max-body-mb", "1",
                                 "--max-buffered-mb", "2")  # fmt: skip
    try:
        yield base, process.pid
    finally:
        stop(process)


def test_a_client_stalled_mid_headers_is_cut_off_within_the_timeout(impatient):
    base, _ = impatient
    status, headers, body, seconds = exchange(base, b"POST /score HTTP/1.1\r\nHost: t\r\n")
    assert status == 408 and headers["content-type"] == "application/json"
    assert "headers did not arrive within 1 s" in json.loads(body)["error"]
    assert 0.9 < seconds < 3
    status, _, _, seconds = exchange(base, b"")  # connected, and nothing sent
    assert status is None and 0.9 < seconds < 3


def test_a_client_stalled_mid_body_gets_a_408_within_the_timeout(impatient):
    base, _ = impatient
    request = (b"POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b'Content-Length: 1000\r\n\r\n{"campaign": ')  # fmt: skip
    status, headers, body, seconds = exchange(base, request)
    assert status == 408 and headers["connection"] == "close"
    assert "body did not arrive within 2 s" in json.loads(body)["error"]
    assert 1.9 < seconds < 4.5


def test_headers_over_the_limit_are_refused_not_buffered(impatient):
    base, _ = impatient
    filler = b"X-Filler: " + b"a" * 8_000 + b"\r\n"
    status, headers, body, _ = exchange(base, b"GET /health HTTP/1.1\r\nHost: t\r\n" + filler * 20)
    assert status == 431 and headers["content-type"] == "application/json"
    assert "over the service's limit of 64 KB" in json.loads(body)["error"]


def test_bodies_held_at_once_are_capped_with_a_503_to_retry(impatient, market):
    base, _ = impatient
    holding = [stall(base, 1_000_000, 900_000) for _ in range(2)]  # 2 of the 2 MB
    try:
        started = time.monotonic()
        refused = stall(base, 200_000, 200_000)
        status_line = refused.recv(4096).split(b"\r\n\r\n")[0].lower()
        assert time.monotonic() - started < 1  # at once, without reading the body
        assert status_line.startswith(b"http/1.1 503") and b"retry-after: 1" in status_line
        refused.close()
        for sock in holding:  # cut off at their body timeout, which frees the room
            assert b"408 Request Timeout" in sock.recv(4096)
    finally:
        for sock in holding:
            sock.close()
    body = json.dumps({"campaign": CAMPAIGN, "creators": creators_json(market, 3)})
    assert post(base, key=None, data=body).json()["counts"]["scored"] == 3


def test_stalled_clients_do_not_grow_the_service(impatient):
    import psutil

    base, pid = impatient
    service = psutil.Process(pid)
    before = service.memory_info().rss
    clients = [stall(base, 1_000_000, 900_000) for _ in range(40)]  # 36 MB if all were held
    try:
        time.sleep(0.5)
        grown = service.memory_info().rss - before
        answered = sum(bool(select.select([c], [], [], 0)[0]) for c in clients)
    finally:
        for client in clients:
            client.close()
    assert answered >= 38  # refused at once: only two bodies fit in 2 MB
    assert grown < 12 * 2**20, f"grew {grown / 2**20:.1f} MB"


# --- ports -----------------------------------------------------------------------------


def test_ports_outside_0_to_65535_are_refused_in_one_line(capsys):
    from recommender.cli import build_parser

    for port in ("99999", "65536", "-1", "http"):
        with pytest.raises(SystemExit) as refused:
            build_parser().parse_args(["http", "--port", port])
        assert refused.value.code == 2
        assert "must be a port from 0 to 65535" in capsys.readouterr().err.splitlines()[-1]
    for port in ("0", "65535"):
        assert build_parser().parse_args(["http", "--port", port]).port == int(port)
    for port in ("99999", "0"):  # the tracking server's URL names its port: not "any"
        with pytest.raises(SystemExit):
            build_parser().parse_args(["tracking-server", "--port", port])
        assert "must be a port from 1 to 65535" in capsys.readouterr().err.splitlines()[-1]


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "serve.py"), *args]


@pytest.mark.slow
def test_port_0_serves_on_a_free_port_and_says_which(model_dir: Path):
    process = subprocess.Popen(cli("http", "--port", "0", "--model", str(model_dir),
                                   "--workers", "1"),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert process.stdout is not None
        said = process.stdout.readline().decode()
        port = int(said.split("http://127.0.0.1:")[1].split()[0])
        assert port > 0
        wait_until_up(f"http://127.0.0.1:{port}/health", process)
    finally:
        stop(process)


@pytest.mark.slow
def test_a_busy_port_is_one_line_and_no_claim_to_serve(model_dir: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(cli("http", "--port", str(port), "--model", str(model_dir)),
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.strip() == f"error: port {port} is in use on 127.0.0.1"
