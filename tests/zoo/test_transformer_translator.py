import dataclasses
import importlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import cli
from zoo.config_utils import UsageError
from zoo.data import TranslationTokenizer
from zoo.harness import RunOptions
from zoo.metrics import MaskedAccuracy
from zoo.transformer_translator import PRESETS
from zoo.transformer_translator import Config
from zoo.transformer_translator import load
from zoo.transformer_translator import train
from zoo.transformer_translator.export import InGraphTokenizer
from zoo.transformer_translator.model import MaskedLabelSmoothingLoss
from zoo.transformer_translator.model import TransformerSchedule
from zoo.transformer_translator.model import TransformerTranslator
from zoo.transformer_translator.model import build
from zoo.transformer_translator.train import average_checkpoints
from zoo.translation import plot_slug

# The module (the package re-exports its `train` function under that name).
train_module = importlib.import_module("zoo.transformer_translator.train")

# The tiny preset with WordPiece (so the export covers subwords), smaller.
SMALL = dataclasses.replace(
    PRESETS["tiny"],
    tokenizer="wordpiece",
    source_vocabulary_size=200,
    max_length=16,
    max_train_pairs=1600,
    max_eval_pairs=40,
    epochs=3,
    average_last=2,
)


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    options = {
        "max_length": 12,
        "model_dim": 16,
        "num_layers": 2,
        "num_heads": 2,
        "intermediate_dim": 24,
        "dropout": 0.0,
    }
    options.update(kwargs)
    return TransformerTranslator(23, 23, **options)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="position_encoding='rotary'"):
        Config(position_encoding="rotary")
    with pytest.raises(ValueError, match="model_dim=100, num_heads=8"):
        Config(model_dim=100)
    with pytest.raises(ValueError, match="average_last=11"):
        Config(average_last=11)
    with pytest.raises(ValueError, match="label_smoothing=1.0"):
        Config(label_smoothing=1.0)
    with pytest.raises(ValueError, match="share_embeddings"):
        TransformerTranslator(10, 12, share_embeddings=True)


@pytest.mark.parametrize(
    "position_encoding, share, tie",
    [("sinusoidal", True, True), ("learned", False, False)],
)
def test_cached_steps_equal_teacher_forced_pass(position_encoding, share, tie):
    model = _model(
        position_encoding=position_encoding,
        share_embeddings=share,
        tie_output=tie,
    )
    rng = np.random.default_rng(0)
    source = rng.integers(5, 23, size=(2, 7)).astype("int32")
    source[1, 4:] = 0  # padding
    target = rng.integers(5, 23, size=(2, 6)).astype("int32")
    full = model((source, target)).numpy()  # (B, T, V)
    memory, source_mask = model.encode(source)
    cache = model.init_cache(memory, 12)
    steps = []
    for t in range(target.shape[1]):
        logits, cache = model.decode_step(
            tf.constant(target[:, t]), cache, t, source_mask
        )
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-5)
    # Extra source padding changes no logit.
    padded = np.pad(source, ((0, 0), (0, 3)))
    np.testing.assert_allclose(model((padded, target)).numpy(), full, atol=1e-5)


