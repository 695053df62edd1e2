"""Tokenizers for the translators: MeCab for Japanese, WordPiece subwords.

Text goes through three steps:

1. `pre_tokenize` (Python): Japanese is segmented into words with MeCab
   (`fugashi` + `unidic-lite`) and space-joined; other languages are left
   as they are.
2. Word splitting (TensorFlow, `tensorflow_text.regex_split`): split on
   whitespace, keep every punctuation or symbol character as its own word.
3. Subwords: `keras_hub.tokenizers.WordPieceTokenizer` over a vocabulary
   learned from the training split with the tensorflow-text WordPiece
   learner (the one `keras_hub.tokenizers.compute_word_piece_vocabulary`
   wraps, called directly so the alphabet is not capped at 1,000
   characters: Japanese Tatoeba uses 3,248). `kind="character"` instead
   maps each character to an id (for the dates task).

The first five ids are reserved: `[PAD]`=0, `[UNK]`=1, `[START]`=2,
`[END]`=3, `[MASK]`=4.

Detokenizing undoes the splitting, with documented normalisation: Japanese
loses the segmenting spaces (a space survives only between two ASCII
letters or digits); other languages get readable punctuation spacing
("Don't stop, Tom!"), which drops a space before `.,!?;:%)]}` even where
the source had one (e.g. French "fais !" -> "fais!") and inside
abbreviations ("p.m." -> "p. m."). With `lowercase=True` text is case
folded. Words whose characters never occur in the training text become
`[UNK]`.
"""

import collections
import json
import re
from pathlib import Path

import keras_hub
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import (
    wordpiece_tokenizer_learner_lib as wordpiece_learner,
)

RESERVED_TOKENS = ("[PAD]", "[UNK]", "[START]", "[END]", "[MASK]")
PAD_ID, UNK_ID, START_ID, END_ID, MASK_ID = range(len(RESERVED_TOKENS))
KINDS = ("wordpiece", "character")
VOCABULARY_FILE = "vocabulary.txt"
CONFIG_FILE = "tokenizer.json"

_WHITESPACE = r"\s|\p{Z}|\p{Cc}|\p{Cf}"
_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}|\p{S}"

_TAGGER = None


def segment_japanese(text):
    """Splits Japanese text into words with MeCab (unidic-lite).

    Args:
        text: str.

    Returns:
        A list of word strings; whitespace is dropped.

    Example: `segment_japanese("私は眠い。")` -> `["私", "は", "眠い", "。"]`.
    """
    global _TAGGER
    if _TAGGER is None:
        import fugashi  # Deferred: only Japanese needs MeCab.

        _TAGGER = fugashi.Tagger()
    return [word.surface for word in _TAGGER(text)]


def pre_tokenize(texts, language):
    """MeCab segmentation (space-joined) for `language="ja"`, else identity.

    Args:
        texts: str or list of str.
        language: str language code.

    Returns:
        The same structure: a str or a list of str.
    """
    if isinstance(texts, str):
        return pre_tokenize([texts], language)[0]
    if language != "ja":
        return list(texts)
    return [" ".join(segment_japanese(text)) for text in texts]


def _split_words(texts):
    """(B,) tf.string -> (B, None) ragged words, punctuation kept."""
    return tf_text.regex_split(
        texts, f"{_WHITESPACE}|{_PUNCTUATION}", _PUNCTUATION
    )


_DIGIT_JOIN = re.compile(r"(\d) ([.,:]) (?=\d)")
_APOSTROPHE = re.compile(r"(\w) ' (?=\w)")
_HYPHEN = re.compile(r"(\w) - (?=\w)")
_DOUBLE_QUOTES = re.compile(r'" ([^"]*?) "')
_NO_SPACE_BEFORE = re.compile(r" (?=[.,!?;:%)\]}…»”’])")
_NO_SPACE_AFTER = re.compile(r"(?<=[(\[{¿¡«“‘$]) ")
_JAPANESE_SPACE = re.compile(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])")


