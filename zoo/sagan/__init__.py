"""SAGAN on Fashion-MNIST with an FID-style score from the zoo's SE-ResNet.
See docs/zoo_vision.md."""

from zoo.sagan.config import PRESETS
from zoo.sagan.config import Config
from zoo.sagan.config import config_from_workdir
from zoo.sagan.model import SAGAN
from zoo.sagan.model import ConditionalBatchNorm
from zoo.sagan.model import Discriminator
from zoo.sagan.model import DiscriminatorBlock
from zoo.sagan.model import Generator
from zoo.sagan.model import GeneratorBlock
from zoo.sagan.model import build_networks
from zoo.sagan.sampling import sample
from zoo.sagan.sampling import write_sample_grid
from zoo.sagan.train import evaluate
from zoo.sagan.train import train

__all__ = [
    "PRESETS",
    "SAGAN",
    "ConditionalBatchNorm",
    "Config",
    "Discriminator",
    "DiscriminatorBlock",
    "Generator",
    "GeneratorBlock",
    "build_networks",
    "config_from_workdir",
    "evaluate",
    "sample",
    "train",
    "write_sample_grid",
]
