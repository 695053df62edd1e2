"""Images from a SAGAN generator: samples, grids, attention overlays.

The image counterpart of a translator's `decode.py`: `sample` draws
deterministic samples, `write_plots` the grids and attention overlays a
training run saves, and `write_sample_grid` is `python -m zoo sample
<workdir>` (10 columns and, when the generator is class-conditional, a row
per class).
"""

import pathlib

import keras
import numpy as np

from zoo.data import fashion_mnist
from zoo.sagan.config import config_from_workdir

QUERY_PIXELS = ((16, 16), (9, 16), (24, 12))
SAMPLE_SEED = 1234
COLUMNS = 10


def sample(generator, num_samples, seed=SAMPLE_SEED, labels=None):
    """`(images (N, 32, 32, 1) in [-1, 1], labels (N,))`, deterministic.

    Labels default to `i % 10` (balanced); they are ignored by an
    unconditional generator.
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((num_samples, generator.latent_dim))
    if labels is None:
        labels = np.arange(num_samples) % fashion_mnist.NUM_CLASSES
    labels = np.asarray(labels, "int32")
    images = []
    for start in range(0, num_samples, 500):
        chunk = slice(start, start + 500)
        images.append(
            keras.ops.convert_to_numpy(
                generator(
                    z[chunk].astype("float32"),
                    labels[chunk] if generator.num_classes else None,
                    training=False,
                )
            )
        )
    return np.concatenate(images), labels


def save_grid(path, images, title, columns=COLUMNS):
    """Images `(N, 32, 32, 1)` in [-1, 1] as a PNG grid of `columns`."""
    from matplotlib.figure import Figure

    rows = len(images) // columns
    tiles = images[: rows * columns, ..., 0].reshape(rows, columns, 32, 32)
    grid = tiles.transpose(0, 2, 1, 3).reshape(rows * 32, columns * 32)
    fig = Figure(figsize=(columns * 0.6, rows * 0.6 + 0.4), dpi=100)
    ax = fig.add_subplot()
    ax.imshow((grid + 1.0) / 2.0, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_axis_off()
    fig.savefig(path, bbox_inches="tight")


def attention_at_image_resolution(scores, side, image_size=32):
    """Map G's attention `(side², (side/2)²)` onto image pixels.

    Query rows are repeated (nearest) and each pooled key cell is split
    evenly over the `f×f` pixels it covers (`f = image_size // side`), so
    rows still sum to 1: `(image_size², (image_size/2)²)`, the layout
    `plot_sagan_attention` takes for a 32×32 image.
    """
    factor = image_size // side
    keys = side // 2
    grid = np.asarray(scores).reshape(side, side, keys, keys)
    for axis in range(4):
        grid = np.repeat(grid, factor, axis=axis)
    grid = grid / factor**2  # key mass split over the repeated cells
    return grid.reshape(image_size**2, (image_size // 2) ** 2)


def _first_z(generator):
    rng = np.random.default_rng(SAMPLE_SEED)
    return rng.standard_normal((1, generator.latent_dim)).astype("float32")


def write_plots(generator, real_images, plots_dir, title):
    """Sample grid (a row per class when conditional), real grid, overlays."""
    from keras_attn.visualize import plot_sagan_attention

    plots_dir = pathlib.Path(plots_dir)
    labels = np.repeat(np.arange(10), 10)  # row = class
    fakes, _ = sample(generator, 100, labels=labels)
    save_grid(plots_dir / "samples.png", fakes, title)
    save_grid(plots_dir / "real.png", real_images[:100], "real test images")
    if not generator.attention_resolution:
        return
    image, scores = generator(
        _first_z(generator),
        np.array([0], "int32") if generator.num_classes else None,
        training=False,
        return_attention_scores=True,
    )
    side = generator.attention_resolution
    attention = attention_at_image_resolution(
        keras.ops.convert_to_numpy(scores)[0], side
    )
    for row, col in QUERY_PIXELS:
        fig = plot_sagan_attention(
            keras.ops.convert_to_numpy(image)[0, ..., 0], attention, (row, col)
        )
        fig.savefig(plots_dir / f"attention_{row}_{col}.png")


def write_sample_grid(workdir, num_images=100, seed=SAMPLE_SEED, out=None):
    """Write `num_images` samples of `<workdir>/generator.keras` as a PNG.

    Args:
        workdir: a finished `python -m zoo train sagan` work directory.
        num_images: a positive multiple of 10 (one grid row = 10 images).
        seed: seed of the noise; the same seed gives the same grid.
        out: the PNG path; default `<workdir>/plots/samples_seed<seed>.png`.

    Returns:
        The path written.
    """
    if num_images < COLUMNS or num_images % COLUMNS:
        raise ValueError(
            "`num_images` must be a positive multiple of 10. Received: "
            f"num_images={num_images}"
        )
    workdir = pathlib.Path(workdir)
    config = config_from_workdir(workdir)
    generator = keras.saving.load_model(workdir / "generator.keras")
    rows = np.arange(num_images) // COLUMNS
    labels = rows % fashion_mnist.NUM_CLASSES  # row = class
    images, _ = sample(generator, num_images, seed=seed, labels=labels)
    out = pathlib.Path(out or workdir / "plots" / f"samples_seed{seed}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"SAGAN samples (seed {seed})"
    if config.conditional:
        title += "; row = class"
    save_grid(out, images, title, columns=COLUMNS)
    return out
