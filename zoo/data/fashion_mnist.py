"""Fashion-MNIST for the vision zoo models (se-resnet, sagan).

`load_fashion_mnist()` returns `((x_train, y_train), (x_test, y_test))`:
uint8 images `(N, 28, 28)` and uint8 labels `(N,)`, 60,000 + 10,000,
10 balanced classes (`CLASS_NAMES`). Where the files come from, in order:

1. the local cache: `<data_dir>/fashion-mnist/` (`data_dir` defaults to
   `$KERAS_ATTN_DATA`, else `~/.cache/keras_attn`), then Keras' own
   download cache `~/.keras/datasets/fashion-mnist/`;
2. `keras.datasets.fashion_mnist.load_data()`'s download (where the network
   allows; it fills Keras' cache, read as in 1);
3. the Debian package `dataset-fashion-mnist`, which installs the same four
   files in `/usr/share/datasets/fashion-mnist/`
   (`apt-get install -y dataset-fashion-mnist`).

Files found in 2 or 3 are copied into the cache. The four IDX gzip files
are parsed here with numpy, and the sha256 of each *decompressed* file is
checked: the Debian files are recompressed (their gzip headers differ from
the upstream ones), the payload is byte-identical.

`to_model_input` is the one preprocessing both models share: pad 28×28 to
32×32 with background and scale to [-1, 1] (the generator's tanh range),
shape `(N, 32, 32, 1)` float32; `model_inputs(name)` gives both splits in
that form, `hold_out` a fixed validation subset. `synthetic_images` makes
a small generated 10-class set in the same format for unit tests.
"""

import gzip
import os
import pathlib
import shutil

import numpy as np