def test_embeddings_tied_and_shared():
    model = _model(share_embeddings=True, tie_output=True)
    model((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    assert model.source_embedding is model.target_embedding
    table = model.target_embedding.token_embedding.embeddings
    assert sum(w is table for w in model.weights) == 1
    h = np.random.default_rng(1).normal(size=(1, 2, 16)).astype("float32")
    np.testing.assert_allclose(
        model._logits(h).numpy(), h @ table.numpy().T, rtol=1e-5, atol=1e-5
    )
    untied = _model(tie_output=False)
    untied((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    assert untied.output_layer is not None


def test_tied_output_uses_the_target_table_when_vocabularies_differ():
    # Separate vocabularies with tied output (`shared_vocabulary=False,
    # tie_embeddings=True`): two tables, logits from the *target* one.
    config = dataclasses.replace(
        PRESETS["tiny"],
        shared_vocabulary=False,
        tie_embeddings=True,
        max_length=12,
        model_dim=16,
        intermediate_dim=24,
    )
    keras.utils.set_random_seed(0)
    model = build(config, 23, 23)
    assert model.source_embedding is not model.target_embedding
    assert model.output_layer is None
    source_table = model.source_embedding.token_embedding.embeddings.numpy()
    target_table = model.target_embedding.token_embedding.embeddings.numpy()
    rng = np.random.default_rng(0)
    source = rng.integers(5, 23, size=(2, 7)).astype("int32")
    target = rng.integers(5, 23, size=(2, 6)).astype("int32")
    logits = model((source, target)).numpy()  # (B, T, V)
    memory, source_mask = model.encode(source)
    states = model.decoder(  # (B, T, D), the decoder output
        model.target_embedding(target),
        memory,
        mask=target != 0,
        encoder_outputs_mask=source_mask,
    ).numpy()
    np.testing.assert_allclose(
        logits, states @ target_table.T, rtol=1e-5, atol=1e-5
    )
    assert np.abs(logits - states @ source_table.T).max() > 0.1


def test_label_smoothing_loss():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    labels = np.array([[3, 5, 1, 0], [2, 0, 0, 0]], "int32")  # 0 = pad
    plain = MaskedLabelSmoothingLoss(0.0)(labels, logits)
    reference = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=0
    )(labels, logits)
    np.testing.assert_allclose(plain, reference, rtol=1e-6)
    # NumPy reference with epsilon = 0.1 over the 4 real tokens.
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    eps, total = 0.1, []
    for b, t in zip(*np.nonzero(labels)):
        target = np.full(7, eps / 7)
        target[labels[b, t]] += 1 - eps
        total.append(-(target * log_p[b, t]).sum())
    smoothed = MaskedLabelSmoothingLoss(eps)(labels, logits)
    np.testing.assert_allclose(smoothed, np.mean(total), rtol=1e-5)
    # Logits at padded positions do not matter.
    logits[1, 2:] = 50.0
    np.testing.assert_allclose(
        MaskedLabelSmoothingLoss(eps)(labels, logits), smoothed, rtol=1e-6
    )
    with pytest.raises(ValueError, match="label_smoothing=-0.1"):
        MaskedLabelSmoothingLoss(-0.1)


def test_schedule_is_the_papers():
    schedule = TransformerSchedule(512, warmup_steps=4000)
    for step in (0, 99, 3999, 20000):
        n = step + 1
        expected = 512**-0.5 * min(n**-0.5, n * 4000**-1.5)
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5)
    peak = float(schedule(3999))
    assert peak > float(schedule(3000)) and peak > float(schedule(6000))
    scaled = TransformerSchedule(512, 4000, scale=2.0)
    np.testing.assert_allclose(float(scaled(10)), 2 * float(schedule(10)))


def test_masked_accuracy_ignores_padding_and_prediction_masks():
    labels = np.array([[1, 2, 0, 0]], "int32")
    logits = np.eye(3, dtype="float32")[[1, 0, 2, 2]][None]  # right, wrong
    metric = MaskedAccuracy()
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="sample_weight"):
        metric.update_state(labels, logits, sample_weight=np.ones((1, 4)))


def test_average_checkpoints(tmp_path):
    model = _model()
    model((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    first = [w.copy() for w in model.get_weights()]
    model.save_weights(tmp_path / "a.weights.h5")
    model.set_weights([w + 1.0 for w in first])
    model.save_weights(tmp_path / "b.weights.h5")
    average_checkpoints(
        model, [tmp_path / "a.weights.h5", tmp_path / "b.weights.h5"]
    )
    for got, start in zip(model.get_weights(), first):
        np.testing.assert_allclose(got, start + 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="paths"):
        average_checkpoints(model, [])


ENGLISH = [
    "I don't know what to do.",
    "Tom's car is red, isn't it?",
    "It costs $3.50 (or so).",
    'She said "hello" to me.',
    "The well-known 1,000-year-old tree fell at 10:30.",
    "Where's Mary? Is she at home?",
    "I bought three apples; one was rotten.",
] * 3
JAPANESE = [
    "私は眠い。",
    "トムはCDを3枚買った。",
    "これは何ですか？",
    "彼女はiPhone 15を持っている。",
    "「こんにちは」と彼は言った。",
    "明日、東京へ行きます。",
    "ABC と XYZ の違いは何ですか。",
] * 3


@pytest.mark.parametrize(
    "texts, language, kind",
    [
        (ENGLISH, "en", "wordpiece"),
        (JAPANESE, "ja", "wordpiece"),
        (ENGLISH, "en", "character"),
    ],
)
def test_in_graph_tokenizer_matches_python(texts, language, kind):
    python = TranslationTokenizer.build(
        texts, language, vocabulary_size=300, kind=kind
    )
    graph = InGraphTokenizer(python)
    ids = python.tokenize(texts).to_tensor()
    got = [t.decode("utf-8") for t in graph.detokenize(ids).numpy()]
    assert got == python.detokenize(ids)
    # An [END] stops the text; padding and [START] are dropped.
    row = ids.numpy()[0].tolist()
    assert python.detokenize(row + [3, 7, 8]) == python.detokenize(row)
    assert (
        graph.detokenize(tf.constant([row + [3, 7, 8]])).numpy()[0]
        == graph.detokenize(tf.constant([[2] + row])).numpy()[0]
    )
    if language != "ja":
        np.testing.assert_array_equal(
            graph.tokenize(tf.constant(texts)).to_tensor().numpy(), ids
        )
    else:
        with pytest.raises(UsageError, match="language=.ja."):
            graph.tokenize(tf.constant(texts))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("transformer")
    metrics = train(SMALL, workdir, RunOptions(verbose=0))
    return workdir, metrics


def test_tiny_train_files_and_averaging(trained):
    workdir, metrics = trained
    for name in ("config.json", "model.keras", "metrics.json", "history.json"):
        assert (workdir / name).exists(), name
    assert (workdir / "export" / "saved_model.pb").exists()
    assert (workdir / "plots" / "cross_layer1.png").stat().st_size > 5000
    averaging = metrics["checkpoint_averaging"]
    assert averaging["checkpoints"] == [
        "epoch_002.weights.h5",
        "epoch_003.weights.h5",
    ]
    assert averaging["used"] == (
        averaging["validation_greedy_bleu_averaged"]
        > averaging["validation_greedy_bleu_final"]
    )
    assert set(metrics["test"]) == {"greedy", "beam3"}
    # It learned something: the dates task is far above chance.
    assert metrics["final_val_masked_accuracy"] > 0.5


@pytest.mark.parametrize("averaging_wins", [True, False])
def test_checkpoint_averaging_keeps_the_weights_that_score_higher(
    tmp_path, monkeypatch, averaging_wins
):
    # The validation BLEU is faked: the final weights score 10 and the
    # averaged ones 20 (averaging must win) or 5 (it must lose). The fake
    # records the weights it scored, so the test also checks that the two
    # candidates are the last checkpoint and the checkpoints' mean.
    config = dataclasses.replace(
        PRESETS["tiny"],
        model_dim=16,
        intermediate_dim=16,
        max_train_pairs=64,
        max_eval_pairs=4,
        epochs=2,
        average_last=2,
        beam_size=1,
    )
    scores = [10.0, 20.0 if averaging_wins else 5.0]
    scored = []

    def fake_validation_bleu(translator, pairs, config):
        scored.append([w.copy() for w in translator.model.get_weights()])
        return scores[len(scored) - 1]

    monkeypatch.setattr(train_module, "_validation_bleu", fake_validation_bleu)
    monkeypatch.setattr(train_module.export_lib, "export", lambda *a: None)
    metrics = train(config, tmp_path, RunOptions(verbose=0))

    averaging = metrics["checkpoint_averaging"]
    assert averaging["used"] is averaging_wins
    assert ("test_final" in averaging) is averaging_wins
    model = keras.saving.load_model(tmp_path / "model.keras")
    kept = model.get_weights()
    checkpoints = []
    for name in averaging["checkpoints"]:
        model.load_weights(tmp_path / "checkpoints" / name)
        checkpoints.append(model.get_weights())
    last = checkpoints[-1]
    mean = [
        (a.astype("float64") + b) / 2
        if np.issubdtype(b.dtype, np.floating)
        else b
        for a, b in zip(*checkpoints)
    ]
    assert len(scored) == 2
    for got, want in zip(scored[0], last):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(scored[1], mean):
        np.testing.assert_allclose(got, want, atol=1e-6)
    # The candidates differ by far more than the tolerance below (1e-6),
    # so keeping the wrong one is visible.
    assert max(np.abs(m - w).max() for m, w in zip(mean, last)) > 1e-4
    expected = mean if averaging_wins else last
    for got, want in zip(kept, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_cached_decoding_gives_the_tokens_of_uncached(trained):
    workdir, _ = trained
    cached, config = load(workdir)
    uncached, _ = load(workdir, uncached=True)
    xla, _ = load(workdir, jit_compile=True)
    sentences = [
        "March 3, 2001",
        "12/31/1999",
        "le 4 juillet 2021",
        "Sunday, May 5, 2024",
        "5 Oct 1987",
        "2020年2月29日",
    ]
    for beam in (1, 3):
        tokens, scores = cached.translate_ids(sentences, beam)
        reference, reference_scores = uncached.translate_ids(sentences, beam)
        np.testing.assert_array_equal(tokens, reference)
        np.testing.assert_allclose(scores, reference_scores, atol=1e-4)
        np.testing.assert_array_equal(
            xla.translate_ids(sentences, beam)[0], tokens
        )
    assert len(set(map(tuple, tokens))) > 1  # not one constant output
    with pytest.raises(ValueError, match="beam_size=0"):
        cached.translate(sentences, beam_size=0)
    with pytest.raises(ValueError, match="uncached=True, jit_compile=True"):
        load(workdir, uncached=True, jit_compile=True)


def test_exported_model_translates_in_a_fresh_process(trained):
    workdir, _ = trained
    translator, config = load(workdir)
    sentences = ["March 3, 2001", "12/31/1999", "5 Oct 1987"]
    expected = {
        "serving_default": translator.translate(sentences, config.beam_size),
        "greedy": translator.translate(sentences, 1),
    }
    # Only TensorFlow and tensorflow-text (which bring Keras with them):
    # keras-hub, keras_attn and zoo are made unimportable in the child.
    script = textwrap.dedent(
        f"""
        import json, sys
        for name in ("keras_hub", "keras_attn", "zoo"):
            sys.modules[name] = None
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the ops)
        loaded = tf.saved_model.load({str(workdir / "export")!r})
        out = {{}}
        for name in ("serving_default", "greedy"):
            fn = loaded.signatures[name]
            result = fn(sentences=tf.constant({sentences!r}))
            out[name] = [t.decode("utf-8") for t in
                         result["translation"].numpy()]
        print(json.dumps(out))
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got == expected


def test_cli_translate_and_evaluate(trained, capsys):
    workdir, metrics = trained
    assert cli.main(["translate", str(workdir), "May 5, 2024", "--greedy"]) == 0
    out = capsys.readouterr().out
    assert "May 5, 2024\n  -> " in out
    slug = plot_slug("May 5, 2024")  # the plot is named after the sentence
    assert (workdir / "plots" / f"translate_{slug}_layer1.png").exists()
    assert cli.main(["evaluate", str(workdir)]) == 0
    saved = json.loads((workdir / "metrics.json").read_text())
    assert saved["test"]["greedy"]["bleu"] == metrics["test"]["greedy"]["bleu"]
