"""The GPT language model: Austen data, tokenizer, bits per character,
tiny training (through the CLI) with exact resume, cached generation and
its sampling distributions, `python -m zoo generate`, attention pictures,
save -> reload and the SavedModel export in fresh processes."""

import dataclasses
import gzip
import importlib
import io
import json
import math
import os
import random
import struct
import subprocess
import sys
import tarfile
import textwrap
import zlib

import keras
import numpy as np
import pytest

from zoo import harness
from zoo.cli import main
from zoo.data import austen
from zoo.data import text as text_data
from zoo.data.sdist import DataUnavailableError
from zoo.gpt import PRESETS
from zoo.gpt import decode
from zoo.gpt.model import build

# The module, not the function `zoo.gpt.train` that the package exports.
gpt_train = importlib.import_module("zoo.gpt.train")

WORDS = (
    "the of and to a her in was she it that not you he be his had as for "
    "with but my have is at Elinor Marianne Darcy Emma sister mother "
    "letter ball house walk morning evening happy very great little"
).split()


def fixture_text(paragraphs=60, seed=0):
    """Deterministic English-like paragraphs, separated by blank lines."""
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(2, 4)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(4, 9))]
            sentences.append(" ".join(words).capitalize() + ".")
        out.append(" ".join(sentences))
    return "\n\n".join(out) + "\n"


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "novel.txt"
    path.write_text(fixture_text())
    return path


# Data -----------------------------------------------------------------------


def _r_serialise(obj):
    import rdata

    r_data = rdata.conversion.convert_python_to_r_data(obj, file_type="rds")
    return rdata.unparser.unparse_data(r_data, file_type="rds")


def _fake_deb(books):
    """A .deb laid out as r-cran-janeaustenr's, holding `books`."""
    rdb, variables = b"", {}
    for name, lines in books.items():
        data = _r_serialise(np.array(lines))
        record = struct.pack(">I", len(data)) + zlib.compress(data)
        variables[name] = np.array([len(rdb), len(record)], "int32")
        rdb += record
    rdx = gzip.compress(
        _r_serialise(
            {"variables": variables, "references": {}, "compressed": True}
        )
    )
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:xz") as tar:
        for name, content in (("Rdata.rdx", rdx), ("Rdata.rdb", rdb)):
            info = tarfile.TarInfo(austen.DATA_MEMBER + name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", b"odd"),  # odd size: the next member is aligned
        ("data.tar.xz", tar_bytes.getvalue()),
    ]
    deb = b"!<arch>\n"
    for name, content in members:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}"
        header += f"{len(content):<10}`\n"
        deb += header.encode() + content + (b"\n" if len(content) % 2 else b"")
    return deb


def test_austen_reads_the_package_verifies_and_splits_by_book(
    tmp_path, monkeypatch
):
    books = {
        name: [f"{name.upper()}", "", f"First  line of {name},", "goes on.", ""]
        for name in austen.BOOKS
    }
    deb = _fake_deb(books)
    digests = {
        name: austen.sha256_of_bytes(
            f"{name.upper()}\nFirst line of {name}, goes on.\n".encode()
        )
        for name in austen.BOOKS
    }
    monkeypatch.setattr(austen, "BOOKS", digests)
    monkeypatch.setattr(austen, "INSTALLED_DIR", tmp_path / "not-installed")
    with pytest.raises(DataUnavailableError, match="apt-get download"):
        austen.load_austen(tmp_path, download=False)  # nothing there yet
    (tmp_path / austen.DEB_NAME).write_bytes(deb)
    with pytest.raises(DataUnavailableError, match="sha256"):
        austen.load_austen(tmp_path, download=False)  # not the pinned .deb
    monkeypatch.setattr(austen, "DEB_SHA256", austen.sha256_of_bytes(deb))
    splits = austen.load_austen(tmp_path, download=False)
    assert splits.validation == [
        "NORTHANGERABBEY",
        "First line of northangerabbey, goes on.",
    ]
    assert splits.test[1] == "First line of persuasion, goes on."
    assert len(splits.train) == 8 and splits.train[0] == "SENSESENSIBILITY"
    (tmp_path / austen.DEB_NAME).unlink()  # the cache alone serves now
    assert austen.load_austen(tmp_path, download=False) == splits


