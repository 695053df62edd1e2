"""The SAGAN model, in three files (too large for one `model.py`):

blocks.py    spectrally normalised residual blocks, conditional BN
networks.py  the `Generator` and `Discriminator`
gan.py       `SAGAN`, the `model.fit` training model (hinge losses,
             one D and one G update per step, EMA generator), and
             `build_networks(config)`
"""

from zoo.sagan.model.blocks import ConditionalBatchNorm
from zoo.sagan.model.blocks import DiscriminatorBlock
from zoo.sagan.model.blocks import GeneratorBlock
from zoo.sagan.model.gan import SAGAN
from zoo.sagan.model.gan import build_networks
from zoo.sagan.model.gan import d_hinge_loss
from zoo.sagan.model.gan import g_hinge_loss
from zoo.sagan.model.networks import Discriminator
from zoo.sagan.model.networks import Generator

__all__ = [
    "SAGAN",
    "ConditionalBatchNorm",
    "Discriminator",
    "DiscriminatorBlock",
    "Generator",
    "GeneratorBlock",
    "build_networks",
    "d_hinge_loss",
    "g_hinge_loss",
]
