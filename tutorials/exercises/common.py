"""Small mode, seeding and figure display shared by every tutorial.

Set `KERAS_ATTN_TUTORIAL_SMALL=1` to shrink data and epochs so that a
notebook runs in well under a minute on two CPU cores (what CI does). The
numbers a notebook prints are then meaningless; the code paths are the same.
"""

import io
import os

os.environ.setdefault("MPLBACKEND", "Agg")

try:  # a Japanese font for the figures' labels (setup.cfg installs it)
    import matplotlib_fontja  # noqa: F401
except ImportError:  # without it, Japanese labels warn "Glyph ... missing"
    pass

SMALL = os.environ.get("KERAS_ATTN_TUTORIAL_SMALL", "") not in ("", "0")


def pick(small, full):
    """`small` in small mode, else `full` (sizes, epochs, steps)."""
    return small if SMALL else full


def figure(width=5.0, height=3.5):
    """A headless `matplotlib.figure.Figure` (object API, no pyplot)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def tr(english, japanese):
    """A figure label in the notebook's language (`feedback.language()`)."""
    from .feedback import language

    return japanese if language() == "ja" else english


def show(fig):
    """Display a Figure inline in Jupyter as a PNG; a no-op elsewhere.

    Rendering warnings are not hidden: a "Glyph ... missing from font"
    warning means a label would show as empty boxes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    try:
        from IPython import get_ipython
        from IPython.display import Image
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        display(Image(buffer.getvalue()))