def test_a_text_file_splits_into_contiguous_paragraphs(text_file):
    splits = text_data.load_corpus(str(text_file))
    assert [len(s) for s in splits] == [54, 3, 3]
    paragraphs = text_file.read_text().split("\n\n")
    assert splits.validation[0] == paragraphs[54].strip()
    with pytest.raises(ValueError, match="`data` must be one of 'austen'"):
        text_data.load_corpus("no/such/file.txt")


def test_corpus_defaults_resolve_and_bad_values_are_named():
    austen_run = PRESETS["cpu"]
    assert austen_run.coverage == 1.0
    assert austen_run.sample_prompt.startswith("It is a truth")
    japanese = dataclasses.replace(austen_run, data="tatoeba-ja")
    assert japanese.coverage == 0.9995 and japanese.sample_prompt == "私は"
    own_file = dataclasses.replace(austen_run, data="my_text.txt")
    assert own_file.coverage == 1.0 and own_file.sample_prompt == ""
    chosen = dataclasses.replace(
        japanese, character_coverage=0.98, prompt="猫が"
    )
    assert chosen.coverage == 0.98 and chosen.sample_prompt == "猫が"
    for bad in (1.5, -0.1):
        with pytest.raises(ValueError, match="character_coverage="):
            dataclasses.replace(austen_run, character_coverage=bad)


def test_cli_names_a_missing_data_file_before_any_work(tmp_path, capsys):
    workdir = tmp_path / "run"
    command = ["train", "gpt", "--preset", "tiny", "--workdir", str(workdir)]
    assert main([*command, "--data", str(tmp_path / "none.txt")]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "none.txt" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert not workdir.exists()


def test_character_coverage_leaves_rare_characters_to_bytes():
    """Below 1, a character rarer than the uncovered share gets no piece
    of its own and is spelled in UTF-8 byte pieces; text still round-trips
    (sentencepiece's advice for Japanese, zoo/data/text.py)."""
    rng = random.Random(0)
    common = "私はあなたの猫が好きですね今日も雨だ。"
    texts = ["".join(rng.choice(common) for _ in range(30)) for _ in range(400)]
    texts[7] += "鬱"  # 1 of ~12,000 characters: under 1 - 0.9995
    sample = "私は鬱だ。"
    for coverage, rare_is_a_piece in ((1.0, True), (0.9995, False)):
        proto = gpt_train.learn_tokenizer(texts, 300, coverage)
        vocab = _sentencepiece(proto)
        assert ("鬱" in vocab) is rare_is_a_piece, coverage
        assert "私" in vocab
        pieces = _encode_pieces(proto, sample)
        bytes_of_rare = ["<0xE9>", "<0xAC>", "<0xB1>"]  # "鬱" in UTF-8
        assert (bytes_of_rare[0] in pieces) is not rare_is_a_piece, pieces
        assert _decode(proto, pieces) == sample


def _processor(proto):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=proto)


def _sentencepiece(proto):
    processor = _processor(proto)
    return {processor.id_to_piece(i) for i in range(processor.vocab_size())}


def _encode_pieces(proto, text):
    return _processor(proto).encode(text, out_type=str)


def _decode(proto, pieces):
    return _processor(proto).decode_pieces(pieces)


# Tokenizer and metrics -------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory, text_file):
    workdir = tmp_path_factory.mktemp("tokenizer")
    texts = text_data.load_corpus(str(text_file)).train
    (workdir / decode.TOKENIZER_FILE).write_bytes(
        gpt_train.learn_tokenizer(texts, 320)
    )
    return workdir


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return decode.load_tokenizer(tokenizer_dir)


def test_tokenizer_round_trips_even_unseen_characters(tokenizer):
    text = "Marianne wrote a letter to Mr. Darcy — née Bennet, 3 £."
    ids = decode.encode(tokenizer, [text])[0]
    assert decode.UNK_ID not in ids  # byte fallback, never <unk>
    assert decode.decode_text(tokenizer, ids) == text
    both = [decode.EOS_ID, *ids, decode.EOS_ID, *ids]
    assert decode.decode_text(tokenizer, both) == f"{text}\n\n{text}"


def test_windows_predict_every_token_after_the_first_once():
    stream = np.arange(1, 12, dtype="int32")  # 11 tokens
    inputs, targets, weights = gpt_train.windows(stream, 4)
    assert inputs.shape == targets.shape == (3, 4)
    predicted = targets.ravel()[weights.ravel() == 1]
    np.testing.assert_array_equal(predicted, stream[1:])
    np.testing.assert_array_equal(inputs[1], [5, 6, 7, 8])


