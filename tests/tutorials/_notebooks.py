"""Where the tutorials live, shared by the tutorial tests."""

from pathlib import Path

TUTORIALS = Path(__file__).parents[2] / "tutorials"
LANGUAGES = ("en", "ja")


def sources(language):
    """The py:percent sources (the source of truth) of one edition."""
    return sorted((TUTORIALS / language).glob("[0-9][0-9]_*.py"))


def code_cells(notebook):
    return [c.source for c in notebook.cells if c.cell_type == "code"]
