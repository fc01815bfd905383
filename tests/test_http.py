"""The HTTP endpoint and MLflow's own scoring server, started for real on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from helpers import CAMPAIGN

import recommender
from recommender.planning import Constraints
from recommender.schema import cross_pairs
from recommender.tracking import as_model_input

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, str(ROOT / "serve.py"), "http", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--model", str(model_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/health", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


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
            "constraints": limits}  # fmt: skip
    response = requests.post(f"{server}/plan", json=body, timeout=120)
    assert response.status_code == 200, response.text[:300]
    payload = response.json()
    creators = market.creators.head(300).copy()
    creators.loc[creators.index[0], "followers"] = -3
    local = recommender.plan(creators, CAMPAIGN, 2_000, model_dir, 0.1,
                             Constraints(max_niche_share=0.6, excluded_flags=()))  # fmt: skip
    assert [r["creator_id"] for r in payload["chosen"]] == local.chosen["creator_id"].tolist()
    assert payload["summary"] == local.summary
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
     ({"budget_usd": -5}, "budget_usd"),
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


@pytest.mark.parametrize("budget", [1e-15, 1e-300, 0.01])
def test_a_budget_below_every_price_is_an_empty_plan_not_a_500(server: str, market, budget):
    body = {"campaign": CAMPAIGN, "creators": creators_json(market, 20), "budget_usd": budget}
    response = requests.post(f"{server}/plan", json=body, timeout=60)
    assert response.status_code == 200, response.text[:300]
    payload = response.json()
    assert payload["chosen"] == [] and payload["summary"]["creators"] == 0


PET = b'{"campaign_id": "k", "niche": "pet"}'
BAD_REQUESTS = [
    (b"{not json", 422, "JSON"),
    (b'{"creators": []}', 422, "campaign"),
    (b'{"campaign": ' + PET + b', "creators": {"a": 1}}', 422, "creators"),
    (b'{"campaign": {"campaign_id": "k", "niche": ""}, "creators": []}', 422, "no valid campaign"),
    (b'{"campaign": ' + PET + b', "creators": [{"x": 1}]}', 422, "missing required creators"),
]


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


@pytest.mark.slow
def test_mlflow_scoring_server_gives_the_same_scores(model_dir: Path, market):
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", str(model_dir),
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, seconds=120)
        pairs = cross_pairs(market.creators.head(25), pd.DataFrame([CAMPAIGN]))
        inputs = as_model_input(pairs)
        body = {
            "dataframe_split": inputs.astype(object)
            .where(inputs.notna(), None)
            .to_dict(orient="split")
        }
        body["dataframe_split"].pop("index", None)
        response = requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60)
        assert response.status_code == 200, response.text[:500]
        served = pd.DataFrame(response.json()["predictions"])
        local = recommender.load_model(model_dir).predict(pairs)
        assert served["creator_id"].tolist() == local["creator_id"].tolist()
        assert served["score"].to_numpy() == pytest.approx(local["score"].to_numpy())
    finally:
        process.terminate()
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
