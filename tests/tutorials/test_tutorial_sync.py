"""The two editions share their code, and each .ipynb matches its .py."""

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

from tests.tutorials._notebooks import LANGUAGES  # noqa: E402
from tests.tutorials._notebooks import code_cells  # noqa: E402
from tests.tutorials._notebooks import sources  # noqa: E402

ALL_SOURCES = [path for lang in LANGUAGES for path in sources(lang)]


def test_every_tutorial_has_both_editions():
    en = [p.name for p in sources("en")]
    ja = [p.name for p in sources("ja")]
    assert en, "no tutorials found"
    assert en == ja


@pytest.mark.parametrize("en_path", sources("en"), ids=lambda p: p.stem)
def test_japanese_code_cells_match_english(en_path):
    ja_path = en_path.parents[1] / "ja" / en_path.name
    en_code = code_cells(jupytext.read(en_path))
    ja_code = code_cells(jupytext.read(ja_path))
    assert len(ja_code) == len(en_code), "different number of code cells"
    for i, (en, ja) in enumerate(zip(en_code, ja_code)):
        assert ja == en, f"code cell {i} differs between en and ja"


@pytest.mark.parametrize(
    "py_path", ALL_SOURCES, ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_ipynb_is_generated_from_py_and_has_no_outputs(py_path):
    ipynb_path = py_path.with_suffix(".ipynb")
    assert ipynb_path.exists(), f"run: jupytext --to ipynb {py_path}"
    expected = jupytext.read(py_path)
    notebook = nbformat.read(ipynb_path, as_version=4)
    got = [(c.cell_type, c.source) for c in notebook.cells]
    want = [(c.cell_type, c.source) for c in expected.cells]
    assert got == want, f"out of sync: jupytext --to ipynb {py_path}"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], "outputs must be stripped"
            assert cell.execution_count is None
