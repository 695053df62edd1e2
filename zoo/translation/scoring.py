"""BLEU/chrF scoring of a translator (sacreBLEU), and re-scoring a saved run."""

import json
import pathlib
import time

import sacrebleu

from zoo.translation.data import languages
from zoo.translation.data import load_splits


def score(hypotheses, references, target_language):
    """sacreBLEU BLEU (ja-mecab for Japanese) and chrF, and exact match."""
    bleu_metric = sacrebleu.BLEU(
        tokenize="ja-mecab" if target_language == "ja" else "13a"
    )
    chrf_metric = sacrebleu.CHRF()
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    chrf = chrf_metric.corpus_score(hypotheses, [references])
    exact = sum(h == r for h, r in zip(hypotheses, references))
    return {
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "exact_match": round(exact / max(1, len(references)), 4),
        "bleu_signature": str(bleu_metric.get_signature()),
        "chrf_signature": str(chrf_metric.get_signature()),
    }


def evaluate_translator(translator, pairs, config, beam_sizes=(1, None)):
    """Scores on `pairs` for greedy (1) and the config's beam size.

    `translator.translate(sentences, beam_size=k)` gives the translations.
    Returns `(scores by decoder name, hypotheses of the last decoder)`.
    """
    sources = [s for s, _ in pairs]
    references = [t for _, t in pairs]
    target_language = languages(config)[1]
    results = {}
    for beam in beam_sizes:
        beam = beam or config.beam_size
        start = time.perf_counter()
        hypotheses = translator.translate(sources, beam_size=beam)
        name = "greedy" if beam == 1 else f"beam{beam}"
        results[name] = score(hypotheses, references, target_language)
        results[name]["decode_seconds"] = round(time.perf_counter() - start, 1)
    return results, hypotheses


def rescore(translator, config, workdir):
    """Score `translator` on the test split; update `metrics.json`."""
    from zoo.harness import save_json

    test, _ = evaluate_translator(translator, load_splits(config).test, config)
    path = pathlib.Path(workdir) / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics["test"] = test
    save_json(path, metrics)
    return test
