"""Attention plots that work headless and return a `matplotlib` Figure.

Figures are built with the object API (`matplotlib.figure.Figure`), never
`pyplot`, so nothing touches global state or needs a display; save them with
`fig.savefig(path)`. matplotlib is imported lazily (the `viz` extra).

Token labels may be Japanese: a font with CJK glyphs is used for the labels,
either one installed on the system (Noto Sans CJK, IPAexGothic, ...) or the
IPAexGothic that the `matplotlib-fontja` package ships (installed with the
`viz` and `zoo` extras; only its font file is registered, matplotlib's
global settings are left alone). Without either, the default font is kept
and missing glyphs render as boxes, without error.
"""

import importlib.util
import os
import warnings

import numpy as np

# Families with CJK glyphs, most preferred first.
CJK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "Noto Serif CJK JP",
    "Source Han Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "IPAPGothic",
    "TakaoGothic",
    "VL Gothic",
    "Hiragino Sans",
    "Yu Gothic",
    "MS Gothic",
    "Noto Sans CJK SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "Unifont",
)


def find_cjk_font(available=None):
    """Name of an installed font family with CJK glyphs, or None.

    Args:
        available: family names to choose from; defaults to the fonts
            matplotlib knows.
    """
    if available is None:
        from matplotlib import font_manager

        available = {f.name for f in font_manager.fontManager.ttflist}
        found = next((n for n in CJK_FONTS if n in available), None)
        return found or _register_bundled_font(font_manager)
    available = set(available)
    return next((name for name in CJK_FONTS if name in available), None)


def _register_bundled_font(font_manager):
    """Add the IPAexGothic file of `matplotlib-fontja`; its family or None.

    Only the font file is registered: importing the package would change
    matplotlib's global `font.family`.
    """
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "fonts", "ipaexg.ttf")
    if not os.path.exists(path):
        return None
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _label_font():
    """Font family list for tick labels: CJK first when installed."""
    cjk = find_cjk_font()
    return ["DejaVu Sans"] if cjk is None else [cjk, "DejaVu Sans"]


def _as_array(x, name, ndim):
    x = np.asarray(x, dtype="float32")
    if x.ndim != ndim:
        raise ValueError(
            f"`{name}` must have {ndim} axes. Received: {name}.shape={x.shape}"
        )
    return x


