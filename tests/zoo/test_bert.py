"""BERT: dynamic masking, tied MLM head, save/reload, --init, tiny CLI run."""

import dataclasses
import importlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import bert_classifier
from zoo import bert_mlm
from zoo.bert import streams
from zoo.bert.encoder import BertEncoder
from zoo.bert.masking import StatelessMaskValuesChooser
from zoo.bert.masking import mask_batch
from zoo.bert.model import BertClassifier
from zoo.bert.model import BertMaskedLM
from zoo.bert.tokenizer import CLS_ID
from zoo.bert.tokenizer import MASK_ID
from zoo.bert.tokenizer import SEP_ID
from zoo.bert.tokenizer import SPECIAL_TOKENS
from zoo.bert.tokenizer import UNK_ID
from zoo.bert.tokenizer import BertTokenizer
from zoo.cli import main as cli_main
from zoo.data import DataUnavailableError
from zoo.data import vader
from zoo.data.pretraining_corpus import pretraining_texts

# The modules (each package re-exports its `train` function as `train`).
bert_classifier_train = importlib.import_module("zoo.bert_classifier.train")
bert_mlm_train = importlib.import_module("zoo.bert_mlm.train")

# MLM training never uses the pooler; mean-pooled classifiers neither.
pytestmark = pytest.mark.filterwarnings("ignore:Gradients do not exist")

FIRST_WORD = len(SPECIAL_TOKENS)  # the first ordinary token id
V, T, P, D = 37, 11, 4, 8  # pairwise distinct sizes
ARCH = dict(
    vocabulary_size=V,
    num_layers=2,
    num_heads=2,
    hidden_dim=D,
    intermediate_dim=12,
    max_length=T,
    dropout=0.0,
)


