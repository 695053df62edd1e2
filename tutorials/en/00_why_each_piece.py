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
# # 0b. Why each piece is there
#
# The other tutorials build each part of the Transformer and check it
# against `keras_attn`. This one asks *why* each part exists, and answers
# every "why" with a computation you can change and rerun:
#
# 1. why learned projections W_q, W_k, W_v, and why a value at all;
# 2. why several heads, and what the paper's 512 = 8 × 64 means;
# 3. the residual (where "E + ΔE" is), Add & Norm, the feed-forward
#    network, layer normalisation;
# 4. convolution and pooling, needed for tutorials 7 (SE) and 8 (SAGAN);
# 5. additive vs multiplicative attention (tutorial 6 vs the Transformer).
#
# Nothing is trained, so it runs quickly, even on a CPU.

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
from keras_attn.visualize import plot_attention_heads

LANG = os.path.basename(os.getcwd())  # "en" or "ja": labels of the figures


def tr(en, ja):
    """The label in this notebook's language."""
    return ja if LANG == "ja" else en


def attention(q, k, v, scale=1.0):
    """softmax(q kᵀ · scale) v and the weights, as NumPy arrays."""
    out, w = keras_attn.ops.scaled_dot_product_attention(
        q, k, v, scale=scale, return_weights=True
    )
    return ops.convert_to_numpy(out), ops.convert_to_numpy(w)


keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Why learned W_q and W_k?
#
# Without projections, the score of word i for word j is x_i · x_j. Two
# things follow, whatever the words are:
#
# * the scores are **symmetric**: i attends to j exactly as much as j to
#   i, yet "an adjective looks for its noun" is not symmetric;
# * a word usually scores **highest with itself** (x · x = |x|², while two
#   different random vectors are nearly orthogonal).

# %%
x = rng.normal(size=(6, 16)).astype("float32")  # 6 words, 16 features
raw = x @ x.T  # (6, 6) scores without projections
print("symmetric:", np.allclose(raw, raw.T))
print("each word's best match is itself:", raw.argmax(-1).tolist())

# %% [markdown]
# With q = x W_q and k = x W_k the score is x_i W_q W_kᵀ x_jᵀ: any
# bilinear form, asymmetric if needed. Here is a pair of matrices that a
# model could learn, chosen by hand: each word attends to the **previous**
# word. The features are position one-hots; W_q keeps them, W_k shifts
# them by one.

# %%
T = 5
positions = np.eye(T, dtype="float32")  # word i has feature i
w_q = np.eye(T, dtype="float32") * 4.0  # 4: a sharp softmax
w_k = np.eye(T, k=1, dtype="float32")  # key j gets feature j + 1
_, w_same = attention(positions, positions, positions)
_, w_prev = attention(positions @ w_q, positions @ w_k, positions)
print("without W: each word attends to", w_same.argmax(-1).tolist())
print("with W_q, W_k: word i attends to", w_prev.argmax(-1).tolist())
print("weights of word 0:", w_prev[0].round(2))
print("weights of word 3:", w_prev[3].round(2))

# %% [markdown]
# Word 0 has no previous word and spreads its weight evenly. Nobody
# chooses these matrices by hand in a real model: they start random and
# the loss of the task (the next-word prediction, for a language model)
# sends gradients into them, like into any other weight. The FAQ shows
# those gradients.
#
# ## Why a value, and why W_v?
#
# The key says "what I match"; the value says "what I pass on". With
# V = X and no projection, the output is a weighted average of the input
# vectors, so every output feature stays between the smallest and the
# largest input feature: attention can only mix, never transform.

# %%
w_v = rng.normal(size=(16, 16)).astype("float32")
out_vx, _ = attention(x, x, x, scale=0.25)
out_wv, _ = attention(x, x, x @ w_v, scale=0.25)
inside = (out_vx >= x.min(0) - 1e-6) & (out_vx <= x.max(0) + 1e-6)
print("V = X: outputs inside the inputs' range:", bool(inside.all()))
outside = (out_wv < x.min(0)) | (out_wv > x.max(0))
print("V = X W_v: features outside that range:", int(outside.sum()))

# %% [markdown]
# But look at one head followed by the output projection W_o: the output
# is weights · (X W_v) · W_o, and W_v W_o is a single matrix. **In a
# single head, W_v and W_o can be merged**: replace W_v by the identity
# and W_o by W_v W_o, and nothing changes. We check it on
# `keras_attn.MultiHeadAttention`.

