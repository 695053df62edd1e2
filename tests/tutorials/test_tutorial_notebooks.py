"""Every tutorial notebook executes in small mode (what CI runs).

The notebooks are committed with their exercise blanks `___` empty, so the
tests run them with `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`: each exercise cell
then swaps in the reference answer from `exercises/solutions.py`, says so,
and its check grades that answer. Without it, a notebook stops at its first
exercise with the hint in its own language (tested on tutorial 2).

Tutorials 2 and 3 (English) run in the default suite; the others, and the
Japanese editions (same code, checked by test_tutorial_sync), are `slow`.
"""

import re

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

from tests.tutorials._notebooks import LANGUAGES  # noqa: E402
from tests.tutorials._notebooks import TUTORIALS  # noqa: E402
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


def _environment(monkeypatch, solutions):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_SMALL", "1")
    # Not TF_CPP_MIN_LOG_LEVEL: the notebooks must keep TensorFlow's
    # start-up lines out by themselves (exercises/__init__.py).
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    # ipykernel captures what C++ writes to stderr (file descriptor 2), as
    # Jupyter shows it, only when not under pytest.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # The language comes from the notebook's folder (the kernel's cwd).
    monkeypatch.delenv("KERAS_ATTN_TUTORIAL_LANG", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    if solutions:
        monkeypatch.setenv("KERAS_ATTN_TUTORIAL_SOLUTIONS", "1")
    else:
        monkeypatch.delenv("KERAS_ATTN_TUTORIAL_SOLUTIONS", raising=False)


def _client(notebook, ipynb_path):
    return nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ipynb_path.parent)}},
    )


@pytest.mark.parametrize("ipynb_path", _params())
def test_notebook_executes_in_small_mode(ipynb_path, monkeypatch):
    _environment(monkeypatch, solutions=True)
    notebook = nbformat.read(ipynb_path, as_version=4)
    client = _client(notebook, ipynb_path)
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
    # No TensorFlow start-up line that reads like a failure.
    printed = stdout + stream_text(notebook, "stderr")
    noise = [x for x in printed.splitlines() if _STARTUP_NOISE.search(x)]
    assert noise == [], noise
    # Each graded exercise said that it used the reference answer, and its
    # check graded it (✓) in the notebook's language.
    graded = exercise_check_count(ipynb_path.with_suffix(".py"))
    lines = stdout.splitlines()
    swapped = [
        line for line in lines if "KERAS_ATTN_TUTORIAL_SOLUTIONS=1" in line
    ]
    verdicts = [line for line in lines if line.startswith(("✓", "✗"))]
    assert len(swapped) == graded
    assert len(verdicts) == graded
    assert all(line.startswith("✓") for line in verdicts)
    japanese = ipynb_path.parent.name == "ja"
    assert all(bool(_CJK.search(line)) == japanese for line in verdicts)


_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_STARTUP_NOISE = re.compile(
    r"cuda drivers|cuInit|CUDA error|oneDNN|cpu_feature_guard"
    r"|absl::InitializeLog|This TensorFlow binary is optimized",
    re.IGNORECASE,
)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_notebook_stops_at_an_unfilled_exercise(language, monkeypatch):
    """Without the solutions, tutorial 2 stops at its exercise, showing
    only the hint (no traceback), in the notebook's language."""
    _environment(monkeypatch, solutions=False)
    ipynb_path = TUTORIALS / language / "02_scaled_dot_product_attention.ipynb"
    notebook = nbformat.read(ipynb_path, as_version=4)
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        _client(notebook, ipynb_path).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    failed = [
        i
        for i, cell in enumerate(code)
        if any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    ]
    assert len(failed) == 1
    cell = code[failed[0]]
    assert "checks.check_attention(attention)" in cell.source
    assert all(c.execution_count is None for c in code[failed[0] + 1 :])
    (error,) = [o for o in cell.outputs if o.output_type == "error"]
    assert error.ename == "ExerciseError"
    shown = "\n".join(error.traceback)
    assert "Traceback" not in shown and "File " not in shown
    assert shown.startswith("✗ `attention`")
    assert "scores = scores / ___" in shown
    assert bool(_CJK.search(shown)) == (language == "ja")
