"""BERT sentiment classifier on the VADER movie-review snippets
(`python -m zoo train bert-classifier [--init <bert-mlm workdir>]`).

See docs/zoo_bert.md; the shared BERT parts live in `zoo.bert`, the data
in `zoo.data.vader`, the from-scratch / fine-tuned / linear-probe ablation
in `zoo.experiments.bert_ablation`."""

from zoo.bert_classifier.config import PRESETS
from zoo.bert_classifier.config import Config
from zoo.bert_classifier.model import build
from zoo.bert_classifier.train import config_from_workdir
from zoo.bert_classifier.train import evaluate
from zoo.bert_classifier.train import resolve
from zoo.bert_classifier.train import train

__all__ = [
    "PRESETS",
    "Config",
    "build",
    "config_from_workdir",
    "evaluate",
    "resolve",
    "train",
]