def test_bits_per_character_against_a_hand_computation():
    # A model with equal logits over V = 4 tokens: ln 4 nats per token.
    def uniform(inputs, training=False):
        return keras.ops.zeros_like(keras.ops.cast(inputs, "float32"))[
            ..., None
        ] + keras.ops.zeros((4,))

    texts = ["ab c", "de"]  # 4 + 1 and 2 + 1 characters: 8
    assert gpt_train.characters(texts) == 8
    stream = np.array([3, 1, 2, 3, 1, 3], "int32")  # 5 tokens predicted
    batches = gpt_train.evaluation_batches(*gpt_train.windows(stream, 2), 2)
    result = gpt_train.score(uniform, batches, 8)
    assert result["tokens"] == 5
    # 5 tokens x 2 bits each = 10 bits over 8 characters.
    assert result["bits_per_character"] == pytest.approx(10 / 8, abs=1e-4)
    assert result["bits_per_token"] == pytest.approx(2.0, abs=1e-4)
    assert result["perplexity"] == pytest.approx(4.0, abs=0.01)
    assert gpt_train.bits_per_character(8 * math.log(2), 4) == 2.0


# Cached generation --------------------------------------------------------


def _model(changes, seed=1):
    """A tiny GPT with larger random weights (std 0.05, NumPy-seeded), so
    that the context, not just the last token, decides the argmax."""
    config = dataclasses.replace(PRESETS["tiny"], **changes)
    model = build(config, 320)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.weights]
    )
    return model


@pytest.mark.parametrize(
    "changes",
    [
        {"architecture": "gpt2"},
        {"architecture": "modern", "num_key_value_heads": 1},
        {"architecture": "modern", "sliding_window": 4},
        {
            "architecture": "modern",
            "num_heads": 4,
            "num_key_value_heads": 2,
            "sliding_window": 3,
        },
    ],
    ids=["gpt2", "modern-gqa", "modern-window", "modern-gqa2-window"],
)
def test_cached_greedy_equals_the_full_pass_token_by_token(changes):
    model = _model(changes)
    prompt = np.array([[3, 40, 41, 42, 43], [3, 50, 51, 52, 53]], "int32")
    expected = decode.full_pass_greedy(model, prompt, 9)
    compiled = decode.generate_ids(model, prompt, 9)
    streamed = []
    eager = decode.generate_ids(
        model, prompt, 9, callback=lambda i, t: streamed.append(np.array(t))
    )
    np.testing.assert_array_equal(compiled, expected)
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(np.stack(streamed, 1), expected)
    assert len(set(expected.ravel().tolist())) > 1  # not one token repeated
    # The logits too: prefill, then one cached step per token.
    ids = np.concatenate([prompt, expected], axis=1)  # (2, 14)
    full = keras.ops.convert_to_numpy(model(ids))  # (2, 14, V)
    cache = model.init_cache(2, 14)
    logits, cache = model.prefill(ids[:, :5], cache)
    cached = [keras.ops.convert_to_numpy(logits)]
    for index in range(5, 13):
        logits, cache = model.step(ids[:, index], cache, index)
        cached.append(keras.ops.convert_to_numpy(logits))
    np.testing.assert_allclose(np.stack(cached, 1), full[:, 4:13], atol=1e-4)


def test_sampling_is_seeded_and_top_k_1_is_greedy():
    model = _model({}, seed=2)
    prompt = np.array([[3, 40, 41]] * 4, "int32")
    a = decode.generate_ids(model, prompt, 6, temperature=1.0, seed=5)
    b = decode.generate_ids(model, prompt, 6, temperature=1.0, seed=5)
    np.testing.assert_array_equal(a, b)
    assert len(set(map(tuple, a.tolist()))) > 1  # the batch rows differ
    top1 = decode.generate_ids(model, prompt, 6, temperature=1.0, top_k=1)
    np.testing.assert_array_equal(top1, decode.generate_ids(model, prompt, 6))


