"""Export a trained GPT work directory as a string-to-string SavedModel:
the sentencepiece tokenizer, KV-cached generation and the detokenizer all
inside the graph, so that serving needs only TensorFlow and
tensorflow-text (which registers the sentencepiece ops):

    import tensorflow as tf
    import tensorflow_text  # registers the sentencepiece ops
    gpt = tf.saved_model.load("workdirs/gpt-cpu/export")
    gpt.greedy(tf.constant("It is a truth"), tf.constant(40))
    gpt.sample(tf.constant("It is a truth"), tf.constant(40),
               tf.constant(0.8), tf.constant(7), tf.constant(3))
    gpt.signatures["serving_default"](prompt=..., max_new_tokens=...,
        temperature=..., seed=..., num_samples=...)  # = sample
    gpt.signatures["greedy"](prompt=..., max_new_tokens=...)

Both return `{"text": (N,) strings, prompt included, "token_ids": (N,
max_new_tokens)}`, as `python -m zoo generate` does (the text follows
`decode.decode_text`: EOS is a paragraph break, tested against it).

The loop is `keras_attn.generation`'s, with three run-time arguments it
takes as Python values in `decode.generate_ids`:

* `max_new_tokens`: the KV cache has a fixed `max_length` slots (prompt,
  its paragraph start and the new tokens; default the model's
  `context_length`, the limit of a gpt2 position table) and the loop may
  run that many steps; once `max_new_tokens` tokens are chosen the logits
  put all their mass on an extra id, `vocabulary_size`, which is the loop's
  `end_id`, so it stops there. An extra column of -1e9 (exp() = 0 exactly)
  changes neither the argmax nor the sampling draw.
* `temperature` divides the logits before `generation.sample` (which then
  runs at temperature 1).
* `seed`: `generation.sample` draws its uniforms from a
  `keras.random.SeedGenerator` whose state is mapped to `[seed, 0]` in a
  `keras.StatelessScope`, the draw an int `seed` makes; nothing is
  assigned, so concurrent calls do not share state. The same seed gives
  the same text on every call, and the same as `python -m zoo generate
  --seed` (its uniforms are a prefix of the same stateless Philox stream;
  tested).

`top_k` and `top_p` are fixed when exporting (`python -m zoo export
--top-k/--top-p`). The loop runs without XLA: the prompt length varies
per call.
"""

import pathlib

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from keras_attn import generation
from zoo.config_utils import UsageError
from zoo.gpt import decode

NEG_INF = -1e9  # a finite "minus infinity": exp() underflows to 0 exactly


class InGraphTokenizer(tf.Module):
    """The work directory's sentencepiece model as TensorFlow ops."""

    def __init__(self, proto):
        super().__init__()
        self.sentencepiece = tf_text.SentencepieceTokenizer(
            model=proto, out_type=tf.int32
        )

    def prompt_ids(self, prompt):
        """A scalar string -> `(P,)` ids after the paragraph start (EOS),
        as `decode.prompt_ids_of`."""
        ids = self.sentencepiece.tokenize(tf.reshape(prompt, [1]))[0]
        return tf.concat([[decode.EOS_ID], ids], axis=0)  # (P,)

    def detokenize(self, ids):
        """`(N, L)` ids -> `(N,)` strings, by `decode.decode_text`'s rules:
        padding dropped, leading EOS dropped, every other EOS a paragraph
        break ("\\n\\n") between separately detokenized segments."""
        ids = tf.cast(ids, tf.int32)
        kept = ids != decode.PAD_ID
        is_eos = ids == decode.EOS_ID
        seen = tf.cumsum(tf.cast(kept & ~is_eos, tf.int32), axis=1)
        kept &= ~(is_eos & (seen == 0))  # leading EOS
        breaks = kept & is_eos  # (N, L)
        content = kept & ~is_eos
        segment = tf.cumsum(tf.cast(breaks, tf.int32), axis=1)  # (N, L)
        counts = tf.reduce_sum(tf.cast(breaks, tf.int32), axis=1) + 1  # (N,)
        first = tf.cumsum(counts, exclusive=True)  # (N,) first segment
        segments = tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(ids, content),
            tf.boolean_mask(first[:, None] + segment, content),
            nrows=tf.reduce_sum(counts),
        )  # (segments, None)
        texts = self.sentencepiece.detokenize(segments)  # (segments,)
        rows = tf.RaggedTensor.from_row_lengths(texts, counts)  # (N, None)
        return tf.strings.reduce_join(rows, axis=1, separator="\n\n")


