"""Tests of the se-resnet zoo model (tiny preset, generated images)."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import keras_attn
from zoo import se_resnet
from zoo.data import fashion_mnist
from zoo.harness import RunOptions

TINY = se_resnet.PRESETS["tiny"]


def test_plain_block_is_the_se_block_without_the_gate():
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 8)).astype("float32")
    plain = se_resnet.ResidualBlock(16, strides=2, ratio=4)
    gated = keras_attn.SEResidualBlock(16, strides=2, ratio=4)
    assert tuple(plain(x).shape) == tuple(gated(x).shape) == (2, 3, 2, 16)
    # Same weights except SE's two dense layers: 16→4 and 4→16, with bias.
    se_params = (16 * 4 + 4) + (4 * 16 + 16)
    assert gated.count_params() - plain.count_params() == se_params
    # The plain block equals the SE block with its gate forced to 1.
    plain.set_weights(
        [
            w
            for w, v in zip(gated.get_weights(), gated.weights)
            if "squeeze_excite" not in v.path
        ]
    )
    gate = gated.squeeze_excite
    gate.excite_dense.set_weights(
        [np.zeros((4, 16), "float32"), np.full((16,), 30.0, "float32")]
    )  # sigmoid(30) = 1 in float32
    np.testing.assert_allclose(plain(x), gated(x), atol=1e-5)


def test_classifier_shapes_and_se_counts():
    with_se = se_resnet.build_classifier(TINY)
    without = se_resnet.build_classifier(
        dataclasses.replace(TINY, use_se=False)
    )
    x = np.zeros((3, 32, 32, 1), "float32")
    assert tuple(with_se(x).shape) == (3, 10)
    features = se_resnet.feature_extractor(with_se)
    assert tuple(features(x).shape) == (3, TINY.filters[-1])
    # Two stages with one block each: 8 and 16 channels, ratio 4.
    se_params = sum((c * (c // 4) + c // 4) + (c // 4 * c + c) for c in (8, 16))
    assert with_se.count_params() - without.count_params() == se_params


def test_config_checks_types_and_ranges_from_python():
    # The shared `check_fields`: the same rules as `--set` at the CLI.
    with pytest.raises(ValueError, match="epochs=True"):
        se_resnet.Config(epochs=True)
    with pytest.raises(ValueError, match="ratio=0"):
        se_resnet.Config(ratio=0)
    with pytest.raises(ValueError, match="data='cifar10'"):
        se_resnet.Config(data="cifar10")
    with pytest.raises(ValueError, match="filters=\\(8, 0\\)"):
        se_resnet.Config(filters=[8, 0])
    assert se_resnet.Config(filters=[8, 16]).filters == (8, 16)
    assert se_resnet.Config(max_train_examples=None).max_train_examples is None


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("se-resnet-tiny")
    metrics = se_resnet.train(TINY, workdir, RunOptions(verbose=0))
    return workdir, metrics


def test_tiny_train_writes_model_and_metrics(tiny_run):
    workdir, metrics = tiny_run
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["use_se"] is True
    saved = json.loads((workdir / "metrics.json").read_text())
    assert saved["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert (workdir / "checkpoints" / "epoch_001.weights.h5").exists()
    assert se_resnet.config_from_workdir(workdir) == TINY


def _distinct_weights(model):
    """Give every weight (BatchNorm statistics too) non-default values, so
    a reload that drops or reorders any of them changes the outputs."""
    rng = np.random.default_rng(3)
    model.set_weights(
        [
            np.abs(rng.normal(size=w.shape)).astype(w.dtype) + 0.5
            if "variance" in v.path
            else (0.3 * rng.normal(size=w.shape)).astype(w.dtype)
            for w, v in zip(model.get_weights(), model.weights)
        ]
    )


@pytest.mark.parametrize("use_se", [True, False], ids=["se", "plain"])
def test_classifier_outputs_survive_save_and_reload(tmp_path, use_se):
    model = se_resnet.build_classifier(dataclasses.replace(TINY, use_se=use_se))
    _distinct_weights(model)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 1)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x, training=False))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    block = loaded.get_layer("stage0_block0")
    expected = (
        se_resnet.ResidualBlock if not use_se else keras_attn.SEResidualBlock
    )
    assert type(block) is expected
    after = keras.ops.convert_to_numpy(loaded(x, training=False))
    assert np.abs(before).max() > 1e-2  # outputs that can differ
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_trained_model_file_holds_the_trained_weights(tiny_run):
    # model.keras reloads (no custom_objects) to the weights training ended
    # with: the last epoch's checkpoint, loaded into a freshly built model.
    workdir, metrics = tiny_run
    loaded = keras.saving.load_model(workdir / "model.keras")
    trained = se_resnet.build_classifier(TINY)
    trained.load_weights(
        workdir / "checkpoints" / f"epoch_{TINY.epochs:03d}.weights.h5"
    )
    images, _ = fashion_mnist.synthetic_images(6, seed=5)
    x = fashion_mnist.to_model_input(images)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(trained(x, training=False)),
        rtol=1e-5,
        atol=1e-5,
    )
    evaluated = se_resnet.evaluate(workdir)
    assert evaluated["test_accuracy"] == pytest.approx(
        metrics["test_accuracy"], abs=1e-6
    )


@pytest.mark.slow
def test_real_data_short_run_beats_chance(tmp_path):
    if not fashion_mnist._complete(fashion_mnist.DEBIAN_DIR):
        pytest.skip(
            "Fashion-MNIST files absent: "
            f"`{fashion_mnist.INSTALL_COMMAND}` installs them"
        )
    config = dataclasses.replace(
        TINY,
        data="fashion-mnist",
        filters=(16, 32),
        max_train_examples=6000,
        batch_size=64,
        epochs=3,
    )
    metrics = se_resnet.train(config, tmp_path, RunOptions(verbose=0))
    assert metrics["test_accuracy"] > 0.5