def _allowed_distribution(logits, temperature, top_k=None, top_p=None):
    """The target of `sample`, in NumPy: `softmax(logits / temperature)`
    cut to the k likeliest tokens, then to the smallest set of likeliest
    tokens whose mass reaches p, renormalised."""
    z = logits.astype("float64") / temperature
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    keep = np.zeros(len(probs), bool)
    keep[order[: top_k or len(probs)]] = True
    if top_p is not None:
        kept = probs * keep
        kept /= kept.sum()
        before = np.cumsum(kept[order]) - kept[order]
        keep[order[before >= top_p]] = False
    target = probs * keep
    return target / target.sum()


def _chi_square_limit(df, z=3.09):
    """The chi-square value exceeded with probability 0.001 (z = 3.09), by
    the Wilson-Hilferty approximation."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


@pytest.mark.parametrize(
    "top_k, top_p", [(6, None), (None, 0.7), (8, 0.8)], ids=str
)
def test_top_k_top_p_samples_follow_the_truncated_distribution(top_k, top_p):
    model = _model({"architecture": "modern"}, seed=3)
    prompt = np.array([3, 40, 41, 42], "int32")
    # The random logits lie within +-0.05: 0.008 spreads them to a few
    # likely tokens and a long tail, which the truncations cut.
    temperature = 0.008
    logits = keras.ops.convert_to_numpy(model(prompt[None]))[0, -1]  # (V,)
    target = _allowed_distribution(logits, temperature, top_k, top_p)
    allowed = np.flatnonzero(target)
    assert 3 <= len(allowed) <= 12 and target.max() < 0.7  # a real spread
    rows = 3000
    tokens = decode.generate_ids(
        model,
        np.tile(prompt, (rows, 1)),
        1,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=11,
    )[:, 0]
    assert set(tokens.tolist()) <= set(allowed.tolist())
    counts = np.bincount(tokens, minlength=len(target))[allowed]
    expected = rows * target[allowed]
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < _chi_square_limit(len(allowed) - 1), (
        chi_square,
        counts,
        expected.round(1),
    )


# Training and the CLI ------------------------------------------------------


class _Crash(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == 4:
            raise KeyboardInterrupt("killed")


def _weights(path):
    return [np.asarray(w) for w in keras.saving.load_model(path).weights]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, text_file):
    """`python -m zoo train gpt --preset tiny` on the fixture text."""
    workdir = tmp_path_factory.mktemp("gpt") / "run"
    command = ["train", "gpt", "--preset", "tiny", "--data", str(text_file)]
    command += ["--workdir", str(workdir), "--backup-every", "3", "--quiet"]
    assert main(command) == 0
    config = dataclasses.replace(PRESETS["tiny"], data=str(text_file))
    options = harness.RunOptions(backup_every=3, verbose=0)
    metrics = json.loads((workdir / "metrics.json").read_text())
    return workdir, config, options, metrics


def test_tiny_train_writes_its_files_and_metrics(trained):
    workdir, _, _, metrics = trained
    for name in ("config.json", "model.keras", "tokenizer.model"):
        assert (workdir / name).is_file(), name
    assert not (workdir / "backup").exists()
    saved = json.loads((workdir / "metrics.json").read_text())
    for split in ("validation", "test"):
        scores = saved[split]
        nats = scores["loss_per_token"] * scores["tokens"]
        assert scores["bits_per_character"] == pytest.approx(
            nats / scores["characters"] / math.log(2), rel=1e-3
        )
    assert saved["examples"][0].startswith("It is")
    assert metrics["train_seconds"] > 0


def test_tiny_train_resumes_exactly(trained, tmp_path, monkeypatch):
    workdir, config, options, _ = trained
    killed = tmp_path / "killed"
    fit = harness.fit
    monkeypatch.setattr(
        harness, "fit", lambda *a, **k: fit(*a, callbacks=[_Crash()], **k)
    )
    with pytest.raises(KeyboardInterrupt):
        gpt_train.train(config, killed, options)
    assert (killed / "backup").is_dir() and not (
        killed / "model.keras"
    ).exists()
    monkeypatch.setattr(harness, "fit", fit)
    gpt_train.train(config, killed, options)  # resumes at step 3
    for a, b in zip(
        _weights(workdir / "model.keras"), _weights(killed / "model.keras")
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_generate_streams_text_as_tokens_arrive(trained):
    workdir = trained[0]
    chunks = []
    texts = gpt_train.generate(
        workdir, "It is", max_new_tokens=6, temperature=0.0, write=chunks.append
    )
    assert chunks[0] == "It is" and len(chunks) >= 3  # prompt, then pieces
    assert "".join(chunks) == texts[0]
    batch = gpt_train.generate(
        workdir, "It is", max_new_tokens=6, top_p=0.9, num_samples=3
    )
    assert len(batch) == 3 and all(t.startswith("It is") for t in batch)


def test_cli_generate_prints_and_names_mistakes(trained, capsys, tmp_path):
    workdir = str(trained[0])
    args = ["generate", workdir, "It is", "--max-new-tokens", "4"]
    assert main([*args, "--greedy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("It is") and out.endswith("\n")
    for extra, fragment in (
        (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["--temperature", "-1"], "--temperature must be a number >= 0"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be a positive"),
        (["--max-new-tokens", "99"], "exceed the context length"),
    ):
        assert main([*args, *extra]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) <= 2
    assert main(["generate", str(tmp_path / "none"), "It"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*args[:3], "--top-k", "x"]) == 2  # argparse: a number
    assert "invalid int value" in capsys.readouterr().err


# Attention pictures ---------------------------------------------------------


def test_attention_pictures_draw_causal_heads(trained, tmp_path, monkeypatch):
    workdir = str(trained[0])
    plotted = []
    plot = decode.visualize.plot_attention_heads
    monkeypatch.setattr(
        decode.visualize,
        "plot_attention_heads",
        lambda weights, *a, **k: (
            plotted.append(weights) or plot(weights, *a, **k)
        ),
    )
    png = tmp_path / "plots" / "heads.png"
    args = ["generate", workdir, "It is a", "--max-new-tokens", "2"]
    assert main([*args, "--greedy", "--attention-plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (weights,) = plotted
    tokens = len(
        decode.prompt_ids_of(decode.load_tokenizer(workdir), "It is a")
    )
    assert weights.shape == (2, tokens, tokens) and tokens >= 3  # 2 heads
    np.testing.assert_array_equal(np.triu(weights, k=1), 0.0)  # causal
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert not np.allclose(weights[0], weights[1])  # each head its own
    # A modern model with a window: the same contract, through the function.
    model = _model({"architecture": "modern", "sliding_window": 2})
    window = decode.attention_weights(model, [3, 40, 41, 42, 43], 1)
    np.testing.assert_array_equal(np.triu(window, k=1), 0.0)
    np.testing.assert_array_equal(np.tril(window, k=-2), 0.0)  # 2 keys
    np.testing.assert_allclose(window.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="Received: layer=2"):
        decode.attention_weights(model, [3, 40], 2)


def test_cli_attention_plot_names_mistakes(trained, tmp_path, capsys):
    workdir = str(trained[0])
    png = str(tmp_path / "a.png")
    for args, fragment in (
        ([workdir, "It", "--attention-plot", png, "--layer", "2"], "0..1"),
        ([workdir, "It", "--layer", "1"], "--layer chooses the layer"),
        ([str(tmp_path / "none"), "It", "--attention-plot", png], "not exist"),
    ):
        assert main(["generate", *args]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) <= 2
    assert not (tmp_path / "a.png").exists()


# Save -> reload, and the SavedModel export, in fresh processes --------------


def _run_python(script, timeout=600):
    """Run `script` in a fresh Python; its last stdout line, as JSON."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a fresh TensorFlow process: ~20 s on 2 cores
