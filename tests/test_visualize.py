import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.image import imread  # noqa: E402

from keras_attn import visualize  # noqa: E402

RNG = np.random.default_rng(0)


def _weights(*shape):
    w = RNG.random(shape).astype("float32")
    return w / w.sum(-1, keepdims=True)


def _save(fig, tmp_path, name):
    path = tmp_path / name
    fig.savefig(path)
    pixels = imread(path)  # (height, width, 4) floats in [0, 1]
    return path, pixels


def _assert_not_blank(path, pixels, min_bytes=2000):
    assert path.stat().st_size > min_bytes
    rgb = pixels[..., :3]
    # Not a single colour, and a real share of non-white pixels.
    assert rgb.std() > 0.05
    assert np.mean(rgb.min(-1) < 0.9) > 0.05


# Without a CJK font installed, matplotlib warns and draws boxes.
@pytest.mark.filterwarnings("ignore:Glyph .* missing")
def test_plot_attention_with_japanese_tokens(tmp_path):
    query = ["猫", "が", "座った"]
    keys = ["the", "cat", "sat", "down", "."]
    fig = visualize.plot_attention(_weights(3, 5), query, keys, title="対訳")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == query
    assert [t.get_text() for t in ax.get_xticklabels()] == keys
    path, pixels = _save(fig, tmp_path, "attention.png")
    _assert_not_blank(path, pixels)
    assert pixels.shape[:2] == (
        int(fig.get_figheight() * fig.dpi),
        int(fig.get_figwidth() * fig.dpi),
    )


def test_plot_attention_heads_grid(tmp_path):
    fig = visualize.plot_attention_heads(
        _weights(3, 3, 5), ["a", "b", "c"], list("vwxyz"), ncols=2
    )
    heatmaps = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert [ax.get_title() for ax in heatmaps] == ["head 0", "head 1", "head 2"]
    first, second, third = (ax.get_position() for ax in heatmaps)
    assert second.x0 > first.x0 and abs(second.y0 - first.y0) < 1e-6
    assert third.y0 < first.y0 and abs(third.x0 - first.x0) < 1e-6
    _assert_not_blank(*_save(fig, tmp_path, "heads.png"))


@pytest.mark.parametrize("pooled", [False, True])
def test_plot_sagan_attention(tmp_path, pooled):
    h, w = 4, 6
    image = RNG.random((h, w, 3)).astype("float32")
    keys = (h // 2) * (w // 2) if pooled else h * w
    attention = _weights(h * w, keys)
    fig = visualize.plot_sagan_attention(image, attention, (1, 2))
    assert fig.axes[0].get_title() == "attention of pixel (1, 2)"
    overlay = fig.axes[0].get_images()[1].get_array()
    expected = (
        attention[1 * w + 2].reshape(h // 2, w // 2)
        if pooled
        else (attention[1 * w + 2].reshape(h, w))
    )
    np.testing.assert_allclose(np.asarray(overlay), expected, atol=1e-7)
    _assert_not_blank(*_save(fig, tmp_path, f"sagan_{pooled}.png"))


def test_find_cjk_font_prefers_listed_cjk_family():
    assert visualize.find_cjk_font(["DejaVu Sans", "IPAexGothic"]) == (
        "IPAexGothic"
    )
    assert (
        visualize.find_cjk_font(["IPAexGothic", "Noto Sans CJK JP"])
        == "Noto Sans CJK JP"
    )
    assert visualize.find_cjk_font(["DejaVu Sans"]) is None


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"weights.shape=\(3,\)"):
        visualize.plot_attention(np.ones(3))
    with pytest.raises(ValueError, match=r"len\(key_tokens\)=2"):
        visualize.plot_attention(_weights(2, 3), key_tokens=["a", "b"])
    with pytest.raises(ValueError, match="ncols=0"):
        visualize.plot_attention_heads(_weights(2, 2, 3), ncols=0)
    with pytest.raises(ValueError, match=r"query_pixel=\(4, 0\)"):
        visualize.plot_sagan_attention(
            np.zeros((4, 6)), _weights(24, 24), (4, 0)
        )
    with pytest.raises(ValueError, match=r"attention.shape=\(24, 5\)"):
        visualize.plot_sagan_attention(
            np.zeros((4, 6)), _weights(24, 5), (0, 0)
        )


def test_japanese_labels_render_with_a_font_that_has_their_glyphs(tmp_path):
    """Not tofu: the font matplotlib resolves for the labels has the glyphs,
    and drawing warns about no missing glyph (the font comes with the
    `viz`/`zoo` extras, not from the system)."""
    import warnings

    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    query = ["猫", "が", "座った"]
    fig = visualize.plot_attention(_weights(3, 5), query, list("abcde"))
    label = fig.axes[0].get_yticklabels()[0]
    path = font_manager.findfont(label.get_fontproperties())
    font = FT2Font(path)
    for char in "猫が座った":
        assert font.get_char_index(ord(char)) != 0, (char, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "Glyph ... missing" would raise
        fig.savefig(tmp_path / "ja.png")