def _tidy_spacing(text):
    """Readable spacing for space-joined words of an alphabetic language."""
    text = _DIGIT_JOIN.sub(r"\1\2", text)
    text = _APOSTROPHE.sub(r"\1'", text)
    text = _HYPHEN.sub(r"\1-", text)
    text = _DOUBLE_QUOTES.sub(r'"\1"', text)
    text = _NO_SPACE_BEFORE.sub("", text)
    return _NO_SPACE_AFTER.sub("", text)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {list(choices)}. "
            f"Received: {name}={value!r}"
        )


def learn_vocabulary(
    texts,
    vocabulary_size,
    kind="wordpiece",
    lowercase=False,
    max_unique_chars=5000,
):
    """A vocabulary (reserved tokens first) from PRE-TOKENIZED texts.

    `TranslationTokenizer.build` calls this on one language's text;
    `build_tokenizers(shared=True)` on both sides of a corpus together.
    """
    counts = collections.Counter()
    for start in range(0, len(texts), 8192):
        batch = tf.constant(texts[start : start + 8192])
        if lowercase:
            batch = tf_text.case_fold_utf8(batch)
        if kind == "wordpiece":
            pieces = _split_words(batch)
        else:
            pieces = tf.strings.unicode_split(batch, "UTF-8")
        counts.update(pieces.flat_values.numpy().tolist())
    counts = {k.decode("utf-8"): v for k, v in counts.items()}
    counts = {k: v for k, v in counts.items() if k not in RESERVED_TOKENS}
    if kind == "wordpiece":
        vocabulary = wordpiece_learner.learn(
            counts,
            vocab_size=vocabulary_size,
            reserved_tokens=list(RESERVED_TOKENS),
            max_unique_chars=max_unique_chars,
            include_joiner_token=True,
            joiner="##",
        )
    else:
        ranked = sorted(counts, key=lambda c: (-counts[c], c))
        vocabulary = list(RESERVED_TOKENS) + ranked
    return vocabulary[:vocabulary_size]


