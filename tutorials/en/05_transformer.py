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
# # 5. The Transformer block and the encoder-decoder
#
# A Transformer layer is two sub-layers, each wrapped in a residual
# connection and a layer normalisation:
#
# 1. multi-head **self-attention**: every position looks at every other;
# 2. a position-wise **feed-forward** network: the same two-layer MLP at
#    every position.
#
# The decoder adds a third sub-layer, **cross-attention**: the target
# positions (queries) look at the encoder outputs (keys and values). Each
# attention needs its own mask. We assemble an encoder block by hand, check
# it against `keras_attn.TransformerEncoderBlock`, write down the three
# masks, and train a tiny English → Japanese translator.

# %%
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.abspath(".."))  # tutorials/, for `exercises`
import exercises  # noqa: F401  (first: no TensorFlow start-up noise)

# isort: split

import keras
import numpy as np
from keras import ops
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

import keras_attn
from exercises import checks
from exercises import data
from exercises import solutions
from exercises.common import figure
from exercises.common import pick
from exercises.common import show
from exercises.common import tr
from keras_attn.visualize import plot_attention

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## One encoder block, by hand
#
# Post-norm, as in the paper: `x = LN(x + MHA(x))`, then
# `x = LN(x + FFN(x))`. We reuse the sub-layers (and so the weights) of a
# library block and only write the wiring. Padding: a pad position neither
# attends nor is attended to.

# %%
B, S, D = 2, 5, 16
x = rng.normal(size=(B, S, D)).astype("float32")
real = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)  # (B, S)
block = keras_attn.TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
lib = block(x, mask=real)


def my_encoder_block(x, real):
    mask = real[:, :, None] & real[:, None, :]  # (B, S, S): query & key real
    h = block.self_attention(x, attention_mask=mask)  # (B, S, D)
    x = block.self_attention_layer_norm(x + h)  # residual, then LN
    h = block.feed_forward(x)  # (B, S, D), position-wise
    return block.feed_forward_layer_norm(x + h)


np.testing.assert_allclose(my_encoder_block(x, real), lib, atol=1e-5)
print("hand-wired block matches keras_attn.TransformerEncoderBlock")

# %% [markdown]
# The comparison can fail: the pre-norm wiring (`x + MHA(LN(x))`, used by
# GPT-2 and most deep stacks) is a different function.

# %%
h = block.self_attention(block.self_attention_layer_norm(x))
pre = x + h
pre = pre + block.feed_forward(block.feed_forward_layer_norm(pre))
print("pre-norm == post-norm block:", np.allclose(pre, lib, atol=1e-5))
assert not np.allclose(pre, lib, atol=1e-5)

# %% [markdown]
# ## The data: 40 sentence pairs
#
# English words in, Japanese characters out. The decoder input is the
# target shifted right behind a start token `<s>`; the label ends with
# `</s>`.

# %%
src_vocab = data.Vocab(w for en, _, _ in data.PARALLEL for w in en.split())
tgt_vocab = data.Vocab(
    (c for _, ja, _ in data.PARALLEL for c in ja), specials=("<s>", "</s>")
)
BOS, EOS = tgt_vocab.stoi["<s>"], tgt_vocab.stoi["</s>"]
S_LEN = max(len(en.split()) for en, _, _ in data.PARALLEL)
T_LEN = max(len(ja) for _, ja, _ in data.PARALLEL) + 1
source = np.array(
    [src_vocab.encode(en.split(), S_LEN) for en, _, _ in data.PARALLEL]
)
decoder_in = np.array(
    [tgt_vocab.encode(["<s>", *ja], T_LEN) for _, ja, _ in data.PARALLEL]
)
labels = np.array(
    [tgt_vocab.encode([*ja, "</s>"], T_LEN) for _, ja, _ in data.PARALLEL]
)
print(len(src_vocab), "English words,", len(tgt_vocab), "Japanese characters")
print(source[0], "\n", decoder_in[0], "\n", labels[0])

# %% [markdown]
# ## Three attentions, three masks (True = may attend)
#
# * **Encoder self-attention**: source padding, `(B, 1, S)`.
# * **Decoder self-attention**: target padding *and* look-ahead: position
#   `t` must not see the tokens it is about to predict, `(B, T, T)`.
# * **Cross-attention**: source padding again, `(B, 1, S)`, because the
#   keys are encoder positions.

