"""Transformer translator (Vaswani et al. 2017) with KV-cached decoding."""

from zoo.transformer_translator.config import PRESETS
from zoo.transformer_translator.config import Config
from zoo.transformer_translator.model import TransformerTranslator
from zoo.transformer_translator.train import evaluate
from zoo.transformer_translator.train import export
from zoo.transformer_translator.train import load
from zoo.transformer_translator.train import train
from zoo.transformer_translator.train import translate

__all__ = [
    "PRESETS",
    "Config",
    "TransformerTranslator",
    "evaluate",
    "export",
    "load",
    "train",
    "translate",
]