def test_saved_model_reloads_in_a_fresh_process_and_generates_the_same(
    trained,
):
    workdir = trained[0]
    model = decode.load_model(workdir)
    prompt = np.array([[3, 40, 41, 42, 43]], "int32")
    greedy = decode.generate_ids(model, prompt, 8)
    logits = keras.ops.convert_to_numpy(model(prompt))
    # `zoo.gpt.model` registers the class: no custom_objects.
    got = _run_python(
        f"""
        import json
        import keras
        import numpy as np
        import zoo.gpt.model  # noqa: F401
        from zoo.gpt import decode
        model = keras.saving.load_model({str(workdir / "model.keras")!r})
        prompt = np.array({prompt.tolist()!r}, "int32")
        print(json.dumps({{
            "class": type(model).__name__,
            "greedy": decode.generate_ids(model, prompt, 8).tolist(),
            "logits": keras.ops.convert_to_numpy(model(prompt)).tolist(),
        }}))
        """
    )
    assert got["class"] == "GPT"
    assert got["greedy"] == greedy.tolist()
    np.testing.assert_allclose(got["logits"], logits, atol=1e-6)


def test_in_graph_tokenizer_matches_the_python_one(tokenizer, tokenizer_dir):
    export = importlib.import_module("zoo.gpt.export")
    proto = (tokenizer_dir / decode.TOKENIZER_FILE).read_bytes()
    in_graph = export.InGraphTokenizer(proto)
    for prompt in ("It is a truth — née 3 £.", ""):
        np.testing.assert_array_equal(
            in_graph.prompt_ids(prompt), decode.prompt_ids_of(tokenizer, prompt)
        )
    words = decode.encode(tokenizer, ["Emma wrote", "to her sister."])
    a, b = words
    eos, pad = decode.EOS_ID, decode.PAD_ID
    rows = [
        [eos, eos, *a, eos, *b, eos, eos, *a],  # leading, inner, empty
        [*b, pad, *a, eos],  # padding inside, a trailing break
        [pad, eos, pad, eos, *a],  # leading breaks around padding
        [eos, pad, eos],  # nothing at all
    ]
    width = max(map(len, rows))
    ids = np.array([r + [pad] * (width - len(r)) for r in rows], "int32")
    texts = [t.decode("utf-8") for t in in_graph.detokenize(ids).numpy()]
    assert texts == [decode.decode_text(tokenizer, row) for row in rows]
    assert texts[1] == "to her sister. Emma wrote\n\n" and texts[3] == ""


