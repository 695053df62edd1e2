"""The fields every translator config has, validated one way."""

import dataclasses
from typing import ClassVar

from zoo.config_utils import check_fields

# The data both translators' presets train and score on, so that their
# results compare: `tiny` is the generated dates task (seconds, for tests
# and CI); `cpu` is short Tatoeba en->ja sentences, the same splits.
TINY_DATA = dict(
    data="dates",
    tokenizer="character",
    dropout=0.0,
    max_length=40,
    max_train_pairs=2000,
    max_eval_pairs=200,
    batch_size=32,
    epochs=2,
    beam_size=3,
    num_examples=2,
)
CPU_DATA = dict(
    max_length=24,
    max_chars=40,
    max_train_pairs=30000,
    max_eval_pairs=1000,
    batch_size=128,
)


@dataclasses.dataclass(frozen=True)
class TranslationConfig:
    """Data, vocabulary, batching and decoding fields of both translators.

    A translator's `Config` subclasses this, adds its architecture and
    optimiser fields (redeclaring a field here changes only its default)
    and validates everything in one call, `self.check(...)`, so the shared
    fields are checked the same way for both models.
    """

    model_name: ClassVar[str] = "translator"

    data: str = "en-ja"  # language pair, "dates", or a TSV path
    tokenizer: str = "wordpiece"  # wordpiece | character
    source_vocabulary_size: int = 8000
    target_vocabulary_size: int = 8000
    dropout: float = 0.1
    max_length: int = 32  # token ids per sentence, [START]/[END] included
    max_chars: int = 0  # drop pairs with a longer side; 0 = keep all
    max_train_pairs: int = 0  # 0 = the whole train split
    max_eval_pairs: int = 0  # 0 = the whole validation/test split
    batch_size: int = 64
    epochs: int = 10
    beam_size: int = 4
    length_penalty: float = 0.6
    num_examples: int = 5  # translations printed after training

    def check(self, positive=(), non_negative=(), fractions=(), choices=None):
        """`check_fields` with the shared rules plus the subclass's."""
        check_fields(
            self,
            positive=(
                "source_vocabulary_size",
                "target_vocabulary_size",
                "max_length",
                "batch_size",
                "epochs",
                "beam_size",
                *positive,
            ),
            non_negative=(
                "max_chars",
                "max_train_pairs",
                "max_eval_pairs",
                "length_penalty",
                "num_examples",
                *non_negative,
            ),
            fractions=("dropout", *fractions),
            choices={
                "tokenizer": ("wordpiece", "character"),
                **(choices or {}),
            },
        )

    def __post_init__(self):
        self.check()
