"""GPT language-model config: a frozen dataclass and presets."""

import dataclasses
from typing import ClassVar

from zoo.config_utils import check_fields
from zoo.data.text import defaults_for

ARCHITECTURES = ("gpt2", "modern")
# "auto": the architecture's own (learned for gpt2, rope for modern).
POSITIONS = ("auto", "learned", "sinusoidal", "rope", "alibi")
ROPE_SCALINGS = ("none", "linear", "dynamic", "yarn")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a language-model run.

    Attributes:
        data: `"austen"` (Jane Austen's novels, split by book, see
            zoo/data/austen.py), `"tatoeba-ja"` (Tatoeba's Japanese
            sentences, split as the ja-en translator's, see
            zoo/data/tatoeba.py) or the path of a UTF-8 text file
            (paragraphs at blank lines, split 90/5/5 in order).
        architecture: `"gpt2"` (learned positions, LayerNorm, GELU,
            multi-head attention) or `"modern"` (RoPE, RMSNorm, SwiGLU,
            grouped-query attention, no biases); both pre-norm, tied
            input/output embeddings.
        vocabulary_size: sentencepiece BPE vocabulary, learned on the
            training split (4 ids reserved: pad, unk, bos, eos).
        character_coverage: sentencepiece's share of training characters
            given pieces of their own (rarer ones become UTF-8 bytes);
            0 = the corpus's own (`zoo.data.text.CORPUS_DEFAULTS`: 1.0,
            and 0.9995 for tatoeba-ja).
        context_length: T, tokens per training window (and the length of
            the gpt2 position table: generation stops there).
        num_layers, num_heads, model_dim, intermediate_dim, dropout: the
            decoder stack.
        num_key_value_heads: `modern` only; a divisor of `num_heads`
            (grouped-query attention); 0 = `num_heads`.
        sliding_window: `modern` only; each token attends to this many
            previous tokens; 0 = no window.
        positions: how the model knows token order: `"auto"` (the
            architecture's own), `"learned"` (a table of `context_length`
            rows), `"sinusoidal"` (Vaswani et al.'s, added to embeddings
            scaled by √D), `"rope"` (rotary, inside attention) or
            `"alibi"` (linear biases, inside attention).
        rope_scaling, rope_scaling_factor: RoPE context extension
            (`keras_attn.layers.RotaryEmbedding`'s `scaling`, with
            `original_max_length=context_length`): `"none"`, `"linear"`,
            `"dynamic"` (NTK, equal to plain RoPE up to `context_length`)
            or `"yarn"`; a factor s >= 1. Weights do not depend on it, so a
            trained model can be re-evaluated with another.
        batch_size, steps_per_epoch, epochs: the budget; an "epoch" is a
            fixed number of steps (validation after each).
        learning_rate, warmup_fraction, weight_decay, clipnorm: AdamW,
            linear warmup then cosine decay to 10%.
        prompt: the prompt of the sample written to metrics.json; "" =
            the corpus's own.
    """

    model_name: ClassVar[str] = "gpt"

    data: str = "austen"
    architecture: str = "gpt2"
    vocabulary_size: int = 4096
    character_coverage: float = 0.0
    context_length: int = 128
    num_layers: int = 4
    num_heads: int = 4
    model_dim: int = 128
    intermediate_dim: int = 512
    dropout: float = 0.0
    num_key_value_heads: int = 0
    sliding_window: int = 0
    positions: str = "auto"
    rope_scaling: str = "none"
    rope_scaling_factor: float = 1.0
    batch_size: int = 32
    steps_per_epoch: int = 250
    epochs: int = 8
    learning_rate: float = 2e-3
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    clipnorm: float = 1.0
    prompt: str = ""

    def __post_init__(self):
        check_fields(
            self,
            positive=(
                "vocabulary_size",
                "context_length",
                "num_layers",
                "num_heads",
                "model_dim",
                "intermediate_dim",
                "batch_size",
                "steps_per_epoch",
                "epochs",
                "learning_rate",
                "clipnorm",
            ),
            non_negative=(
                "num_key_value_heads",
                "sliding_window",
                "character_coverage",
            ),
            fractions=("dropout", "warmup_fraction", "weight_decay"),
            choices={
                "architecture": ARCHITECTURES,
                "positions": POSITIONS,
                "rope_scaling": ROPE_SCALINGS,
            },
        )
        if self.model_dim % self.num_heads:
            raise ValueError(
                "`model_dim` must be a multiple of `num_heads`. Received: "
                f"model_dim={self.model_dim}, num_heads={self.num_heads}"
            )
        kv_heads = self.num_key_value_heads
        if kv_heads and self.num_heads % kv_heads:
            raise ValueError(
                "`num_key_value_heads` must divide `num_heads`. Received: "
                f"num_key_value_heads={kv_heads}, num_heads={self.num_heads}"
            )
        if self.architecture == "gpt2" and (kv_heads or self.sliding_window):
            raise ValueError(
                "`num_key_value_heads` and `sliding_window` are options of "
                "architecture='modern'. Received: architecture='gpt2', "
                f"num_key_value_heads={kv_heads}, "
                f"sliding_window={self.sliding_window}"
            )
        if self.rope_scaling != "none" and self.position_kind != "rope":
            raise ValueError(
                "`rope_scaling` needs rotary positions. Received: "
                f"rope_scaling={self.rope_scaling!r}, positions="
                f"{self.positions!r}, architecture={self.architecture!r}"
            )
        factor = self.rope_scaling_factor
        if factor < 1.0 or (self.rope_scaling == "none" and factor != 1.0):
            raise ValueError(
                "`rope_scaling_factor` must be >= 1, and 1 when "
                "rope_scaling='none'. Received: rope_scaling_factor="
                f"{factor!r}, rope_scaling={self.rope_scaling!r}"
            )
        if self.character_coverage > 1.0:
            raise ValueError(
                "`character_coverage` must be in (0, 1], or 0 for the "
                "corpus's own. Received: character_coverage="
                f"{self.character_coverage!r}"
            )
        if self.vocabulary_size < 300:
            raise ValueError(
                "`vocabulary_size` must be at least 300 (256 byte pieces "
                "and the reserved ids come first). Received: "
                f"vocabulary_size={self.vocabulary_size}"
            )

    @property
    def coverage(self):
        """`character_coverage` with 0 resolved by the corpus."""
        if self.character_coverage:
            return self.character_coverage
        return defaults_for(self.data).character_coverage

    @property
    def sample_prompt(self):
        """`prompt` with "" resolved by the corpus."""
        return self.prompt or defaults_for(self.data).prompt

    @property
    def position_kind(self):
        """`positions` with "auto" resolved by the architecture."""
        if self.positions != "auto":
            return self.positions
        return "learned" if self.architecture == "gpt2" else "rope"


PRESETS = {
    # Seconds: a tiny model on a few thousand tokens; for tests and CI.
    "tiny": Config(
        vocabulary_size=512,
        context_length=16,
        num_layers=2,
        num_heads=2,
        model_dim=16,
        intermediate_dim=32,
        batch_size=4,
        steps_per_epoch=3,
        epochs=2,
        learning_rate=3e-3,
        prompt="It is",
    ),
    # About 15 minutes on 2 idle CPU cores with --jit-compile (0.69 s a step,
    # docs/zoo_gpt.md):
    # 1,200 steps of 32 x 128 tokens, 4.9M tokens (~5 passes over the
    # training novels).
    "cpu": Config(steps_per_epoch=200, epochs=6),
    # A GPT-2-small-sized model for a GPU (not run here).
    "gpu": Config(
        vocabulary_size=16384,
        context_length=512,
        num_layers=12,
        num_heads=12,
        model_dim=768,
        intermediate_dim=3072,
        dropout=0.1,
        batch_size=64,
        steps_per_epoch=1000,
        epochs=20,
        learning_rate=6e-4,
    ),
}
