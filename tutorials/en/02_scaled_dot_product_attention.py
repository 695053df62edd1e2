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
# # 2. Scaled dot-product attention from scratch
#
# Attention is a soft dictionary lookup. Each **query** is compared with
# every **key**; the comparison scores become weights with a softmax; the
# output is the weighted average of the **values**:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}
# {\sqrt{d_k}}\right) V$$
#
# We build it from `keras.ops`, find out why the $\sqrt{d_k}$ is there,
# add padding and look-ahead masks, and finally check our version against
# `keras_attn.ops.scaled_dot_product_attention` with `allclose`.
#
# Shapes: B batch, T queries, S keys, H depth of queries and keys, Hv depth
# of values.

# %%
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # tutorials/, for `exercises`
import exercises  # noqa: F401  (first: no TensorFlow start-up noise)

# isort: split

import numpy as np
from keras import ops

import keras_attn
from exercises import checks
from exercises import solutions
from exercises.common import figure
from exercises.common import show
from keras_attn.visualize import plot_attention

rng = np.random.default_rng(0)
B, T, S, H, HV = 2, 3, 5, 8, 6
query = rng.normal(size=(B, T, H)).astype("float32")
key = rng.normal(size=(B, S, H)).astype("float32")
value = rng.normal(size=(B, S, HV)).astype("float32")

# %% [markdown]
# ## Scores: one dot product per (query, key) pair
#
# `Q Kᵀ` compares every query with every key at once: `(B, T, H) @ (B, H,
# S) -> (B, T, S)`. Row `t` holds the scores of query `t` against all keys.

# %%
scores = ops.matmul(query, ops.swapaxes(key, -1, -2))  # (B, T, S)
print("scores:", tuple(scores.shape))
manual = float(np.dot(query[0, 1], key[0, 4]))
print("scores[0, 1, 4] =", float(scores[0, 1, 4]), "== q1 . k4 =", manual)

# %% [markdown]
# ## Why divide by √d_k?
#
# If the components of `q` and `k` are independent with mean 0 and variance
# 1, then `q · k` is a sum of `d_k` such products, so its variance is
# `d_k`. Large logits push the softmax into saturation: one weight near 1,
# the rest near 0, and gradients that vanish. Dividing by `√d_k` brings the
# variance back to 1 whatever the depth. Let us measure it.

# %%
print(" d_k   var(q.k)  var(q.k/√d_k)  max weight raw  max weight scaled")
for d_k in (4, 16, 64, 256, 1024):
    q = rng.normal(size=(500, d_k)).astype("float32")
    k = rng.normal(size=(500, 16, d_k)).astype("float32")
    dots = np.einsum("nd,nsd->ns", q, k)  # (500, 16)
    raw = ops.convert_to_numpy(ops.softmax(dots, axis=-1)).max(-1).mean()
    scaled = ops.convert_to_numpy(ops.softmax(dots / np.sqrt(d_k))).max(-1)
    print(
        f"{d_k:5d} {dots.var():9.1f} {(dots / np.sqrt(d_k)).var():13.2f}"
        f" {raw:15.2f} {scaled.mean():18.2f}"
    )

# %% [markdown]
# Unscaled, the largest of 16 weights approaches 1 as `d_k` grows: the
# softmax has become an argmax. Scaled, it stays put.
#
# ## Softmax over the keys, then a weighted sum
#
# Each query needs weights over the **keys** that sum to 1: the softmax runs
# over the last axis (`-1`, length S). Then `weights @ V`: `(B, T, S) @ (B,
# S, Hv) -> (B, T, Hv)`.
#
# **Exercise.** Complete `attention` below by filling in the blanks: (1) the
# scale, (2) the mask, (3) the softmax axis. Masks are the next section; all
# you need here is that a mask is boolean, True = may attend, and that a
# masked key must get a weight of exactly 0 *while every row still sums to
# 1*. Run the cell: the check under it calls your function on inputs of
# other sizes than the notebook's and prints ✓, or stops the notebook with a
# hint that names the mistake. The reference answer is in
# `tutorials/exercises/solutions.py`; the notebook uses it only when the
# tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so.