# %%
D = 8
one_head = keras_attn.MultiHeadAttention(num_heads=1, key_dim=D, use_bias=False)
tokens = rng.normal(size=(2, 5, D)).astype("float32")
before = ops.convert_to_numpy(one_head(tokens))
w_value = one_head.value_dense.kernel  # (D, 1, D)
w_out = one_head.output_dense.kernel  # (1, D, D)
merged = ops.einsum("dnh,nhe->nde", w_value, w_out)  # W_v W_o: (1, D, D)
one_head.value_dense.kernel.assign(np.eye(D, dtype="float32")[:, None, :])
one_head.output_dense.kernel.assign(merged)
after = ops.convert_to_numpy(one_head(tokens))
print("V = X with W_o' = W_v W_o gives the same output:")
print("  allclose:", np.allclose(before, after, atol=1e-5))

# %% [markdown]
# So why keep W_v? Because of the heads: each head's W_v,i maps the D
# model features to its own small H-dimensional slice (64 of 512 in the
# paper), so each head chooses what it passes on, cheaply, and the
# concatenation of the heads is again D wide. Multi-head attention with
# V = X would give every head the full D features and an N·D-wide
# concatenation.
#
# ## 2. Why several heads? 512 = 8 × 64
#
# The paper's model has D = 512 features and N = 8 heads of H = 64: the
# heads split the model width, they do not multiply it. Each head projects
# 512 → 64, so the four projections of 8 small heads hold as many weights
# as those of one 512-wide head.

# %%
for heads, depth in ((8, 64), (1, 512)):
    mha = keras_attn.MultiHeadAttention(num_heads=heads, key_dim=depth)
    mha.build((None, None, 512), (None, None, 512))
    print(f"N={heads}, H={depth}: {mha.count_params():,} parameters")
print(f"4 · (512 · 512 + 512) = {4 * (512 * 512 + 512):,}")

# %% [markdown]
# Same count, so what do the heads buy? Each head has its **own softmax**,
# hence its own distribution over the words. One softmax row is a single
# weighted average: a word that needs its left *and* its right neighbour
# gets their blend, and cannot tell which was which. Two heads, one per
# neighbour, keep the two apart in the concatenation.
#
# The check: the middle word of "A B C" and of "C B A". Word features are
# [position one-hot | word one-hot]; queries and keys use the positions,
# values the words.

# %%
vocab = {"A": 0, "B": 1, "C": 2}


def encode(words):
    pos = np.eye(3, dtype="float32")
    ids = np.eye(3, dtype="float32")[[vocab[w] for w in words]]
    return pos, ids  # queries/keys from positions, values from words


left_key = np.eye(3, k=1, dtype="float32")  # key j answers query j + 1
right_key = np.eye(3, k=-1, dtype="float32")  # key j answers query j - 1
results = {}
for words in (["A", "B", "C"], ["C", "B", "A"]):
    pos, ids = encode(words)
    q = pos * 8.0
    one, _ = attention(q, pos @ (left_key + right_key), ids)
    left, _ = attention(q, pos @ left_key, ids)
    right, _ = attention(q, pos @ right_key, ids)
    two = np.concatenate([left, right], axis=-1)  # the concatenated heads
    results[" ".join(words)] = (one[1], two[1])
    print(" ".join(words), "| one head:", one[1].round(2), end="  ")
    print("two heads:", two[1].round(2))
(one_abc, two_abc), (one_cba, two_cba) = results.values()
print("one head tells them apart:", not np.allclose(one_abc, one_cba))
print("two heads tell them apart:", not np.allclose(two_abc, two_cba))

# %% [markdown]
# With one head, "B" sees half A and half C in both sentences; with two
# heads, the first half of its output says "left: A" or "left: C". In a
# trained model, heads come to specialise like this (previous word, the
# verb's subject, the matching bracket...), and 8 heads of 64 cost the same
# as one of 512.
#
# An untrained 8-head layer already has 8 different patterns, because each
# head's slice of the projection starts from different random numbers:

# %%
mha = keras_attn.MultiHeadAttention(num_heads=8, key_dim=4)
_, maps = mha(tokens, tokens, return_attention_scores=True)
show(plot_attention_heads(ops.convert_to_numpy(maps)[0], ncols=8))

