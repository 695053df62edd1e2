"""Transformer translator configuration and presets."""

import dataclasses
from typing import ClassVar

from zoo.translation.config import CPU_DATA
from zoo.translation.config import TINY_DATA
from zoo.translation.config import TranslationConfig


@dataclasses.dataclass(frozen=True)
class Config(TranslationConfig):
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

    The data, vocabulary, batching and decoding fields are
    `TranslationConfig`'s, shared with the RNN translator, and the `cpu`
    presets of both use the same splits.
    """

    model_name: ClassVar[str] = "transformer"

    source_vocabulary_size: int = 16000  # the shared size if shared
    target_vocabulary_size: int = 16000  # unused if shared
    shared_vocabulary: bool = True
    tie_embeddings: bool = True
    position_encoding: str = "sinusoidal"  # sinusoidal | learned
    num_layers: int = 6
    model_dim: int = 512
    num_heads: int = 8
    intermediate_dim: int = 2048
    norm_first: bool = False  # the paper is post-norm
    label_smoothing: float = 0.1
    warmup_steps: int = 4000
    learning_rate_scale: float = 1.0
    bucket_boundaries: tuple[int, ...] = (8, 12, 16, 24)
    average_last: int = 0  # average the last N epoch checkpoints; 0 = off

    def __post_init__(self):
        self.check(
            positive=(
                "num_layers",
                "model_dim",
                "num_heads",
                "intermediate_dim",
                "warmup_steps",
                "learning_rate_scale",
            ),
            non_negative=("average_last",),
            fractions=("label_smoothing",),
            choices={"position_encoding": ("sinusoidal", "learned")},
        )
        if self.model_dim % self.num_heads:
            raise ValueError(
                "`model_dim` must be divisible by `num_heads`. Received: "
                f"model_dim={self.model_dim}, num_heads={self.num_heads}"
            )
        if self.average_last > self.epochs:
            raise ValueError(
                "`average_last` must be between 0 and `epochs`. Received: "
                f"average_last={self.average_last!r}, epochs={self.epochs}"
            )


PRESETS = {
    # Seconds: the generated dates task, for tests and CI.
    "tiny": Config(
        **TINY_DATA,
        source_vocabulary_size=64,
        num_layers=1,
        model_dim=32,
        num_heads=2,
        intermediate_dim=64,
        label_smoothing=0.0,
        warmup_steps=50,
        learning_rate_scale=0.3,  # peak 7.5e-3
        bucket_boundaries=(),
    ),
    # The RNN translator's cpu data (short Tatoeba en->ja sentences, same
    # splits) on 2 CPU cores.
    "cpu": Config(
        **CPU_DATA,
        source_vocabulary_size=8000,
        num_layers=3,
        model_dim=192,
        num_heads=4,
        intermediate_dim=768,
        warmup_steps=400,
        learning_rate_scale=0.4,  # peak 1.4e-3 after 400 steps
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
