"""The zoo's one home for data: one module per dataset, and shared helpers.

Datasets: `tatoeba` (parallel sentences), `dates` (generated), `vader`
(review sentences), `pretraining_corpus` (BERT's English text),
`fashion_mnist` (images), `austen` (Jane Austen's novels, the GPT
model's default text). Helpers: `text` (language-model text: the corpus
names, a user's file, their splits), `cache` (the cache directory and
sha256 checks), `sdist` (fetching a PyPI source archive), `splits`,
`tokenizers` and `pipeline` (the translators' splits, tokenizers and
tf.data batches). The names below are the translators' API; import a
dataset module for the rest (`from zoo.data import fashion_mnist`).

See `zoo/data/README.md` for sources, licences, checksums and splits.
"""

from zoo.data.cache import default_data_dir
from zoo.data.dates import generate_dates
from zoo.data.pipeline import make_dataset
from zoo.data.sdist import DataUnavailableError
from zoo.data.splits import TEST_SIZE
from zoo.data.splits import VALIDATION_SIZE
from zoo.data.splits import Splits
from zoo.data.splits import limit_splits
from zoo.data.splits import load_tsv_pairs
from zoo.data.splits import split_pairs
from zoo.data.tatoeba import LANGUAGE_PAIRS
from zoo.data.tatoeba import load_tatoeba
from zoo.data.tatoeba import read_tatoeba_pairs
from zoo.data.tokenizers import END_ID
from zoo.data.tokenizers import PAD_ID
from zoo.data.tokenizers import RESERVED_TOKENS
from zoo.data.tokenizers import START_ID
from zoo.data.tokenizers import UNK_ID
from zoo.data.tokenizers import TranslationTokenizer
from zoo.data.tokenizers import build_tokenizers
from zoo.data.tokenizers import segment_japanese

__all__ = [
    "END_ID",
    "LANGUAGE_PAIRS",
    "PAD_ID",
    "RESERVED_TOKENS",
    "START_ID",
    "TEST_SIZE",
    "UNK_ID",
    "VALIDATION_SIZE",
    "DataUnavailableError",
    "Splits",
    "TranslationTokenizer",
    "build_tokenizers",
    "default_data_dir",
    "generate_dates",
    "limit_splits",
    "load_tatoeba",
    "load_tsv_pairs",
    "make_dataset",
    "read_tatoeba_pairs",
    "segment_japanese",
    "split_pairs",
]
