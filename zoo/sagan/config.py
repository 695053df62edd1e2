"""SAGAN config: a frozen dataclass and named presets."""

import dataclasses
from typing import ClassVar

from zoo.config_utils import check_fields
from zoo.config_utils import read_config


@dataclasses.dataclass(frozen=True)
class Config:
    """SAGAN on 32×32 Fashion-MNIST (Zhang et al. 2019).

    Attributes:
        data: `"fashion-mnist"` or `"synthetic"` (generated, for tests).
        feature_net: work directory of a trained se-resnet (`python -m zoo
            train se-resnet`); its classifier gives the FID-style and
            Inception-style scores.
        latent_dim: size of z ~ N(0, I).
        generator_channels: channels at 4×4 (after the first dense), then
            after each up-sampling residual block (8×8, 16×16, 32×32).
        discriminator_channels: channels after each down-sampling residual
            block (16×16, 8×8, 4×4), then of a last block at 4×4.
        attention_resolution: feature-map side (8, 16, …) where both
            networks get a `SelfAttention2D` block; 0 or None = no
            attention (the ablation).
        conditional: class-conditional BatchNorm in the generator and a
            projection discriminator; False = unconditional.
        batch_size: real (and fake) images per step.
        steps_per_epoch, epochs: the budget, in steps; one step = one D
            update and one G update (n_critic = 1, as in the paper).
        d_learning_rate, g_learning_rate, beta_1, beta_2: two-timescale
            Adam (the paper's 4e-4 / 1e-4, β = (0, 0.9)).
        ema_decay: keep an exponential moving average of the generator
            weights (samples and scores use it); None = off.
        eval_samples: generated and real images for the scores.
    """

    model_name: ClassVar[str] = "sagan"
    data: str = "fashion-mnist"
    feature_net: str = "workdirs/se-resnet-cpu"
    latent_dim: int = 128
    generator_channels: tuple[int, ...] = (256, 256, 128, 64)
    discriminator_channels: tuple[int, ...] = (64, 128, 256, 256)
    attention_resolution: int | None = 16
    conditional: bool = True
    batch_size: int = 64
    steps_per_epoch: int = 500
    epochs: int = 10
    d_learning_rate: float = 4e-4
    g_learning_rate: float = 1e-4
    beta_1: float = 0.0
    beta_2: float = 0.9
    ema_decay: float | None = 0.999
    eval_samples: int = 10000

    def __post_init__(self):
        check_fields(
            self,
            positive=(
                "latent_dim",
                "batch_size",
                "steps_per_epoch",
                "epochs",
                "d_learning_rate",
                "g_learning_rate",
                "ema_decay",
                "eval_samples",
            ),
            non_negative=("attention_resolution",),
            fractions=("beta_1", "beta_2", "ema_decay"),
            choices={"data": ("fashion-mnist", "synthetic")},
        )
        for name in ("generator_channels", "discriminator_channels"):
            channels = getattr(self, name)
            if len(channels) < 2 or min(channels) < 1:
                raise ValueError(
                    f"`{name}` must hold at least two positive integers. "
                    f"Received: {name}={channels!r}"
                )


def config_from_workdir(workdir):
    """The `Config` a work directory was trained with."""
    return Config(**read_config(workdir)["config"])


PRESETS = {
    "tiny": Config(
        data="synthetic",
        feature_net="workdirs/se-resnet-tiny",
        latent_dim=8,
        generator_channels=(16, 8, 8, 4),
        discriminator_channels=(4, 8, 8, 8),
        batch_size=8,
        steps_per_epoch=2,
        epochs=1,
        ema_decay=0.9,
        eval_samples=64,
    ),
    # Sized for about 10 minutes per run on 2 shared CPU cores (1,000
    # steps); far from converged, enough to compare variants.
    "cpu": Config(
        latent_dim=64,
        generator_channels=(64, 64, 32, 16),
        discriminator_channels=(16, 32, 64, 64),
        batch_size=32,
        steps_per_epoch=200,
        epochs=5,
        ema_decay=0.99,
        eval_samples=5000,
    ),
    # Paper-like widths (the 32×32 SNGAN/SAGAN ResNets); no results claimed.
    "gpu": Config(
        latent_dim=128,
        generator_channels=(256, 256, 256, 256),
        discriminator_channels=(128, 128, 128, 128),
        batch_size=64,
        steps_per_epoch=1000,
        epochs=100,
        ema_decay=0.9999,
        eval_samples=10000,
    ),
}
