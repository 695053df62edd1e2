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
# # 11. The attention of current models
#
# The Transformer of 2017 (tutorial 5) is still the core of Llama, Mistral,
# Gemma or Qwen, with a handful of changes, each answering a cost or a
# limit of the original:
#
# | change | answers |
# |---|---|
# | rotary embedding (RoPE) | positions that matter by *difference* |
# | grouped/multi-query (GQA/MQA) | the size of the KV cache |
# | sliding window | cost and cache growing with the length |
# | KV cache | recomputing the prefix at every token |
# | memory-efficient attention | T × T logits filling the memory |
#
# Each is an argument of `keras_attn.MultiHeadAttention` and of the
# Transformer blocks; here we look inside each one and check what it
# promises with numbers.

# %%
import os
import sys
import time

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
from exercises.common import pick
from exercises.common import show
from keras_attn import generation

LANG = os.path.basename(os.getcwd())  # "en" or "ja": labels of the figures


def tr(en, ja):
    """The label in this notebook's language."""
    return ja if LANG == "ja" else en


def numpy(x):
    return ops.convert_to_numpy(x)


keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Rotary position embedding (RoPE)
#
# Tutorial 4 *adds* a position vector to each word. RoPE instead **rotates**
# the query and the key: the features are taken in pairs, and the pair i of
# the token at position p is turned by the angle p · θ_i, with
# θ_i = 10000^(−2i/d) (fast turns for the first pairs, slow ones for the
# last). Two consequences:
#
# * a rotation keeps lengths, so RoPE changes no norm;
# * the angle between a rotated query at position m and a rotated key at
#   position n depends on m − n only, so their dot product, the attention
#   score, sees **relative** positions.
#
# **Exercise.** First, the rotation by hand, in the "rotate-half" layout:
# the pairs are feature i and feature i + H/2, so the first half x1 and
# the second half x2 turn together, and the partner of x is (−x2, x1).
# Fill in the blanks (1) the angles θ_i, (2) the partner and (3) the
# rotation. Run the cell: the check under it calls your function on
# inputs of other sizes than the notebook's and prints ✓, or stops the
# notebook with a hint that names the mistake. The next cell compares
# your function with `keras_attn.RotaryEmbedding`. The reference answer is
# in `tutorials/exercises/solutions.py`; the notebook uses it only when
# the tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so.