@pytest.mark.slow  # exporting traces the loops; a fresh TensorFlow: ~60 s
def test_export_generates_in_a_fresh_process_with_tensorflow_only(
    trained, tmp_path, capsys
):
    workdir = trained[0]
    out = tmp_path / "export"
    assert main(["export", str(workdir), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    prompt = "It is a"
    expected = {
        "greedy": gpt_train.generate(
            workdir, prompt, max_new_tokens=6, temperature=0.0
        ),
        "sample": gpt_train.generate(
            workdir, prompt, max_new_tokens=5, seed=3, num_samples=4
        ),
    }
    assert len(set(expected["sample"])) > 1
    # Only TensorFlow and tensorflow-text (which bring Keras with them):
    # keras-hub, keras_attn and zoo are made unimportable in the child.
    got = _run_python(
        f"""
        import json, sys
        for name in ("keras_hub", "keras_attn", "zoo"):
            sys.modules[name] = None
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the ops)
        gpt = tf.saved_model.load({str(out)!r})
        prompt = tf.constant({prompt!r})
        def texts(result):
            return [t.decode("utf-8", "replace")
                    for t in result["text"].numpy()]
        sample = gpt.signatures["serving_default"]
        args = dict(prompt=prompt, max_new_tokens=tf.constant(5),
                    temperature=tf.constant(1.0), seed=tf.constant(3),
                    num_samples=tf.constant(4))
        out = {{
            "greedy": texts(gpt.signatures["greedy"](
                prompt=prompt, max_new_tokens=tf.constant(6))),
            "sample": texts(sample(**args)),
            "again": texts(sample(**args)),
            "other_seed": texts(sample(**{{**args, "seed": tf.constant(4)}})),
            "cold": gpt.sample(prompt, tf.constant(6), tf.constant(1e-4),
                               tf.constant(0), tf.constant(1))["token_ids"]
                    .numpy().tolist(),
            "hot": gpt.greedy(prompt, tf.constant(6))["token_ids"]
                   .numpy().tolist(),
        }}
        try:  # the prompt (>= 2 tokens) and 15 new exceed 16 slots
            gpt.greedy(prompt, tf.constant(15))
        except tf.errors.InvalidArgumentError as error:
            out["too_long"] = "exceed the exported max_length (16)" in str(
                error)
        print(json.dumps(out))
        """
    )
    assert got["greedy"] == expected["greedy"]
    assert got["sample"] == got["again"] == expected["sample"]
    assert got["other_seed"] != got["sample"]
    assert got["cold"] == got["hot"]  # temperature reaches the logits
    assert got["too_long"] is True


def test_cli_export_names_mistakes(trained, capsys):
    workdir = str(trained[0])
    for extra, fragment in (
        (["--max-length", "17"], "--max-length must be at most"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["--top-k", "0"], "--top-k must be a positive integer"),
    ):
        assert main(["export", workdir, *extra]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) <= 2
    assert not (trained[0] / "export").exists()