def _rows(num_rows, length, seed=0):
    """`[CLS] w.. [SEP] w.. [SEP]` rows of varied length, 0-padded."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((num_rows, length), "int32")
    for r in range(num_rows):
        n = int(rng.integers(length // 2, length - 2))
        ids[r, :n] = rng.integers(FIRST_WORD, 1000, n)
        ids[r, 0] = CLS_ID
        ids[r, n // 2] = SEP_ID
        ids[r, n - 1] = SEP_ID
    return ids


def _mask(ids, seed, max_predictions=16):
    return mask_batch(
        tf.constant(ids),
        tf.constant(seed, tf.int64),
        1000,
        MASK_ID,
        unselectable_ids=range(FIRST_WORD),
        max_predictions=max_predictions,
    )


def test_masking_rates_and_what_is_never_selected():
    ids = _rows(128, 100)
    counts = {"picked": 0, "mask": 0, "random": 0, "kept": 0}
    eligible = 0
    for step in range(6):
        out = {k: v.numpy() for k, v in _mask(ids, [3, step]).items()}
        for r in range(len(ids)):
            n_eligible = int(np.sum(ids[r] >= FIRST_WORD))
            k = int(out["mask_weights"][r].sum())
            # ceil(15% of the ordinary tokens), exactly, per row.
            assert k == min(16, int(np.ceil(0.15 * n_eligible)))
            positions = out["mask_positions"][r, :k]
            assert len(set(positions)) == k
            assert np.all(ids[r, positions] >= FIRST_WORD)  # never special/pad
            np.testing.assert_array_equal(
                out["mask_ids"][r, :k], ids[r, positions]
            )
            untouched = np.setdiff1d(np.arange(ids.shape[1]), positions)
            np.testing.assert_array_equal(
                out["token_ids"][r, untouched], ids[r, untouched]
            )
            new = out["token_ids"][r, positions]
            counts["mask"] += int(np.sum(new == MASK_ID))
            counts["kept"] += int(np.sum(new == ids[r, positions]))
            random = new[(new != MASK_ID) & (new != ids[r, positions])]
            assert np.all(random >= FIRST_WORD)  # random ids are ordinary
            counts["random"] += len(random)
            counts["picked"] += k
            eligible += n_eligible
    assert counts["picked"] / eligible == pytest.approx(0.15, abs=0.01)
    assert counts["mask"] / counts["picked"] == pytest.approx(0.8, abs=0.02)
    assert counts["random"] / counts["picked"] == pytest.approx(0.1, abs=0.02)
    assert counts["kept"] / counts["picked"] == pytest.approx(0.1, abs=0.02)


def test_mask_is_a_function_of_the_seed_and_rows_differ():
    ids = _rows(16, 40)
    a, b, c = _mask(ids, [1, 5]), _mask(ids, [1, 5]), _mask(ids, [1, 6])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])

    def picked(out):
        weights = out["mask_weights"].numpy().astype(bool)
        return [
            set(p[w]) for p, w in zip(out["mask_positions"].numpy(), weights)
        ]

    same = sum(x == y for x, y in zip(picked(a), picked(c)))
    assert same <= 2  # of 16 rows: another seed, another mask
    # Two identical rows in one batch get different masks.
    twins = np.repeat(ids[:1], 2, axis=0)
    positions = _mask(twins, [1, 5])["mask_positions"].numpy()
    assert not np.array_equal(positions[0], positions[1])


def test_mask_values_chooser_defaults_and_rates():
    # mask_batch passes every argument; the chooser's own defaults are
    # BERT's 80 % [MASK] / 10 % random (from id 0) / 10 % kept.
    picked = tf.RaggedTensor.from_row_lengths(
        tf.fill([4000], tf.constant(9, tf.int64)), [1000, 3000]
    )
    seed = tf.constant([0, 1], tf.int64)

    def shares(chooser, random_ids):
        values = chooser.get_mask_values(picked).flat_values.numpy()
        assert np.all(np.isin(values, [9, 7, *random_ids]))
        random = values[np.isin(values, random_ids)]
        assert set(random) == set(random_ids)  # each id can be drawn
        return np.mean(values == 7), len(random) / len(values)

    default = StatelessMaskValuesChooser(2, 7, seed)
    np.testing.assert_allclose(shares(default, [0, 1]), [0.8, 0.1], atol=0.02)
    chooser = StatelessMaskValuesChooser(
        6,
        7,
        seed,
        mask_token_rate=0.5,
        random_token_rate=0.3,
        first_random_id=4,
    )
    np.testing.assert_allclose(shares(chooser, [4, 5]), [0.5, 0.3], atol=0.03)


def test_random_replacements_are_every_ordinary_token_and_nothing_else():
    # Default first_random_id: max(unselectable_ids) + 1, the first
    # ordinary token. Random ids from two ordinary ids, every pick
    # replaced at random (none kept: the words are another id).
    rows = _rows(8, 40)
    ids = np.where(rows >= FIRST_WORD, FIRST_WORD + 2, rows)
    ids[:, -1] = UNK_ID  # a last token that is not 0 is no padding
    out = mask_batch(
        tf.constant(ids),
        tf.constant([2, 0], tf.int64),
        FIRST_WORD + 2,
        MASK_ID,
        unselectable_ids=range(FIRST_WORD),
        max_predictions=8,  # more than a row's picks (at most 6)
        mask_token_rate=0.0,
        random_token_rate=1.0,
    )
    for key in ("mask_positions", "mask_ids", "mask_weights"):
        assert tuple(out[key].shape) == (8, 8), key
    assert out["mask_positions"].dtype == tf.int32
    assert out["mask_weights"].dtype == tf.float32
    new_ids = out["token_ids"].numpy()
    np.testing.assert_array_equal(new_ids[:, -1], UNK_ID)
    weights = out["mask_weights"].numpy().astype(bool)
    positions = out["mask_positions"].numpy()
    assert np.all(positions[~weights] == 0)  # 0-padded, like the ids
    assert np.all(out["mask_ids"].numpy()[~weights] == 0)
    new = [new_ids[r, p[w]] for r, (p, w) in enumerate(zip(positions, weights))]
    assert set(np.concatenate(new)) == {FIRST_WORD, FIRST_WORD + 1}


def _restore(element):
    """Original rows of a masked batch, and each row's masked positions."""
    inputs, mask_ids, weights = tf.nest.map_structure(np.asarray, element)
    rows = inputs["token_ids"].copy()
    picked = {}
    for r in range(len(rows)):
        k = int(weights[r].sum())
        positions = inputs["mask_positions"][r, :k]
        rows[r, positions] = mask_ids[r, :k]
        picked[tuple(rows[r])] = tuple(sorted(positions))
    return picked