class TranslationTokenizer:
    """Strings <-> int32 ids for one language, with a saved vocabulary.

    Args:
        vocabulary: list of token strings; the first five must be
            `RESERVED_TOKENS`.
        language: str. Language code, e.g. `"en"`; `"ja"` switches on MeCab
            segmentation and Japanese detokenization.
        kind: `"wordpiece"` (default) or `"character"`.
        lowercase: bool. Case fold text before tokenizing.

    Build one from training text with `TranslationTokenizer.build` (or
    `build_tokenizers`), reload one with `TranslationTokenizer.load`.
    """

    def __init__(self, vocabulary, language, kind="wordpiece", lowercase=False):
        _check_choice("kind", kind, KINDS)
        if not isinstance(language, str) or not language:
            raise ValueError(
                "`language` must be a non-empty string such as 'en'. "
                f"Received: language={language!r}"
            )
        vocabulary = list(vocabulary)
        if tuple(vocabulary[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(
                f"`vocabulary` must start with {list(RESERVED_TOKENS)}. "
                f"Received: vocabulary[:5]={vocabulary[:5]!r}"
            )
        self.vocabulary = vocabulary
        self.language = language
        self.kind = kind
        self.lowercase = bool(lowercase)
        if kind == "wordpiece":
            self._wordpiece = keras_hub.tokenizers.WordPieceTokenizer(
                vocabulary=vocabulary,
                lowercase=self.lowercase,
                split=False,
                oov_token="[UNK]",
            )
        else:
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(vocabulary),
                    tf.range(len(vocabulary), dtype=tf.int32),
                ),
                default_value=UNK_ID,
            )
        self._tokenize_graph = tf.function(
            self._tokenize_strings,
            input_signature=[tf.TensorSpec([None], tf.string)],
        )

    @property
    def vocabulary_size(self):
        """Number of ids, reserved tokens included."""
        return len(self.vocabulary)

    @classmethod
    def build(
        cls,
        texts,
        language,
        vocabulary_size=8000,
        kind="wordpiece",
        lowercase=False,
        max_unique_chars=5000,
    ):
        """Learns a vocabulary from `texts` (pass the TRAINING split only).

        Args:
            texts: list of strings.
            language: str, see the class docstring.
            vocabulary_size: int. Upper bound on the vocabulary size,
                reserved tokens included. The WordPiece learner keeps only
                pieces seen at least 10 times, so a small corpus saturates
                (Tatoeba en-ja train: about 8.4k English, 14.5k Japanese).
            kind: `"wordpiece"` or `"character"` (the most frequent
                characters, up to `vocabulary_size`).
            lowercase: bool. Case fold before learning and tokenizing.
            max_unique_chars: int. Alphabet cap of the WordPiece learner;
                words with characters outside it count as unknown.

        Returns:
            A `TranslationTokenizer`.
        """
        _check_choice("kind", kind, KINDS)
        if not isinstance(vocabulary_size, int) or vocabulary_size <= len(
            RESERVED_TOKENS
        ):
            raise ValueError(
                "`vocabulary_size` must be an integer greater than "
                f"{len(RESERVED_TOKENS)}. "
                f"Received: vocabulary_size={vocabulary_size!r}"
            )
        texts = list(texts)
        if not texts:
            raise ValueError("`texts` must not be empty. Received: texts=[]")
        vocabulary = learn_vocabulary(
            pre_tokenize(texts, language),
            vocabulary_size,
            kind,
            lowercase,
            max_unique_chars,
        )
        return cls(vocabulary, language, kind, lowercase)

    def pre_tokenize(self, texts):
        """Python-side step: MeCab segmentation for Japanese, else identity.

        Args:
            texts: str or list of str.

        Returns:
            The same structure, Japanese words space-joined.
        """
        return pre_tokenize(texts, self.language)

    def _tokenize_strings(self, texts):
        """(B,) pre-tokenized tf.string -> (B, None) ragged int32 ids."""
        if self.lowercase:
            texts = tf_text.case_fold_utf8(texts)
        if self.kind == "wordpiece":
            return tf.cast(self._wordpiece(_split_words(texts)), tf.int32)
        chars = tf.strings.unicode_split(texts, "UTF-8")
        return tf.ragged.map_flat_values(self._table.lookup, chars)

    def _pre_tokenize_tensor(self, texts):
        """Applies `pre_tokenize` to a (B,) tf.string tensor, in any mode."""
        if self.language != "ja":
            return texts
        if tf.executing_eagerly():
            decoded = [t.decode("utf-8") for t in texts.numpy()]
            return tf.constant(self.pre_tokenize(decoded), tf.string)

        def segment(batch):
            decoded = [t.decode("utf-8") for t in batch.numpy()]
            return tf.constant(self.pre_tokenize(decoded), tf.string)

        segmented = tf.py_function(segment, [texts], tf.string)
        segmented.set_shape(texts.shape)
        return segmented

    def tokenize(self, inputs):
        """Strings -> int32 ids, without `[START]`/`[END]`.

        Works on Python strings and on `tf.string` tensors, eagerly and
        inside `tf.data` / `tf.function` (Japanese there goes through
        `tf.py_function`; `make_dataset` segments up front instead).

        Args:
            inputs: a str, a list of str, or a rank 0 or 1 `tf.string`
                tensor.

        Returns:
            A `(T,)` int32 `tf.Tensor` for one string, else a `(B, None)`
            `tf.RaggedTensor`.
        """
        if isinstance(inputs, str):
            return self.tokenize([inputs])[0]
        if isinstance(inputs, (list, tuple)):
            if not all(isinstance(x, str) for x in inputs):
                raise ValueError(
                    "`inputs` must be a string, a list of strings or a "
                    f"tf.string tensor. Received: inputs={inputs!r}"
                )
            texts = tf.constant(self.pre_tokenize(inputs), tf.string)
            texts = tf.reshape(texts, [-1])  # An empty list has shape (0,).
            return self._tokenize_graph(texts)
        texts = tf.convert_to_tensor(inputs, tf.string)
        if texts.shape.rank == 0:
            return self.tokenize(tf.reshape(texts, [1]))[0]
        if texts.shape.rank != 1:
            raise ValueError(
                "`inputs` must be a scalar or a vector of strings. "
                f"Received: inputs with shape {texts.shape}"
            )
        return self._tokenize_graph(self._pre_tokenize_tensor(texts))

    def detokenize(self, ids):
        """Ids -> text. Stops at `[END]`; drops `[PAD]`, `[START]`, `[MASK]`.

        Args:
            ids: a sequence of ids (list, NumPy array, tensor) or a batch of
                them (padded or ragged).

        Returns:
            A str for one sequence, else a list of str.
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_list()
        elif isinstance(ids, (tf.Tensor, np.ndarray)):
            ids = np.asarray(ids).tolist()
        ids = list(ids)
        single = not ids or not isinstance(ids[0], (list, tuple, np.ndarray))
        rows = [ids] if single else ids
        texts = [self._detokenize_row([int(i) for i in row]) for row in rows]
        return texts[0] if single else texts

    def _detokenize_row(self, row):
        if END_ID in row:
            row = row[: row.index(END_ID)]
        row = [i for i in row if i not in (PAD_ID, START_ID, MASK_ID)]
        if self.kind == "character":
            return "".join(self.vocabulary[i] for i in row)
        if not row:
            return ""
        text = self._wordpiece.detokenize([row])[0]
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if self.language == "ja":
            return _JAPANESE_SPACE.sub("", text)
        return _tidy_spacing(text)

    def save(self, directory):
        """Writes `vocabulary.txt` (one token a line) and `tokenizer.json`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if any("\n" in token for token in self.vocabulary):
            raise ValueError("Cannot save a vocabulary token with a newline.")
        text = "".join(token + "\n" for token in self.vocabulary)
        (directory / VOCABULARY_FILE).write_text(text, encoding="utf-8")
        config = {
            "language": self.language,
            "kind": self.kind,
            "lowercase": self.lowercase,
            "vocabulary_size": self.vocabulary_size,
            "reserved_tokens": list(RESERVED_TOKENS),
        }
        (directory / CONFIG_FILE).write_text(
            json.dumps(config, indent=2) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, directory):
        """Reloads a tokenizer written by `save`."""
        directory = Path(directory)
        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        text = (directory / VOCABULARY_FILE).read_text(encoding="utf-8")
        vocabulary = text.split("\n")[:-1]
        if len(vocabulary) != config["vocabulary_size"]:
            raise ValueError(
                f"{directory / VOCABULARY_FILE} has {len(vocabulary)} tokens; "
                f"{CONFIG_FILE} says {config['vocabulary_size']}."
            )
        return cls(
            vocabulary, config["language"], config["kind"], config["lowercase"]
        )


