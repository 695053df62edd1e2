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
# # 9. BERT: masked-language-model pretraining, then fine-tuning
#
# BERT is a Transformer **encoder**: every token sees every other token,
# left and right. It cannot be trained to predict the next token (it
# would see it), so it is trained to fill in blanks: hide 15% of the
# tokens and predict them from both sides. Then the same encoder, with a
# small classifier on the `[CLS]` token, is **fine-tuned** for a task.
#
# We write the masking procedure and the masked-LM loss by hand, check the
# loss against Keras', check that padding cannot leak into the encoder,
# pretrain on our 40 English sentences and fine-tune a topic classifier.

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

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Tokens
#
# Word-level: `[CLS]` first, then the words, padded with id 0.

# %%
words = [en.split() for en, _, _ in data.PARALLEL]
topics = np.array([topic for _, _, topic in data.PARALLEL])
vocab = data.Vocab(
    (w for sentence in words for w in sentence), specials=("[CLS]", "[MASK]")
)
CLS, MASK = vocab.stoi["[CLS]"], vocab.stoi["[MASK]"]
L = max(len(s) for s in words) + 1
tokens = np.array([vocab.encode(["[CLS]", *s], L) for s in words])  # (N, L)
print(len(vocab), "tokens;", tokens[0])

# %% [markdown]
# ## The masking procedure
#
# Choose 15% of the real word positions (never `[CLS]` or padding). Of
# those, replace 80% by `[MASK]`, 10% by a random word, and keep 10%
# unchanged, so that the model cannot rely on seeing `[MASK]`. The loss
# only counts the chosen positions.


# %% [markdown]
# **Exercise.** Write the 80/10/10 step. `chosen` (bool) marks the positions
# picked for the loss, `action` holds one uniform random number in [0, 1)
# per position, `random_words` a random word per position. Fill in the
# blanks (1) where the input becomes `[MASK]`, (2) where it becomes a random
# word, and (3) the loss weights. The check under the function calls it on
# inputs of other sizes than the notebook's and prints ✓, or stops the
# notebook with a hint that names the mistake. The reference answer is in
# `tutorials/exercises/solutions.py`; the notebook uses it only when the
# tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so. The cell
# after it is the whole procedure.


# %%
def mask_80_10_10(tokens, chosen, action, random_words, mask_id):
    """Corrupt the chosen tokens; return (inputs, loss weights)."""
    inputs = tokens.copy()  # `tokens` are also the labels: keep them
    inputs[___] = mask_id  # ___ (1) ___ 80% of the chosen
    swap = ___  # ___ (2) ___ 10% of the chosen
    inputs[swap] = random_words[swap]  # the other 10% stay unchanged
    return inputs, ___  # ___ (3) ___ 1.0 where the loss counts, else 0.0


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
mask_80_10_10 = solutions.if_requested(mask_80_10_10)
checks.check_mask_80_10_10(mask_80_10_10)


# %%
def mask_tokens(tokens, rng, rate=0.15):
    words = tokens > MASK  # real words: not pad, [CLS] or [MASK]
    chosen = words & (rng.random(tokens.shape) < rate)
    # at least one per sentence, so every example teaches something
    for i in np.flatnonzero(~chosen.any(axis=1)):
        chosen[i, rng.choice(np.flatnonzero(words[i]))] = True
    action = rng.random(tokens.shape)
    inputs = tokens.copy()
    inputs[chosen & (action < 0.8)] = MASK
    swap = chosen & (action >= 0.8) & (action < 0.9)
    inputs[swap] = rng.integers(MASK + 1, len(vocab), swap.sum())
    return inputs, tokens, chosen.astype("float32")  # inputs, labels, weights


inputs, labels, weights = mask_tokens(tokens, rng)
print(vocab.decode(inputs[0], " "), "| loss at", np.flatnonzero(weights[0]))

# %% [markdown]
# ## The model
#
# Learned token and position embeddings with `mask_zero=True`, two
# encoder blocks with GELU (as BERT), a masked-LM head over the vocabulary
# and, for later, a classifier head on the `[CLS]` output.

# %%
D = 64
token_ids = keras.Input((None,), dtype="int32")
h = keras_attn.TokenAndPositionEmbedding(len(vocab), L + 4, D, mask_zero=True)(
    token_ids
)
encoder = keras_attn.TransformerEncoder(
    2, num_heads=4, intermediate_dim=2 * D, activation="gelu", dropout=0.1
)
h = encoder(h)  # (B, L, D)
mlm = keras.Model(token_ids, keras.layers.Dense(len(vocab))(h))
backbone = keras.Model(token_ids, h)

