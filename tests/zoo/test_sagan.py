"""Tests of the sagan zoo model: spectral-norm steps, EMA, scores, e2e."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from zoo import metrics
from zoo import sagan
from zoo import se_resnet
from zoo.data import fashion_mnist
from zoo.harness import RunOptions
from zoo.sagan.sampling import attention_at_image_resolution
from zoo.sagan.train import feature_scorer
from zoo.sagan.train import train_stream

TINY = dataclasses.replace(sagan.PRESETS["tiny"], ema_decay=0.5)


# Fréchet distance and Inception-style score -------------------------------


def _random_covariance(rng, dim):
    a = rng.normal(size=(dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


def test_frechet_distance_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    mu_1, mu_2 = rng.normal(size=5), rng.normal(size=5)
    s_1, s_2 = _random_covariance(rng, 5), _random_covariance(rng, 5)
    root = linalg.sqrtm(s_1 @ s_2).real
    expected = np.sum((mu_1 - mu_2) ** 2) + np.trace(s_1 + s_2 - 2.0 * root)
    got = metrics.frechet_distance(mu_1, s_1, mu_2, s_2)
    assert got == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    # N(μ₁, diag a) vs N(μ₂, diag b): ‖μ₁−μ₂‖² + Σ (√a − √b)².
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu_1, mu_2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    got = metrics.frechet_distance(mu_1, np.diag(a), mu_2, np.diag(b))
    assert got == pytest.approx(5.0 + 1.0 + 1.0 + 0.0, abs=1e-10)


def test_frechet_distance_of_features_zero_then_known_shift():
    features = np.random.default_rng(1).normal(size=(200, 6))
    same = metrics.frechet_distance_of_features(features, features.copy())
    assert same == pytest.approx(0.0, abs=1e-9)
    for size in (0.5, 1.0, 2.0):
        shift = np.full(6, size)  # same covariance: d² = ‖δ‖²
        got = metrics.frechet_distance_of_features(features, features + shift)
        assert got == pytest.approx(6 * size**2, rel=1e-6)


def test_inception_style_score_bounds():
    confident = np.eye(10)[np.arange(100) % 10]  # sure, all classes
    assert metrics.inception_style_score(confident, splits=1)[0] == (
        pytest.approx(10.0, rel=1e-6)
    )
    constant = np.tile(np.eye(10)[3], (100, 1))  # one class only
    assert metrics.inception_style_score(constant, splits=2)[0] == (
        pytest.approx(1.0, abs=1e-6)
    )


@pytest.fixture(scope="module")
def feature_net(tmp_path_factory):
    """An (untrained) tiny SE-ResNet saved as a feature-net work dir."""
    keras.utils.set_random_seed(0)
    workdir = tmp_path_factory.mktemp("feature-net")
    config = se_resnet.PRESETS["tiny"]
    se_resnet.build_classifier(config).save(workdir / "model.keras")
    return workdir


def test_fid_style_score_zero_on_identical_sets_and_grows(feature_net):
    scorer = feature_scorer(feature_net)
    images, _ = fashion_mnist.synthetic_images(64, seed=2)
    x = fashion_mnist.to_model_input(images)
    assert scorer.fid_style(x, x.copy()) == pytest.approx(0.0, abs=1e-6)
    scores = [scorer.fid_style(x, x + shift) for shift in (0.1, 0.3, 0.6)]
    assert 1e-4 < scores[0] < scores[1] < scores[2]


def test_missing_feature_net_names_the_train_command(tmp_path):
    config = dataclasses.replace(TINY, feature_net=str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="python -m zoo train se-"):
        sagan.train(config, tmp_path / "run", RunOptions(verbose=0))
    assert not (tmp_path / "run").exists()


# Networks ------------------------------------------------------------------


def test_config_checks_types_and_ranges_from_python():
    # The shared `check_fields`: the same rules as `--set` at the CLI.
    with pytest.raises(ValueError, match="beta_2=1.0"):
        sagan.Config(beta_2=1.0)  # Adam's beta must be in [0, 1)
    with pytest.raises(ValueError, match="ema_decay=0"):
        sagan.Config(ema_decay=0)
    with pytest.raises(ValueError, match="type bool. Received: conditional=1"):
        sagan.Config(conditional=1)
    with pytest.raises(ValueError, match="generator_channels=\\(16,\\)"):
        sagan.Config(generator_channels=[16])
    assert sagan.Config(ema_decay=None).ema_decay is None
    # A config read back from config.json (tuples become lists) is equal.
    record = json.loads(json.dumps(dataclasses.asdict(TINY)))
    assert record["generator_channels"] == [16, 8, 8, 4]
    assert sagan.Config(**record) == TINY


def test_bad_attention_resolution_names_the_argument():
    with pytest.raises(ValueError, match="attention_resolution=12"):
        sagan.Generator(8, (16, 8, 8, 4), attention_resolution=12)


def test_attention_map_at_image_resolution():
    side, keys = 4, 2  # a 4×4 map with 2×2 pooled keys, on an 8×8 image
    scores = np.zeros((side * side, keys * keys))
    scores[:, 3] = 1.0  # every query attends the last key cell
    mapped = attention_at_image_resolution(scores, side, image_size=8)
    assert mapped.shape == (64, 16)
    np.testing.assert_allclose(mapped.sum(axis=1), 1.0)
    grid = mapped[0].reshape(4, 4)  # keys of the 8×8 image: 4×4
    np.testing.assert_allclose(grid[2:, 2:], 0.25)
    np.testing.assert_allclose(grid[:2].sum() + grid[:, :2].sum(), 0.0)


@pytest.mark.parametrize("attention", [16, 0])
def test_both_networks_save_and_reload(tmp_path, attention):
    config = dataclasses.replace(TINY, attention_resolution=attention)
    generator, discriminator = sagan.build_networks(config)
    z = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    labels = np.array([0, 4, 9], "int32")
    images = generator(z, labels, training=False)
    assert tuple(images.shape) == (3, 32, 32, 1)
    logits = discriminator(images, labels, training=False)
    for net in (generator, discriminator):
        net.save(tmp_path / f"{net.name}.keras")
    g = keras.saving.load_model(tmp_path / "generator.keras")
    d = keras.saving.load_model(tmp_path / "discriminator.keras")
    np.testing.assert_allclose(g(z, labels, training=False), images, atol=1e-6)
    np.testing.assert_allclose(
        d(images, labels, training=False), logits, atol=1e-5
    )


# One training step: spectral norm and EMA ---------------------------------


def _snapshot(net):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in net.weights}


def _power_iteration(kernel, u):
    matrix = kernel.reshape(-1, kernel.shape[-1]).astype("float64")
    v = matrix @ u
    v /= np.linalg.norm(v)
    u = v @ matrix
    return u / np.linalg.norm(u)


@pytest.fixture(scope="module")
def one_step():
    """Weights of G, G_ema and D before and after one `fit` step.

    Eager, to keep the suite fast; the compiled step runs in the
    end-to-end test below.
    """
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(TINY, data="synthetic")
    generator, discriminator = sagan.build_networks(config)
    model = sagan.SAGAN(generator, discriminator, ema_decay=0.5)
    model.compile(
        keras.optimizers.Adam(1e-2, beta_1=0.0, beta_2=0.9),
        keras.optimizers.Adam(1e-2, beta_1=0.0, beta_2=0.9),
        run_eagerly=True,
    )
    train, _ = fashion_mnist.model_inputs(config.data)
    stream = train_stream(train, config)
    nets = (generator, discriminator, model.generator_ema)
    before = [_snapshot(net) for net in nets]
    model.fit(stream, steps_per_epoch=1, epochs=1, verbose=0)
    after = [_snapshot(net) for net in nets]
    return nets, before, after


def test_spectral_norm_vectors_advance_once_per_step(one_step):
    _, before, after = one_step
    checked, twice_gap = 0, 0.0
    for old, new in zip(before[:2], after[:2]):  # G and D
        for path, u in old.items():
            if not path.endswith("singular_vector"):
                continue
            prefix = path.rsplit("/", 1)[0] + "/"
            (kernel,) = [
                w
                for p, w in old.items()
                if p.startswith(prefix) and p.endswith("/kernel")
            ]
            once = _power_iteration(kernel, u)
            np.testing.assert_allclose(new[path], once, atol=1e-5)
            twice = _power_iteration(kernel, once)
            twice_gap = max(twice_gap, np.abs(twice - once).max())
            checked += 1
    # G: dense, 3 blocks × 3 convs, 4 attention convs, final conv; D:
    # 4 blocks × 3 convs but the last's identity shortcut, 4 attention
    # convs, output dense and class embedding.
    assert checked == (1 + 9 + 4 + 1) + (11 + 4 + 2)
    assert twice_gap > 1e-3  # a second update per step would be caught


def test_ema_generator_averages_weights_and_copies_state(one_step):
    (generator, _, ema), before, after = one_step
    trainable = {v.path for v in generator.trainable_variables}
    g_old, g_new, e_new = before[0], after[0], after[2]
    ema_paths = [v.path for v in ema.weights]
    moved = 0
    for (path, old), new_ema in zip(g_old.items(), ema_paths):
        if path in trainable:  # e₁ = ½ e₀ + ½ w₁ with e₀ = w₀
            expected = 0.5 * old + 0.5 * g_new[path]
            moved += not np.allclose(old, g_new[path], atol=1e-4)
        else:  # BatchNorm statistics and u vectors are copied
            expected = g_new[path]
        np.testing.assert_allclose(e_new[new_ema], expected, atol=1e-6)
    # Most weights moved (attention q/k/v get no gradient while γ = 0).
    assert moved > len(trainable) // 2


# End to end ----------------------------------------------------------------


def test_tiny_train_then_sample(tmp_path, feature_net):
    config = dataclasses.replace(TINY, feature_net=str(feature_net))
    result = sagan.train(config, tmp_path, RunOptions(verbose=0))
    # The reported scores are those of the saved generator's samples,
    # recomputed here with SciPy's sqrtm and a NumPy Inception-style score.
    linalg = pytest.importorskip("scipy.linalg")
    generator = keras.saving.load_model(tmp_path / "generator.keras")
    scorer = feature_scorer(feature_net)
    fakes, _ = sagan.sample(generator, config.eval_samples)
    train_split, test_split = fashion_mnist.model_inputs(config.data)
    real = test_split[0][: config.eval_samples]

    def frechet(features_1, features_2):
        f_1, f_2 = (np.asarray(f, "float64") for f in (features_1, features_2))
        mu_1, mu_2 = f_1.mean(0), f_2.mean(0)
        s_1, s_2 = np.cov(f_1, rowvar=False), np.cov(f_2, rowvar=False)
        root = linalg.sqrtm(s_1 @ s_2).real
        return np.sum((mu_1 - mu_2) ** 2) + np.trace(s_1 + s_2 - 2.0 * root)

    expected = frechet(scorer.features(real), scorer.features(fakes))
    assert expected > 1e-3  # samples differ from the real images
    assert result["fid_style"] == pytest.approx(expected, rel=1e-4)
    reference = frechet(
        scorer.features(train_split[0][: config.eval_samples]),
        scorer.features(real),
    )
    assert result["fid_style_real_train_vs_test"] == pytest.approx(
        reference, rel=1e-4
    )
    p_y_x = np.asarray(scorer.probabilities(fakes), "float64")
    scores = []
    for chunk in np.array_split(p_y_x, 10):
        kl = chunk * (np.log(chunk) - np.log(chunk.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    assert result["inception_style"] == pytest.approx(np.mean(scores), 1e-4)
    for name in ("samples", "real", "attention_16_16"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 0
    discriminator = keras.saving.load_model(tmp_path / "discriminator.keras")
    images, labels = sagan.sample(generator, 20)
    assert images.shape == (20, 32, 32, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert tuple(discriminator(images, labels).shape) == (20, 1)
    again = sagan.evaluate(tmp_path)
    assert again["fid_style"] == pytest.approx(result["fid_style"], rel=1e-5)
