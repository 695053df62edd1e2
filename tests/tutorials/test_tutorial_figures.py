"""The tutorials' figures render Japanese labels with a Japanese font."""

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
if importlib.util.find_spec("matplotlib_fontja") is None:  # (not imported)
    pytest.skip("matplotlib-fontja not installed", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parents[2] / "tutorials"))

from exercises import common  # noqa: E402


def test_japanese_labels_have_their_glyphs():
    """No "Glyph ... missing from font" warning (empty boxes) when a
    figure with Japanese labels is shown, and `show` hides no warning."""
    fig = common.figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0], label="注意の重み")
    ax.set_title("エンコーダの自己アテンション")
    ax.set_xlabel("キー")
    ax.legend()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        common.show(fig)
    missing = [str(w.message) for w in caught if "missing" in str(w.message)]
    assert missing == []


def test_show_does_not_hide_a_missing_glyph():
    """A glyph that no font has (a private-use character) still warns, so
    the test above would see a missing Japanese font."""
    fig = common.figure()
    fig.add_subplot().set_title("\ue000")
    with pytest.warns(UserWarning, match="Glyph 57344 .*missing from font"):
        common.show(fig)


def test_label_language_follows_the_notebook(monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "ja")
    assert common.tr("key", "キー") == "キー"
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "en")
    assert common.tr("key", "キー") == "key"