# %% [markdown]
# ## The masked-LM loss by hand
#
# Cross-entropy at the chosen positions only, averaged over them:
# `-Σ w_t log p(label_t) / Σ w_t`. Keras' sparse cross-entropy with a
# `sample_weight` and `reduction="sum"` gives the numerator.


# %%
def masked_lm_loss(logits, labels, weights):
    log_p = ops.log_softmax(logits, axis=-1)  # (N, L, V)
    nll = -ops.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
    return ops.sum(nll * weights) / weights.sum(), nll  # scalar, (N, L)


logits = mlm(inputs)  # (N, L, V)
ours, nll = masked_lm_loss(logits, labels, weights)
keras_loss = (
    keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="sum"
    )(labels, logits, sample_weight=weights)
    / weights.sum()
)
np.testing.assert_allclose(ours, keras_loss, rtol=1e-5)
print(f"masked-LM loss {float(ours):.4f} (≈ ln V = {np.log(len(vocab)):.2f})")

# %% [markdown]
# The comparison can fail: averaging over *all* positions instead of the
# masked ones gives a different number.

# %%
everywhere = ops.mean(nll)
print("mean over all positions:", float(everywhere))
assert not np.allclose(everywhere, keras_loss, rtol=1e-5)

# %% [markdown]
# ## Padding cannot leak
#
# Extra padding must not change the encoder outputs at the real
# positions: the Keras mask from `mask_zero=True` reaches every attention.

# %%
short = backbone(tokens[:2])  # (2, L, D)
long = backbone(np.pad(tokens[:2], ((0, 0), (0, 4))))  # (2, L + 4, D)
real = tokens[:2] != 0
np.testing.assert_allclose(
    ops.convert_to_numpy(short)[real],
    ops.convert_to_numpy(long)[:, :L][real],
    atol=1e-5,
)
print("outputs at real tokens unchanged by extra padding")

# %% [markdown]
# ## Pretraining
#
# New random masks every epoch: RoBERTa's **dynamic masking** (Liu et al.
# 2019). The original BERT masked statically, once in preprocessing,
# duplicating the data 10 times with 10 different masks.

# %%
mlm.compile(
    keras.optimizers.Adam(2e-3),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
for _ in range(pick(1, 150)):
    inputs, labels, weights = mask_tokens(tokens, rng)
    mlm.train_on_batch(inputs, labels, sample_weight=weights)
inputs, labels, weights = mask_tokens(tokens, rng)
loss, _ = masked_lm_loss(mlm(inputs), labels, weights)
print("masked-LM loss after pretraining:", round(float(loss), 3))


def fill(sentence):
    ids = np.array([vocab.encode(["[CLS]", *sentence.split()])])
    position = sentence.split().index("[MASK]") + 1
    probs = ops.convert_to_numpy(ops.softmax(mlm(ids)[0, position]))
    best = np.argsort(probs)[::-1][:3]
    return [(vocab.itos[i], round(float(probs[i]), 2)) for i in best]


for sentence in (
    "the [MASK] sleeps on the warm sofa",  # a pretraining sentence
    "she drinks green [MASK]",
):
    print(sentence, "->", fill(sentence))

# %% [markdown]
# ## Fine-tuning: topic classification
#
# Four topics (animals, food, weather, travel). A `Dense` layer on the
# `[CLS]` output; the pretrained encoder is trained further with a small
# learning rate. Every fifth sentence is held out.

# %%
cls_vector = backbone.output[:, 0]  # (B, D), the [CLS] position
classifier = keras.Model(
    backbone.input, keras.layers.Dense(len(data.TOPICS))(cls_vector)
)
classifier.compile(
    keras.optimizers.Adam(5e-4),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
test = np.arange(len(tokens)) % 5 == 0
classifier.fit(
    tokens[~test], topics[~test], batch_size=8, epochs=pick(1, 40), verbose=0
)
_, accuracy = classifier.evaluate(tokens[test], topics[test], verbose=0)
print(f"held-out topic accuracy: {accuracy:.2f} (chance 0.25)")

# %% [markdown]
# With 32 training sentences these numbers are noisy; the point is the
# recipe: one encoder, pretrained on unlabelled text with a fill-in-the-
# blank loss, reused with a tiny head for a labelled task.
#
# **Summary.** BERT = bidirectional encoder; masked-LM pretraining (15%,
# 80/10/10, loss only on the chosen positions); fine-tuning on `[CLS]`.
