"""Generating text with a trained GPT: the tokenizer of a work directory,
KV-cached decoding through `keras_attn.generation`, streaming.

`generate_ids` prefills the KV cache with the whole prompt in one call
(`GPT.prefill`), then runs one cached step per token (`GPT.step`) inside
`keras_attn.generation.greedy_search` / `sample` (temperature, top-k,
top-p, seed), batched. Without a `callback` the whole loop is one
`tf.function` (XLA with `jit_compile=True`; `jax.jit` on JAX), traced
once per shape; with one (streaming), the loop runs in Python around the
compiled prefill and step, so each token reaches the callback as soon
as it is chosen.

`full_pass_greedy` is the reference: the whole model re-run on the prefix
for every token, no cache; cached greedy decoding must give the same
tokens (tested for both architectures).

`attention_pictures` draws every head of one decoder layer over a prompt
with `keras_attn.visualize.plot_attention_heads`
(`python -m zoo generate ... --attention-plot PNG --layer L`).
"""

import pathlib

import keras
import numpy as np
from keras import ops

from keras_attn import generation
from keras_attn import visualize
from zoo.config_utils import UsageError
from zoo.harness import compiled

TOKENIZER_FILE = "tokenizer.model"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3  # EOS ends a paragraph


def load_tokenizer(workdir):
    """The sentencepiece tokenizer a run learned (`tokenizer.model`)."""
    import keras_hub

    proto = (pathlib.Path(workdir) / TOKENIZER_FILE).read_bytes()
    return keras_hub.tokenizers.SentencePieceTokenizer(proto=proto)


def encode(tokenizer, texts):
    """List of str -> list of lists of int ids (no BOS/EOS)."""
    if not texts:
        return []
    ids = tokenizer(list(texts))
    rows = ids.to_list() if hasattr(ids, "to_list") else ids
    return [[int(i) for i in row] for row in rows]


def decode_text(tokenizer, ids):
    """Ids -> text: EOS is a paragraph break (a leading one, the context of
    the first paragraph, is dropped); padding is dropped."""
    ids = [int(i) for i in ids if int(i) != PAD_ID]
    while ids and ids[0] == EOS_ID:
        ids = ids[1:]
    segments = [[]]
    for i in ids:
        if i == EOS_ID:
            segments.append([])
        else:
            segments[-1].append(i)
    return "\n\n".join(_detokenize(tokenizer, s) for s in segments)


def _detokenize(tokenizer, ids):
    if not ids:
        return ""
    text = tokenizer.detokenize([ids])
    text = text[0] if isinstance(text, (list, tuple)) else text
    text = np.asarray(ops.convert_to_numpy(text)).reshape(-1)[0]
    return (
        text.decode("utf-8", "replace")
        if isinstance(text, bytes)
        else str(text)
    )


def _sampler(temperature, top_k, top_p, seed):
    """The `keras_attn.generation` call for these settings (greedy when
    `temperature` is 0)."""
    if temperature == 0:
        return generation.greedy_search
    return lambda *args, **kwargs: generation.sample(
        *args,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        **kwargs,
    )


def generate_ids(
    model,
    prompt_ids,
    max_new_tokens,
    temperature=0.0,
    top_k=None,
    top_p=None,
    seed=0,
    callback=None,
    jit_compile=False,
):
    """`(B, max_new_tokens)` int32 tokens after the `(B, P)` prompt ids.

    Args:
        model: a `GPT`.
        prompt_ids: `(B, P)` ints, one prompt per row (equal lengths).
        max_new_tokens: tokens generated per row.
        temperature: 0 is greedy; else sampling from
            `softmax(logits / temperature)`.
        top_k, top_p: truncation of the sampling distribution (None: off).
        seed: int; the same seed gives the same tokens.
        callback: `callback(i, tokens (B,))` as each step's tokens are
            chosen (streaming); None runs the loop compiled.
        jit_compile: XLA-compile the loop (no callback only).
    """
    prompt = ops.convert_to_tensor(np.asarray(prompt_ids, "int32"))
    length = prompt.shape[1]
    if (
        model.position_embedding is not None
        and length + max_new_tokens > model.context_length
    ):
        raise ValueError(
            f"The prompt ({length} tokens) plus `max_new_tokens` "
            f"({max_new_tokens}) exceed this gpt2 model's context_length "
            f"({model.context_length}, its position table)."
        )
    run = decode_fn(
        model,
        max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        callback=callback,
        jit_compile=jit_compile,
    )
    return ops.convert_to_numpy(run(prompt))


