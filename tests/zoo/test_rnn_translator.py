import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.harness import RunOptions
from zoo.rnn_translator import PRESETS
from zoo.rnn_translator import Config
from zoo.rnn_translator import load
from zoo.rnn_translator import train
from zoo.rnn_translator.model import RNNTranslator
from zoo.rnn_translator.model import build
from zoo.translation import evaluate_translator
from zoo.translation import load_splits
from zoo.translation import plot_slug

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

# The tiny preset, smaller still: a few seconds of training.
SMALL = dataclasses.replace(
    PRESETS["tiny"], max_train_pairs=640, max_eval_pairs=40, epochs=2
)


@pytest.mark.parametrize(
    "variant, cell, attention",
    [
        ("plain", "gru", "bahdanau"),
        ("peeky", "lstm", "bahdanau"),
        ("attention", "gru", "bahdanau"),
        ("attention", "lstm", "luong"),
    ],
)
def test_step_decoding_equals_teacher_forced_pass(variant, cell, attention):
    model = RNNTranslator(
        13, 11, 8, 6, variant=variant, cell=cell, attention=attention
    )
    rng = np.random.default_rng(0)
    source = rng.integers(1, 13, size=(2, 5)).astype("int32")
    source[0, 3:] = 0  # padding
    target = rng.integers(1, 11, size=(2, 4)).astype("int32")
    full = model((source, target)).numpy()  # (B, T, V)
    memory, mask, states, summary = model.encode(source)
    steps = []
    for t in range(target.shape[1]):
        logits, states, _ = model.decode_step(
            tf.constant(target[:, t]), states, memory, mask, summary
        )
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-5)


@pytest.mark.parametrize(
    "cell, attention", [("gru", "bahdanau"), ("lstm", "luong")]
)
def test_outputs_survive_save_and_reload(tmp_path, cell, attention):
    model = RNNTranslator(
        13, 11, 8, 6, variant="attention", cell=cell, attention=attention
    )
    rng = np.random.default_rng(1)
    source = rng.integers(1, 13, size=(2, 5)).astype("int32")
    source[0, 3:] = 0  # padding
    target = rng.integers(1, 11, size=(2, 4)).astype("int32")
    model((source, target))
    # Weights far from their initial values, so a reload that re-creates
    # any of them instead of restoring it changes the logits.
    model.set_weights(
        [
            (0.5 * rng.normal(size=w.shape)).astype(w.dtype)
            for w in model.get_weights()
        ]
    )
    before = model((source, target)).numpy()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is RNNTranslator
    after = loaded((source, target)).numpy()
    assert np.abs(before).max() > 1e-2
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="variant='transformer'"):
        Config(variant="transformer")
    with pytest.raises(ValueError, match="units=0"):
        Config(units=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rnn")
    metrics = train(SMALL, workdir, RunOptions(verbose=0))
    return workdir, metrics


def test_tiny_train_save_reload_translate(trained):
    workdir, metrics = trained
    for name in ("config.json", "model.keras", "metrics.json", "history.json"):
        assert (workdir / name).exists(), name
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == [
        "epoch_001.weights.h5",
        "epoch_002.weights.h5",
    ]
    assert list((workdir / "logs").rglob("events.out.tfevents*"))
    assert (workdir / "plots" / "alignment.png").stat().st_size > 5000
    assert not (workdir / "backup").exists()  # removed after a full run
    saved = json.loads((workdir / "metrics.json").read_text())
    assert saved["test"]["greedy"]["bleu"] == metrics["test"]["greedy"]["bleu"]
    # Training learned something real on the dates task.
    assert metrics["final_val_masked_accuracy"] > 0.5
    # Reload (no custom_objects): the weights training ended with (the
    # last checkpoint, in a freshly built model) give the same logits...
    translator, config = load(workdir)
    assert config == SMALL
    loaded = translator.model
    trained = build(
        config, loaded.source_vocabulary_size, loaded.target_vocabulary_size
    )
    trained.load_weights(workdir / "checkpoints" / "epoch_002.weights.h5")
    ids = np.array([[5, 6, 7, 8, 0], [9, 10, 11, 12, 13]], "int32")
    np.testing.assert_allclose(
        loaded((ids, ids[:, :4])).numpy(),
        trained((ids, ids[:, :4])).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    # ...and the same greedy test scores as the model before saving.
    rescored, _ = evaluate_translator(
        translator, load_splits(config).test, config, beam_sizes=(1,)
    )
    for key in ("bleu", "chrf", "exact_match"):
        assert rescored["greedy"][key] == metrics["test"]["greedy"][key], key
    sentences = ["4 July 2021", "2021年7月4日"]
    out = translator.translate(sentences, beam_size=1)
    assert len(out) == 2 and all(isinstance(s, str) for s in out)
    tokens, _ = translator.translate_ids(sentences, beam_size=1)
    assert (tokens != 0).any()


def test_beam_is_no_worse_than_greedy_on_the_dates_task(trained):
    workdir, metrics = trained
    greedy = metrics["test"]["greedy"]
    beam = metrics["test"][f"beam{SMALL.beam_size}"]
    assert beam["exact_match"] >= greedy["exact_match"]
    # And per sentence, with no length penalty, beam's model score is at
    # least greedy's for nearly every input.
    translator, config = load(workdir)
    translator.config = dataclasses.replace(config, length_penalty=0.0)
    sources = ["4 July 2021", "12/03/1999", "2001年1月2日", "March 5, 1970"]
    _, g = translator.translate_ids(sources, beam_size=1)
    _, b = translator.translate_ids(sources, beam_size=4)
    assert np.mean(b >= g - 1e-4) >= 0.75


def test_cli_translate_and_evaluate(trained):
    workdir, _ = trained
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-m", "zoo", "translate", str(workdir), "4 July 2021"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "4 July 2021\n  -> " in out.stdout
    slug = plot_slug("4 July 2021")  # the plot is named after the sentence
    assert (workdir / "plots" / f"translate_{slug}.png").exists()


def test_cli_help_explains_every_option():
    out = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0
    for option in (
        "--preset",
        "--data",
        "--workdir",
        "--mixed-precision",
        "--jit-compile",
        "--distribute",
        "--set",
    ):
        assert option in out.stdout