class ExportedGPT(tf.Module):
    """A `GPT` with in-graph tokenizer, decoding and detokenizer.

    Args:
        model: the trained `GPT`.
        proto: the serialized sentencepiece model (`tokenizer.model`).
        max_length: KV cache slots: prompt (with its paragraph start)
            plus new tokens.
        top_k, top_p: the sampling truncations of `sample` (None: off).
    """

    def __init__(self, model, proto, max_length, top_k=None, top_p=None):
        super().__init__()
        self.model = model
        self.tokenizer = InGraphTokenizer(proto)
        self.max_length = max_length
        self.top_k = top_k
        self.top_p = top_p
        self.end_id = model.vocabulary_size  # the extra "stop here" id
        self.seed_generator = keras.random.SeedGenerator(0)
        self.seed_state = self.seed_generator.state  # tracked for saving
        prompt = tf.TensorSpec([], tf.string, name="prompt")
        new = tf.TensorSpec([], tf.int32, name="max_new_tokens")
        self.greedy = tf.function(self._greedy, input_signature=[prompt, new])
        self.sample = tf.function(
            self._sample,
            input_signature=[
                prompt,
                new,
                tf.TensorSpec([], tf.float32, name="temperature"),
                tf.TensorSpec([], tf.int32, name="seed"),
                tf.TensorSpec([], tf.int32, name="num_samples"),
            ],
        )

    def _greedy(self, prompt, max_new_tokens):
        return self._generate(prompt, max_new_tokens, 1, None)

    def _sample(self, prompt, max_new_tokens, temperature, seed, num_samples):
        tf.debugging.assert_positive(
            temperature, "`temperature` must be > 0 (greedy: `greedy`)"
        )
        tf.debugging.assert_positive(
            num_samples, "`num_samples` must be a positive integer"
        )
        seed_value = tf.cast(tf.stack([seed, 0]), self.seed_state.dtype)
        with keras.StatelessScope(
            state_mapping=[(self.seed_state, seed_value)]
        ):
            return self._generate(
                prompt, max_new_tokens, num_samples, temperature
            )

    def _generate(self, prompt, max_new_tokens, rows, temperature):
        ids = self.tokenizer.prompt_ids(prompt)  # (P,)
        length = tf.shape(ids)[0]
        tf.debugging.assert_positive(
            max_new_tokens, "`max_new_tokens` must be a positive integer"
        )
        tf.debugging.assert_less_equal(
            length + max_new_tokens,
            self.max_length,
            "the prompt (with its paragraph start) plus `max_new_tokens` "
            f"exceed the exported max_length ({self.max_length})",
        )
        prompt_ids = tf.tile(ids[None], [rows, 1])  # (N, P)

        def limited(logits, i):
            """`(N, V + 1)`: the logits choosing new token `i`, and the
            stop id, which takes all the mass once `i >= max_new_tokens`."""
            if temperature is not None:
                logits = logits / temperature
            stop = i >= max_new_tokens
            real = tf.where(stop, NEG_INF, logits)  # (N, V)
            extra = tf.fill([tf.shape(logits)[0], 1], NEG_INF)
            extra = tf.where(stop, 0.0, extra)  # (N, 1)
            return tf.concat([real, extra], axis=-1)

        def prefill(prompt_ids, cache):
            logits, cache = self.model.prefill(prompt_ids, cache)
            return limited(logits, 0), cache

        def step(tokens, cache, index):
            # Position `index` holds new token `index - P`; the logits
            # choose the next one.
            logits, cache = self.model.step(tokens, cache, index)
            return limited(logits, index - length + 1), cache

        kwargs = {
            "prompt": prompt_ids,
            "prefill_fn": prefill,
            "end_id": self.end_id,
        }
        cache = self.model.init_cache(rows, self.max_length)
        if temperature is None:
            tokens, _ = generation.greedy_search(
                step, cache, self.max_length, **kwargs
            )
        else:
            tokens, _ = generation.sample(
                step,
                cache,
                self.max_length,
                top_k=self.top_k,
                top_p=self.top_p,
                seed=self.seed_generator,
                **kwargs,
            )
        tokens = tokens[:, :max_new_tokens]  # (N, max_new_tokens)
        text = self.tokenizer.detokenize(tf.concat([prompt_ids, tokens], 1))
        return {"text": text, "token_ids": tokens}


def export(workdir, path=None, max_length=None, top_k=None, top_p=None):
    """Write the work directory's GPT as a SavedModel; returns its path.

    Args:
        workdir: a finished `python -m zoo train gpt` work directory.
        path: where to write; default `<workdir>/export`.
        max_length: KV cache slots (prompt with its paragraph start, plus
            new tokens); default, and for gpt2 at most, the model's
            `context_length`.
        top_k, top_p: the truncations of the `sample` signature.

    Signatures: `serving_default` (= `sample`: `prompt`, `max_new_tokens`,
    `temperature`, `seed`, `num_samples`) and `greedy` (`prompt`,
    `max_new_tokens`); each returns `text (N,)` and `token_ids`.
    """
    if top_k is not None:
        _check("top_k", top_k, 1, "a positive integer")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError(f"`top_p` must be in (0, 1]. Received: top_p={top_p}")
    if max_length is not None:
        _check("max_length", max_length, 2, "an integer >= 2")
    workdir = pathlib.Path(workdir)
    model = decode.load_model(workdir)
    limit = model.context_length
    if max_length is None:
        max_length = limit
    if model.position_embedding is not None and max_length > limit:
        raise UsageError(
            f"`max_length` must be at most this gpt2 model's context_length "
            f"({limit}, its position table). Received: max_length="
            f"{max_length}"
        )
    proto = (workdir / decode.TOKENIZER_FILE).read_bytes()
    module = ExportedGPT(model, proto, max_length, top_k=top_k, top_p=top_p)
    path = pathlib.Path(path) if path else workdir / "export"
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serving_default": module.sample,
            "greedy": module.greedy,
        },
    )
    return path


def _check(name, value, low, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"`{name}` must be {what}. Received: {name}={value!r}")
