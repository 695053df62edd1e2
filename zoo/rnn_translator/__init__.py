"""RNN encoder-decoder translator: plain, peeky and attention decoders."""

from zoo.rnn_translator.config import PRESETS
from zoo.rnn_translator.config import Config
from zoo.rnn_translator.model import RNNTranslator
from zoo.rnn_translator.train import evaluate
from zoo.rnn_translator.train import load
from zoo.rnn_translator.train import train
from zoo.rnn_translator.train import translate

__all__ = [
    "PRESETS",
    "Config",
    "RNNTranslator",
    "evaluate",
    "load",
    "train",
    "translate",
]
