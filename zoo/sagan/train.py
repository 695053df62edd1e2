"""Train and evaluate the SAGAN.

    python -m zoo train se-resnet --preset cpu      # the feature network
    python -m zoo train sagan --preset cpu
    python -m zoo train sagan --preset cpu --set attention_resolution=0 \\
        --workdir workdirs/sagan-noattn-cpu          # the ablation

writes `generator.keras` (the EMA generator when kept) and
`discriminator.keras`, `metrics.json` (FID-style and Inception-style scores
from the se-resnet classifier, see `zoo.metrics`), `plots/samples.png`,
`plots/real.png` and, with attention, `plots/attention_<row>_<col>.png`
(see `zoo.sagan.sampling`).
"""

import json
import pathlib

import keras
import tensorflow as tf

from zoo import harness
from zoo.data import fashion_mnist
from zoo.metrics import FeatureScorer
from zoo.sagan.config import config_from_workdir
from zoo.sagan.model import SAGAN
from zoo.sagan.model import build_networks
from zoo.sagan.sampling import sample
from zoo.sagan.sampling import write_plots
from zoo.se_resnet import feature_extractor

TRAIN_COMMAND = "python -m zoo train se-resnet"


def train_stream(split, config, seed=0):
    """The repeated training stream of dicts; element `i` = step `i`.

    Each element (see `zoo.sagan.model.SAGAN`) holds a shuffled batch of
    real `images (B, 32, 32, 1)` in [-1, 1] with `labels (B,)`, and noise
    `z_d`, `z_g (B, Z)` ~ N(0, I) with class labels `fake_labels_d`,
    `fake_labels_g` uniform over the 10 classes, drawn with stateless ops
    keyed on the step, so a resumed run sees the same noise.
    """
    images, labels = split
    batch = config.batch_size
    real = tf.data.Dataset.from_tensor_slices((images, labels))
    real = real.shuffle(len(images), seed=seed).repeat()
    real = real.batch(batch, drop_remainder=True)

    def add_noise(step, pair):
        keys = [
            tf.stack([tf.constant(seed + k, tf.int64), step])
            for k in (1, 2, 3, 4)
        ]
        shape = (batch, config.latent_dim)
        classes = fashion_mnist.NUM_CLASSES
        return {
            "images": pair[0],
            "labels": pair[1],
            "z_d": tf.random.stateless_normal(shape, keys[0]),
            "z_g": tf.random.stateless_normal(shape, keys[1]),
            "fake_labels_d": tf.random.stateless_uniform(
                (batch,), keys[2], 0, classes, tf.int32
            ),
            "fake_labels_g": tf.random.stateless_uniform(
                (batch,), keys[3], 0, classes, tf.int32
            ),
        }

    stream = tf.data.Dataset.zip(tf.data.Dataset.counter(), real)
    return stream.map(add_noise).prefetch(tf.data.AUTOTUNE)


def load_feature_net(workdir):
    """The trained classifier `<workdir>/model.keras` of an se-resnet run."""
    path = pathlib.Path(workdir) / "model.keras"
    if not path.exists():
        raise FileNotFoundError(
            "The FID-style score needs a trained SE-ResNet feature network, "
            f"but {str(path)!r} does not exist. Train it first with:\n"
            f"    {TRAIN_COMMAND} --preset cpu\n"
            "(or point `feature_net` at the work directory of one, e.g. "
            "--set feature_net=workdirs/se-resnet-cpu)."
        )
    return keras.saving.load_model(path)


def feature_scorer(workdir):
    """The `FeatureScorer` of the se-resnet run in `workdir`."""
    classifier = load_feature_net(workdir)
    return FeatureScorer(classifier, feature_extractor(classifier))


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


def _adam(learning_rate, config):
    return keras.optimizers.Adam(
        learning_rate, beta_1=config.beta_1, beta_2=config.beta_2
    )


def train(config, workdir, options=None):
    """Train on `config.data`; returns the metrics written to metrics.json."""
    options = options or harness.RunOptions()
    scorer = feature_scorer(config.feature_net)  # fail early
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    train_split, test_split = fashion_mnist.model_inputs(config.data)
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
        train_stream(train_split, config, seed=options.seed),
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
    scorer = feature_scorer(config.feature_net)
    generator = keras.saving.load_model(workdir / "generator.keras")
    _, test_split = fashion_mnist.model_inputs(config.data)
    metrics_path = workdir / "metrics.json"
    metrics = {}
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
    metrics.update(score(generator, scorer, test_split[0], config.eval_samples))
    harness.save_json(metrics_path, metrics)
    return metrics