# %% [markdown]
# ## 3. The residual: where is "E + ΔE"?
#
# A learner asks where the "E + ΔE" of the lecture is in the formulas. It is
# the **x +** of every sub-layer: the block computes a change ΔE from its
# input E and adds it, `x + Sublayer(x)`. A layer therefore only has to
# learn a *correction* of its input, and if it learns nothing useful it
# can stay close to the identity. The check: a pre-norm encoder block whose
# two output projections are zero adds ΔE = 0, so it returns its input
# exactly.

# %%
block = keras_attn.TransformerEncoderBlock(
    num_heads=2, intermediate_dim=16, norm_first=True
)
block(tokens)  # build
block.self_attention.output_dense.kernel.assign(
    np.zeros(block.self_attention.output_dense.kernel.shape, "float32")
)
block.feed_forward.output_dense.kernel.assign(np.zeros((16, D), "float32"))
print("E + 0 = E:", np.allclose(ops.convert_to_numpy(block(tokens)), tokens))

# %% [markdown]
# The residual also carries the **gradient**. Through L layers y = f(x),
# the gradient is a product of L Jacobians; with residuals each factor is
# (I + J), and the identity keeps the product from vanishing. For linear
# sub-layers with small weights the Jacobian is the weight matrix itself,
# so we can measure the product directly:

# %%
layers = [rng.normal(scale=0.1, size=(D, D)) for _ in range(30)]
plain = np.eye(D)
res = np.eye(D)
norms = []
for w in layers:
    plain = w @ plain  # y = W x
    res = (np.eye(D) + w) @ res  # y = x + W x
    norms.append((np.linalg.norm(plain, 2), np.linalg.norm(res, 2)))
norms = np.array(norms)
print(f"gradient size after 30 layers: plain {norms[-1, 0]:.1e}, ", end="")
print(f"residual {norms[-1, 1]:.2f}")

fig = figure(5, 3)
ax = fig.add_subplot()
ax.semilogy(range(1, 31), norms[:, 0], label=tr("y = f(x)", "y = f(x)"))
ax.semilogy(range(1, 31), norms[:, 1], label=tr("y = x + f(x)", "y = x + f(x)"))
ax.set_xlabel(tr("layers", "層の数"))
ax.set_ylabel(tr("gradient norm", "勾配のノルム"))
ax.legend()
show(fig)

# %% [markdown]
# ## Add & Norm
#
# The paper's diagram labels the box after each sub-layer **Add & Norm**:
# add the residual, then normalise, `LayerNorm(x + Sublayer(x))`
# ("post-norm", `norm_first=False`). Most models since GPT-2 normalise
# first, `x + Sublayer(LayerNorm(x))` ("pre-norm", `norm_first=True`),
# which trains more stably in deep stacks. We compute one encoder block by
# hand, both ways, from its own sub-layers.

# %%
for norm_first in (False, True):
    block = keras_attn.TransformerEncoderBlock(
        num_heads=2, intermediate_dim=16, norm_first=norm_first
    )
    expected = ops.convert_to_numpy(block(tokens))
    mha, ffn = block.self_attention, block.feed_forward
    ln1, ln2 = block.self_attention_layer_norm, block.feed_forward_layer_norm
    if norm_first:  # x + Sublayer(LayerNorm(x))
        h = tokens + mha(ln1(tokens))
        by_hand = h + ffn(ln2(h))
    else:  # Add & Norm: LayerNorm(x + Sublayer(x))
        h = ln1(tokens + mha(tokens))
        by_hand = ln2(h + ffn(h))
    ok = np.allclose(ops.convert_to_numpy(by_hand), expected, atol=1e-5)
    print(f"norm_first={norm_first}: by hand == block:", ok)

# %% [markdown]
# ## The feed-forward network: max(0, x W1 + b1) W2 + b2
#
# After attention has mixed the words, each position goes through the same
# two-layer network on its own, the **position-wise feed-forward
# network** (paper, eq. 2): FFN(x) = max(0, x W1 + b1) W2 + b2, with ReLU
# = max(0, ·) and a hidden width 4× the model width (2048 = 4 × 512).
# Attention moves information *between* words; the FFN transforms each
# word's vector.
#
# **Exercise.** Write the formula: fill in the blanks (1) the hidden layer
# and (2) the output. Run the cell: the check under it calls your function
# on inputs of other sizes than the notebook's and prints ✓, or stops the
# notebook with a hint that names the mistake. The next cell compares your
# function with `keras_attn.FeedForward`, using the layer's own weights.
# The reference answer is in `tutorials/exercises/solutions.py`; the
# notebook uses it only when the tests set
# `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so.


