# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. seq2seq → peeky → Bahdanau attention
#
# Three generations of the RNN encoder-decoder on one task: rewriting
# dates such as `Sunday, July 4, 2021`, `4 Jul 2021` or `2021年7月4日` as
# `2021-07-04`.
#
# 1. **seq2seq** (Sutskever et al. 2014): the decoder starts from the
#    encoder's final state, and that is all it gets.
# 2. **peeky**: the final state is also fed to *every* decoder step, so it
#    cannot fade away.
# 3. **Bahdanau attention** (2015): at every step the decoder scores all
#    encoder states with `vᵀ tanh(W_q q + W_k k)` and reads their weighted
#    average.
#
# The attention weights are an *alignment*: which input characters each
# output character was read from.

# %%
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # tutorials/, for `exercises`
import exercises  # noqa: F401  (first: no TensorFlow start-up noise)

# isort: split

import keras
import numpy as np
from keras import ops

import keras_attn
from exercises import checks
from exercises import data
from exercises import solutions
from exercises.common import pick
from exercises.common import show
from keras_attn.visualize import plot_attention

keras.utils.set_random_seed(0)

# %% [markdown]
# ## Data

# %%
train = data.dates(pick(256, 20000), seed=0)
test = data.dates(pick(32, 1000), seed=1)
vocab = data.Vocab(
    (c for pair in train + test for text in pair for c in text),
    specials=("<s>",),
)
S_LEN = max(len(s) for s, _ in train + test)
T_LEN = 10  # YYYY-MM-DD


def encode(pairs):
    source = np.array([vocab.encode(s, S_LEN) for s, _ in pairs])  # (N, S)
    labels = np.array([vocab.encode(t) for _, t in pairs])  # (N, T)
    start = np.full((len(pairs), 1), vocab.stoi["<s>"])
    decoder_in = np.concatenate([start, labels[:, :-1]], axis=1)  # (N, T)
    return source, decoder_in, labels


train_src, train_dec, train_y = encode(train)
test_src, test_dec, test_y = encode(test)
for s, t in train[:3]:
    print(f"{s:32s} -> {t}")

# %% [markdown]
# ## Three decoders, one builder
#
# The source embedding has `mask_zero=True`: the encoder GRU skips the
# padding, and the attention layer receives the padding mask
# automatically, so no weight goes to a pad.

# %%
UNITS = 64


def build(kind):
    src = keras.Input((S_LEN,), dtype="int32")
    tgt = keras.Input((T_LEN,), dtype="int32")
    x = keras.layers.Embedding(len(vocab), 32, mask_zero=True)(src)
    states, final = keras.layers.GRU(
        UNITS, return_sequences=True, return_state=True
    )(x)  # (B, S, U), (B, U)
    y = keras.layers.Embedding(len(vocab), 32)(tgt)  # (B, T, 32)
    if kind == "peeky":
        peek = keras.layers.RepeatVector(T_LEN)(final)  # (B, T, U)
        y = keras.layers.Concatenate()([y, peek])
    y = keras.layers.GRU(UNITS, return_sequences=True)(y, initial_state=final)
    if kind == "peeky":
        y = keras.layers.Concatenate()([y, peek])
    if kind == "attention":
        context = keras_attn.BahdanauAttention(UNITS, name="attention")(
            y, states
        )  # (B, T, U)
        y = keras.layers.Concatenate()([y, context])
    logits = keras.layers.Dense(len(vocab))(y)  # (B, T, V)
    model = keras.Model([src, tgt], logits)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# %% [markdown]
# ## Train and decode
#
# Greedy decoding feeds each predicted character back as the next decoder
# input, for the whole test set at once. A date counts as correct only if
# all ten characters are.


# %%
def greedy(model, source):
    decoder_in = np.zeros((len(source), T_LEN), "int64")
    decoder_in[:, 0] = vocab.stoi["<s>"]
    for t in range(T_LEN):
        logits = model.predict_on_batch((source, decoder_in))  # (N, T, V)
        next_ids = logits[:, t].argmax(axis=-1)
        if t + 1 < T_LEN:
            decoder_in[:, t + 1] = next_ids
    return np.concatenate([decoder_in[:, 1:], next_ids[:, None]], axis=1)


