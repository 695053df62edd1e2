"""BERT masked-LM pretraining (`python -m zoo train bert-mlm`).

See docs/zoo_bert.md; the shared BERT parts live in `zoo.bert`, the
corpus in `zoo.data.pretraining_corpus`."""

from zoo.bert_mlm.config import PRESETS
from zoo.bert_mlm.config import Config
from zoo.bert_mlm.model import build
from zoo.bert_mlm.train import config_from_workdir
from zoo.bert_mlm.train import evaluate
from zoo.bert_mlm.train import train

__all__ = [
    "PRESETS",
    "Config",
    "build",
    "config_from_workdir",
    "evaluate",
    "train",
]
