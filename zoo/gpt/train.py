"""`train(config, workdir, options)`, `evaluate(workdir)` and
`generate(workdir, prompt, ...)` for the GPT language model.

    python -m zoo train gpt --preset cpu --workdir workdirs/gpt-cpu

writes, besides the harness's files (config.json, checkpoints/, logs/):

    tokenizer.model   the sentencepiece BPE model, learned on the train split
    model.keras       the `GPT` (reloads without custom_objects)
    metrics.json      validation and test loss per token, perplexity and
                      bits per character; train time; a greedy sample

The text is one token stream per split: `EOS p1 EOS p2 EOS ...` (EOS ends
each paragraph; the leading one is the first paragraph's context), cut
into windows of `context_length + 1` tokens at stride `context_length`,
so every token but the first is predicted exactly once. Bits per
character = total nats / characters / ln 2, where the characters are
those of the paragraphs plus one per paragraph end: the same denominator
for any tokenizer, so runs with different vocabularies compare.
"""

import io
import json
import math
import pathlib
import re
import time

import keras
import numpy as np
import tensorflow as tf

from zoo import harness
from zoo.config_utils import UsageError
from zoo.data.text import check_corpus
from zoo.data.text import load_corpus
from zoo.gpt import decode
from zoo.gpt.config import Config
from zoo.gpt.model import build


def learn_tokenizer(texts, vocabulary_size, character_coverage=1.0):
    """A sentencepiece BPE model (serialized proto) learned on `texts`.

    The trainer is sentencepiece's own, with keras-hub's id layout (pad 0,
    unk 1, bos 2, eos 3), called directly for two options keras-hub's
    `compute_sentence_piece_proto` does not pass: `byte_fallback` (a
    character never seen in training becomes its UTF-8 bytes, never
    `<unk>`, so every text is scored in full) and a paragraph length
    limit above the longest paragraph. Normalisation is keras-hub's NFKC
    (`nmt_nfkc`), which leaves Austen's text (ASCII and £) unchanged and
    makes Japanese full-width Latin letters, digits and punctuation
    half-width (`？` -> `?`). `character_coverage` < 1 leaves the rarest
    characters to byte pieces (0.9995 is sentencepiece's advice for
    Japanese).
    """
    import sentencepiece as spm

    model = io.BytesIO()
    try:
        _train_sentencepiece(
            spm, texts, vocabulary_size, character_coverage, model
        )
    except RuntimeError as error:
        found = re.search(r"required_chars\. (\d+) vs (\d+)", str(error))
        if found is None:
            raise
        raise UsageError(
            f"vocabulary_size={vocabulary_size} is too small for this text: "
            f"its characters, the 256 byte pieces and the reserved ids need "
            f"{found.group(2)}; pass --set vocabulary_size={found.group(2)} "
            "or more."
        ) from None
    return model.getvalue()


def _train_sentencepiece(spm, texts, vocabulary_size, coverage, model):
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocabulary_size,
        model_type="bpe",
        pad_id=decode.PAD_ID,
        unk_id=decode.UNK_ID,
        bos_id=decode.BOS_ID,
        eos_id=decode.EOS_ID,
        byte_fallback=True,
        character_coverage=coverage,
        normalization_rule_name="nmt_nfkc",
        max_sentence_length=1 << 16,
        hard_vocab_limit=False,
        num_threads=harness.num_cpus(),
        minloglevel=2,
    )


def _tokenizer(config, train_texts, workdir):
    """The work directory's tokenizer, or one learned now (and saved)."""
    path = pathlib.Path(workdir) / decode.TOKENIZER_FILE
    if not path.exists():
        path.write_bytes(
            learn_tokenizer(
                train_texts, config.vocabulary_size, config.coverage
            )
        )
    return decode.load_tokenizer(workdir)


def token_stream(tokenizer, texts):
    """`EOS p1 EOS p2 EOS ...` as one int32 array."""
    stream = [decode.EOS_ID]
    for ids in decode.encode(tokenizer, list(texts)):
        stream.extend(ids)
        stream.append(decode.EOS_ID)
    return np.asarray(stream, "int32")


def windows(stream, length):
    """`(inputs, targets, weights)`, each `(W, length)`: windows at stride
    `length`; the last one is zero-padded with weight 0, so every token
    after the first is a target exactly once."""
    count = math.ceil((len(stream) - 1) / length)
    padded = np.zeros(count * length + 1, "int32")
    padded[: len(stream)] = stream
    weights = np.zeros(count * length, "float32")
    weights[: len(stream) - 1] = 1.0
    inputs = padded[:-1].reshape(count, length)
    targets = padded[1:].reshape(count, length)
    return inputs, targets, weights.reshape(count, length)