models = {}
for kind in ("seq2seq", "peeky", "attention"):
    models[kind] = model = build(kind)
    model.fit(
        (train_src, train_dec),
        train_y,
        batch_size=64,
        epochs=pick(1, 10),
        verbose=0,
    )
    exact = (greedy(model, test_src) == test_y).all(axis=1).mean()
    print(f"{kind:10s} exact-match accuracy {exact:.3f}")

# %% [markdown]
# ## Additive attention by hand
#
# `e_ts = vᵀ tanh(W_q q_t + W_k k_s)`, masked softmax over `s`, weighted
# sum of the encoder states. We take the trained layer's weights and the
# states it saw, and compare.

# %% [markdown]
# **Exercise.** First write the score yourself, for all decoder steps t and
# encoder positions s at once: fill in the blanks (1) the projected keys,
# with an axis for the queries so that `q + k` broadcasts to `(B, T, S,
# units)`, and (2) the score `vᵀ tanh(q + k)`. The check under the function
# calls it on inputs of other sizes than the notebook's and prints ✓, or
# stops the notebook with a hint that names the mistake. The reference
# answer is in `tutorials/exercises/solutions.py`; the notebook uses it only
# when the tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so.
# The cell after it does the same with the trained layer's weights.


# %%
def additive_scores(query, keys, w_q, w_k, v):
    """e_ts = vᵀ tanh(W_q q_t + W_k k_s) for every pair: (B, T, S)."""
    q = ops.matmul(query, w_q)[:, :, None, :]  # (B, T, 1, units)
    k = ___  # ___ (1) ___ W_k k_s, shape (B, 1, S, units)
    return ___  # ___ (2) ___ vᵀ tanh(q + k), shape (B, T, S)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
additive_scores = solutions.if_requested(additive_scores)
checks.check_additive_scores(additive_scores)

# %%
model = models["attention"]
layer = model.get_layer("attention")
dec_states, enc_states = keras.Model(model.inputs, layer.input)(
    (test_src[:4], test_dec[:4])
)
w_q = ops.convert_to_numpy(layer.query_dense.kernel)  # (U, units)
w_k = ops.convert_to_numpy(layer.key_dense.kernel)  # (U, units)
v = ops.convert_to_numpy(layer.score_vector)  # (units,)
q = ops.matmul(dec_states, w_q)[:, :, None, :]  # (B, T, 1, units)
k = ops.matmul(enc_states, w_k)[:, None, :, :]  # (B, 1, S, units)
scores = ops.matmul(ops.tanh(q + k), v)  # (B, T, S)
real = test_src[:4] != 0  # (B, S)
scores = ops.where(real[:, None, :], scores, -1e9)
weights = ops.softmax(scores, axis=-1)
context = ops.matmul(weights, enc_states)  # (B, T, U)

lib_context, lib_weights = layer(
    dec_states, enc_states, value_mask=real, return_attention_scores=True
)
np.testing.assert_allclose(context, lib_context, rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(weights, lib_weights, rtol=1e-4, atol=1e-6)
print("hand-built additive attention matches keras_attn.BahdanauAttention")

# %% [markdown]
# ## Alignments
#
# Rows: output characters; columns: input characters. After full training
# the year digits look at the year, the month digits at the month *name*
# (or number), the day at the day, whatever the input's order. In small
# mode the weights are still nearly uniform.

# %%
for i in range(pick(1, 3)):
    source_text, target_text = test[i]
    show(
        plot_attention(
            lib_weights[i, :, : len(source_text)],
            list(target_text),
            list(source_text),
            title=source_text,
        )
    )

# %% [markdown]
# **Summary.** seq2seq forgets, peeky reminds, attention looks up. The
# alignment plots show *where* it looks.
