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
# # 1. Why attention?
#
# A classic encoder-decoder reads the whole input with a recurrent network
# and hands the decoder **one fixed-size vector**: its final state. Every
# detail the decoder will need has to squeeze through that vector, however
# long the input. This is the *bottleneck*.
#
# Attention removes it: at every output step the decoder looks back at
# **all** encoder states and takes a weighted average of the ones it needs.
#
# We make the bottleneck visible with a task that is trivial for a human:
# copy a sequence of 24 random digits. Two models, same size, same
# training; the only difference is one attention layer.

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
from exercises.common import figure
from exercises.common import pick
from exercises.common import show

keras.utils.set_random_seed(0)
LENGTH, VOCAB, UNITS = 24, 10, 32
NUM_TRAIN = pick(256, 8000)
EPOCHS = pick(1, 12)

# %% [markdown]
# ## The task
#
# Inputs are digits 1-9; the decoder is *teacher forced*: at step `t` it
# receives the correct previous digit (0 stands for "start") and must
# predict digit `t`. To predict digit `t` it must remember digit `t`.


# %%
def make_batch(num, seed):
    source = data.copy_task(num, LENGTH, VOCAB, seed=seed)  # (N, L)
    decoder_in = np.concatenate(
        [np.zeros((num, 1), "int64"), source[:, :-1]], axis=1
    )  # (N, L), shifted right, 0 = start
    return (source, decoder_in), source


train_x, train_y = make_batch(NUM_TRAIN, seed=1)
test_x, test_y = make_batch(500, seed=2)
print("source  ", train_x[0][0])
print("decoder ", train_x[1][0])
print("target  ", train_y[0])

# %% [markdown]
# ## Two models
#
# Both embed the digits and run a GRU encoder and a GRU decoder that
# starts from the encoder's final state. The attention model also lets
# every decoder state attend over all encoder states (a dot-product score,
# as in Luong et al. 2015) and feeds the context to the output layer.


# %%
def build(use_attention):
    source = keras.Input((LENGTH,), dtype="int32")
    decoder_in = keras.Input((LENGTH,), dtype="int32")
    embed = keras.layers.Embedding(VOCAB, 16)
    states, final = keras.layers.GRU(
        UNITS, return_sequences=True, return_state=True
    )(embed(source))  # (B, L, U), (B, U)
    dec = keras.layers.GRU(UNITS, return_sequences=True)(
        embed(decoder_in), initial_state=final
    )  # (B, L, U)
    if use_attention:
        context = keras_attn.LuongAttention(score="dot")(dec, states)
        dec = keras.layers.Concatenate()([dec, context])  # (B, L, 2U)
    logits = keras.layers.Dense(VOCAB)(dec)  # (B, L, V)
    model = keras.Model([source, decoder_in], logits)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


models = {"fixed vector": build(False), "attention": build(True)}
for name, model in models.items():
    print(f"{name:12s} {model.count_params():6d} parameters")

# %%
for name, model in models.items():
    model.fit(*(train_x, train_y), batch_size=64, epochs=EPOCHS, verbose=0)
    loss, accuracy = model.evaluate(test_x, test_y, verbose=0)
    print(f"{name:12s} digit accuracy {accuracy:.3f}")

# %% [markdown]
# ## Where the fixed vector fails
#
# Per-position accuracy tells the story: without attention, the model
# copies the first digits and the last few, which the final state still
# remembers, and guesses in between. With attention every position is
# equally easy. (In small mode the models are barely trained, so the two
# curves say little.)

# %%
fig = figure(6, 3)
ax = fig.add_subplot()
for name, model in models.items():
    predicted = ops.convert_to_numpy(ops.argmax(model(test_x), axis=-1))
    ax.plot((predicted == test_y).mean(axis=0), marker="o", label=name)
ax.axhline(1 / 9, color="gray", linestyle=":", label="chance")
ax.set_xlabel("position in the sequence")
ax.set_ylabel("accuracy")
ax.legend()
show(fig)

# %% [markdown]
# ## What the attention layer computes
#
# For decoder state `d_t` and encoder states `h_1..h_L`: scores
# `e_ts = d_t · h_s`, weights `α_t = softmax(e_t)`, context
# `c_t = Σ_s α_ts h_s`. Three lines of `keras.ops`; we check them against
# the layer inside the trained model.
#
# **Exercise.** Write those three lines: fill in the blanks (1)-(3) of
# `attention_context` and run the cell. The check under the function
# calls it on inputs of other sizes than the notebook's and prints ✓, or
# stops the notebook with a hint that names the mistake. The reference
# answer is in `tutorials/exercises/solutions.py`; the notebook uses it
# only when the tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it
# says so.


# %%
def attention_context(dec, states):
    """Decoder states (B, T, U) attend over encoder states (B, S, U)."""
    scores = ops.matmul(dec, ___)  # ___ (1) ___ e_ts = d_t · h_s: (B, T, S)
    weights = ops.softmax(scores, axis=___)  # ___ (2) ___ over positions s
    context = ___  # ___ (3) ___ c_t = Σ_s α_ts h_s: (B, T, U)
    return context, weights


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
attention_context = solutions.if_requested(attention_context)
checks.check_attention_context(attention_context)

# %%
model = models["attention"]
layer = next(
    x for x in model.layers if isinstance(x, keras_attn.LuongAttention)
)
probe = keras.Model(model.inputs, layer.input)  # (decoder, encoder) states
dec, states = probe((test_x[0][:4], test_x[1][:4]))

context, weights = attention_context(dec, states)  # your function

lib_context, lib_weights = layer(dec, states, return_attention_scores=True)
np.testing.assert_allclose(context, lib_context, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(weights, lib_weights, rtol=1e-5, atol=1e-6)
print("hand-built attention matches keras_attn.LuongAttention")

# %% [markdown]
# After full training, output step `t` attends almost only to input `t`:
# the diagonal. The decoder no longer needs to *remember* the digit; it
# *looks it up*.

# %%
show(keras_attn.visualize.plot_attention(lib_weights[0], title="copy task"))

# %% [markdown]
# **Summary.** A fixed-size vector must hold the whole input; attention
# lets each output step read the input states directly. The rest of the
# tutorials build this mechanism up from scratch.
