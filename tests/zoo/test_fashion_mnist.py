"""Tests of `zoo.data.fashion_mnist`: IDX parsing, sources, checks, inputs."""

import gzip
import hashlib

import numpy as np
import pytest

from zoo.data import DataUnavailableError
from zoo.data import fashion_mnist


def _idx(array):
    """IDX bytes of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim])
    for size in array.shape:
        header += int(size).to_bytes(4, "big")
    return header + array.astype("uint8").tobytes()


def _fake_files(directory, num_train=12, num_test=4):
    """Four small IDX gzip files; returns their (name → sha256) table."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (num_train, 28, 28)),
        "train_labels": np.arange(num_train) % 10,
        "test_images": rng.integers(0, 256, (num_test, 28, 28)),
        "test_labels": np.arange(num_test) % 10,
    }
    table = {}
    for key, (name, _) in fashion_mnist.FILES.items():
        payload = _idx(arrays[key])
        (directory / name).write_bytes(gzip.compress(payload))
        table[key] = (name, hashlib.sha256(payload).hexdigest())
    return table, arrays


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """Empty cache and Keras cache dirs; `FILES` pinned to fake files."""
    keras_cache = tmp_path / "keras-cache"
    monkeypatch.setattr(fashion_mnist, "_keras_cache", lambda: keras_cache)
    table, arrays = _fake_files(tmp_path / "debian")
    monkeypatch.setattr(fashion_mnist, "FILES", table)
    return tmp_path, arrays


def test_read_idx_parses_shape_dtype_and_values():
    array = np.arange(2 * 3 * 5, dtype="uint8").reshape(2, 3, 5)
    parsed = fashion_mnist.read_idx(_idx(array))
    assert parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, array)


def test_read_idx_rejects_bad_magic_and_truncation():
    data = _idx(np.zeros((2, 3), "uint8"))
    with pytest.raises(ValueError, match="magic"):
        fashion_mnist.read_idx(b"\x01" + data[1:])
    with pytest.raises(ValueError, match="size mismatch"):
        fashion_mnist.read_idx(data[:-1])


def test_loads_debian_files_and_fills_the_cache(sources, capsys):
    tmp_path, arrays = sources
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_fashion_mnist(
        data_dir=tmp_path / "cache",
        download=False,
        debian_dir=tmp_path / "debian",
    )
    np.testing.assert_array_equal(x_train, arrays["train_images"])
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    assert x_train.shape == (12, 28, 28) and y_train.shape == (12,)
    assert x_test.dtype == np.uint8
    cached = sorted(
        p.name for p in (tmp_path / "cache/fashion-mnist").iterdir()
    )
    assert cached == sorted(n for n, _ in fashion_mnist.FILES.values())
    err = capsys.readouterr().err  # says where from, and that it verified
    assert f"reading Fashion-MNIST from {tmp_path / 'debian'}" in err
    assert f"sha256 verified; cached in {tmp_path / 'cache'}" in err
    # Second load reads the cache (the Debian dir is gone).
    again = fashion_mnist.load_fashion_mnist(
        tmp_path / "cache", download=False, debian_dir=tmp_path / "missing"
    )
    np.testing.assert_array_equal(again[0][0], arrays["train_images"])


def test_corrupt_file_fails_its_sha256(sources):
    tmp_path, _ = sources
    name = fashion_mnist.FILES["test_labels"][0]
    (tmp_path / "debian" / name).write_bytes(gzip.compress(b"\0\0\x08\x01"))
    with pytest.raises(DataUnavailableError, match="sha256"):
        fashion_mnist.load_fashion_mnist(
            tmp_path / "cache", download=False, debian_dir=tmp_path / "debian"
        )


def test_no_source_names_the_apt_command(sources):
    tmp_path, _ = sources
    with pytest.raises(DataUnavailableError) as info:
        fashion_mnist.load_fashion_mnist(
            tmp_path / "cache", download=False, debian_dir=tmp_path / "none"
        )
    assert "apt-get install -y dataset-fashion-mnist" in str(info.value)


def test_to_model_input_pads_with_background_and_scales():
    images = np.full((2, 28, 28), 255, "uint8")
    x = fashion_mnist.to_model_input(images)
    assert x.shape == (2, 32, 32, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 2:30, 2:30], 1.0)
    np.testing.assert_allclose(x[:, :2], -1.0)
    np.testing.assert_allclose(x[:, :, -2:], -1.0)


def test_synthetic_images_are_balanced_and_deterministic():
    images, labels = fashion_mnist.synthetic_images(50, seed=3)
    again, _ = fashion_mnist.synthetic_images(50, seed=3)
    assert images.shape == (50, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [5] * 10)
    np.testing.assert_array_equal(images, again)


def test_model_inputs_and_a_fixed_held_out_split():
    (x_train, y_train), (x_test, y_test) = fashion_mnist.model_inputs(
        "synthetic"
    )
    assert x_train.shape == (600, 32, 32, 1) and x_test.shape[0] == 200
    assert y_train.dtype == np.int32 and x_train.dtype == np.float32
    kept, held = fashion_mnist.hold_out((x_train, y_train), 100, 450)
    assert len(kept[0]) == 450 and len(held[0]) == 100
    again, _ = fashion_mnist.hold_out((x_train, y_train), 100)
    np.testing.assert_array_equal(again[1][:450], kept[1])  # a prefix
    # Kept and held-out images are distinct examples of the train split.
    rows = {x.tobytes() for x in kept[0]}
    assert not rows & {x.tobytes() for x in held[0]}


def test_unknown_data_name_raises():
    with pytest.raises(ValueError, match="data="):
        fashion_mnist.load("cifar10")


@pytest.mark.slow
def test_real_fashion_mnist_counts_and_checksums():
    if not (
        fashion_mnist._complete(fashion_mnist.DEBIAN_DIR)
        or fashion_mnist._complete(
            fashion_mnist.default_data_dir() / "fashion-mnist"
        )
    ):
        pytest.skip(
            "Fashion-MNIST files absent: "
            f"`{fashion_mnist.INSTALL_COMMAND}` installs them"
        )
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_fashion_mnist(
        download=False
    )
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
