"""RNN translator configuration and presets."""

import dataclasses
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines an RNN-translator run.

    `variant` selects the decoder of the lecture material's progression:
    `plain` (the encoder's final state only), `peeky` (the encoder summary
    fed to every decoder step and to the output layer) and `attention`
    (`BahdanauAttention`, or `LuongAttention` with `attention="luong"`, over
    all encoder states). All three share data, sizes and budget, so their
    scores compare.
    """

    model_name: ClassVar[str] = "rnn-translator"

    data: str = "en-ja"  # language pair, "dates", or a TSV path
    variant: str = "attention"  # plain | peeky | attention
    attention: str = "bahdanau"  # bahdanau | luong
    cell: str = "gru"  # gru | lstm
    embedding_dim: int = 256
    units: int = 256
    dropout: float = 0.1
    tokenizer: str = "wordpiece"  # wordpiece | character
    source_vocabulary_size: int = 8000
    target_vocabulary_size: int = 8000
    max_length: int = 32  # token ids per sentence, [START]/[END] included
    max_chars: int = 0  # drop pairs with a longer side; 0 = keep all
    max_train_pairs: int = 0  # 0 = the whole train split
    max_eval_pairs: int = 0  # 0 = the whole validation/test split
    batch_size: int = 64
    epochs: int = 10
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    beam_size: int = 4
    length_penalty: float = 0.6
    num_examples: int = 5  # translations printed after training

    def __post_init__(self):
        choices = {
            "variant": ("plain", "peeky", "attention"),
            "attention": ("bahdanau", "luong"),
            "cell": ("gru", "lstm"),
            "tokenizer": ("wordpiece", "character"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"`{name}` must be one of {allowed}. Received: "
                    f"{name}={getattr(self, name)!r}"
                )
        for name in ("embedding_dim", "units", "max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"`{name}` must be a positive integer. Received: "
                    f"{name}={getattr(self, name)!r}"
                )


PRESETS = {
    # Seconds: the generated dates task, for tests and CI.
    "tiny": Config(
        data="dates",
        tokenizer="character",
        embedding_dim=32,
        units=48,
        dropout=0.0,
        max_length=40,
        max_train_pairs=2000,
        max_eval_pairs=200,
        batch_size=32,
        epochs=2,
        learning_rate=3e-3,
        beam_size=3,
        num_examples=2,
    ),
    # About 15 minutes on 2 CPU cores: short Tatoeba en->ja sentences.
    "cpu": Config(
        embedding_dim=128,
        units=192,
        source_vocabulary_size=4000,
        target_vocabulary_size=4000,
        max_length=24,
        max_chars=40,
        max_train_pairs=30000,
        max_eval_pairs=1000,
        batch_size=128,
        epochs=4,
        learning_rate=2e-3,
    ),
    # A real run on a GPU: the whole train split, larger model.
    "gpu": Config(
        embedding_dim=512,
        units=1024,
        dropout=0.2,
        source_vocabulary_size=16000,
        target_vocabulary_size=16000,
        max_length=48,
        batch_size=256,
        epochs=15,
        learning_rate=1e-3,
    ),
}
