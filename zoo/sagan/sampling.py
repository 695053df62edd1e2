"""`python -m zoo sample <workdir>`: a grid of images from a trained SAGAN.

Reuses the training script's sampler and grid plot; the grid has 10
columns and, when the generator is class-conditional, a row per class.
"""

import pathlib

import keras
import numpy as np

from zoo import fashion_mnist
from zoo.sagan.train import SAMPLE_SEED
from zoo.sagan.train import _save_grid
from zoo.sagan.train import config_from_workdir
from zoo.sagan.train import sample

COLUMNS = 10


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
    _save_grid(out, images, title, columns=COLUMNS)
    return out