def test_pretraining_stream_is_exactly_resumable_and_remasks_each_pass():
    config = bert_mlm.PRESETS["tiny"]
    config = dataclasses.replace(config, batch_size=8, max_length=24)
    ids = _rows(8, 24, seed=1)  # one batch per pass
    segments = np.zeros_like(ids)
    stream, steps = streams.pretraining_stream(config, ids, segments, 1000, 7)
    assert steps == 1
    first = list(stream.take(3))
    again = list(
        streams.pretraining_stream(config, ids, segments, 1000, 7)[0].take(3)
    )
    resumed = next(iter(stream.skip(2)))
    for x, y in zip(tf.nest.flatten(first), tf.nest.flatten(again)):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(tf.nest.flatten(first[2]), tf.nest.flatten(resumed)):
        np.testing.assert_array_equal(x, y)
    pass0, pass1 = _restore(first[0]), _restore(first[1])
    assert set(pass0) == set(pass1) == {tuple(row) for row in ids}
    changed = sum(pass0[row] != pass1[row] for row in pass0)
    assert changed >= 6  # a new mask for (almost) every row


def test_pretraining_corpus_never_holds_evaluation_snippets():
    try:
        train, held_out = pretraining_texts(
            max_tatoeba=300, review_repeats=2, validation_texts=50
        )
        movies = vader.load_movie_snippets()
    except DataUnavailableError as error:
        pytest.skip(f"pretraining data unavailable: {error}")
    evaluation = {t for t, _ in movies.validation + movies.test}
    assert not evaluation & (set(train) | set(held_out))
    assert not set(train) & set(held_out)
    assert len(held_out) == 50
    movie_train = {t for t, _ in movies.train} - set(held_out)
    assert movie_train <= set(train)
    assert sum(t in movie_train for t in train) == 2 * len(movie_train)


def test_pack_builds_two_segment_rows():
    # Budget 9 - 3 = 6 ids: three sentences fill the first row (A = the
    # first two, B = the third); the long one is truncated into its own.
    ids, segments = streams.pack([[5, 6], [7], [8, 9, 10], [11] * 20], 9)
    np.testing.assert_array_equal(
        ids,
        [
            [CLS_ID, 5, 6, 7, SEP_ID, 8, 9, 10, SEP_ID],
            [CLS_ID, 11, 11, 11, 11, 11, 11, SEP_ID, 0],
        ],
    )
    np.testing.assert_array_equal(
        segments, [[0, 0, 0, 0, 0, 1, 1, 1, 1], [0] * 9]
    )


