"""BERT masked-LM pretraining config: a frozen dataclass and presets."""

import dataclasses
from typing import ClassVar

from zoo.bert import config as checks


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a pretraining run.

    Attributes:
        data: `"tatoeba+vader"` (Tatoeba English + VADER review text, see
            zoo/data/pretraining_corpus.py) or `"vader"` (the review text only).
        max_tatoeba: Tatoeba sentences kept (hash-ordered sample), 0 = all.
        max_reviews: review-like texts kept, 0 = all.
        review_repeats: copies of each review text in the training corpus
            (upsamples the in-domain text against Tatoeba).
        validation_texts: texts held out to score the masked LM.
        vocabulary_size: WordPiece vocabulary size (an upper bound).
        max_length, num_layers, num_heads, hidden_dim, intermediate_dim,
            dropout: the encoder (BERT-base: 512, 12, 12, 768, 3072, 0.1).
        mask_rate: share of tokens picked for prediction (80% become
            [MASK], 10% a random token, 10% stay).
        batch_size: packed sequences per step.
        steps_per_epoch, epochs: the budget; an "epoch" is a fixed number
            of steps (validation after each), not a pass over the corpus.
        learning_rate, warmup_fraction, weight_decay, clipnorm: AdamW with
            linear warmup then cosine decay to 0; no decay on LayerNorm
            and bias weights (as BERT).
        plot_sentence, plot_layer: the attention plot (all heads of one
            layer; negative counts from the last).
    """

    model_name: ClassVar[str] = "bert-mlm"

    data: str = "tatoeba+vader"
    max_tatoeba: int = 0
    max_reviews: int = 0
    review_repeats: int = 1
    validation_texts: int = 2000
    vocabulary_size: int = 8192
    max_length: int = 64
    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 128
    intermediate_dim: int = 512
    dropout: float = 0.1
    kernel_initializer: str = "glorot_uniform"
    mask_rate: float = 0.15
    batch_size: int = 64
    steps_per_epoch: int = 400
    epochs: int = 4
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    clipnorm: float = 1.0
    plot_sentence: str = (
        "The plot is thin, but the acting is wonderful and it never drags."
    )
    plot_layer: int = -1

    def __post_init__(self):
        checks.check_architecture(
            self,
            positive=(
                "review_repeats",
                "validation_texts",
                "batch_size",
                "steps_per_epoch",
                "epochs",
                "mask_rate",
                "learning_rate",
                "clipnorm",
            ),
            non_negative=("max_tatoeba", "max_reviews"),
            fractions=("warmup_fraction", "mask_rate", "weight_decay"),
            choices={"data": ("tatoeba+vader", "vader")},
        )
        if self.vocabulary_size < 16:
            raise ValueError(
                "`vocabulary_size` must be at least 16. Received: "
                f"vocabulary_size={self.vocabulary_size!r}"
            )
        if not -self.num_layers <= self.plot_layer < self.num_layers:
            raise ValueError(
                f"`plot_layer` must be in [-{self.num_layers}, "
                f"{self.num_layers}). Received: plot_layer={self.plot_layer}"
            )


PRESETS = {
    # Seconds: a few thousand texts, a tiny model; for tests and CI.
    "tiny": Config(
        max_tatoeba=600,
        max_reviews=600,
        validation_texts=100,
        vocabulary_size=400,
        max_length=32,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        batch_size=16,
        steps_per_epoch=4,
        epochs=2,
        learning_rate=3e-3,
        plot_layer=0,
    ),
    # About 77 minutes on one CPU core with --jit-compile (docs/zoo_bert.md):
    # a small encoder (D = 64) for more steps, 24,000 steps of 32 × 64 ids
    # (`--set epochs=11`, 15 minutes, gives a gain within the noise);
    # the review-like text (in-domain for the movie-snippet task) is
    # upsampled to ~90% of the tokens.
    "cpu": Config(
        max_tatoeba=20000,
        review_repeats=4,
        validation_texts=4000,
        hidden_dim=64,
        intermediate_dim=256,
        batch_size=32,
        steps_per_epoch=500,
        epochs=48,
    ),
    # A BERT-base-sized run for a GPU (not run here).
    "gpu": Config(
        vocabulary_size=16384,
        max_length=128,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        intermediate_dim=3072,
        batch_size=256,
        steps_per_epoch=2000,
        epochs=20,
        learning_rate=2e-4,
        warmup_fraction=0.05,
    ),
}
