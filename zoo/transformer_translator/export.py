"""Export a trained Transformer translator as a strings-to-strings
SavedModel: tokenizer, KV-cached beam search and detokenizer all inside the
graph, so that serving needs only TensorFlow and tensorflow-text:

    import tensorflow as tf
    import tensorflow_text  # registers the WordPiece ops
    translator = tf.saved_model.load("workdirs/transformer-cpu/export")
    translator.translate(tf.constant(["I like tea."]))  # beam search
    translator.signatures["serving_default"](sentences=tf.constant([...]))
    translator.signatures["greedy"](sentences=tf.constant([...]))

The in-graph text steps reproduce `TranslationTokenizer` (tested against
it): word splitting with `tensorflow_text.regex_split`, WordPiece with
`tensorflow_text.FastWordpieceTokenizer` (what keras-hub's
`WordPieceTokenizer` runs), and detokenization with the same spacing rules
written as RE2 regexes (RE2 has no look-around, so each rule consumes the
characters around the space and is applied twice to catch overlapping
matches). A Japanese SOURCE cannot be exported: its MeCab segmentation is
Python code.
"""

import pathlib

import tensorflow as tf
import tensorflow_text as tf_text

from zoo.config_utils import UsageError
from zoo.data import END_ID
from zoo.data import PAD_ID
from zoo.data import START_ID
from zoo.data.tokenizers import MASK_ID
from zoo.data.tokenizers import _split_words
from zoo.transformer_translator.decode import cached_decode_fn

_ALNUM = "A-Za-z0-9"
# Japanese: a space survives only between two ASCII letters or digits.
_JAPANESE_RULES = (
    (f"([^{_ALNUM}]) ", r"\1"),
    (f" ([^{_ALNUM}])", r"\1"),
)
# Other languages: `zoo.data.tokenizers._tidy_spacing`, in RE2.
_WORD = r"[\pL\pN_]"
_TIDY_RULES = (
    (r"(\d) ([.,:]) (\d)", r"\1\2\3"),
    (f"({_WORD}) ' ({_WORD})", r"\1'\2"),
    (f"({_WORD}) - ({_WORD})", r"\1-\2"),
    (r'" ([^"]*?) "', r'"\1"'),
    (" ([.,!?;:%)\\]}…»”’])", r"\1"),
    ("([(\\[{¿¡«“‘$]) ", r"\1"),
)


class InGraphTokenizer(tf.Module):
    """A `TranslationTokenizer` as TensorFlow ops only (exportable).

    Args:
        tokenizer: a `TranslationTokenizer` whose language is not Japanese
            for `tokenize` (detokenizing Japanese is supported).
    """

    def __init__(self, tokenizer):
        super().__init__()
        self.language = tokenizer.language
        self.kind = tokenizer.kind
        self.lowercase = tokenizer.lowercase
        self.vocabulary = tf.constant(tokenizer.vocabulary)
        if self.kind == "wordpiece":
            self.wordpiece = tf_text.FastWordpieceTokenizer(
                vocab=tokenizer.vocabulary,
                suffix_indicator="##",
                unknown_token="[UNK]",
                no_pretokenization=True,
                support_detokenization=True,
                token_out_type=tf.int32,
            )
        else:
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    self.vocabulary,
                    tf.range(len(tokenizer.vocabulary), dtype=tf.int32),
                ),
                default_value=1,  # [UNK]
            )

    def tokenize(self, texts):
        """`(B,)` strings -> `(B, None)` ragged int32 ids."""
        if self.language == "ja":
            raise UsageError(
                "This translator's source is Japanese, which needs MeCab "
                "segmentation; that cannot run inside a SavedModel, so it "
                "cannot be exported. Export a model trained from English "
                "(the default direction). Received: language='ja'"
            )
        if self.lowercase:
            texts = tf_text.case_fold_utf8(texts)
        if self.kind == "wordpiece":
            ids = self.wordpiece.tokenize(_split_words(texts))
            return ids.merge_dims(1, 2)
        chars = tf.strings.unicode_split(texts, "UTF-8")
        return tf.ragged.map_flat_values(self.table.lookup, chars)

    def detokenize(self, ids):
        """`(B, L)` int ids -> `(B,)` strings, cut at `[END]`."""
        ids = tf.cast(ids, tf.int32)
        before_end = tf.equal(tf.cumsum(tf.cast(ids == END_ID, tf.int32), 1), 0)
        keep = before_end & ~(
            (ids == PAD_ID) | (ids == START_ID) | (ids == MASK_ID)
        )
        ids = tf.ragged.boolean_mask(ids, keep)
        if self.kind == "character":
            return tf.strings.reduce_join(
                tf.gather(self.vocabulary, ids), axis=-1
            )
        text = self.wordpiece.detokenize(ids)
        rules = _JAPANESE_RULES if self.language == "ja" else _TIDY_RULES
        for _ in range(2):
            for pattern, rewrite in rules:
                text = tf.strings.regex_replace(text, pattern, rewrite)
        return text


class ExportedTranslator(tf.Module):
    """The model with in-graph text processing and decoding.

    `translate(sentences)` decodes with beam search (`beam_size`, the
    config's length penalty); `translate_greedy` greedily.
    """

    def __init__(self, model, source_tokenizer, target_tokenizer, config):
        super().__init__()
        self.model = model
        self.source = InGraphTokenizer(source_tokenizer)
        self.target = InGraphTokenizer(target_tokenizer)
        self.max_length = config.max_length
        spec = [tf.TensorSpec([None], tf.string, name="sentences")]
        self.translate = tf.function(
            self._translator(config.beam_size, config.length_penalty),
            input_signature=spec,
        )
        self.translate_greedy = tf.function(
            self._translator(1, config.length_penalty), input_signature=spec
        )

    def _translator(self, beam_size, alpha):
        decode = cached_decode_fn(self.model, self.max_length, beam_size, alpha)

        def translate(sentences):
            ids = self.source.tokenize(sentences).to_tensor()
            tokens, _ = decode(ids[:, : self.max_length])
            return {"translation": self.target.detokenize(tokens)}

        return translate


def export(translator, path):
    """Write `translator` (a `decode.Translator`) as a SavedModel at `path`.

    Signatures: `serving_default` (beam search) and `greedy`, each taking
    `sentences`, a `(B,)` string tensor, and returning `translation`.
    """
    module = ExportedTranslator(
        translator.model,
        translator.source_tokenizer,
        translator.target_tokenizer,
        translator.config,
    )
    path = pathlib.Path(path)
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serving_default": module.translate,
            "greedy": module.translate_greedy,
        },
    )
    return path