# %%
def feed_forward(x, w1, b1, w2, b2):
    """FFN(x) = max(0, x W1 + b1) W2 + b2: (B, T, D) -> (B, T, D)."""
    hidden = ___  # ___ (1) ___ max(0, x W1 + b1), shape (B, T, F)
    return ___  # ___ (2) ___ back to the model width D


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
feed_forward = solutions.if_requested(feed_forward)
checks.check_feed_forward(feed_forward)

# %%
ffn = keras_attn.FeedForward(intermediate_dim=32)  # D -> 32 -> D, ReLU
expected = ops.convert_to_numpy(ffn(tokens))
w1, b1 = ffn.intermediate_dense.kernel, ffn.intermediate_dense.bias
w2, b2 = ffn.output_dense.kernel, ffn.output_dense.bias
by_hand = feed_forward(tokens, w1, b1, w2, b2)  # yours
print("max(0, xW1+b1)W2+b2 == FeedForward:", end=" ")
print(np.allclose(ops.convert_to_numpy(by_hand), expected, atol=1e-5))
swap = [4, 3, 2, 1, 0]  # reverse the words
permuted = ops.convert_to_numpy(ffn(tokens[:, swap]))
print("position-wise (reordering words reorders outputs):", end=" ")
print(np.allclose(permuted, expected[:, swap], atol=1e-6))
print(f"parameters: {ffn.count_params()} =", end=" ")
print(f"{D}·32 + 32 + 32·{D} + {D} = {D * 32 + 32 + 32 * D + D}")

# %% [markdown]
# ## Layer normalisation by hand
#
# LayerNorm rescales **each word's vector** to mean 0 and variance 1 over
# its features, then applies a learned scale γ and shift β:
# LN(x) = γ (x − mean) / √(var + ε) + β. Unlike batch normalisation it
# does not look across the batch, so it behaves the same for one sentence
# or many, for any length, in training and inference. It keeps the scale
# of the residual stream in check as sub-layers keep adding to it.

# %%
norm = keras.layers.LayerNormalization(epsilon=1e-6)
norm.build((None, None, D))
norm.gamma.assign(rng.normal(size=D).astype("float32"))
norm.beta.assign(rng.normal(size=D).astype("float32"))
mean = tokens.mean(axis=-1, keepdims=True)
var = tokens.var(axis=-1, keepdims=True)
by_hand = norm.gamma * (tokens - mean) / np.sqrt(var + 1e-6) + norm.beta
print("by hand == keras.layers.LayerNormalization:", end=" ")
print(np.allclose(ops.convert_to_numpy(by_hand), norm(tokens), atol=1e-5))
plain = (tokens - mean) / np.sqrt(var + 1e-6)
print("per word: mean", plain.mean(-1).round(6).max(), end=", ")
print(
    "variance", plain.var(-1).round(4).min(), "to", plain.var(-1).round(4).max()
)

# %% [markdown]
# ## 4. Convolution and pooling (before tutorials 7 and 8)
#
# A **convolution** slides a small kernel over the image and, at each
# place, takes the weighted sum of the pixels under it: the same few
# weights everywhere, each output seeing only a small neighbourhood. A
# 3 × 3 kernel that subtracts the left column from the right one responds
# to vertical edges. **Pooling** shrinks a feature map: max pooling keeps
# the largest value of each 2 × 2 block; **global average pooling**
# averages a whole channel to one number, the "squeeze" of SE (tutorial 7).

# %%
image = np.zeros((6, 6), "float32")
image[:, 3:] = 1.0  # dark left half, bright right half: a vertical edge
kernel = np.array([[-1, 0, 1]] * 3, "float32")  # right minus left

by_hand = np.zeros((4, 4), "float32")  # "valid" convolution: 6 - 3 + 1
for i in range(4):
    for j in range(4):
        by_hand[i, j] = np.sum(image[i : i + 3, j : j + 3] * kernel)

