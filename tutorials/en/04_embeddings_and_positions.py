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
# # 4. Embeddings and positional encoding
#
# Attention compares vectors, so tokens must first become vectors: an
# **embedding** table with one learned row per token id. Then a surprise:
# attention by itself does not know the *order* of its inputs. We prove it
# with a permutation test, and fix it with the sinusoidal **positional
# encoding** of the Transformer paper, which we build by hand and check
# against `keras_attn.SinusoidalPositionEncoding`.

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
from exercises import solutions
from exercises.common import figure
from exercises.common import show

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## An embedding is a table lookup
#
# `Embedding(V, D)` holds a `(V, D)` table; token id `i` becomes row `i`.
# That is the same as multiplying a one-hot vector by the table, which is
# how it is sometimes drawn.

# %%
V, D = 20, 8
embedding = keras.layers.Embedding(V, D)
ids = np.array([[3, 14, 15, 9, 2]])  # (B, T)
looked_up = embedding(ids)  # (B, T, D)
table = ops.convert_to_numpy(embedding.embeddings)  # (V, D)
one_hot = np.eye(V, dtype="float32")[ids]  # (B, T, V)
np.testing.assert_allclose(looked_up, one_hot @ table, rtol=1e-6)
print("lookup == one-hot @ table:", tuple(looked_up.shape))

# %% [markdown]
# ## Attention ignores order: a permutation test
#
# Self-attention computes, for each position, a weighted average over all
# positions, with weights that depend only on the *contents*. Shuffle the
# input positions and the outputs are shuffled the same way, nothing else
# changes. Formally: `Attn(P X) = P Attn(X)` for any permutation `P`.
# "dog bites man" and "man bites dog" would look the same.

# %%
T = 6
mha = keras_attn.MultiHeadAttention(num_heads=2)
x = rng.normal(size=(1, T, D)).astype("float32")
perm = rng.permutation(T)
out = ops.convert_to_numpy(mha(x))
out_of_shuffled = ops.convert_to_numpy(mha(x[:, perm]))
np.testing.assert_allclose(out_of_shuffled, out[:, perm], atol=1e-5)
print("permutation", perm, "-> outputs permuted the same way")

# %% [markdown]
# ## The sinusoidal table
#
# The Transformer adds to each embedding a vector that depends on its
# position `pos` only:
#
# $$PE_{pos, 2i} = \sin\!\left(\frac{pos}{10000^{2i/D}}\right),\quad
# PE_{pos, 2i+1} = \cos\!\left(\frac{pos}{10000^{2i/D}}\right)$$
#
# Each pair of dimensions is a clock hand turning at its own speed, from
# one turn every 2π positions to one every 10000·2π.
#
# **Exercise.** Build the table: fill in the blanks (1) the exponent 2i/D of
# every pair of dimensions, (2) and (3) the even and the odd columns. The
# check under the function calls it on inputs of other sizes than the
# notebook's and prints ✓, or stops the notebook with a hint that names the
# mistake. The reference answer is in `tutorials/exercises/solutions.py`;
# the notebook uses it only when the tests set
# `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so.


# %%
def sinusoid_table(length, depth, max_wavelength=10000.0):
    pos = np.arange(length)[:, None]  # (L, 1)
    exponent = ___  # ___ (1) ___ 2i/D for each pair of dims: (1, D/2)
    angle = pos / max_wavelength**exponent  # (L, D/2)
    table = np.zeros((length, depth), "float32")
    table[:, 0::2] = ___  # ___ (2) ___ the even dims
    table[:, 1::2] = ___  # ___ (3) ___ the odd dims
    return table


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
sinusoid_table = solutions.if_requested(sinusoid_table)
checks.check_sinusoid_table(sinusoid_table)

table = sinusoid_table(64, 32)
fig = figure(6, 3.5)
ax = fig.add_subplot()
image = ax.imshow(table, cmap="RdBu", aspect="auto")
ax.set_xlabel("dimension")
ax.set_ylabel("position")
fig.colorbar(image, ax=ax)
show(fig)

# %% [markdown]
# Check against the library layer (it returns the table broadcast to the
# input's shape):

# %%
lib_table = keras_attn.SinusoidalPositionEncoding()(np.zeros((1, 64, 32)))
np.testing.assert_allclose(table, lib_table[0], rtol=1e-5, atol=1e-5)
print("our table matches keras_attn.SinusoidalPositionEncoding")

# %% [markdown]
# ### A useful property: similarity depends on distance
#
# `PE[p] · PE[p + k]` is a sum of `cos(k · ω_i)` terms, so it depends on
# the offset `k` but not on `p`. Attention can therefore learn "look two
# tokens back" once, for every position.

# %%
for k in (1, 4, 16):
    dots = [float(table[p] @ table[p + k]) for p in (0, 10, 30)]
    print(f"offset {k:2d}:", np.round(dots, 4))

# %% [markdown]
# ## With positions, order matters
#
# Add the encoding and repeat the permutation test: now the outputs are
# *not* a permutation of the original outputs, which is what we want.

# %%
pe = ops.convert_to_numpy(keras_attn.SinusoidalPositionEncoding()(x))
out = ops.convert_to_numpy(mha(x + pe))
out_of_shuffled = ops.convert_to_numpy(mha(x[:, perm] + pe))
print("still equivariant?", np.allclose(out_of_shuffled, out[:, perm]))
assert not np.allclose(out_of_shuffled, out[:, perm], atol=1e-5)

# %% [markdown]
# ## Token and position embedding, one layer
#
# `keras_attn.TokenAndPositionEmbedding` does both: `E[id] · √D + PE[pos]`
# for the original Transformer (`position_encoding="sinusoidal"`,
# `scale_embeddings=True`), or a learned position table as in BERT/GPT. We
# rebuild the sinusoidal version from its token table.

# %%
layer = keras_attn.TokenAndPositionEmbedding(
    vocabulary_size=V,
    max_length=16,
    embedding_dim=D,
    position_encoding="sinusoidal",
    scale_embeddings=True,
    mask_zero=True,
)
ids = np.array([[3, 14, 15, 9, 0, 0]])  # 0 = padding
lib = layer(ids)
tokens = ops.convert_to_numpy(layer.token_embedding.embeddings)[ids]
ours = tokens * np.sqrt(D) + sinusoid_table(ids.shape[1], D)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
print("matches; Keras mask:", ops.convert_to_numpy(layer.compute_mask(ids)))

# %% [markdown]
# Why `√D`? Embedding tables start with small values (here uniform in
# ±0.05), while the encoding has values in ±1; scaling keeps the token
# signal from drowning under the positions.
#
# **Summary.** Embeddings turn ids into vectors; attention is blind to
# order (permutation-equivariant); adding a positional encoding breaks the
# symmetry. Next: the full Transformer block.
