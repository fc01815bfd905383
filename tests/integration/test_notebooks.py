"""Every notebook runs top to bottom on a fresh kernel (outputs are not kept in git)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from helpers import NOTEBOOKS, run_notebook


def test_there_are_three_notebooks_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01-explore-creators.ipynb", "02-train-and-compare.ipynb", "03-plan-a-campaign.ipynb",
    ]  # fmt: skip
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), path


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path):
    assert not run_notebook(path)
