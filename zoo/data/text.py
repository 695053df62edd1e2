"""Plain text for language models: the corpora the GPT takes by name, a
user's own text file, and their train/validation/test splits.

`load_corpus(data)` accepts:

- `"austen"`: Jane Austen's six novels, split by book (zoo/data/austen.py);
- `"tatoeba-ja"`: the Japanese sentences of Tatoeba, split as the
  translators' `ja-en` pairs are, so no sentence a translator is tested
  on is in the training text (zoo/data/tatoeba.py);
- the path of a UTF-8 text file: paragraphs at blank lines, the first 90 %
  train, then 5 % validation, then 5 % test, in order.

Each corpus also has a sentencepiece `character_coverage` and a sample
prompt of its own (`CORPUS_DEFAULTS`), used when a run leaves them unset.
"""

from pathlib import Path
from typing import NamedTuple

CORPORA = ("austen", "tatoeba-ja")


class TextSplits(NamedTuple):
    """Train/validation/test lists of paragraphs (strings)."""

    train: list
    validation: list
    test: list


class CorpusDefaults(NamedTuple):
    """What a run uses for a corpus unless it says otherwise.

    `character_coverage` is sentencepiece's: the share of the training
    characters that get pieces of their own (the rest fall back to UTF-8
    bytes). 1.0 suits alphabets; 0.9995, sentencepiece's advice for
    Japanese and Chinese, keeps thousands of rare kanji from taking the
    vocabulary.
    """

    character_coverage: float
    prompt: str


CORPUS_DEFAULTS = {
    "austen": CorpusDefaults(1.0, "It is a truth universally acknowledged"),
    "tatoeba-ja": CorpusDefaults(0.9995, "私は"),
}
# A user's file, in any language: the sample starts a paragraph unprompted.
FILE_DEFAULTS = CorpusDefaults(1.0, "")


def defaults_for(data):
    """`CorpusDefaults` of a corpus name or of a user's file."""
    return CORPUS_DEFAULTS.get(data, FILE_DEFAULTS)


def paragraphs(lines):
    """Lines of a text -> paragraphs: grouped at blank lines, whitespace
    runs collapsed to one space.

    >>> paragraphs(["A  b", "c.", "", "", "D"])
    ['A b c.', 'D']
    """
    result, current = [], []
    for line in list(lines) + [""]:
        words = line.split()
        if words:
            current.extend(words)
        elif current:
            result.append(" ".join(current))
            current = []
    return result


def split_paragraphs(texts, validation_share=0.05, test_share=0.05):
    """Contiguous `TextSplits` of one text's paragraphs: the first part
    trains, then validation, then test (for a user's own text file)."""
    texts = list(texts)
    n = len(texts)
    n_test = max(1, round(n * test_share))
    n_val = max(1, round(n * validation_share))
    if n - n_test - n_val < 1:
        raise ValueError(
            f"Only {n} paragraphs: too few to split into train, validation "
            "and test."
        )
    cut = n - n_test - n_val
    return TextSplits(
        texts[:cut], texts[cut : cut + n_val], texts[cut + n_val :]
    )


def load_text_file(path):
    """A user's UTF-8 text, paragraphs at blank lines, split contiguously."""
    lines = Path(path).read_text("utf-8").splitlines()
    return split_paragraphs(paragraphs(lines))


def check_corpus(data):
    """Raises `ValueError` unless `data` is a corpus name or a file."""
    if data not in CORPORA and not Path(data).is_file():
        raise ValueError(
            f"`data` must be one of {', '.join(map(repr, CORPORA))} or the "
            f"path of a UTF-8 text file. Received: data={data!r}"
        )


def load_corpus(data, data_dir=None, download=True):
    """A corpus name (`CORPORA`) or the path of a text file ->
    `TextSplits`."""
    check_corpus(data)
    if data == "austen":
        from zoo.data.austen import load_austen

        return load_austen(data_dir, download)
    if data == "tatoeba-ja":
        from zoo.data.tatoeba import load_sentences

        return TextSplits(*load_sentences("ja-en", data_dir, download))
    return load_text_file(data)


__all__ = [
    "CORPORA",
    "CORPUS_DEFAULTS",
    "CorpusDefaults",
    "TextSplits",
    "check_corpus",
    "defaults_for",
    "load_corpus",
    "load_text_file",
    "paragraphs",
    "split_paragraphs",
]