def characters(texts):
    """The bits-per-character denominator: each paragraph and its end."""
    return sum(len(text) + 1 for text in texts)


def bits_per_character(total_nats, num_characters):
    """`total nats / characters / ln 2`."""
    return total_nats / num_characters / math.log(2)


def train_stream(inputs, targets, weights, batch_size, seed):
    """An endless, deterministic stream of `(inputs, targets)` batches:
    pass `n` visits the full windows in an order drawn statelessly from
    `(seed, n)`, so element `i` depends on `(seed, i)` alone and a resumed
    run can `skip` to where it stopped (see zoo/harness.py)."""
    full = weights[:, -1] == 1  # the zero-padded last window is left out
    inputs, targets = tf.constant(inputs[full]), tf.constant(targets[full])
    count = int(inputs.shape[0])
    if count < batch_size:
        raise ValueError(
            f"The training text gives {count} windows, fewer than one batch "
            f"({batch_size}): lower batch_size or context_length."
        )

    def one_pass(number):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64),
            seed=tf.stack([tf.constant(seed, tf.int64), number]),
        )
        return tf.data.Dataset.from_tensor_slices(order)

    return (
        tf.data.Dataset.counter()
        .flat_map(one_pass)
        .map(lambda i: (tf.gather(inputs, i), tf.gather(targets, i)))
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def evaluation_batches(inputs, targets, weights, batch_size):
    return tf.data.Dataset.from_tensor_slices((inputs, targets, weights)).batch(
        batch_size
    )


def score(model, dataset, num_characters):
    """Exact loss per token, perplexity and bits per character/token."""

    def nats(inputs, targets, weights):
        logits = model(inputs, training=False)  # (B, T, V)
        nll = keras.ops.sparse_categorical_crossentropy(
            targets, logits, from_logits=True
        )  # (B, T)
        return keras.ops.sum(nll * weights), keras.ops.sum(weights)

    nats = harness.compiled(nats, reduce_retracing=True)  # or jax.jit
    total, tokens = 0.0, 0.0
    for batch in dataset.as_numpy_iterator():
        n, w = nats(*batch)
        total += float(n)
        tokens += float(w)
    return {
        "loss_per_token": round(total / tokens, 4),
        "perplexity": round(math.exp(total / tokens), 2),
        "bits_per_token": round(total / tokens / math.log(2), 4),
        "bits_per_character": round(
            bits_per_character(total, num_characters), 4
        ),
        "tokens": int(tokens),
        "characters": int(num_characters),
    }


def _optimizer(config):
    total = config.steps_per_epoch * config.epochs
    warmup = int(config.warmup_fraction * total)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.learning_rate,
        decay_steps=max(total - warmup, 1),
        alpha=0.1,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        schedule,
        weight_decay=config.weight_decay,
        beta_2=0.95,
        clipnorm=config.clipnorm,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "norm"])
    return optimizer


def _splits_and_tokenizer(config, workdir):
    splits = load_corpus(config.data)
    tokenizer = _tokenizer(config, splits.train, workdir)
    return splits, tokenizer


def _evaluation(config, tokenizer, texts):
    """`(batches, characters)` of a split."""
    stream = token_stream(tokenizer, texts)
    batches = evaluation_batches(
        *windows(stream, config.context_length), config.batch_size
    )
    return batches, characters(texts)


def sample_text(model, tokenizer, prompt, max_new_tokens):
    """A greedy continuation of `prompt` (within the context length)."""
    ids = decode.prompt_ids_of(tokenizer, prompt)
    room = model.context_length - len(ids)
    if room < 1:
        return ""
    tokens = decode.generate_ids(model, [ids], min(max_new_tokens, room))
    return decode.decode_text(tokenizer, ids + tokens[0].tolist())


