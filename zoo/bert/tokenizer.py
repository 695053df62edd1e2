"""BERT's WordPiece tokenizer: learned with keras-hub, saved in the workdir.

The vocabulary is learned from the pretraining corpus only, with
`keras_hub.tokenizers.compute_word_piece_vocabulary` (the tensorflow-text
WordPiece learner behind BERT's uncased vocabularies: lowercase, accents
stripped, split on whitespace and punctuation) and applied with
`keras_hub.tokenizers.WordPieceTokenizer` under the same settings.

Ids 0-4 are BERT's special tokens: `[PAD]`=0, `[UNK]`=1, `[CLS]`=2,
`[SEP]`=3, `[MASK]`=4. A classifier fine-tuned from a pretraining run
reloads that run's `vocabulary.txt` (`BertTokenizer.load`), so the ids
mean the same thing in both.
"""

from pathlib import Path

import keras_hub
import tensorflow as tf

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
VOCABULARY_FILE = "vocabulary.txt"


class BertTokenizer:
    """Lowercasing WordPiece over a fixed vocabulary.

    Args:
        vocabulary: list of tokens; the first five must be
            `SPECIAL_TOKENS` in order.
    """

    def __init__(self, vocabulary):
        vocabulary = list(vocabulary)
        if tuple(vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"`vocabulary` must start with {list(SPECIAL_TOKENS)}. "
                f"Received: vocabulary[:5]={vocabulary[:5]!r}"
            )
        self.vocabulary = vocabulary
        self._wordpiece = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=vocabulary,
            lowercase=True,
            strip_accents=True,
            oov_token="[UNK]",
        )
        # In graph mode keras-hub returns a RaggedTensor (eagerly, lists).
        self._tokenize_graph = tf.function(
            lambda texts: tf.cast(self._wordpiece(texts), tf.int32),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    @classmethod
    def learn(cls, texts, vocabulary_size):
        """Learns a vocabulary of at most `vocabulary_size` tokens.

        Args:
            texts: list of str, the pretraining corpus (never evaluation
                text).
            vocabulary_size: int, special tokens included. The learner keeps
                only frequent pieces, so a small corpus gives fewer.
        """
        if (
            isinstance(vocabulary_size, bool)
            or not isinstance(vocabulary_size, int)
            or vocabulary_size <= len(SPECIAL_TOKENS)
        ):
            raise ValueError(
                f"`vocabulary_size` must be an integer > {len(SPECIAL_TOKENS)}"
                f". Received: vocabulary_size={vocabulary_size!r}"
            )
        if not texts:
            raise ValueError("`texts` must not be empty. Received: texts=[]")
        dataset = tf.data.Dataset.from_tensor_slices(list(texts)).batch(4096)
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            dataset,
            vocabulary_size,
            lowercase=True,
            strip_accents=True,
            reserved_tokens=list(SPECIAL_TOKENS),
        )
        return cls(vocabulary)

    def tokenize(self, texts):
        """A list of str (or a `(B,)` tf.string) → `(B, None)` ragged int32."""
        if isinstance(texts, str):
            raise ValueError(
                "`texts` must be a list of strings. Received a single str: "
                f"texts={texts!r}"
            )
        texts = tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1])
        return self._tokenize_graph(texts)

    def tokens(self, ids):
        """Ids → token strings (for plots)."""
        return [self.vocabulary[int(i)] for i in ids]

    def save(self, directory):
        """Writes `<directory>/vocabulary.txt`, one token a line."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        text = "".join(token + "\n" for token in self.vocabulary)
        (directory / VOCABULARY_FILE).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, directory):
        """Reads the vocabulary written by `save`."""
        path = Path(directory) / VOCABULARY_FILE
        if not path.is_file():
            raise ValueError(
                f"No {VOCABULARY_FILE} in `directory`. "
                f"Received: directory={str(directory)!r}"
            )
        return cls(path.read_text(encoding="utf-8").split("\n")[:-1])
