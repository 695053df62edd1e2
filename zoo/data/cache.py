"""The data cache every dataset module shares: where it is, checksums, and
the lines a fetch prints.

The cache directory is `$KERAS_ATTN_DATA`, else `~/.cache/keras_attn`
(`default_data_dir`); every loader also takes a `data_dir=` argument.
Archives and extracted files there are checked against a pinned sha256
(`sha256_of_file`, `sha256_of_bytes`) before use. `report` prints one
status line of a fetch (what, from where, progress, verified) on stderr, so
a download is never silent.
"""

import hashlib
import os
import pathlib
import sys

DATA_DIR_ENV = "KERAS_ATTN_DATA"


def default_data_dir():
    """`$KERAS_ATTN_DATA` if set, else `~/.cache/keras_attn`."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path("~/.cache/keras_attn").expanduser()


def sha256_of_bytes(data):
    """Hex sha256 of a bytes object."""
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path):
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def megabytes(size):
    """`67429125` -> `"67 MB"`, `2466783` -> `"2.5 MB"` (decimal, as pip)."""
    return f"{size / 1e6:.0f} MB" if size >= 1e7 else f"{size / 1e6:.1f} MB"


def report(message, end="\n"):
    """One status line of a fetch, on stderr, flushed at once."""
    print(message, end=end, file=sys.stderr, flush=True)
