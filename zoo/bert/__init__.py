"""BERT parts shared by `bert-mlm` (pretraining) and `bert-classifier`
(fine-tuning): the models, the WordPiece tokenizer, dynamic masking, the
tf.data streams and the optimizer. A shared package, not a registered
model; the text itself comes from `zoo.data`. See docs/zoo_bert.md."""

from zoo.bert.encoder import BertEncoder
from zoo.bert.masking import StatelessMaskValuesChooser
from zoo.bert.masking import mask_batch
from zoo.bert.model import BertClassifier
from zoo.bert.model import BertMaskedLM
from zoo.bert.tokenizer import SPECIAL_TOKENS
from zoo.bert.tokenizer import BertTokenizer

__all__ = [
    "SPECIAL_TOKENS",
    "BertClassifier",
    "BertEncoder",
    "BertMaskedLM",
    "BertTokenizer",
    "StatelessMaskValuesChooser",
    "mask_batch",
]
