"""Every notebook runs top to bottom on a fresh kernel (outputs are not kept in git)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


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


def run_notebook(path: Path) -> list[dict[str, object]]:
    """Execute a notebook on a fresh kernel (with this process's environment); its errors."""
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(book, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    client.execute()
    return [output for cell in book.cells for output in cell.get("outputs", [])
            if output.get("output_type") == "error"]  # fmt: skip
