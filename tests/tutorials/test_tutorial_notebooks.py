"""Every tutorial notebook executes in small mode (what CI runs).

Tutorials 2 and 3 (English) run in the default suite; the others, and the
Japanese editions (same code, checked by test_tutorial_sync), are `slow`.
"""

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

from tests.tutorials._notebooks import LANGUAGES  # noqa: E402
from tests.tutorials._notebooks import exercise_check_count  # noqa: E402
from tests.tutorials._notebooks import sources  # noqa: E402
from tests.tutorials._notebooks import stream_text  # noqa: E402

DEFAULT_SUITE = {
    ("en", "02_scaled_dot_product_attention"),
    ("en", "03_multi_head_attention"),
}


def _params():
    for language in LANGUAGES:
        for path in sources(language):
            fast = (language, path.stem) in DEFAULT_SUITE
            marks = () if fast else (pytest.mark.slow,)
            yield pytest.param(
                path.with_suffix(".ipynb"),
                marks=marks,
                id=f"{language}/{path.stem}",
            )


@pytest.mark.parametrize("ipynb_path", _params())
def test_notebook_executes_in_small_mode(ipynb_path, monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_SMALL", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    notebook = nbformat.read(ipynb_path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ipynb_path.parent)}},
    )
    # A last cell reports the mode the kernel itself saw.
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import exercises.common\n"
            "print('SMALL MODE:', exercises.common.SMALL)"
        )
    )
    client.execute()  # raises CellExecutionError at the first failing cell
    # Every code cell ran, in order.
    counts = [
        c.execution_count for c in notebook.cells if c.cell_type == "code"
    ]
    assert counts == list(range(1, len(counts) + 1))
    stdout = stream_text(notebook)
    assert stdout.rstrip().endswith("SMALL MODE: True")
    # Each graded exercise's check ran and printed its verdict (✓ correct,
    # or ✗ naming the mistake).
    verdicts = [
        line for line in stdout.splitlines() if line.startswith(("✓", "✗"))
    ]
    assert len(verdicts) == exercise_check_count(ipynb_path.with_suffix(".py"))
