"""Where the tutorials live, shared by the tutorial tests."""

import re
from pathlib import Path

TUTORIALS = Path(__file__).parents[2] / "tutorials"
LANGUAGES = ("en", "ja")


def sources(language):
    """The py:percent sources (the source of truth) of one edition."""
    return sorted((TUTORIALS / language).glob("[0-9][0-9]_*.py"))


def code_cells(notebook):
    return [c.source for c in notebook.cells if c.cell_type == "code"]


def stream_text(notebook, name="stdout"):
    """Everything an executed notebook's code cells printed to `name`."""
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == name
    )


GRADED = re.compile(r"^checks\.(check_\w+)\(", re.MULTILINE)


def graded_exercises(source_path):
    """The checks (`checks.check_*(...)` lines) that the py:percent source
    of a notebook calls, one per graded exercise, in order."""
    return GRADED.findall(Path(source_path).read_text(encoding="utf-8"))


def exercise_check_count(source_path):
    """How many graded exercises the source of a notebook has."""
    return len(graded_exercises(source_path))
