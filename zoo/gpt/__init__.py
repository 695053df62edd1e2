"""A GPT-style decoder-only language model (`python -m zoo train gpt`),
`gpt2` or `modern`, on Jane Austen's novels. See docs/zoo_gpt.md."""

from zoo.gpt.config import PRESETS
from zoo.gpt.config import Config
from zoo.gpt.decode import attention_pictures
from zoo.gpt.export import export
from zoo.gpt.model import GPT
from zoo.gpt.model import build
from zoo.gpt.train import config_from_workdir
from zoo.gpt.train import evaluate
from zoo.gpt.train import generate
from zoo.gpt.train import train

__all__ = [
    "GPT",
    "PRESETS",
    "Config",
    "attention_pictures",
    "build",
    "config_from_workdir",
    "evaluate",
    "export",
    "generate",
    "train",
]
