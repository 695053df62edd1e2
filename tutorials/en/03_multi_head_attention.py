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
# # 3. Multi-head attention
#
# One attention computes one weighted average per query. Multi-head
# attention runs N smaller attentions side by side, each on its own
# learned projection of the inputs, and concatenates the results:
#
# $$\mathrm{MultiHead}(X) = \mathrm{concat}(\mathrm{head}_1, \dots,
# \mathrm{head}_N)\,W_o, \quad \mathrm{head}_i = \mathrm{Attention}(X W_q^i,
# X W_k^i, X W_v^i)$$
#
# The heads are not a loop: one big projection to `N * H` features, then a
# **reshape** that splits the features into heads. Getting that reshape
# right is the whole trick, so you will write it yourself.
#
# **Exercises.** The two functions marked *exercise* have blanks `___`
# to fill in: splitting the features into heads, and merging them back.
# The check under each one calls your function on inputs of other sizes
# than the notebook's and either prints ✓ or stops the notebook with a
# hint that names the mistake (a shape, a missing transpose, the order of
# the axes). The reference answers are in
# `tutorials/exercises/solutions.py` (do not peek too early); the notebook
# uses them only when the tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and
# then it says so.
#
# Shapes: B batch, T length, D model width, N heads, H = D / N per head.

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
from exercises.common import show
from keras_attn.visualize import plot_attention_heads

rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise 1: split the heads
#
# `x` has shape `(B, T, D)` with `D = N * H`. Head `n` owns the features
# `n*H ... (n+1)*H - 1` of every position. Return `(B, N, T, H)`, so that
# the attention can treat `(B, N)` as batch axes.
#
# Hint: a reshape never moves data, it only re-reads it. Reshape to `(B, T,
# N, H)`, then transpose. Fill in the blanks (1) and (2).


# %%
def split_heads(x, num_heads):
    """(B, T, D) -> (B, N, T, H) with H = D // N. Exercise 1."""
    batch, length, depth = x.shape
    x = ops.reshape(x, ___)  # ___ (1) ___ to (B, T, N, H)
    return ops.transpose(x, ___)  # ___ (2) ___ to (B, N, T, H)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
split_heads = solutions.if_requested(split_heads)
checks.check_split_heads(split_heads)

# %% [markdown]
# ## Exercise 2: merge the heads
#
# The inverse: `(B, N, T, H) -> (B, T, N * H)`, the features of head 0
# first, then head 1, and so on. Fill in the blanks (1) and (2).


# %%
def merge_heads(x):
    """(B, N, T, H) -> (B, T, N * H). Exercise 2."""
    batch, heads, length, head_dim = x.shape
    x = ops.transpose(x, ___)  # ___ (1) ___ to (B, T, N, H)
    return ops.reshape(x, ___)  # ___ (2) ___ to (B, T, N*H)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
merge_heads = solutions.if_requested(merge_heads)
checks.check_merge_heads(merge_heads)

# %% [markdown]
# ## Attention, from tutorial 2
#
# The function you completed in tutorial 2: `softmax(Q Kᵀ / √d_k) V`,
# with a boolean `mask` (True = may attend) applied to the logits before
# the softmax. It works with any leading axes, so `(B, N, T, H)` heads go
# straight in.


# %%
def attention(query, key, value, mask=None):
    """Tutorial 2's attention; any leading axes, e.g. (B, N, T, H)."""
    depth = query.shape[-1]
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / np.sqrt(depth)
    if mask is not None:
        scores = ops.where(mask, scores, -1e9)  # True = may attend
    weights = ops.softmax(scores, axis=-1)  # (..., T, S)
    return ops.matmul(weights, value), weights  # (..., T, Hv), (..., T, S)


# %% [markdown]
# ## Assemble multi-head attention
#
# `keras_attn.MultiHeadAttention` stores its projections per head: the
# query kernel is `(D, N, H)`. Flattening it to `(D, N*H)` gives one
# matmul for all heads, and our `split_heads` cuts the result into heads.
# We take the weights of a library layer, so both compute the same
# function, and compare.

