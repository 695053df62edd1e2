"""SAGAN on Fashion-MNIST with an FID-style score from the zoo's SE-ResNet.
See docs/zoo.md."""

from zoo.sagan.blocks import ConditionalBatchNorm
from zoo.sagan.blocks import DiscriminatorBlock
from zoo.sagan.blocks import GeneratorBlock
from zoo.sagan.config import PRESETS
from zoo.sagan.config import Config
from zoo.sagan.metrics import FeatureScorer
from zoo.sagan.metrics import frechet_distance
from zoo.sagan.metrics import inception_style_score
from zoo.sagan.model import SAGAN
from zoo.sagan.model import build_networks
from zoo.sagan.networks import Discriminator
from zoo.sagan.networks import Generator
from zoo.sagan.sampling import write_sample_grid
from zoo.sagan.train import config_from_workdir
from zoo.sagan.train import evaluate
from zoo.sagan.train import sample
from zoo.sagan.train import train

__all__ = [
    "PRESETS",
    "SAGAN",
    "ConditionalBatchNorm",
    "Config",
    "Discriminator",
    "DiscriminatorBlock",
    "FeatureScorer",
    "Generator",
    "GeneratorBlock",
    "build_networks",
    "config_from_workdir",
    "evaluate",
    "frechet_distance",
    "inception_style_score",
    "sample",
    "train",
    "write_sample_grid",
]
