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
# # 10. A GPT-style language model
#
# Drop the encoder, keep the decoder: a stack of causal self-attention
# blocks trained to predict the **next token** at every position. That is
# GPT. We train a tiny character-level model on a short Japanese story
# and let it continue a sentence, sampling with a *temperature*.
#
# The causal (look-ahead) mask is what makes it work: position `t` sees
# only tokens `≤ t`, so one forward pass trains all positions at once
# without letting any of them peek at its own answer.

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
from keras_attn.visualize import plot_attention_heads

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Characters and windows
#
# Every character is a token. A training example is a window of `T + 1`
# characters: the model reads the first `T` and must predict the last `T`
# (the same window shifted by one).

# %% [markdown]
# **Exercise.** Cut windows of `T + 1` characters into what the model reads
# and what it must predict: fill in the blanks (1) and (2). The check under
# the function calls it on inputs of other sizes than the notebook's and
# prints ✓, or stops the notebook with a hint that names the mistake. The
# reference answer is in `tutorials/exercises/solutions.py`; the notebook
# uses it only when the tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and
# then it says so. The cell after it does this on the story.


# %%
def split_window(windows):
    """(N, T+1) windows -> inputs (N, T), targets (N, T)."""
    inputs = ___  # ___ (1) ___ what the model reads
    targets = ___  # ___ (2) ___ what it must predict, position by position
    return inputs, targets


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
split_window = solutions.if_requested(split_window)
checks.check_split_window(split_window)

# %%
text = data.ja_corpus()
vocab = data.Vocab(text)
ids = np.array(vocab.encode(text))
T = 32
starts = np.arange(0, len(ids) - T - 1, pick(8, 1))
windows = np.stack([ids[s : s + T + 1] for s in starts])  # (N, T+1)
inputs, targets = windows[:, :-1], windows[:, 1:]  # (N, T) each
print(len(text), "characters,", len(vocab), "distinct;", len(inputs), "windows")
print(vocab.decode(inputs[0]), "->", vocab.decode(targets[0][-1:]))

# %% [markdown]
# ## The causal mask, by hand and from the library

# %%
causal = np.tril(np.ones((T, T), bool))  # query i may attend keys j <= i
lib_causal = ops.convert_to_numpy(keras_attn.ops.causal_mask(T))
np.testing.assert_array_equal(causal, lib_causal)
print(causal[:5, :5].astype(int))

# %% [markdown]
# Single-head causal attention in three lines of `keras.ops`, checked
# against the library core:

# %%
x = rng.normal(size=(2, T, 16)).astype("float32")
scores = ops.matmul(x, ops.swapaxes(x, 1, 2)) / np.sqrt(16)  # (B, T, T)
weights = ops.softmax(ops.where(causal, scores, -1e9), axis=-1)
ours = ops.matmul(weights, x)  # (B, T, 16)
lib = keras_attn.ops.scaled_dot_product_attention(x, x, x, mask=causal)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
print("causal attention matches keras_attn.ops.scaled_dot_product_attention")

# %% [markdown]
# ## The model
#
# Learned token and position embeddings, two pre-norm decoder blocks
# without cross-attention (the GPT-2 layout), and an output layer tied to
# the token embedding (`compute_logits`).

# %%
D = 64


class GPT(keras.Model):
    """Decoder-only LM: embeddings, decoder blocks, tied output layer."""

    def __init__(self, vocabulary_size, length, dim, **kwargs):
        super().__init__(**kwargs)
        self.embed = keras_attn.TokenAndPositionEmbedding(
            vocabulary_size, length, dim
        )
        self.decoder = keras_attn.TransformerDecoder(
            2,
            num_heads=4,
            intermediate_dim=4 * dim,
            dropout=0.1,
            norm_first=True,
            activation="gelu",
        )  # causal self-attention only

    def call(self, tokens, training=None):
        x = self.embed(tokens)  # (B, T, D)
        x = self.decoder(x, training=training)  # (B, T, D)
        return self.embed.compute_logits(x)  # (B, T, V), tied weights


