"""What the zoo's translators share: splits, tokenizers (cached in the
workdir), the tf.data streams the harness trains on, scoring, and the
bucketed, compiled-once decoding runtime around `keras_attn.generation`."""

import hashlib
import json
import math
import pathlib
import re
import time
from typing import NamedTuple

import numpy as np
import sacrebleu
import tensorflow as tf

from keras_attn import generation
from zoo.data import LANGUAGE_PAIRS
from zoo.data import START_ID
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
    )


def score(hypotheses, references, target_language):
    """sacreBLEU BLEU (ja-mecab for Japanese) and chrF, and exact match."""
    bleu_metric = sacrebleu.BLEU(
        tokenize="ja-mecab" if target_language == "ja" else "13a"
    )
    chrf_metric = sacrebleu.CHRF()
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    chrf = chrf_metric.corpus_score(hypotheses, [references])
    exact = sum(h == r for h, r in zip(hypotheses, references))
    return {
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "exact_match": round(exact / max(1, len(references)), 4),
        "bleu_signature": str(bleu_metric.get_signature()),
        "chrf_signature": str(chrf_metric.get_signature()),
    }


def evaluate_translator(translator, pairs, config, beam_sizes=(1, None)):
    """Scores on `pairs` for greedy (1) and the config's beam size.

    `translator.translate(sentences, beam_size=k)` gives the translations.
    Returns `(scores by decoder name, hypotheses of the last decoder)`.
    """
    sources = [s for s, _ in pairs]
    references = [t for _, t in pairs]
    target_language = languages(config)[1]
    results = {}
    for beam in beam_sizes:
        beam = beam or config.beam_size
        start = time.perf_counter()
        hypotheses = translator.translate(sources, beam_size=beam)
        name = "greedy" if beam == 1 else f"beam{beam}"
        results[name] = score(hypotheses, references, target_language)
        results[name]["decode_seconds"] = round(time.perf_counter() - start, 1)
    return results, hypotheses


# Decoding is compiled once per (beam size, batch bucket, length bucket):
# a batch is padded to the next bucket (extra rows repeat its first
# sentence, extra columns are padding), so a handful of shapes serve every
# call and nothing is ever retraced.
BATCH_BUCKETS = (1, 8, 64)
LENGTH_BUCKETS = (8, 16, 32, 64, 128)


def _bucket(size, buckets, largest):
    """The smallest of `buckets` (capped at `largest`, which is one too)
    that holds `size`."""
    return min(b for b in (*buckets, largest) if b >= min(size, largest))


def search(step, state, batch, max_length, beam_size, alpha, end_id):
    """`keras_attn.generation` greedy search (`beam_size=1`) or beam search
    from `START_ID` over a translator's step function."""
    if beam_size == 1:
        return generation.greedy_search(
            step,
            state,
            max_length,
            start_id=START_ID,
            end_id=end_id,
            batch_size=batch,
        )
    return generation.beam_search(
        step,
        state,
        max_length,
        beam_size=beam_size,
        alpha=alpha,
        start_id=START_ID,
        end_id=end_id,
        batch_size=batch,
    )


def plot_slug(sentence, limit=40):
    """A file-name-safe name for a sentence's plot: its ASCII letters and
    digits, and a short hash so that different sentences never share one
    (`"I like tea."` -> `"i-like-tea-3a1b2c"`)."""
    words = re.sub(r"[^a-z0-9]+", "-", sentence.lower()).strip("-")
    digest = hashlib.sha1(sentence.encode("utf-8")).hexdigest()[:6]
    return f"{words[:limit].strip('-')}-{digest}".lstrip("-")


class BaseTranslator:
    """Strings in, strings out around a model's compiled batched decoding.

    Subclasses implement `_build_decode(beam_size)`: a Python function from
    `(B, S)` int32 source ids to `(tokens (B, L), scores (B,))`. It is
    traced once per beam size (1 = greedy) and bucketed batch shape into a
    `tf.function` concrete function (XLA-compiled where `jit_compile`).
    """

    jit_compile = False

    def __init__(self, model, source_tokenizer, target_tokenizer, config):
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.config = config
        self._compiled = {}

    def _build_decode(self, beam_size):
        raise NotImplementedError

    def _decode_fn(self, beam_size, batch, length):
        """The compiled decoding for `(batch, length)` source ids."""
        if isinstance(beam_size, bool) or not isinstance(beam_size, int):
            raise ValueError(
                "`beam_size` must be a positive integer. Received: "
                f"beam_size={beam_size!r}"
            )
        if beam_size < 1:
            raise ValueError(
                "`beam_size` must be a positive integer. Received: "
                f"beam_size={beam_size!r}"
            )
        key = (beam_size, batch, length)
        if key not in self._compiled:
            fn = tf.function(
                self._build_decode(beam_size), jit_compile=self.jit_compile
            )
            # A concrete function for exactly this shape: traced here, once.
            self._compiled[key] = fn.get_concrete_function(
                tf.TensorSpec((batch, length), tf.int32)
            )
        return self._compiled[key]

    def source_ids(self, sentences):
        """`(N, S)` int32 ids, 0-padded, truncated to `max_length`."""
        ids = self.source_tokenizer.tokenize(list(sentences))
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor()  # (N, S), 0-padded
        ids = ids[:, : self.config.max_length]
        return tf.cast(ids, tf.int32)

    def translate_ids(self, sentences, beam_size=1, batch_size=256):
        """Token ids `(N, max_length)` and scores `(N,)` for sentences."""
        sentences = list(sentences)
        tokens, scores = [], []
        for start in range(0, len(sentences), batch_size):
            ids = self.source_ids(sentences[start : start + batch_size])
            rows, length = ids.shape
            batch = _bucket(rows, BATCH_BUCKETS, batch_size)
            width = _bucket(length, LENGTH_BUCKETS, self.config.max_length)
            ids = tf.concat([ids, tf.repeat(ids[:1], batch - rows, 0)], 0)
            ids = tf.pad(ids, [[0, 0], [0, width - length]])  # (batch, width)
            t, s = self._decode_fn(beam_size, batch, width)(ids)
            tokens.append(t.numpy()[:rows])
            scores.append(s.numpy()[:rows])
        return np.concatenate(tokens), np.concatenate(scores)

    def translate(self, sentences, beam_size=1, batch_size=256):
        """Translations of a list of sentences."""
        tokens, _ = self.translate_ids(sentences, beam_size, batch_size)
        return [self.target_tokenizer.detokenize(row) for row in tokens]


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


def rescore(translator, config, workdir):
    """Score `translator` on the test split; update `metrics.json`."""
    from zoo.harness import save_json

    test, _ = evaluate_translator(translator, load_splits(config).test, config)
    path = pathlib.Path(workdir) / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics["test"] = test
    save_json(path, metrics)
    return test