def _draw_heatmap(fig, ax, weights, query_tokens, key_tokens, title):
    image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
    font = _label_font()
    for tokens, length, set_ticks, set_labels, name in (
        (
            query_tokens,
            weights.shape[0],
            ax.set_yticks,
            ax.set_yticklabels,
            "query_tokens",
        ),
        (
            key_tokens,
            weights.shape[1],
            ax.set_xticks,
            ax.set_xticklabels,
            "key_tokens",
        ),
    ):
        if tokens is None:
            continue
        if len(tokens) != length:
            raise ValueError(
                f"`{name}` must have {length} entries to match the weights. "
                f"Received: len({name})={len(tokens)}"
            )
        set_ticks(range(length))
        set_labels([str(t) for t in tokens], fontfamily=font)
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title, fontfamily=font)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def _finish(fig):
    """Lay out once with glyph warnings silenced (missing CJK fonts)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        warnings.filterwarnings("ignore", message=".*findfont.*")
        fig.tight_layout()
    return fig


def plot_attention(weights, query_tokens=None, key_tokens=None, title=None):
    """Heatmap of one attention matrix.

    Args:
        weights: `(T, S)` attention weights (rows are queries).
        query_tokens: optional T labels for the rows.
        key_tokens: optional S labels for the columns.
        title: optional title.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
    >>> fig = plot_attention([[0.9, 0.1], [0.3, 0.7]], ["猫", "が"], ["a", "b"])
    >>> type(fig).__name__
    'Figure'
    """
    from matplotlib.figure import Figure

    weights = _as_array(weights, "weights", 2)
    t, s = weights.shape
    fig = Figure(figsize=(1.0 + 0.45 * s, 1.0 + 0.45 * t), dpi=100)
    ax = fig.add_subplot()
    _draw_heatmap(fig, ax, weights, query_tokens, key_tokens, title)
    return _finish(fig)


def plot_attention_heads(
    weights, query_tokens=None, key_tokens=None, ncols=4, title=None
):
    """Grid of heatmaps, one per attention head.

    Args:
        weights: `(N, T, S)` weights of N heads (one example).
        query_tokens: optional T labels.
        key_tokens: optional S labels.
        ncols: positive int, heads per row.
        title: optional figure title.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure

    weights = _as_array(weights, "weights", 3)
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(
            f"`ncols` must be a positive integer. Received: ncols={ncols}"
        )
    heads, t, s = weights.shape
    ncols = min(ncols, heads)
    nrows = -(-heads // ncols)
    fig = Figure(
        figsize=(ncols * (1.5 + 0.4 * s), nrows * (1.2 + 0.4 * t)), dpi=100
    )
    for head in range(heads):
        ax = fig.add_subplot(nrows, ncols, head + 1)
        _draw_heatmap(
            fig, ax, weights[head], query_tokens, key_tokens, f"head {head}"
        )
    if title:
        fig.suptitle(title, fontfamily=_label_font())
    return _finish(fig)


def plot_sagan_attention(image, attention, query_pixel, alpha=0.6):
    """Overlay a SAGAN attention map for one query pixel on the image.

    Args:
        image: `(H, W)` or `(H, W, 3)` image (channels last), any range.
        attention: `(H·W, keys)` map of one example, as returned by
            `SelfAttention2D(..., return_attention_scores=True)`; `keys` is
            H·W, or `(H // 2)·(W // 2)` with pooled keys.
        query_pixel: `(row, col)` of the query.
        alpha: opacity of the attention overlay.

    Returns:
        A `matplotlib.figure.Figure` with the query pixel marked.
    """
    from matplotlib.figure import Figure

    image = np.asarray(image, dtype="float32")
    if image.ndim not in (2, 3):
        raise ValueError(
            "`image` must be (H, W) or (H, W, C). Received: "
            f"image.shape={image.shape}"
        )
    height, width = image.shape[:2]
    attention = _as_array(attention, "attention", 2)
    if attention.shape[0] != height * width:
        raise ValueError(
            "`attention` must have H·W rows for the image. Received: "
            f"attention.shape={attention.shape}, image.shape={image.shape}"
        )
    row, col = query_pixel
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(
            f"`query_pixel` must lie in the {height}×{width} image. "
            f"Received: query_pixel={tuple(query_pixel)}"
        )
    keys = attention.shape[1]
    if keys == height * width:
        key_grid = (height, width)
    elif keys == (height // 2) * (width // 2):
        key_grid = (height // 2, width // 2)
    else:
        raise ValueError(
            "`attention` must have H·W or (H//2)·(W//2) key columns. "
            f"Received: attention.shape={attention.shape}, "
            f"image.shape={image.shape}"
        )
    heat = attention[row * width + col].reshape(key_grid)
    low, high = float(image.min()), float(image.max())
    shown = (image - low) / (high - low) if high > low else image * 0.0
    fig = Figure(figsize=(4.0, 4.0 * height / width + 0.5), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None)
    overlay = ax.imshow(
        heat,
        cmap="jet",
        alpha=alpha,
        extent=(-0.5, width - 0.5, height - 0.5, -0.5),
        interpolation="nearest",
    )
    ax.plot([col], [row], marker="x", color="white", markersize=10, mew=2)
    ax.set_title(f"attention of pixel ({row}, {col})")
    ax.set_axis_off()
    fig.colorbar(overlay, ax=ax, fraction=0.046, pad=0.04)
    return _finish(fig)