def train(config, workdir, options=None):
    """Learn the tokenizer, train, save and score a GPT; returns metrics."""
    options = options or harness.RunOptions()
    try:
        check_corpus(config.data)
    except ValueError as error:
        raise UsageError(f"--data (--set data): {error}") from None
    strategy = harness.setup(options)
    workdir = harness.prepare_workdir(workdir, config, options)
    start = time.perf_counter()
    splits, tokenizer = _splits_and_tokenizer(config, workdir)
    train_ids = token_stream(tokenizer, splits.train)
    stream = train_stream(
        *windows(train_ids, config.context_length),
        config.batch_size,
        options.seed,
    )
    validation, validation_chars = _evaluation(
        config, tokenizer, splits.validation
    )
    prepare_seconds = time.perf_counter() - start
    vocabulary_size = int(tokenizer.vocabulary_size())
    with strategy.scope():
        model = build(config, vocabulary_size)
        model.compile(
            optimizer=_optimizer(config),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=options.jit_compile,
        )
    history, fit_seconds = harness.fit(
        model,
        stream,
        config.steps_per_epoch,
        config.epochs,
        workdir,
        options,
        validation_data=validation,
    )
    model.save(workdir / "model.keras")
    harness.save_json(workdir / "history.json", history)
    test, test_chars = _evaluation(config, tokenizer, splits.test)
    steps = config.steps_per_epoch * config.epochs
    tokens_per_step = config.batch_size * config.context_length
    metrics = {
        "model": Config.model_name,
        "architecture": config.architecture,
        "data": config.data,
        "vocabulary_size": vocabulary_size,
        "parameters": int(model.count_params()),
        "train_characters": characters(splits.train),
        "train_tokens": int(len(train_ids)),
        "characters_per_token": round(
            characters(splits.train) / (len(train_ids) - 1), 3
        ),
        "steps": steps,
        "passes_over_train": round(steps * tokens_per_step / len(train_ids), 2),
        "prepare_seconds": round(prepare_seconds, 1),
        "train_seconds": round(fit_seconds, 1),
        "validation": score(model, validation, validation_chars),
        "test": score(model, test, test_chars),
        "examples": [sample_text(model, tokenizer, config.sample_prompt, 48)],
    }
    metrics["total_seconds"] = round(time.perf_counter() - start, 1)
    harness.save_json(workdir / "metrics.json", metrics)
    return metrics


def config_from_workdir(workdir):
    """The `Config` a work directory was trained with."""
    record = harness.read_config(workdir)
    return Config(**record["config"])


def evaluate(workdir):
    """Re-score the saved model on validation and test; updates
    metrics.json."""
    workdir = pathlib.Path(workdir)
    config = config_from_workdir(workdir)
    model = decode.load_model(workdir)
    splits, tokenizer = _splits_and_tokenizer(config, workdir)
    result = {
        name: score(model, *_evaluation(config, tokenizer, texts))
        for name, texts in (
            ("validation", splits.validation),
            ("test", splits.test),
        )
    }
    path = workdir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics.update(result)
    harness.save_json(path, metrics)
    return result


def score_at_length(workdir, length, split="validation", **overrides):
    """Score the work directory's model on `split` cut into windows of
    `length` tokens (which may exceed the training length).

    `overrides` replace config fields that leave the weights unchanged
    (`rope_scaling`, `rope_scaling_factor`): the model is rebuilt with
    them and given the trained weights. Returns `score`'s dict.
    """
    import dataclasses

    workdir = pathlib.Path(workdir)
    config = config_from_workdir(workdir)
    model = decode.load_model(workdir)
    if overrides:
        variant = build(
            dataclasses.replace(config, **overrides), model.vocabulary_size
        )
        variant.set_weights(model.get_weights())
        model = variant
    splits, tokenizer = _splits_and_tokenizer(config, workdir)
    texts = getattr(splits, split)
    stream = token_stream(tokenizer, texts)
    batch = max(1, config.batch_size * config.context_length // length)
    batches = evaluation_batches(*windows(stream, length), batch)
    return score(model, batches, characters(texts))


def generate(
    workdir,
    prompt,
    max_new_tokens=64,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=0,
    num_samples=1,
    write=None,
):
    """Continue `prompt` with the work directory's model.

    With `num_samples=1` and a `write` function, the text is streamed to
    `write` as tokens are produced. Returns the `num_samples` texts
    (prompt included); the rows are one batch.
    """
    model = decode.load_model(workdir)
    tokenizer = decode.load_tokenizer(workdir)
    ids = decode.prompt_ids_of(tokenizer, prompt)
    total = len(ids) + max_new_tokens
    if model.position_embedding is not None and total > model.context_length:
        raise UsageError(
            f"--max-new-tokens: the prompt ({len(ids)} tokens with the "
            f"paragraph start) plus {max_new_tokens} new tokens exceed the "
            f"context length of this gpt2 model ({model.context_length}); "
            f"ask for at most {model.context_length - len(ids)}."
        )
    callback = None
    if write is not None and num_samples == 1:
        callback = decode.Streamer(tokenizer, ids, write)
        write(callback.shown)
    tokens = decode.generate_ids(
        model,
        [ids] * num_samples,
        max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        callback=callback,
    )
    if callback is not None:
        callback.finish()
    return [decode.decode_text(tokenizer, ids + row.tolist()) for row in tokens]