def _batch(seed=0, batch=2, length=T):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(FIRST_WORD, V, (batch, length)).astype("int32")
    token_ids[:, 0] = CLS_ID
    token_ids[0, length - 3 :] = 0  # padding
    return {
        "token_ids": token_ids,
        "segment_ids": (np.arange(length) > length // 2)
        .astype("int32")[None]
        .repeat(batch, 0),
        "mask_positions": rng.integers(1, length - 3, (batch, P)).astype(
            "int32"
        ),
    }


def test_encoder_ignores_padding():
    encoder = BertEncoder(**ARCH)
    inputs = _batch()
    short = {
        k: v[:1, : T - 3] for k, v in inputs.items() if k != "mask_positions"
    }
    full = {k: v[:1] for k, v in inputs.items() if k != "mask_positions"}
    a, b = encoder(short), encoder(full)
    np.testing.assert_allclose(
        a["sequence_output"], b["sequence_output"][:, : T - 3], atol=1e-5
    )
    np.testing.assert_allclose(
        a["pooled_output"], b["pooled_output"], atol=1e-5
    )
    classifier = BertClassifier(pooling="mean", **ARCH)
    np.testing.assert_allclose(classifier(short), classifier(full), atol=1e-5)
    reference = np.mean(
        np.asarray(classifier.encoder(short)["sequence_output"]), axis=1
    ) @ np.asarray(classifier.output_dense.kernel) + np.asarray(
        classifier.output_dense.bias
    )
    np.testing.assert_allclose(classifier(short), reference, atol=1e-5)


def test_mlm_output_layer_is_the_token_embedding():
    model = BertMaskedLM(**ARCH)
    inputs = _batch()
    before = np.asarray(model(inputs))
    assert before.shape == (2, P, V)
    table = model.encoder.token_embeddings
    square = [w for w in model.weights if tuple(w.shape) == (V, D)]
    assert len(square) == 1 and square[0] is table  # no separate kernel
    unused = sorted(set(range(V)) - set(inputs["token_ids"].ravel()))[0]
    new = np.asarray(table).copy()
    new[unused] += np.linspace(-1.0, 2.0, D)  # not ⟂ to the LN output
    table.assign(new)
    after = np.asarray(model(inputs))
    changed = np.abs(after - before).max(axis=(0, 1)) > 1e-6
    assert changed[unused] and changed.sum() == 1  # only that logit


def _compiled(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=True,  # a few tiny steps: tracing would dominate
    )
    return model


def test_save_reload_then_keep_training(tmp_path):
    keras.utils.set_random_seed(0)
    model = _compiled(BertMaskedLM(**ARCH))
    inputs = _batch()
    targets = np.full((2, P), FIRST_WORD + 1, "int32")
    model.fit(inputs, targets, epochs=1, verbose=0)
    model.save(tmp_path / "mlm.keras")
    again = keras.saving.load_model(tmp_path / "mlm.keras")
    np.testing.assert_allclose(model(inputs), again(inputs), atol=1e-6)
    square = [w for w in again.weights if tuple(w.shape) == (V, D)]
    assert square == [again.encoder.token_embeddings]  # still tied
    losses = again.fit(inputs, targets, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]

    classifier = _compiled(BertClassifier(num_classes=3, **ARCH))
    x = {k: v for k, v in inputs.items() if k != "mask_positions"}
    classifier.fit(x, np.array([0, 2]), epochs=1, verbose=0)
    classifier.save(tmp_path / "classifier.keras")
    reloaded = keras.saving.load_model(tmp_path / "classifier.keras")
    np.testing.assert_allclose(classifier(x), reloaded(x), atol=1e-6)
    assert reloaded.fit(x, np.array([0, 2]), verbose=0).history["loss"]


def test_bad_config_values_name_the_field():
    with pytest.raises(ValueError, match="dropout=1.5"):
        bert_mlm.Config(dropout=1.5)
    with pytest.raises(ValueError, match="hidden_dim=10, num_heads=4"):
        bert_mlm.Config(hidden_dim=10, num_heads=4)
    with pytest.raises(ValueError, match="data='imdb'"):
        bert_mlm.Config(data="imdb")
    with pytest.raises(ValueError, match="mask_rate=0"):
        bert_mlm.Config(mask_rate=0)
    with pytest.raises(ValueError, match="plot_layer=5"):
        bert_mlm.Config(num_layers=2, plot_layer=5)
    with pytest.raises(ValueError, match="freeze_encoder=True, init=''"):
        bert_classifier.Config(freeze_encoder=True)
    with pytest.raises(ValueError, match="epochs=0"):
        bert_classifier.Config(epochs=0)
    with pytest.raises(ValueError, match="num_layers=0"):
        BertEncoder(**{**ARCH, "num_layers": 0})
    with pytest.raises(ValueError, match="pooling='max'"):
        bert_classifier.Config(pooling="max")
    with pytest.raises(ValueError, match="pooling='max'"):
        BertClassifier(pooling="max", **ARCH)
    with pytest.raises(ValueError, match="kernel_initializer='nope'"):
        bert_mlm.Config(kernel_initializer="nope")
    with pytest.raises(ValueError, match="workdir"):
        bert_classifier.resolve(bert_classifier.Config(init="/nonexistent"))
    # Types, through the shared check (`zoo.config_utils.check_fields`):
    # the same rules as `--set` on the command line.
    with pytest.raises(ValueError, match="epochs=True"):
        bert_mlm.Config(epochs=True)  # a bool is not an int
    with pytest.raises(ValueError, match="type float. Received: dropout='0'"):
        bert_classifier.Config(dropout="0")
    assert bert_mlm.Config(learning_rate=1).learning_rate == 1.0


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny pretraining run through the CLI."""
    workdir = tmp_path_factory.mktemp("bert-mlm")
    try:
        code = cli_main(
            ["train", "bert-mlm", "--preset", "tiny", "--quiet"]
            + ["--workdir", str(workdir)]
        )
    except DataUnavailableError as error:
        pytest.skip(f"pretraining data unavailable: {error}")
    assert code == 0
    return workdir


def test_init_loads_the_pretrained_encoder(pretrained):
    config = bert_classifier.resolve(
        dataclasses.replace(
            bert_classifier.PRESETS["tiny"], init=str(pretrained)
        )
    )
    mlm = keras.saving.load_model(pretrained / "model.keras")
    expected = mlm.encoder.get_weights()
    vocabulary_size = mlm.encoder.vocabulary_size
    loaded = bert_classifier.build(config, vocabulary_size)
    for got, want in zip(loaded.encoder.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    x = {k: v for k, v in _batch(length=8).items() if k != "mask_positions"}
    x["token_ids"] = np.minimum(x["token_ids"], vocabulary_size - 1)
    np.testing.assert_array_equal(
        loaded.encoder(x)["sequence_output"], mlm.encoder(x)["sequence_output"]
    )
    scratch = bert_classifier.build(
        dataclasses.replace(config, init=""), vocabulary_size
    )
    assert not np.allclose(scratch.encoder.get_weights()[0], expected[0])

    probe = bert_classifier.build(
        dataclasses.replace(config, freeze_encoder=True), vocabulary_size
    )
    trainable = [w.path.split("/")[-2:] for w in probe.trainable_weights]
    assert trainable == [["logits", "kernel"], ["logits", "bias"]]
    _compiled(probe)
    probe.fit(x, np.array([0, 1]), epochs=2, verbose=0)
    for got, want in zip(probe.encoder.get_weights(), expected):
        np.testing.assert_array_equal(got, want)  # frozen


def test_mlm_score_counts_each_token_once():
    # p = (1/2, 1/4, 1/4) at every position; label 0 is a hit with
    # -log p = ln 2, labels 1 and 2 are misses with ln 4. Weight 0 marks
    # the padding slots of `mask_positions`, which must not count.
    logits = np.log(np.array([0.5, 0.25, 0.25], "float32"))

    def batch(labels, weights):
        p = len(labels)
        return (
            {"token_ids": np.zeros((1, 4), "int32")},
            np.array([labels], "int32"),
            np.array([weights], "float32"),
        ), np.tile(logits, (1, p, 1))

    batches = [batch([0, 1], [1, 1]), batch([0, 0, 0, 2], [1, 1, 1, 0])]
    outputs = iter([out for _, out in batches])
    result = bert_mlm_train.score(
        lambda inputs, training: next(outputs), [b for b, _ in batches]
    )
    # 5 real tokens, 4 hits (a mean of per-batch accuracies would be 0.75
    # and counting the padding slot 4/6); mean NLL (4 ln 2 + ln 4) / 5.
    assert result["masked_tokens"] == 5
    assert result["masked_accuracy"] == 0.8
    assert result["perplexity"] == round(2 ** (6 / 5), 2)


@pytest.mark.slow
def test_mlm_evaluate_rescores_identically(pretrained):
    # Fixed validation masks: re-scoring the saved model gives the same.
    metrics = json.loads((pretrained / "metrics.json").read_text())
    assert bert_mlm.evaluate(pretrained) == metrics["validation"]


def test_tiny_pretrain_then_fine_tune_through_the_cli(pretrained, tmp_path):
    # The validation numbers' values: test_mlm_score_counts_each_token_once
    # (formula) and test_mlm_evaluate_rescores_identically (saved model).
    assert list((pretrained / "plots").glob("attention_layer0.png"))
    vocabulary = (pretrained / "vocabulary.txt").read_text().split("\n")
    assert tuple(vocabulary[:5]) == SPECIAL_TOKENS

    workdir = tmp_path / "clf"
    code = cli_main(
        ["train", "bert-classifier", "--preset", "tiny", "--quiet"]
        + ["--init", str(pretrained), "--workdir", str(workdir)]
        + ["--set", "epochs=1"]
    )
    assert code == 0
    assert (workdir / "vocabulary.txt").read_text() == (
        pretrained / "vocabulary.txt"
    ).read_text()
    result = json.loads((workdir / "metrics.json").read_text())
    # The reported test accuracy is the saved model's, recomputed here
    # one snippet at a time (no padding) with NumPy.
    config = bert_classifier_train.config_from_workdir(workdir)
    tokenizer = BertTokenizer.load(workdir)
    test = bert_classifier_train.load_splits(config).test
    rows = streams.encode_snippets(
        tokenizer, [text for text, _ in test], config.max_length
    )
    model = keras.saving.load_model(workdir / "model.keras")
    predictions = [
        int(np.argmax(model({"token_ids": ids, "segment_ids": 0 * ids})[0]))
        for ids in (np.array([row], "int32") for row in rows)
    ]
    labels = np.array([label for _, label in test])
    assert len(set(labels)) == 2  # both classes, so accuracy can be wrong
    expected = float(np.mean(np.array(predictions) == labels))
    assert result["test_accuracy"] == pytest.approx(expected, abs=5e-5)
    assert result["init"] == str(pretrained) and result["best_epoch"] == 1
    saved = json.loads((workdir / "config.json").read_text())["config"]
    assert saved["hidden_dim"] == bert_mlm.PRESETS["tiny"].hidden_dim
    assert cli_main(["evaluate", str(workdir)]) == 0
    again = json.loads((workdir / "metrics.json").read_text())
    assert again["test_accuracy"] == result["test_accuracy"]


def test_ablation_gain_interval_and_verdict():
    from zoo.experiments.bert_ablation import markdown
    from zoo.experiments.bert_ablation import paired_gain
    from zoo.experiments.bert_ablation import summarize

    # Gains 1, 2, 3: mean 2, std 1; t(0.975, 2 dof) = 4.3027.
    gain = paired_gain([1.0, 2.0, 3.0])
    half = 4.302653 / 3**0.5
    assert gain["mean"] == 2.0 and gain["std"] == 1.0
    np.testing.assert_allclose(
        gain["interval"], [2 - half, 2 + half], atol=1e-4
    )
    assert not gain["beyond_noise"]  # the interval reaches below 0
    # t = 2 / (1 / sqrt 3) = 3.464 with 2 dof: two-sided p = 0.0742.
    np.testing.assert_allclose(gain["p_value"], 0.0742, atol=5e-4)
    assert paired_gain([1.0, 1.2, 0.9, 1.1])["beyond_noise"]
    assert not paired_gain([1.0])["beyond_noise"]  # one seed: no interval

    def run(arm, seed, accuracy):
        return {
            "arm": arm,
            "seed": seed,
            "learning_rate": 1e-3,
            "test_accuracy": accuracy,
            "validation_accuracy": accuracy,
            "best_epoch": 1,
            "train_seconds": 1.0,
            "trainable_parameters": 10,
        }

    # Seeds are paired by number, not by order.
    runs = [run("scratch", s, a) for s, a in [(0, 0.70), (1, 0.72), (2, 0.71)]]
    runs += [
        run("pretrained", s, a) for s, a in [(2, 0.74), (0, 0.73), (1, 0.75)]
    ]
    summary = summarize(runs)
    gain = summary["pretrained_minus_scratch"]
    np.testing.assert_allclose(gain["per_seed"], [0.03, 0.03, 0.03])
    assert gain["beyond_noise"] and gain["worst_pretrained_beats_best_scratch"]
    json.dumps(summary)  # ablation.json: plain Python types only
    text = markdown({"summary": summary})
    assert "beyond the noise (interval above 0): yes" in text