# %%
B, T, D, N = 2, 5, 12, 3
H = D // N
x = rng.normal(size=(B, T, D)).astype("float32")
mha = keras_attn.MultiHeadAttention(num_heads=N)
mha(x)  # builds the weights
w = {  # "query/kernel", "query/bias", ...: one sub-layer per projection
    "/".join(v.path.split("/")[-2:]): ops.convert_to_numpy(v)
    for v in mha.weights
}
print({name: value.shape for name, value in w.items()})


def my_multi_head_attention(x, mask=None):
    def project(name):
        kernel = w[f"{name}/kernel"].reshape(D, N * H)  # (D, N*H)
        bias = w[f"{name}/bias"].reshape(N * H)
        return split_heads(ops.matmul(x, kernel) + bias, N)  # (B, N, T, H)

    q, k, v = project("query"), project("key"), project("value")
    heads, weights = attention(q, k, v, mask)  # (B, N, T, H), (B, N, T, T)
    merged = merge_heads(heads)  # (B, T, N*H)
    kernel = w["attention_output/kernel"].reshape(N * H, D)  # (N*H, D)
    return ops.matmul(merged, kernel) + w["attention_output/bias"], weights


ours, ours_w = my_multi_head_attention(x)
lib, lib_w = mha(x, return_attention_scores=True)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(ours_w, lib_w, rtol=1e-5, atol=1e-6)
print("matches keras_attn.MultiHeadAttention")

# %% [markdown]
# With a look-ahead mask too: the library's `use_causal_mask=True` must
# equal our mask `(T, T)` broadcast over batch and heads.

# %%
causal = np.tril(np.ones((T, T), bool))  # (T, T)
ours, ours_w = my_multi_head_attention(x, mask=causal)
lib, lib_w = mha(x, use_causal_mask=True, return_attention_scores=True)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(ours_w, lib_w, rtol=1e-5, atol=1e-6)
print("causal: matches")

# %% [markdown]
# The library layer's weights have the same shapes and order as Keras'
# own `keras.layers.MultiHeadAttention`, so a third implementation can
# join the comparison.

# %%
keras_mha = keras.layers.MultiHeadAttention(num_heads=N, key_dim=H)
keras_mha(x, x)
keras_mha.set_weights(mha.get_weights())
np.testing.assert_allclose(
    keras_mha(x, x, use_causal_mask=True), lib, rtol=1e-5, atol=1e-5
)
print("keras.layers.MultiHeadAttention agrees too")

# %% [markdown]
# And the comparison can fail: a split without the transpose computes
# something else, and the assert notices.


# %%
def split_without_transpose(x, num_heads):
    return ops.reshape(x, (B, num_heads, T, -1))  # the classic mistake


split_heads, correct_split = split_without_transpose, split_heads
wrong, _ = my_multi_head_attention(x)
split_heads = correct_split
print("wrong split == library:", np.allclose(wrong, mha(x), atol=1e-5))
assert not np.allclose(wrong, mha(x), atol=1e-5)

# %% [markdown]
# ## Looking at the heads
#
# Each head has its own weights, so each attends differently. Every head
# is lower triangular because of the causal mask (a query sees only the
# keys up to itself); the projections are untrained, so the heads differ
# only in how they spread their weight inside that triangle. In trained
# models (tutorials 5, 9 and 10) heads specialise: previous token, same
# word, punctuation...

# %%
tokens = ["the", "cat", "sat", "on", "mats"]
show(plot_attention_heads(lib_w[0], tokens, tokens, ncols=3))

# %% [markdown]
# **Summary.** Multi-head attention = one projection, `split_heads`
# (reshape then transpose), attention on `(B, N, T, H)`, `merge_heads`
# (transpose then reshape), one output projection.