gpt = GPT(len(vocab), T, D)
gpt.compile(
    keras.optimizers.Adam(3e-3),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
history = gpt.fit(inputs, targets, batch_size=32, epochs=pick(1, 30), verbose=0)
print("final loss", round(history.history["loss"][-1], 3))

# %% [markdown]
# ## Causality check
#
# Change the last half of a window: the predictions for the first half
# must not move. This is the property that makes one pass train every
# position honestly.

# %%
changed = inputs[:1].copy()
changed[0, T // 2 :] = rng.integers(1, len(vocab), T - T // 2)
before = ops.convert_to_numpy(gpt(inputs[:1]))
after = ops.convert_to_numpy(gpt(changed))
np.testing.assert_allclose(before[0, : T // 2], after[0, : T // 2], atol=1e-5)
assert not np.allclose(before[0, T // 2], after[0, T // 2], atol=1e-5)
print("earlier predictions unchanged, later ones changed")

# %% [markdown]
# ## Sampling with a temperature
#
# The model gives logits `z` for the next character. Dividing them by a
# temperature `τ` before the softmax sharpens (`τ < 1`) or flattens
# (`τ > 1`) the distribution: `p = softmax(z / τ)`. `τ → 0` is greedy
# decoding.


# %% [markdown]
# **Exercise.** Write `p = softmax(z / τ)` for one vector of logits: fill in
# the blanks (1) the logits at temperature τ and (2) the unnormalised
# probabilities. The check under the function calls it on inputs of other
# sizes than the notebook's and prints ✓, or stops the notebook with a hint
# that names the mistake. The reference answer is in
# `tutorials/exercises/solutions.py`; the notebook uses it only when the
# tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so. The cell
# after it checks the same formula against `ops.softmax`.


# %%
def next_char_probs(logits, temperature):
    """Logits (V,) -> probabilities (V,) at temperature τ."""
    z = ___  # ___ (1) ___ the logits at temperature τ
    z = z - z.max()  # stability: the largest becomes 0
    p = ___  # ___ (2) ___ not yet normalised
    return p / p.sum()


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
next_char_probs = solutions.if_requested(next_char_probs)
checks.check_next_char_probs(next_char_probs)


# %%
def next_char_probs(logits, temperature):
    z = logits / temperature
    z = z - z.max()  # stability
    p = np.exp(z)
    return p / p.sum()


logits = rng.normal(size=8).astype("float32") * 3
for tau in (0.5, 1.0, 2.0):
    p = next_char_probs(logits, tau)
    ref = ops.convert_to_numpy(ops.softmax(logits / tau))
    np.testing.assert_allclose(p, ref, rtol=1e-5)
    print(f"τ={tau}: max p = {p.max():.2f}")


def generate(prompt, length, temperature, seed=0):
    """The text, and the mean entropy (bits) of the distributions that
    each character was sampled from."""
    sampler = np.random.default_rng(seed)
    out, entropies = vocab.encode(prompt), []
    for _ in range(length):
        window = out[-T:]
        n = len(window)
        x = np.array([window + [0] * (T - n)])  # right-pad; causal => harmless
        logits = ops.convert_to_numpy(gpt(x))[0, n - 1]  # (V,)
        logits[0] = -np.inf  # never sample padding
        p = next_char_probs(logits.astype("float64"), temperature)
        entropies.append(-np.sum(p[p > 0] * np.log2(p[p > 0])))
        out.append(int(sampler.choice(len(p), p=p)))
    return vocab.decode(out), float(np.mean(entropies))


def ngrams(s, n):
    return [s[j : j + n] for j in range(len(s) - n + 1)]


story_8grams = set(ngrams(text, 8))
prompt, length, seeds = "猫は", pick(10, 60), range(pick(2, 5))
print("τ     entropy  different  distinct  8-grams copied")
print("      (bits)   texts      3-grams   from the story")
for tau in (0.3, 0.8, 1.5):
    runs = [generate(prompt, length, tau, seed) for seed in seeds]
    texts = [t[len(prompt) :] for t, _ in runs]  # the continuations
    grams = [g for t in texts for g in ngrams(t, 3)]
    copied = np.mean([g in story_8grams for t in texts for g in ngrams(t, 8)])
    print(
        f"{tau:<5} {np.mean([h for _, h in runs]):7.2f}"
        f"  {len(set(texts))} of {len(texts)}"
        f"     {len(set(grams)) / len(grams):7.0%}  {copied:14.0%}"
    )
    for t in texts[:2]:
        print("     ", prompt + t)

# %% [markdown]
# The table measures what the temperature does, over several seeds per τ:
# the entropy of the distributions the characters were drawn from (0 bits
# would be greedy decoding), how many of the continuations differ, the
# share of distinct 3-grams among them, and the share of their 8-grams
# that occur verbatim in the story. A low temperature keeps to the most
# likely path, so the seeds agree and the text is the story recited; a
# high one spreads the probability, so the seeds part ways and the model
# starts to invent (and misspell). For any one context the entropy grows
# with τ; how far the other columns move depends on how well the model
# has learned the story. In small mode the model is untrained: expect
# noise.
#
# ## What the heads look at
#
# The attention weights of the first block, for the first window: all
# lower-triangular, each head with its own pattern (after training, some
# heads look at the previous character, others at the start of a word).

# %%
_, scores = gpt.decoder(gpt.embed(inputs[:1]), return_attention_scores=True)
first_block_self = ops.convert_to_numpy(scores[0][0])[0, :, :12, :12]
chars = list(vocab.decode(inputs[0][:12]))
show(plot_attention_heads(first_block_self, chars, chars, ncols=4))

# %% [markdown]
# **Summary.** GPT = embeddings + causal self-attention blocks + tied
# output layer, trained on next-token prediction; the causal mask lets one
# pass train all positions; the temperature trades safety for variety.
#
# For the full-size version (subword tokens, Jane Austen's novels, the
# `gpt2` and `modern` blocks, KV-cached generation, a SavedModel for
# serving), train the zoo model: `python -m zoo train gpt`, or on
# Japanese, `python -m zoo train gpt --data tatoeba-ja` (Tatoeba's
# Japanese sentences), described in `docs/zoo_gpt.md`.