# %%
def apply_rope(x, max_wavelength=10000.0):
    """RoPE, rotate-half layout: x (B, T, N, H) at positions 0..T-1."""
    length, depth = x.shape[1], x.shape[-1]
    i = np.arange(depth // 2)  # the pair index
    theta = ___  # ___ (1) ___ max_wavelength^(−2i/H), shape (H/2,)
    angles = np.arange(length)[:, None] * theta  # (T, H/2): p · θ_i
    angles = np.concatenate([angles, angles], -1)[:, None, :]  # (T, 1, H)
    x1, x2 = x[..., : depth // 2], x[..., depth // 2 :]  # the two halves
    rotated = ___  # ___ (2) ___ the partner of x, (−x2, x1): (B, T, N, H)
    return ___  # ___ (3) ___ x cos(angles) + rotated sin(angles)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
apply_rope = solutions.if_requested(apply_rope)
checks.check_apply_rope(apply_rope)

# %%
d = 8
rope = keras_attn.RotaryEmbedding(max_wavelength=10000)
x = rng.normal(size=(1, 6, 1, d)).astype("float32")  # (B, T, N, H)
by_hand = numpy(apply_rope(x))  # yours
rotated = numpy(rope(x))
print("by hand == RotaryEmbedding:", np.allclose(by_hand, rotated, atol=1e-5))
print("norms before:", np.linalg.norm(x, axis=-1).ravel().round(4))
print("norms after: ", np.linalg.norm(rotated, axis=-1).ravel().round(4))

# %% [markdown]
# Now the relative-position property: one query and one key, placed at
# several pairs of positions (m, n) with the same distance m − n = 2. Their
# score after RoPE is the same every time; at another distance it is not.


# %%
def rope_score(q, k, m, n):
    """q · k after rotating q to position m and k to position n."""
    q_m = numpy(rope(q[None, None, None, :], start_index=m))
    k_n = numpy(rope(k[None, None, None, :], start_index=n))
    return float(np.sum(q_m * k_n))


q, k = rng.normal(size=(2, d)).astype("float32")
for m, n in ((2, 0), (7, 5), (100, 98), (5, 0)):
    print(f"m={m:3d} n={n:3d} m-n={m - n}: score {rope_score(q, k, m, n):.4f}")
same = [rope_score(q, k, m, m - 2) for m in (2, 7, 100)]
print("same distance, same score:", np.allclose(same, same[0], atol=1e-4))

distances = np.arange(pick(64, 256))
along = numpy(rope(np.tile(q, (1, len(distances), 1, 1))))[0, :, 0]  # (T, d)
scores = along @ along[0]  # q at position t against q at position 0
fig = figure(6, 2.6)
ax = fig.add_subplot()
ax.plot(distances, scores)
ax.set_xlabel(tr("distance m − n", "距離 m − n"))
ax.set_ylabel(tr("score of q with itself", "自分自身とのスコア"))
show(fig)

# %% [markdown]
# The score of a vector with itself shifted by t positions varies with t
# only: no absolute position enters. In a layer, `rotary_embedding=True`
# rotates queries and keys after the projections (and at `cache_index + i`
# when decoding with a cache). `RotaryEmbedding(scaling="linear" |
# "dynamic" | "yarn", ...)` stretches the angles to run a model past the
# length it was trained on.
#
# ## 2. Grouped-query and multi-query attention
#
# During generation the keys and values of every past token stay in the KV
# cache (section 4): per layer, 2 × N heads × T positions × H numbers. GQA
# keeps N query heads but only Nkv < N key/value heads; each group of
# N / Nkv query heads shares one. MQA is the extreme Nkv = 1. The
# argument is `num_key_value_heads`.

# %%
D, N, H = 512, 8, 64
B, max_length = 1, 4096
print(" Nkv  parameters  cache per layer (float32, T=4096)")
for kv_heads in (8, 2, 1):
    layer = keras_attn.MultiHeadAttention(
        num_heads=N, key_dim=H, num_key_value_heads=kv_heads
    )
    layer.build((None, None, D), (None, None, D))
    cache = layer.init_cache(batch_size=B, max_length=max_length)
    cache_bytes = 4 * (np.prod(cache.key.shape) + np.prod(cache.value.shape))
    print(
        f"{kv_heads:4d} {layer.count_params():11,d}  "
        f"{cache_bytes / 2**20:5.1f} MiB  key cache {tuple(cache.key.shape)}"
    )

# %% [markdown]
# With Nkv = 2 (Llama-2 70B uses 8 key/value heads for 64 query heads) the
# cache is a quarter of full multi-head attention's, and the K and V
# projections shrink by the same factor.
#
# GQA is ordinary multi-head attention in which the heads of a group have
# equal keys and values. We check exactly that: copy the weights of a GQA
# layer (4 query heads, 2 key/value heads) into a full 4-head layer,
# repeating each key/value head for its group, and compare the outputs.

# %%
D, N, H = 16, 4, 4
gqa = keras_attn.MultiHeadAttention(
    num_heads=N, key_dim=H, num_key_value_heads=2
)
full = keras_attn.MultiHeadAttention(num_heads=N, key_dim=H)
tokens = rng.normal(size=(2, 5, D)).astype("float32")
gqa(tokens)
full(tokens)
group = N // 2  # query heads per key/value head
for name in ("query_dense", "output_dense"):
    for w_full, w_gqa in zip(
        getattr(full, name).weights, getattr(gqa, name).weights
    ):
        w_full.assign(w_gqa)
for name in ("key_dense", "value_dense"):
    kernel, bias = getattr(gqa, name).weights  # (D, 2, H), (2, H)
    getattr(full, name).kernel.assign(np.repeat(numpy(kernel), group, axis=1))
    getattr(full, name).bias.assign(np.repeat(numpy(bias), group, axis=0))
same = np.allclose(numpy(gqa(tokens)), numpy(full(tokens)), atol=1e-5)
print("GQA == MHA with each key/value head repeated for its group:", same)

# %% [markdown]
# ## 3. Sliding-window attention
#
# With a window w, query i sees only keys j with |i − j| < w; with the
# causal mask, the last w positions up to itself (Mistral uses w = 4096).
# Compute and cache grow with w, not with the length. `keras_attn.ops`
# builds the band, and `merge_masks` combines it with the causal mask.

# %%
T, window = 10, 3
band = keras_attn.ops.sliding_window_mask(T, T, window)
causal = keras_attn.ops.causal_mask(T)
local = numpy(keras_attn.ops.merge_masks(band, causal))  # (T, T), True = see

fig = figure(8, 2.8)
for i, (mask, title) in enumerate(
    [
        (numpy(causal), tr("causal", "先読み防止")),
        (numpy(band), tr(f"window {window}", f"窓 {window}")),
        (local, tr("causal + window", "先読み防止 + 窓")),
    ]
):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xticks(range(0, T, 3))
    ax.set_yticks(range(0, T, 3))
    ax.set_xlabel(tr("key", "キー"))
    if i == 0:
        ax.set_ylabel(tr("query", "クエリ"))
fig.suptitle(tr("dark = may attend", "濃い色 = 注意してよい"))
show(fig)
print("keys seen by each query:", local.sum(-1).tolist())

# %% [markdown]
# The layer with `sliding_window=3` gives exactly zero weight outside the
# band. Stacking layers widens the view: a token reaches w − 1 positions
# back per layer, so after L layers L · (w − 1). We compute that reach by
# composing the masks.

# %%
layer = keras_attn.MultiHeadAttention(num_heads=2, sliding_window=window)
x = rng.normal(size=(1, T, 8)).astype("float32")
_, weights = layer(x, use_causal_mask=True, return_attention_scores=True)
outside = numpy(weights)[0][:, ~local]  # (heads, masked entries)
print("weight outside the causal window:", float(np.abs(outside).max()))

reach = np.eye(T, dtype=bool)
for depth in range(1, 4):
    reach = (reach.astype(int) @ local.astype(int)) > 0  # one more layer
    first = int(np.argmax(reach[T - 1]))
    print(f"{depth} layer(s): the last token reaches back to position {first}")

# %% [markdown]
# When decoding, a windowed layer never needs keys older than w tokens, so
# its cache is a ring of w slots whatever the length generated:

# %%
layer = keras_attn.MultiHeadAttention(num_heads=2, key_dim=4, sliding_window=3)
layer(x)
ring = layer.init_cache(batch_size=1, max_length=100_000)
print(type(ring).__name__, "key cache:", tuple(ring.key.shape))

# %% [markdown]
# ## 4. The KV cache, and why generation is fast
#
# A decoder generates one token at a time. Without a cache, each step runs
# the model on the whole prefix again, although the keys and values of the
# old tokens have not changed (the causal mask means earlier positions never
# see later ones). With a cache, each step computes only the new token's
# query, key and value, writes the key and value at `cache_index`, and
# attends over the cache.
#
# A small decoder-only model (random weights: what we compare is the
# decoding, not the text), decoded greedily both ways.

# %%
V, D = 50, 64
embed = keras.layers.Embedding(V, D)
decoder = keras_attn.TransformerDecoder(
    num_layers=2,
    num_heads=4,
    intermediate_dim=4 * D,
    norm_first=True,
    rotary_embedding=True,
)
head = keras.layers.Dense(V)
prompt = rng.integers(1, V, size=(1, 4)).astype("int32")
steps = pick(3, 16)


def logits_of(ids):
    """Next-token logits at every position of `ids` (B, T)."""
    return head(decoder(embed(ids)))  # causal by default


def greedy_without_cache(prompt, steps):
    ids = prompt
    for _ in range(steps):  # the whole prefix, every step
        next_id = ops.argmax(logits_of(ids)[:, -1], axis=-1)
        ids = ops.concatenate([ids, ops.cast(next_id[:, None], "int32")], 1)
    return numpy(ids[:, prompt.shape[1] :])


def step_fn(token_ids, cache, index):
    """One new token (N,) at position `index` -> logits (N, V), cache."""
    x, cache = decoder(
        embed(token_ids[:, None]), cache=cache, cache_index=index
    )
    return head(x)[:, 0], cache


def prefill_fn(prompt, cache):
    """The whole prompt in one call, written at positions 0..P-1."""
    x, cache = decoder(embed(prompt), cache=cache, cache_index=0)
    return head(x)[:, -1], cache


logits_of(prompt)  # build the layers
cache = decoder.init_cache(batch_size=1, max_length=prompt.shape[1] + steps)
cached, _ = generation.greedy_search(
    step_fn, cache, max_length=steps, prompt=prompt, prefill_fn=prefill_fn
)
uncached = greedy_without_cache(prompt, steps)
print("cached tokens:  ", numpy(cached)[0].tolist())
print("uncached tokens:", uncached[0].tolist())
print("same tokens:", np.array_equal(numpy(cached), uncached))

P = prompt.shape[1]
with_cache = P + steps - 1  # the prompt once, then one token per step
without = sum(P + i for i in range(steps))  # the whole prefix, every step
print(f"positions run through the model: {with_cache} with the cache,", end="")
print(f" {without} without")

# %% [markdown]
# Now the time of **one generation step** when the prefix is already L
# tokens long: without a cache, the step runs all L positions; with it,
# one position that attends over the L cached keys. Each time is the best
# of a few eager (uncompiled) runs on this machine (one run in small mode).


# %%
def best_time(fn):
    times = []
    for _ in range(pick(1, 3)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


print("      L  without cache  with cache  ratio")
for length in pick((8, 64), (64, 512, 2048)):
    ids = rng.integers(1, V, size=(1, length)).astype("int32")
    cache = decoder.init_cache(batch_size=1, max_length=length)
    _, cache = decoder(embed(ids[:, :-1]), cache=cache, cache_index=0)
    last = embed(ids[:, -1:])
    t_full = best_time(lambda ids=ids: logits_of(ids))
    t_step = best_time(
        lambda x=last, c=cache, i=length - 1: decoder(x, cache=c, cache_index=i)
    )
    print(
        f"{length:7d} {t_full * 1000:10.0f} ms {t_step * 1000:8.0f} ms"
        f"  {t_full / t_step:5.1f}x"
    )

# %% [markdown]
# The cache turns the work from the sum of all prefix lengths (quadratic in
# the generated length) into one new position per step (linear). For a
# short prefix the cached step is no faster, and may be slower (it also
# writes the cache): a model this small spends most of an eager call on
# overhead rather than arithmetic. But the uncached time grows with L
# while the cached one stays nearly flat, so the ratio grows with the
# prefix (run in full mode to see prefixes up to 2048). Each cached step
# still *attends* over every cached key, which is why the size of the
# cache (section 2) and of the attention (section 5) matter.
# Compiled decoding (`tf.function`, `jax.jit`) works too: the cache has a
# fixed shape.
#
# ## 5. The quadratic cost, and memory-efficient attention
#
# Dense attention stores the logits of every (query, key) pair: B · N · T²
# numbers. At float32 that grows fast with T:

# %%
print("     T   logits, 8 heads, float32")
for t in (512, 2048, 8192, 32768):
    gib = 8 * t * t * 4 / 2**30
    print(f"{t:6d}   {gib:8.3f} GiB")

# %% [markdown]
# Memory-efficient attention (Rabe & Staats 2021; FlashAttention, Dao et
# al. 2022) gives the same result without ever holding that matrix: it goes
# over the keys in blocks and keeps, for each query, a running maximum, a
# running softmax denominator and a running weighted sum, rescaling them
# when a larger logit arrives. Memory becomes linear in T; the compute
# stays quadratic. `keras_attn.ops.memory_efficient_attention` does it in
# `keras.ops` on every backend (the layers switch to it by themselves
# from 2048 × 2048 logits per head). The check: equal outputs, with a
# causal mask and with a sliding window.

# %%
T = pick(128, 2048)
q, k, v = (rng.normal(size=(1, 2, T, 16)).astype("float32") for _ in range(3))
for name, mask, kwargs in (
    ("causal", keras_attn.ops.causal_mask(T), dict(causal=True)),
    (
        "causal, window 64",
        keras_attn.ops.merge_masks(
            keras_attn.ops.causal_mask(T),
            keras_attn.ops.sliding_window_mask(T, T, 64),
        ),
        dict(causal=True, sliding_window=64),
    ),
):
    dense = keras_attn.ops.scaled_dot_product_attention(q, k, v, mask=mask)
    chunked = keras_attn.ops.memory_efficient_attention(
        q, k, v, query_chunk_size=64, key_chunk_size=64, **kwargs
    )
    diff = float(np.abs(numpy(dense) - numpy(chunked)).max())
    print(f"T={T}, {name}: largest difference {diff:.1e}")
    print(f"  logits held: dense {T * T:,} per head, chunked {64 * 64:,}")

# %% [markdown]
# The largest differences are at float32 rounding level. The chunked path
# holds one 64 × 64 block of logits at a time instead of T × T.
# `docs/benchmarks.md` measures time and peak memory of both paths up to
# T = 32k.
#
# ## Where these appear in keras_attn
#
# A Llama/Mistral-style decoder is a configuration of the blocks:
# `TransformerDecoder(..., norm_first=True, normalization="rms_norm",
# activation="swiglu", use_bias=False, num_key_value_heads=2,
# rotary_embedding=True, sliding_window=256)`. The README of the
# repository lists the other options (ALiBi, T5 relative bias, QK-norm,
# logit soft-capping, attention sinks) with their papers.
