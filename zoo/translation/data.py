"""Splits, tokenizers (learned once, cached in the work directory) and the
tf.data streams the translators train and validate on."""

import math
import pathlib
from typing import NamedTuple

import keras

from zoo.data import LANGUAGE_PAIRS
from zoo.data import TranslationTokenizer
from zoo.data import build_tokenizers
from zoo.data import generate_dates
from zoo.data import limit_splits
from zoo.data import load_tatoeba
from zoo.data import load_tsv_pairs
from zoo.data import make_dataset
from zoo.data import split_pairs

# The dates task: a generated corpus this large, split like the others.
DATES_CORPUS_SIZE = 20000
DATES_EVAL_SIZE = 1000


def _limit(value):
    return value or None


def languages(config):
    """`(source, target)` language codes of the config's data."""
    if config.data == "dates":
        return "en", "en"
    if config.data in LANGUAGE_PAIRS:
        return tuple(config.data.split("-"))
    return "xx", "xx"  # a user TSV: no language-specific segmentation


def load_splits(config):
    """Train/validation/test pairs for `config.data`."""
    limits = {
        "max_train_pairs": _limit(config.max_train_pairs),
        "max_eval_pairs": _limit(config.max_eval_pairs),
        "max_chars": _limit(config.max_chars),
    }
    if config.data == "dates":
        pairs = generate_dates(DATES_CORPUS_SIZE, seed=0)
        splits = split_pairs(pairs, DATES_EVAL_SIZE, DATES_EVAL_SIZE)
        return limit_splits(splits, **limits)
    if config.data in LANGUAGE_PAIRS:
        return load_tatoeba(config.data, **limits)
    path = pathlib.Path(config.data)
    if not path.is_file():
        raise ValueError(
            "`data` must be a language pair "
            f"({', '.join(sorted(LANGUAGE_PAIRS))}), 'dates', or the path "
            f"of a TSV file. Received: data={config.data!r}"
        )
    return load_tsv_pairs(path, **limits)


def get_tokenizers(config, train_pairs, workdir):
    """Load the workdir's tokenizers, or learn them from the train split."""
    directory = pathlib.Path(workdir) / "tokenizers"
    source_dir, target_dir = directory / "source", directory / "target"
    if (source_dir / "vocabulary.txt").exists():
        return (
            TranslationTokenizer.load(source_dir),
            TranslationTokenizer.load(target_dir),
        )
    source, target = build_tokenizers(
        train_pairs,
        "-".join(languages(config)),
        config.source_vocabulary_size,
        config.target_vocabulary_size,
        kind=config.tokenizer,
        shared=getattr(config, "shared_vocabulary", False),
    )
    source.save(source_dir)
    target.save(target_dir)
    return source, target


def static_shapes():
    """Whether batches are padded to `max_length`: on JAX, where `jax.jit`
    compiles the train step once per batch shape (TensorFlow's trainer
    relaxes shapes instead, so there batches keep their own length)."""
    return keras.config.backend() == "jax"


def training_stream(config, pairs, source, target, seed, buckets=None):
    """A deterministic repeated stream of full batches, and steps/epoch.

    With `buckets` (increasing target lengths) batches hold pairs of
    similar length, which cuts padding; an "epoch" is then
    `len(pairs) // batch_size` batches of the endless stream.
    """
    steps = max(1, math.floor(len(pairs) / config.batch_size))
    stream = make_dataset(
        pairs,
        source,
        target,
        batch_size=config.batch_size,
        max_length=config.max_length,
        shuffle=True,
        seed=seed,
        bucket_boundaries=buckets,
        pad_to_max_length=static_shapes(),
        drop_remainder=True,
        repeat=True,
    )
    return stream, steps


def evaluation_dataset(config, pairs, source, target):
    return make_dataset(
        pairs,
        source,
        target,
        batch_size=config.batch_size,
        max_length=config.max_length,
        pad_to_max_length=static_shapes(),
    )


class Prepared(NamedTuple):
    """Everything a translator's `train` needs before building the model."""

    splits: object
    source_tokenizer: TranslationTokenizer
    target_tokenizer: TranslationTokenizer
    stream: object
    steps_per_epoch: int
    validation: object


def prepare(config, workdir, seed, buckets=None):
    """Splits, tokenizers (learned once, then reloaded from the workdir),
    the repeated training stream and the validation dataset."""
    splits = load_splits(config)
    source, target = get_tokenizers(config, splits.train, workdir)
    stream, steps = training_stream(
        config, splits.train, source, target, seed, buckets
    )
    validation = evaluation_dataset(config, splits.validation, source, target)
    return Prepared(splits, source, target, stream, steps, validation)
