"""SE-ResNet on Fashion-MNIST: the zoo's SE-block model and the feature
network of the SAGAN's FID-style score. See docs/zoo_vision.md."""

from zoo.se_resnet.config import PRESETS
from zoo.se_resnet.config import Config
from zoo.se_resnet.config import config_from_workdir
from zoo.se_resnet.model import ResidualBlock
from zoo.se_resnet.model import build_classifier
from zoo.se_resnet.model import feature_extractor
from zoo.se_resnet.train import evaluate
from zoo.se_resnet.train import train

__all__ = [
    "PRESETS",
    "Config",
    "ResidualBlock",
    "build_classifier",
    "config_from_workdir",
    "evaluate",
    "feature_extractor",
    "train",
]