def build_tokenizers(
    train_pairs,
    language_pair,
    source_vocabulary_size=8000,
    target_vocabulary_size=8000,
    kind="wordpiece",
    lowercase=False,
    shared=False,
):
    """Source and target tokenizers learned from training pairs only.

    Args:
        train_pairs: list of `(source, target)` pairs: the TRAINING split.
        language_pair: str `"<source>-<target>"`, e.g. `"en-ja"`.
        source_vocabulary_size, target_vocabulary_size: int.
        kind: `"wordpiece"` or `"character"`.
        lowercase: bool.
        shared: bool. Learn ONE vocabulary of `source_vocabulary_size` from
            both sides together (each side pre-tokenized for its own
            language), so that source and target ids mean the same pieces
            and a model can share (tie) one embedding table.

    Returns:
        `(source_tokenizer, target_tokenizer)`.
    """
    languages = (
        language_pair.split("-") if isinstance(language_pair, str) else []
    )
    if len(languages) != 2 or not all(languages):
        raise ValueError(
            "`language_pair` must look like 'en-ja'. "
            f"Received: language_pair={language_pair!r}"
        )
    sources = [s for s, _ in train_pairs]
    targets = [t for _, t in train_pairs]
    if shared:
        if not sources:
            raise ValueError(
                "`train_pairs` must not be empty. Received: train_pairs=[]"
            )
        vocabulary = learn_vocabulary(
            pre_tokenize(sources, languages[0])
            + pre_tokenize(targets, languages[1]),
            source_vocabulary_size,
            kind,
            lowercase,
        )
        return (
            TranslationTokenizer(vocabulary, languages[0], kind, lowercase),
            TranslationTokenizer(vocabulary, languages[1], kind, lowercase),
        )
    return (
        TranslationTokenizer.build(
            sources, languages[0], source_vocabulary_size, kind, lowercase
        ),
        TranslationTokenizer.build(
            targets, languages[1], target_vocabulary_size, kind, lowercase
        ),
    )