# %%
def attention(query, key, value, mask=None):
    """softmax(Q Kᵀ / √d_k) V with a boolean mask, True = may attend."""
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2))  # (B, T, S)
    scores = scores / ___  # ___ (1) ___ the scale
    if mask is not None:
        scores = ___  # ___ (2) ___ where the mask is False: -1e9
    weights = ops.softmax(scores, axis=___)  # ___ (3) ___ over the keys
    return ops.matmul(weights, value), weights  # (B, T, Hv), (B, T, S)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
attention = solutions.if_requested(attention)
checks.check_attention(attention)

output, weights = attention(query, key, value)
print("output:", tuple(output.shape), "weights:", tuple(weights.shape))
print("rows sum to 1:", np.allclose(ops.sum(weights, axis=-1), 1.0))

# %% [markdown]
# ## Masks: True = may attend
#
# **Padding mask.** Batches pad short sequences with id 0. No query should
# attend to a pad: the mask is `ids != 0`, shaped `(B, 1, S)` so that it
# broadcasts over the T queries.
#
# **Look-ahead (causal) mask.** A decoder predicting token `t` must not see
# tokens after `t`: query `i` may attend key `j` only when `j <= i`, a
# lower-triangular `(T, T)` matrix.
#
# Masks are combined with a logical *and*.

# %%
ids = np.array([[5, 7, 2, 0, 0], [4, 1, 9, 3, 8]])  # (B, S), 0 = pad
pad_mask = (ids != 0)[:, None, :]  # (B, 1, S)
look_ahead = np.tril(np.ones((S, S), bool))  # (S, S)
self_mask = pad_mask & look_ahead  # (B, S, S)
print(self_mask[0].astype(int))

# %% [markdown]
# ### The polarity pitfall
#
# Some libraries use `1 = masked`, others `1 = keep`. Here a mask is
# boolean and **True means "may attend"**. Flip it by mistake and the
# model attends *only* to the padding. The weights give it away:

# %%
x = rng.normal(size=(B, S, H)).astype("float32")
_, right = attention(x, x, x, mask=self_mask)
_, flipped = attention(x, x, x, mask=~self_mask)
print("weight on pads, correct mask:", float(ops.sum(right[0, :, 3:])))
print("weight on pads, flipped mask:", float(ops.sum(flipped[0, :, 3:])))
tokens = [str(t) if t else "pad" for t in ids[0]]  # key and query labels
show(plot_attention(right[0], tokens, tokens, title="True = may attend"))

# %% [markdown]
# ## Check against the library
#
# The library builds the same masks with `padding_mask` and `causal_mask`
# and computes attention with `scaled_dot_product_attention`. The asserts
# below fail if any of our pieces differ.

# %%
lib_mask = keras_attn.ops.merge_masks(
    keras_attn.ops.padding_mask(ids), keras_attn.ops.causal_mask(S)
)
np.testing.assert_array_equal(ops.convert_to_numpy(lib_mask), self_mask)

for mask in (None, self_mask):
    ours, ours_w = attention(x, x, x, mask=mask)
    lib, lib_w = keras_attn.ops.scaled_dot_product_attention(
        x, x, x, mask=mask, return_weights=True
    )
    np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours_w, lib_w, rtol=1e-5, atol=1e-6)
print("our attention matches keras_attn.ops.scaled_dot_product_attention")

# %% [markdown]
# The comparison can fail: forget the scaling and the outputs differ.

# %%
unscaled = ops.softmax(ops.matmul(x, ops.swapaxes(x, -1, -2)), axis=-1)
lib_w = keras_attn.ops.scaled_dot_product_attention(
    x, x, x, return_weights=True
)[1]
print("unscaled == library:", np.allclose(unscaled, lib_w, atol=1e-5))
assert not np.allclose(unscaled, lib_w, atol=1e-5)

# %% [markdown]
# ## Seeing the saturation
#
# The same logits at three temperatures: scaled by `1/√d_k`, unscaled with
# `d_k = 64`, and unscaled with `d_k = 1024`.

# %%
fig = figure(7, 2.5)
logits = rng.normal(size=16)
for i, factor in enumerate((1.0, 8.0, 32.0)):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.bar(range(16), ops.convert_to_numpy(ops.softmax(logits * factor)))
    ax.set_title(f"std of logits = {factor:g}")
    ax.set_ylim(0, 1)
fig.tight_layout()
show(fig)

# %% [markdown]
# **Summary.** Attention = scores, scale by `1/√d_k`, mask (True = may
# attend), softmax over the keys, weighted sum of values. Next: several
# attentions side by side, multi-head attention.
