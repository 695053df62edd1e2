"""SE-ResNet classifier config: a frozen dataclass and named presets."""

import dataclasses
from typing import ClassVar

from zoo.config_utils import check_fields
from zoo.config_utils import read_config


@dataclasses.dataclass(frozen=True)
class Config:
    """A CIFAR-style ResNet on 32×32 Fashion-MNIST, with or without SE.

    Attributes:
        data: `"fashion-mnist"` (real, see zoo/data/fashion_mnist.py) or
            `"synthetic"` (generated, for tests).
        use_se: SE-ResNet blocks; False gives the same network with the
            SE gate replaced by the identity (the plain ResNet baseline).
        filters: channels of each stage; stage i > 0 halves the resolution.
        blocks_per_stage: residual blocks in each stage.
        ratio: SE reduction ratio (8 rather than the paper's 16, because
            the cpu preset's stages are narrow: 16 channels // 16 = 1).
        batch_size, epochs, learning_rate, weight_decay: AdamW training
            with a cosine decay to 0 over the run.
        validation_examples: held out from the 60k training images to
            monitor training; the test set is used only for the final
            report.
        max_train_examples: train on a prefix (None: all).
        augment: random horizontal flips.
    """

    model_name: ClassVar[str] = "se-resnet"
    data: str = "fashion-mnist"
    use_se: bool = True
    filters: tuple[int, ...] = (32, 64, 128)
    blocks_per_stage: int = 2
    ratio: int = 8
    batch_size: int = 128
    epochs: int = 10
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    validation_examples: int = 5000
    max_train_examples: int | None = None
    augment: bool = True

    def __post_init__(self):
        check_fields(
            self,
            positive=(
                "blocks_per_stage",
                "ratio",
                "batch_size",
                "epochs",
                "learning_rate",
                "max_train_examples",
            ),
            non_negative=("weight_decay", "validation_examples"),
            choices={"data": ("fashion-mnist", "synthetic")},
        )
        if not self.filters or min(self.filters) < 1:
            raise ValueError(
                "`filters` must be a non-empty tuple of positive integers. "
                f"Received: filters={self.filters!r}"
            )


def config_from_workdir(workdir):
    """The `Config` a work directory was trained with."""
    return Config(**read_config(workdir)["config"])


PRESETS = {
    "tiny": Config(
        data="synthetic",
        filters=(8, 16),
        blocks_per_stage=1,
        ratio=4,
        batch_size=32,
        epochs=1,
        validation_examples=100,
    ),
    # Sized for under 10 minutes per run on 2 shared CPU cores.
    "cpu": Config(
        filters=(16, 32, 64), blocks_per_stage=1, batch_size=128, epochs=2
    ),
    # A ResNet-20-like depth (3 blocks per stage) at twice the width.
    "gpu": Config(
        filters=(32, 64, 128), blocks_per_stage=3, batch_size=128, epochs=30
    ),
}