from zoo.data.cache import default_data_dir
from zoo.data.cache import megabytes
from zoo.data.cache import report
from zoo.data.cache import sha256_of_bytes
from zoo.data.sdist import DataUnavailableError

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = 10
IMAGE_SIZE = 32  # models see 28×28 padded by 2 pixels on each side
# sha256 of the decompressed IDX files (the gzip wrapper may differ).
FILES = {
    "train_images": (
        "train-images-idx3-ubyte.gz",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train_labels": (
        "train-labels-idx1-ubyte.gz",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "test_images": (
        "t10k-images-idx3-ubyte.gz",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "test_labels": (
        "t10k-labels-idx1-ubyte.gz",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}
DOWNLOAD_SIZE = 30_878_645  # bytes, the four gzip files
KERAS_SOURCE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DEBIAN_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
INSTALL_COMMAND = "apt-get install -y dataset-fashion-mnist"
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4"}


def read_idx(data):
    """Parse the bytes of an (uncompressed) IDX file into an array.

    IDX: two zero bytes, a dtype code, the number of dimensions `n`, then
    `n` big-endian uint32 sizes and the row-major data.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("`data` is not an IDX file (bad magic number).")
    if data[2] not in _IDX_DTYPES:
        raise ValueError(f"Unknown IDX dtype code {data[2]:#x}.")
    ndim = data[3]
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"IDX size mismatch: header says {expected} bytes, file has "
            f"{len(data)}."
        )
    return np.frombuffer(data, dtype, offset=offset).reshape(shape).copy()


def _read_verified(path, sha256):
    with gzip.open(path, "rb") as f:
        data = f.read()
    digest = sha256_of_bytes(data)
    if digest != sha256:
        raise DataUnavailableError(
            f"{path} failed its sha256 check (decompressed: {digest}, "
            f"expected {sha256}); delete it and load again."
        )
    return read_idx(data)


def _complete(directory):
    return all((directory / name).exists() for name, _ in FILES.values())


def _read_dir(directory):
    arrays = {
        k: _read_verified(directory / n, h) for k, (n, h) in FILES.items()
    }
    return (arrays["train_images"], arrays["train_labels"]), (
        arrays["test_images"],
        arrays["test_labels"],
    )


def _keras_cache():
    return pathlib.Path(
        os.environ.get("KERAS_HOME", "~/.keras")
    ).expanduser() / ("datasets/fashion-mnist")


def _try_keras_download():
    import keras

    report(
        "fetching Fashion-MNIST: 4 IDX gzip files "
        f"({megabytes(DOWNLOAD_SIZE)}) with keras.datasets from "
        f"{KERAS_SOURCE} into {_keras_cache()} (Keras shows the progress)"
    )
    try:
        keras.datasets.fashion_mnist.load_data()
    except Exception as error:  # Keras raises a bare Exception offline.
        report(f"  Fashion-MNIST download failed: {error}")
        return f"keras.datasets.fashion_mnist download failed: {error}"
    return None


def load_fashion_mnist(data_dir=None, download=True, debian_dir=DEBIAN_DIR):
    """Fashion-MNIST as uint8 arrays (see the module docstring).

    Args:
        data_dir: cache directory (files go in `<data_dir>/fashion-mnist/`);
            default `$KERAS_ATTN_DATA` or `~/.cache/keras_attn`.
        download: try `keras.datasets.fashion_mnist`'s download when no
            cache is complete.
        debian_dir: where `dataset-fashion-mnist` puts the files.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, `(N, 28, 28)` and `(N,)`.

    Raises:
        DataUnavailableError: no source has the files; the message names
            `apt-get install -y dataset-fashion-mnist`.
    """
    cache = pathlib.Path(data_dir or default_data_dir()) / "fashion-mnist"
    reasons = []
    for directory in (cache, _keras_cache()):
        if _complete(directory):
            return _read_dir(directory)
    if download:
        reason = _try_keras_download()
        if reason is None and _complete(_keras_cache()):
            arrays = _read_dir(_keras_cache())
            report(f"  Fashion-MNIST: sha256 verified in {_keras_cache()}")
            return arrays
        reasons.append(reason or "keras download left no files")
    debian_dir = pathlib.Path(debian_dir)
    if _complete(debian_dir):
        report(f"reading Fashion-MNIST from {debian_dir} (Debian package)")
        arrays = _read_dir(debian_dir)
        cache.mkdir(parents=True, exist_ok=True)
        for name, _ in FILES.values():
            shutil.copyfile(debian_dir / name, cache / name)
        report(f"  Fashion-MNIST: sha256 verified; cached in {cache}")
        return arrays
    reasons.append(f"{debian_dir} does not hold the four files")
    raise DataUnavailableError(
        "Fashion-MNIST is not available.\n"
        f"Looked in: {cache}, {_keras_cache()}, {debian_dir}\n"
        f"Reasons: {'; '.join(reasons)}\n"
        f"Install the Debian package (as root) with:\n    {INSTALL_COMMAND}\n"
        f"or copy the four IDX gzip files into {cache}."
    )


def to_model_input(images):
    """uint8 `(N, 28, 28)` → float32 `(N, 32, 32, 1)` in [-1, 1]."""
    images = np.asarray(images)
    pad = (IMAGE_SIZE - images.shape[1]) // 2
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))  # (N, 32, 32)
    scaled = padded.astype("float32") / 127.5 - 1.0
    return scaled[..., None]  # (N, 32, 32, 1)


def model_inputs(name, data_dir=None):
    """`(train, test)` of `load(name)`, each `(images, labels)`: float32
    `(N, 32, 32, 1)` in [-1, 1] (`to_model_input`) and int32 `(N,)`."""
    (x_train, y_train), (x_test, y_test) = load(name, data_dir)
    return (
        (to_model_input(x_train), y_train.astype("int32")),
        (to_model_input(x_test), y_test.astype("int32")),
    )


def hold_out(split, count, max_kept=None, seed=0):
    """`(kept, held)`: a fixed random subset of `count` examples held out.

    The order is a permutation drawn with `seed`, the same on every
    machine; `max_kept` keeps a prefix of the rest (None: all).
    """
    images, labels = split
    order = np.random.default_rng(seed).permutation(len(images))
    held, kept = order[:count], order[count:][:max_kept]
    return (images[kept], labels[kept]), (images[held], labels[held])


def synthetic_images(num_examples, seed=0):
    """A generated 10-class stand-in for Fashion-MNIST (unit tests).

    Class `k` is a bright bar at angle `18·k` degrees through a jittered
    centre, with noise: learnable in a few steps, no files needed.

    Returns:
        uint8 images `(N, 28, 28)` and uint8 labels `(N,)` (balanced).
    """
    rng = np.random.default_rng(seed)
    labels = (np.arange(num_examples) % NUM_CLASSES).astype("uint8")
    rng.shuffle(labels)
    rows, cols = np.mgrid[0:28, 0:28].astype("float32")
    images = np.empty((num_examples, 28, 28), "uint8")
    for i, label in enumerate(labels):
        angle = np.deg2rad(18.0 * label)
        cy, cx = 13.5 + rng.normal(0, 1.5, size=2)
        distance = np.abs(
            (cols - cx) * np.sin(angle) - (rows - cy) * np.cos(angle)
        )
        image = 220.0 * (distance < 2.5) + rng.normal(0, 20, (28, 28))
        images[i] = np.clip(image, 0, 255).astype("uint8")
    return images, labels


def load(name, data_dir=None):
    """`"fashion-mnist"` (real) or `"synthetic"` (generated) splits."""
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if name == "synthetic":
        return synthetic_images(600, seed=0), synthetic_images(200, seed=1)
    raise ValueError(
        "`data` must be 'fashion-mnist' or 'synthetic'. "
        f"Received: data={name!r}"
    )