def decode_fn(
    model,
    max_new_tokens,
    temperature=0.0,
    top_k=None,
    top_p=None,
    seed=0,
    callback=None,
    jit_compile=False,
):
    """`f(prompt (B, P) int32) -> (B, max_new_tokens)` tokens, reusable:
    without a `callback` compiled (`zoo.harness.compiled`: a `tf.function`,
    XLA with `jit_compile`; `jax.jit`), traced once per prompt shape.
    Arguments as `generate_ids`."""
    search = _sampler(temperature, top_k, top_p, seed)
    step = compiled(model.step)
    prefill = compiled(model.prefill)

    def run(prompt):
        batch, length = prompt.shape
        tokens, _ = search(
            step,
            model.init_cache(batch, length + max_new_tokens),
            max_new_tokens,
            prompt=prompt,
            prefill_fn=prefill,
            callback=callback,
        )
        return tokens

    if callback is None:
        run = compiled(run, jit_compile=jit_compile)
    return run


def full_pass_greedy(model, prompt_ids, max_new_tokens):
    """The uncached reference: re-run the model on the whole prefix for
    every new token and take the argmax of the last position."""
    ids = np.asarray(prompt_ids, "int32")
    new = []
    for _ in range(max_new_tokens):
        logits = ops.convert_to_numpy(model(ids, training=False))[:, -1]
        token = logits.argmax(-1).astype("int32")  # (B,)
        new.append(token)
        ids = np.concatenate([ids, token[:, None]], axis=1)
    return np.stack(new, axis=1)


def prompt_ids_of(tokenizer, prompt):
    """A prompt's ids, after the paragraph start (EOS) the model saw
    before every paragraph in training."""
    return [EOS_ID] + (encode(tokenizer, [prompt])[0] if prompt else [])


class Streamer:
    """A `callback` that writes row 0's new text as tokens arrive.

    A byte-fallback character spread over several tokens shows as U+FFFD
    until its last byte arrives, so trailing U+FFFD are held back;
    `finish()` writes whatever is still held.
    """

    def __init__(self, tokenizer, prompt_ids, write):
        self.tokenizer = tokenizer
        self.prompt_ids = list(prompt_ids)
        self.ids = []
        self.write = write
        self.text = self.shown = decode_text(tokenizer, self.prompt_ids)

    def __call__(self, i, tokens):
        self.ids.append(int(ops.convert_to_numpy(tokens)[0]))
        self.text = decode_text(self.tokenizer, self.prompt_ids + self.ids)
        self._show(self.text.rstrip("\ufffd"))

    def _show(self, text):
        if text.startswith(self.shown) and len(text) > len(self.shown):
            self.write(text[len(self.shown) :])
            self.shown = text

    def finish(self):
        self._show(self.text)


def load_model(workdir):
    """The trained `GPT` of a work directory."""
    import zoo.gpt.model  # noqa: F401  (registers the class)

    return keras.saving.load_model(pathlib.Path(workdir) / "model.keras")


def attention_weights(model, token_ids, layer):
    """`(N, T, T)` self-attention weights of decoder layer `layer` (from 0)
    for one `(T,)` sequence: the heads the model uses in training (causal;
    zero outside a sliding window)."""
    if (
        isinstance(layer, bool)
        or not isinstance(layer, int)
        or not 0 <= layer < model.num_layers
    ):
        raise UsageError(
            f"`layer` must be in 0..{model.num_layers - 1} (this model has "
            f"{model.num_layers} decoder layers). Received: layer={layer!r}"
        )
    ids = np.asarray(token_ids, "int32")[None]  # (1, T)
    x = model._embed(ids, training=False)  # (1, T, D)
    _, scores = model.decoder(
        x, use_causal_mask=True, return_attention_scores=True, training=False
    )
    self_weights, _ = scores[layer]  # (1, N, T, T), no cross-attention
    return ops.convert_to_numpy(self_weights)[0]


def token_labels(tokenizer, ids):
    """A label per id: the sentencepiece piece; the paragraph start "¶"."""
    return [
        "¶" if int(i) == EOS_ID else str(tokenizer.id_to_token(int(i)))
        for i in ids
    ]


def attention_pictures(workdir, prompt, layer, path):
    """Draw every head of decoder layer `layer` (from 0) over `prompt`
    (after its paragraph start) into the PNG `path`; returns the path."""
    model = load_model(workdir)
    tokenizer = load_tokenizer(workdir)
    ids = prompt_ids_of(tokenizer, prompt)
    weights = attention_weights(model, ids, layer)  # (N, T, T)
    labels = token_labels(tokenizer, ids)
    figure = visualize.plot_attention_heads(
        weights,
        labels,
        labels,
        ncols=min(4, len(weights)),
        title=f"{model.name}: layer {layer}, {len(weights)} heads",
    )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