# %% [markdown]
# ### Exercise: the decoder's self-attention mask
#
# Build the mask of the decoder's self-attention from the decoder input ids:
# fill in the blanks (1) the padding part, True at real tokens and shaped
# `(B, 1, T)` so that it hides pad *keys*, and (2) the look-ahead part. The
# check under the function calls it on inputs of other sizes than the
# notebook's and prints ✓, or stops the notebook with a hint that names the
# mistake. The reference answer is in `tutorials/exercises/solutions.py`;
# the notebook uses it only when the tests set
# `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so. The cell after it
# draws all three masks for the pair with the most padding.


# %%
def decoder_self_mask(decoder_in):
    """(B, T) token ids, 0 = pad -> (B, T, T) bool, True = may attend."""
    pad = ___  # ___ (1) ___ True at real tokens, shape (B, 1, T)
    look_ahead = ___  # ___ (2) ___ query t may see keys <= t, shape (T, T)
    return pad & look_ahead  # (B, T, T): both must allow


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
decoder_self_mask = solutions.if_requested(decoder_self_mask)
checks.check_decoder_self_mask(decoder_self_mask)

# %%
src_pad = (source != 0)[:, None, :]  # (B, 1, S)
tgt_pad = (decoder_in != 0)[:, None, :]  # (B, 1, T)
look_ahead = np.tril(np.ones((T_LEN, T_LEN), bool))  # (T, T)
# The pair with the most padding, so that the figure has padding to show.
i = int(np.argmax((source == 0).sum(1) + (decoder_in == 0).sum(1)))
print(f"pair {i}: {data.PARALLEL[i][0]!r} -> {data.PARALLEL[i][1]!r}")
print(f"real tokens: source {src_pad[i].sum()} of {S_LEN},", end=" ")
print(f"decoder input {tgt_pad[i].sum()} of {T_LEN}")
masks = [
    src_pad[i] & src_pad[i].T,  # encoder self-attention, (S, S)
    tgt_pad[i] & look_ahead,  # decoder self-attention, (T, T)
    np.broadcast_to(src_pad[i], (T_LEN, S_LEN)),  # cross-attention, (T, S)
]
titles = [
    tr("encoder self-attention", "エンコーダの自己アテンション"),
    tr("decoder self-attention", "デコーダの自己アテンション"),
    tr("cross-attention", "クロスアテンション"),
]
fig = figure(10, 3.8)
for k, (title, mask) in enumerate(zip(titles, masks)):
    ax = fig.add_subplot(1, 3, k + 1)
    ax.imshow(mask, cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set_title(title)
    ax.set_xlabel(tr("key position", "キーの位置"))
    ax.set_ylabel(tr("query position", "クエリの位置"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
fig.legend(
    handles=[
        Patch(
            facecolor="white",
            edgecolor="black",
            label=tr("True: may attend", "True: 注意してよい"),
        ),
        Patch(facecolor="black", label=tr("False: masked", "False: マスク")),
    ],
    loc="upper center",
    bbox_to_anchor=(0.5, 0.0),
    ncol=2,
)
fig.tight_layout()
show(fig)

lib_mask = keras_attn.ops.merge_masks(
    keras_attn.ops.padding_mask(decoder_in), keras_attn.ops.causal_mask(T_LEN)
)
lib_mask = ops.convert_to_numpy(lib_mask)
np.testing.assert_array_equal(lib_mask, tgt_pad & look_ahead)
print("decoder self-attention mask matches keras_attn.ops")

# %% [markdown]
# ## The translator
#
# Token and (sinusoidal) position embeddings with `mask_zero=True`: the
# Keras padding masks then flow into the encoder, the decoder's
# self-attention and its cross-attention automatically. The decoder's
# look-ahead mask is on by default.

# %%
D = 64


def build_translator():
    src = keras.Input((S_LEN,), dtype="int32", name="source")
    tgt = keras.Input((T_LEN,), dtype="int32", name="decoder_in")
    enc = keras_attn.TokenAndPositionEmbedding(
        len(src_vocab),
        S_LEN,
        D,
        mask_zero=True,
        position_encoding="sinusoidal",
        name="source_embedding",
    )(src)
    enc = keras_attn.TransformerEncoder(
        1, num_heads=4, intermediate_dim=128, dropout=0.1, name="encoder"
    )(enc)  # (B, S, D)
    dec = keras_attn.TokenAndPositionEmbedding(
        len(tgt_vocab),
        T_LEN,
        D,
        mask_zero=True,
        position_encoding="sinusoidal",
        name="target_embedding",
    )(tgt)
    dec = keras_attn.TransformerDecoder(
        1, num_heads=4, intermediate_dim=128, dropout=0.1, name="decoder"
    )(dec, enc)  # (B, T, D)
    logits = keras.layers.Dense(len(tgt_vocab))(dec)  # (B, T, V)
    return keras.Model([src, tgt], logits)


model = build_translator()
model.compile(
    keras.optimizers.Adam(2e-3),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
# Every fifth pair is held out: the model never trains on it.
held_out = np.arange(len(data.PARALLEL)) % 5 == 4
train = ~held_out
print(f"{train.sum()} pairs to train on, {held_out.sum()} held out")
history = model.fit(
    (source[train], decoder_in[train]),
    labels[train],
    sample_weight=(labels[train] != 0).astype("float32"),  # not on padding
    batch_size=8,
    epochs=pick(2, 150),
    verbose=0,
)
print("final loss", round(history.history["loss"][-1], 3))

# %% [markdown]
# ## Causality check
#
# Changing a *later* decoder input must not change the predictions for
# earlier positions. (Turn off the look-ahead mask and this fails.)

# %%
changed = decoder_in[:1].copy()
changed[0, 6:] = rng.integers(3, len(tgt_vocab), T_LEN - 6)
before = ops.convert_to_numpy(model((source[:1], decoder_in[:1])))
after = ops.convert_to_numpy(model((source[:1], changed)))
np.testing.assert_allclose(before[0, :6], after[0, :6], atol=1e-5)
print("position 6 changed:", not np.allclose(before[0, 6], after[0, 6]))

# %% [markdown]
# ## Greedy decoding
#
# Start with `<s>`, predict the next character, append it, repeat until
# `</s>`. We translate the sentences it trained on and the held-out ones
# it never saw, and score each output against the reference: exact
# matches, and the F1 score of the characters the two have in common. On
# its own sentences a model this small can recite; on new ones it can
# only recombine the characters and phrases it has learned, and words
# that occur only in held-out sentences were never trained at all. The
# gap between the two lines is how far so few sentences generalise; the
# zoo's translator (`python -m zoo train transformer --preset cpu`, trained
# on Tatoeba) has the data to translate. In small mode the
# model has learned nothing yet.


# %%
def translate(sentence):
    src = np.array([src_vocab.encode(sentence.split(), S_LEN)])
    out = [BOS]
    for _ in range(T_LEN - 1):
        tgt = np.array([tgt_vocab.encode([], T_LEN)])
        tgt[0, : len(out)] = out
        logits = model((src, tgt))  # (1, T, V)
        next_id = int(ops.argmax(logits[0, len(out) - 1]))
        if next_id == EOS:
            break
        out.append(next_id)
    return tgt_vocab.decode(out[1:])


def char_f1(output, reference):
    """Characters in common (as multisets), as an F1 score in [0, 1]."""
    common = sum((Counter(output) & Counter(reference)).values())
    return 2 * common / max(len(output) + len(reference), 1)


for name, split in (("trained on", train), ("held out", held_out)):
    pairs = [p for p, keep in zip(data.PARALLEL, split) if keep]
    pairs = pairs[: pick(2, len(pairs))]
    outputs = [translate(en) for en, _, _ in pairs]
    exact = sum(out == ja for out, (_, ja, _) in zip(outputs, pairs))
    f1 = np.mean([char_f1(o, ja) for o, (_, ja, _) in zip(outputs, pairs)])
    print(f"{name}: {exact} of {len(pairs)} exact, character F1 {f1:.2f}")
    for out, (en, ja, _) in list(zip(outputs, pairs))[:4]:
        print(f"  {en:35s} -> {out}   (reference: {ja})")

# %% [markdown]
# ## Cross-attention: which English word does each character look at?
#
# We run the trained layers one by one to ask the decoder for its
# attention weights.

# %%
embed_src, encoder, embed_tgt, decoder = (
    model.get_layer(name)
    for name in ("source_embedding", "encoder", "target_embedding", "decoder")
)
en, ja, _ = data.PARALLEL[3]
src = np.array([src_vocab.encode(en.split(), S_LEN)])
tgt = np.array([tgt_vocab.encode(["<s>", *ja], T_LEN)])
memory = encoder(embed_src(src), mask=src != 0)
_, scores = decoder(
    embed_tgt(tgt),
    memory,
    mask=tgt != 0,
    encoder_outputs_mask=src != 0,
    return_attention_scores=True,
)
cross = ops.convert_to_numpy(scores[0][1])[0].mean(axis=0)  # heads average
n_src, n_tgt = len(en.split()), len(ja) + 1
show(plot_attention(cross[:n_tgt, :n_src], ["<s>", *ja], en.split()))

# %% [markdown]
# **Summary.** Encoder block = self-attention + FFN with residuals and
# layer norms; decoder adds cross-attention; the masks are: source padding
# (encoder self and cross) and target padding with look-ahead (decoder
# self).
