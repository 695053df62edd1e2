"""The RNN translator's data: the translators' shared code in
`zoo.translation` (splits, tokenizers, tf.data streams)."""

from zoo.translation import evaluation_dataset
from zoo.translation import get_tokenizers
from zoo.translation import languages
from zoo.translation import load_splits
from zoo.translation import training_stream

__all__ = [
    "evaluation_dataset",
    "get_tokenizers",
    "languages",
    "load_splits",
    "training_stream",
]
