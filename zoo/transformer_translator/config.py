"""Transformer translator configuration and presets."""

import dataclasses
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a Transformer-translator run.

    The recipe is Vaswani et al. (2017): post-norm encoder-decoder,
    sinusoidal positions, embeddings scaled by sqrt(d_model), dropout 0.1,
    label smoothing 0.1, Adam(0.9, 0.98, 1e-9) with the warmup schedule
    `lr = learning_rate_scale * d_model^-0.5 * min(step^-0.5,
    step * warmup_steps^-1.5)`. The `gpu` preset is the paper's base model.

    Vocabulary: `shared_vocabulary=True` learns one subword vocabulary
    from both sides (`source_vocabulary_size` ids); `tie_embeddings=True`
    makes the decoder's output layer the transposed target embedding and,
    with a shared vocabulary, uses one table for source and target too
    (the paper's three-way tying).

    Data fields (`data`, `max_length`, `max_chars`, `max_train_pairs`,
    `max_eval_pairs`, `tokenizer`) mean what they mean for the RNN
    translator, and the `cpu` presets of both use the same splits.
    """

    model_name: ClassVar[str] = "transformer"

    data: str = "en-ja"  # language pair, "dates", or a TSV path
    tokenizer: str = "wordpiece"  # wordpiece | character
    shared_vocabulary: bool = True
    tie_embeddings: bool = True
    source_vocabulary_size: int = 16000  # the shared size if shared
    target_vocabulary_size: int = 16000  # unused if shared
    position_encoding: str = "sinusoidal"  # sinusoidal | learned
    num_layers: int = 6
    model_dim: int = 512
    num_heads: int = 8
    intermediate_dim: int = 2048
    dropout: float = 0.1
    norm_first: bool = False  # the paper is post-norm
    label_smoothing: float = 0.1
    warmup_steps: int = 4000
    learning_rate_scale: float = 1.0
    max_length: int = 32
    max_chars: int = 0
    max_train_pairs: int = 0
    max_eval_pairs: int = 0
    batch_size: int = 64
    epochs: int = 10
    bucket_boundaries: tuple = (8, 12, 16, 24)
    average_last: int = 0  # average the last N epoch checkpoints; 0 = off
    beam_size: int = 4
    length_penalty: float = 0.6
    num_examples: int = 5

    def __post_init__(self):
        choices = {
            "tokenizer": ("wordpiece", "character"),
            "position_encoding": ("sinusoidal", "learned"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"`{name}` must be one of {allowed}. Received: "
                    f"{name}={getattr(self, name)!r}"
                )
        for name in (
            "source_vocabulary_size",
            "target_vocabulary_size",
            "num_layers",
            "model_dim",
            "num_heads",
            "intermediate_dim",
            "warmup_steps",
            "max_length",
            "batch_size",
            "epochs",
            "beam_size",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise ValueError(
                    f"`{name}` must be a positive integer. Received: "
                    f"{name}={value!r}"
                )
        if self.model_dim % self.num_heads:
            raise ValueError(
                "`model_dim` must be divisible by `num_heads`. Received: "
                f"model_dim={self.model_dim}, num_heads={self.num_heads}"
            )
        for name in ("dropout", "label_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(
                    f"`{name}` must be in [0, 1). Received: {name}={value!r}"
                )
        if self.learning_rate_scale <= 0:
            raise ValueError(
                "`learning_rate_scale` must be positive. Received: "
                f"learning_rate_scale={self.learning_rate_scale!r}"
            )
        if self.average_last < 0 or self.average_last > self.epochs:
            raise ValueError(
                "`average_last` must be between 0 and `epochs`. Received: "
                f"average_last={self.average_last!r}, epochs={self.epochs}"
            )
        # JSON (config.json, --set) gives lists; keep the dataclass hashable.
        object.__setattr__(
            self, "bucket_boundaries", tuple(self.bucket_boundaries or ())
        )


PRESETS = {
    # Seconds: the generated dates task, for tests and CI.
    "tiny": Config(
        data="dates",
        tokenizer="character",
        source_vocabulary_size=64,
        num_layers=1,
        model_dim=32,
        num_heads=2,
        intermediate_dim=64,
        dropout=0.0,
        label_smoothing=0.0,
        warmup_steps=50,
        learning_rate_scale=0.3,  # peak 7.5e-3
        max_length=40,
        max_train_pairs=2000,
        max_eval_pairs=200,
        batch_size=32,
        epochs=2,
        bucket_boundaries=(),
        beam_size=3,
        num_examples=2,
    ),
    # The RNN translator's cpu data (short Tatoeba en->ja sentences, same
    # splits) on 2 CPU cores.
    "cpu": Config(
        source_vocabulary_size=8000,
        num_layers=3,
        model_dim=192,
        num_heads=4,
        intermediate_dim=768,
        warmup_steps=400,
        learning_rate_scale=0.4,  # peak 1.4e-3 after 400 steps
        max_length=24,
        max_chars=40,
        max_train_pairs=30000,
        max_eval_pairs=1000,
        batch_size=128,
        epochs=5,
        average_last=3,
    ),
    # The paper's base model (65M parameters with a 37k shared vocabulary)
    # on the whole train split: a GPU run.
    "gpu": Config(
        source_vocabulary_size=16000,
        max_length=48,
        batch_size=256,
        epochs=30,
        average_last=5,
    ),
}
