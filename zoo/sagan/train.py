"""Train and evaluate the SAGAN; sample grids and attention overlays.

    python -m zoo train se-resnet --preset cpu      # the feature network
    python -m zoo train sagan --preset cpu
    python -m zoo train sagan --preset cpu --set attention_resolution=0 \\
        --workdir workdirs/sagan-noattn-cpu          # the ablation

writes `generator.keras` (the EMA generator when kept) and
`discriminator.keras`, `metrics.json` (FID-style and Inception-style scores,
see `zoo.sagan.metrics`), `plots/samples.png`, `plots/real.png` and, with
attention, `plots/attention_<row>_<col>.png`.
"""

import json
import pathlib

import keras
import numpy as np

from zoo import fashion_mnist
from zoo import harness
from zoo.sagan import data
from zoo.sagan.config import Config
from zoo.sagan.metrics import FeatureScorer
from zoo.sagan.metrics import load_feature_net
from zoo.sagan.model import SAGAN
from zoo.sagan.model import build_networks

QUERY_PIXELS = ((16, 16), (9, 16), (24, 12))
SAMPLE_SEED = 1234


def config_from_workdir(workdir):
    """The `Config` a work directory was trained with."""
    fields = dict(harness.read_config(workdir)["config"])
    for name in ("generator_channels", "discriminator_channels"):
        fields[name] = tuple(fields[name])
    return Config(**fields)


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


def score(generator, scorer, real_images, num_samples):
    """FID-style and Inception-style scores of `num_samples` samples."""
    fakes, _ = sample(generator, num_samples)
    real = real_images[:num_samples]
    is_mean, is_std = scorer.inception_style(fakes)
    return {
        "fid_style": scorer.fid_style(real, fakes),
        "inception_style": is_mean,
        "inception_style_std": is_std,
        "eval_samples": int(num_samples),
    }


def _save_grid(path, images, title, columns=10):
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


def write_plots(generator, real_images, plots_dir, title):
    """Sample grid (a row per class when conditional), real grid, overlays."""
    from keras_attn.visualize import plot_sagan_attention

    plots_dir = pathlib.Path(plots_dir)
    labels = np.repeat(np.arange(10), 10)  # row = class
    fakes, _ = sample(generator, 100, labels=labels)
    _save_grid(plots_dir / "samples.png", fakes, title)
    _save_grid(plots_dir / "real.png", real_images[:100], "real test images")
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


def _first_z(generator):
    rng = np.random.default_rng(SAMPLE_SEED)
    return rng.standard_normal((1, generator.latent_dim)).astype("float32")


def _adam(learning_rate, config):
    return keras.optimizers.Adam(
        learning_rate, beta_1=config.beta_1, beta_2=config.beta_2
    )


def train(config, workdir, options=None):
    """Train on `config.data`; returns the metrics written to metrics.json."""
    options = options or harness.RunOptions()
    scorer = FeatureScorer(load_feature_net(config.feature_net))  # fail early
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    train_split, test_split = data.load_images(config)
    with strategy.scope():
        generator, discriminator = build_networks(config)
        model = SAGAN(generator, discriminator, ema_decay=config.ema_decay)
        model.compile(
            _adam(config.d_learning_rate, config),
            _adam(config.g_learning_rate, config),
            jit_compile=options.jit_compile,
        )
    history, seconds = harness.fit(
        model,
        data.train_stream(train_split, config, seed=options.seed),
        steps_per_epoch=config.steps_per_epoch,
        epochs=config.epochs,
        workdir=workdir,
        options=options,
    )
    model.sampler.save(workdir / "generator.keras")
    discriminator.save(workdir / "discriminator.keras")
    harness.save_json(workdir / "history.json", history)
    metrics = score(model.sampler, scorer, test_split[0], config.eval_samples)
    reference = scorer.fid_style(
        train_split[0][: config.eval_samples],
        test_split[0][: config.eval_samples],
    )
    metrics.update(
        {
            "fid_style_real_train_vs_test": reference,
            "inception_style_real_test": scorer.inception_style(
                test_split[0][: config.eval_samples]
            )[0],
            "attention_resolution": config.attention_resolution or 0,
            "steps": config.steps_per_epoch * config.epochs,
            "train_seconds": round(seconds, 1),
            "generator_parameters": int(generator.count_params()),
            "discriminator_parameters": int(discriminator.count_params()),
            "feature_net": str(config.feature_net),
        }
    )
    harness.save_json(workdir / "metrics.json", metrics)
    attention = config.attention_resolution or "off"
    write_plots(
        model.sampler,
        test_split[0],
        workdir / "plots",
        f"SAGAN samples (attention {attention}, {metrics['steps']} steps)"
        + ("; row = class" if config.conditional else ""),
    )
    return metrics


def evaluate(workdir):
    """Re-score `<workdir>/generator.keras`; updates metrics.json."""
    workdir = pathlib.Path(workdir)
    config = config_from_workdir(workdir)
    scorer = FeatureScorer(load_feature_net(config.feature_net))
    generator = keras.saving.load_model(workdir / "generator.keras")
    _, test_split = data.load_images(config)
    metrics_path = workdir / "metrics.json"
    metrics = {}
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
    metrics.update(score(generator, scorer, test_split[0], config.eval_samples))
    harness.save_json(metrics_path, metrics)
    return metrics
