"""Checks that several test files share: the scored-output contract, read from the files."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import requests
from nbclient import NotebookClient

from recommender.mlops.tracking_server import free_port

# The scored output as the data contract in docs/ states it, copied from there: a change to
# contract/tables.py is caught here.
SCORED_COLUMNS = (
    "campaign_id", "creator_id", "rank", "score", "fit_score", "expected_lift_usd",
    "lift_low_usd", "lift_high_usd", "cost_usd", "expected_roi", "tier", "flags", "reasons",
)  # fmt: skip
REJECT_REASON = "reject_reason"
CAMPAIGN = {"campaign_id": "k1", "niche": "pet", "target_country": "US", "product_price_usd": 30}


def scored_output_problems(creators: Path, scored: Path, rejects: Path) -> list[str]:
    """What breaks the documented contract in a scored CSV and its rejects (empty: none).

    The contract's columns come first; ranks run 1..n within each campaign;
    every scored row has reasons and every rejected row a reason; intervals
    hold their expected lift; with one campaign, scored + rejected = input rows.
    Written from the data contract in docs/, not from the code under test.
    """
    given = pd.read_csv(creators, dtype=str, keep_default_na=False)
    out = pd.read_csv(scored, dtype={"creator_id": str, "campaign_id": str},
                      keep_default_na=False)  # fmt: skip
    rejected = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    problems = []
    if list(out.columns[: len(SCORED_COLUMNS)]) != list(SCORED_COLUMNS):
        problems.append(f"the first columns are not {list(SCORED_COLUMNS)}")
        return problems
    if len(rejected) and (rejected.get(REJECT_REASON, pd.Series([""])).str.strip() == "").any():
        problems.append("a rejected row has no reason")
    for campaign, rows in out.groupby("campaign_id"):
        if sorted(rows["rank"].astype(int)) != list(range(1, len(rows) + 1)):
            problems.append(f"ranks of campaign {campaign} are not 1..n")
    if out["campaign_id"].nunique() == 1 and len(out) + len(rejected) != len(given):
        problems.append(f"{len(given)} input rows != {len(out)} scored + {len(rejected)} rejected")
    if (out["reasons"].astype(str).str.strip() == "").any():
        problems.append("a scored row has no reasons")
    low, mid, high = (pd.to_numeric(out[c]) for c in ("lift_low_usd", "expected_lift_usd",
                                                      "lift_high_usd"))  # fmt: skip
    if not ((low <= mid + 1e-9) & (mid <= high + 1e-9)).all():
        problems.append("an interval does not hold its expected lift")
    return problems


def write_retrain_data(folder: Path, seed: int = 2) -> tuple[Path, Path]:
    """A small market's history in folder/real, and the same history with its lifts shuffled
    across hires in folder/shuffled (a bad history: its model should never win). Both keep
    the market's noise-free truth, and campaigns carry dates so that the held-out campaigns
    are the latest whatever the seed: every model is judged on the same test."""
    from dataclasses import replace

    import numpy as np

    from recommender.datasets.simulate import generate_market, write_market

    market = generate_market(n_creators=1_500, n_campaigns=20, seed=seed)
    dates = pd.date_range("2025-01-06", periods=len(market.campaigns), freq="7D")
    market = replace(market, campaigns=market.campaigns.assign(start_date=dates.date))
    lifts = market.outcomes["sales_lift_usd"].to_numpy()
    shuffled = replace(
        market,
        outcomes=market.outcomes.assign(
            sales_lift_usd=np.random.default_rng(seed).permutation(lifts)
        ),
    )
    write_market(market, folder / "real")
    write_market(shuffled, folder / "shuffled")
    return folder / "real", folder / "shuffled"


def evidence_of(ndcg: float | list[float], baseline: float = 0.0, campaigns: int = 12) -> Any:
    """Evidence of a model whose NDCG per campaign is `ndcg` (one value for every campaign, or
    one each), beside baselines at `baseline` on every campaign: what a gate can be handed
    without training."""
    import numpy as np

    from recommender.modeling import evaluation, evidence

    values = np.broadcast_to(np.asarray(ndcg, dtype=float), (campaigns,))
    index = pd.Index([f"c{i}" for i in range(campaigns)], name="campaign_id")
    columns = {evidence.MODEL: values, **{name: baseline for name in evaluation.BASELINES}}
    how = pd.Series("as fitted", index=index)
    return evidence.Evidence(pd.DataFrame(columns, index=index), "return per dollar", how)


def rename_fails(monkeypatch, folder: Path, number: int) -> None:
    """Make the `number`th rename into `folder` fail as on a full disk (ENOSPC), whatever
    call makes it: os.replace, os.rename, or renameat2's exchange (recommender._libc)."""
    import errno
    import itertools
    import os

    from recommender import _libc

    calls = itertools.count(1)

    def failing(real):
        def rename(source, target, *args, **kwargs):
            inside = os.path.dirname(os.path.realpath(target)) == os.path.realpath(folder)
            if inside and next(calls) == number:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
            return real(source, target, *args, **kwargs)

        return rename

    for owner, name in ((os, "replace"), (os, "rename"), (_libc, "exchange")):
        monkeypatch.setattr(owner, name, failing(getattr(owner, name)))


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file in `folder` (hidden ones too) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- what the integration tests share ------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]  # the repository
__all__ = ["NOTEBOOKS", "ROOT", "free_port", "one_line_error", "run_notebook", "wait_until_up"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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


def one_line_error(code: int, err: str, message: str) -> None:
    assert code == 1
    assert err.strip().startswith("error:") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def run_notebook(path: Path) -> list[dict[str, object]]:
    """Execute a notebook on a fresh kernel (with this process's environment); its errors."""
    book = nbformat.read(path, as_version=4)
    # A cell may train on the whole demo market (two fits and the gate's cross-fitting):
    # minutes on 2 cores, more while other work shares them.
    client = NotebookClient(book, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    client.execute()
    return [output for cell in book.cells for output in cell.get("outputs", [])
            if output.get("output_type") == "error"]  # fmt: skip
