"""What the zoo's two translators share, one small module per job:

config.py   `TranslationConfig`, the shared config fields and checks
data.py     splits, tokenizers (cached in the work directory), tf.data
runtime.py  `BaseTranslator`: bucketed, compiled-once decoding around
            `keras_attn.generation`; `search`, `plot_slug`
scoring.py  sacreBLEU BLEU/chrF, `evaluate_translator`, `rescore`
run.py      the shared train/report/load/evaluate/translate path
"""

from zoo.translation.config import TranslationConfig
from zoo.translation.data import languages
from zoo.translation.data import load_splits
from zoo.translation.runtime import BaseTranslator
from zoo.translation.runtime import plot_slug
from zoo.translation.runtime import search
from zoo.translation.scoring import evaluate_translator

__all__ = [
    "BaseTranslator",
    "TranslationConfig",
    "evaluate_translator",
    "languages",
    "load_splits",
    "plot_slug",
    "search",
]