conv = keras.layers.Conv2D(1, 3, use_bias=False)
conv.build((None, 6, 6, 1))
conv.kernel.assign(kernel[:, :, None, None])
feature_map = ops.convert_to_numpy(conv(image[None, :, :, None]))[0, :, :, 0]
print("by hand == Conv2D:", np.allclose(by_hand, feature_map))
print(feature_map)

pooled = keras.layers.MaxPooling2D(2)(feature_map[None, :, :, None])
print("max pooling 2×2:", ops.convert_to_numpy(pooled)[0, :, :, 0].tolist())
squeeze = keras.layers.GlobalAveragePooling2D()(feature_map[None, :, :, None])
print("global average pooling:", float(ops.convert_to_numpy(squeeze)[0, 0]))
print("= mean of the map:", float(feature_map.mean()))

fig = figure(6, 2.6)
for i, (data, title) in enumerate(
    [
        (image, tr("image", "画像")),
        (kernel, tr("kernel", "カーネル")),
        (feature_map, tr("feature map", "特徴マップ")),
    ]
):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.imshow(data, cmap="gray")
    ax.set_title(title)
    ax.set_xticks(range(data.shape[1]))
    ax.set_yticks(range(data.shape[0]))
show(fig)

# %% [markdown]
# The edge is found wherever it is (the same kernel at every place), and
# the feature map is 4 × 4: a 3 × 3 kernel fits 6 − 3 + 1 = 4 times per
# row. A convolution only ever sees its small window; SAGAN (tutorial 8)
# adds self-attention so that a pixel can use pixels far away.
#
# ## 5. Additive vs multiplicative attention
#
# Both turn a query q and keys k_s into weights softmax(e_s); they differ
# in the score e_s:
#
# | | score e_s | used in |
# |---|---|---|
# | additive (Bahdanau) | vᵀ tanh(W_q q + W_k k_s) | tutorial 6, RNNs |
# | multiplicative (Luong "general") | qᵀ W_a k_s | RNNs |
# | dot / scaled dot | q · k_s (/ √d_k) | the Transformer |
#
# Additive attention runs a small network with a tanh for every (query,
# key) pair; multiplicative attention is one matrix product for all pairs
# at once, which is what GPUs are fastest at. We recompute both scores by
# hand from the layers' own weights.

# %%
decoder_state = rng.normal(size=(2, 6)).astype("float32")  # q: (B, Dq)
encoder_states = rng.normal(size=(2, 5, 8)).astype("float32")  # (B, S, Dk)

bahdanau = keras_attn.BahdanauAttention(units=4)
_, w_add = bahdanau(decoder_state, encoder_states, return_attention_scores=True)
hidden = np.tanh(
    (decoder_state @ bahdanau.query_dense.kernel)[:, None, :]  # (B, 1, U)
    + encoder_states @ bahdanau.key_dense.kernel  # (B, S, U)
)
e_add = hidden @ bahdanau.score_vector  # (B, S)
print("additive by hand == BahdanauAttention:", end=" ")
print(np.allclose(ops.softmax(e_add), w_add, atol=1e-6))

luong = keras_attn.LuongAttention(score="general")
_, w_mul = luong(decoder_state, encoder_states, return_attention_scores=True)
e_mul = np.einsum(
    "bk,bsk->bs", decoder_state @ luong.query_dense.kernel, encoder_states
)  # qᵀ W_a k_s
print("W_a:", tuple(luong.query_dense.kernel.shape), end="; ")
print("multiplicative by hand == LuongAttention:", end=" ")
print(np.allclose(ops.softmax(e_mul), w_mul, atol=1e-6))

T_, S_, U_ = 50, 60, 128
print(f"T={T_}, S={S_}, U={U_}: additive builds a (T, S, U) tensor of ", end="")
print(f"{T_ * S_ * U_:,} numbers; multiplicative a (T, S) one of {T_ * S_:,}")

# %% [markdown]
# Both accept a query and keys of different sizes (6 and 8 here): W_a is
# then 6 × 8. Additive attention was the first attention in translation
# (Bahdanau et al., 2015); Luong et al. (2015) compared the cheaper
# multiplicative scores with it. The Transformer chose the plain dot
# product, made it safe with the √d_k scaling, and moved the learning into
# W_q and W_k, which is where section 1 began.
