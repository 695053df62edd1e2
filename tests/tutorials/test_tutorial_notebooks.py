"""Every tutorial notebook executes in small mode (what CI runs).

Tutorials 2 and 3 (English) run in the default suite; the others, and the
Japanese editions (same code, checked by test_tutorial_sync), are `slow`.
"""

import os

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

from tests.tutorials._notebooks import LANGUAGES  # noqa: E402
from tests.tutorials._notebooks import sources  # noqa: E402

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
    client.execute()  # raises CellExecutionError with the failing cell
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert os.environ["KERAS_ATTN_TUTORIAL_SMALL"] == "1"
