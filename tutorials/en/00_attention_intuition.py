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
# # 0. Attention, intuitively
#
# Before any formula: what "attention" means for people, why a word's
# meaning depends on its neighbours, and the small worked examples of the
# lectures, each recomputed here with `keras.ops` and `keras_attn` so that
# every number you read is one the notebook computed.
#
# Nothing is trained in this notebook, so it runs quickly, even on a CPU.

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
from keras_attn.visualize import plot_attention

LANG = os.path.basename(os.getcwd())  # "en" or "ja": labels of the figures


def tr(en, ja):
    """The label in this notebook's language."""
    return ja if LANG == "ja" else en


def softmax(scores):
    return ops.convert_to_numpy(ops.softmax(np.asarray(scores, "float32")))


# %% [markdown]
# ## Attention in people
#
# Psychologists used the word long before machine learning did.
#
# * **Visual attention.** Your eyes take in the whole scene, but you only
#   *see* in detail the part you attend to, like a spotlight that moves.
# * **Auditory attention.** At a noisy party you can follow one voice and
#   let the others fade: the **cocktail-party effect** (Cherry, 1953). Hear
#   your own name across the room and your attention jumps to it.
#
# In both cases everything reaches you, and attention decides how much of
# each part you use. That is exactly what attention does in a network: a
# **weighted average** of everything it is given, with weights that say
# how relevant each part is to what it is looking for.
#
# A toy cocktail party: three voices of different pitch talk at once. Each
# voice has a **key** describing it (here, which pitch band it occupies).
# You are listening for the 440 Hz voice: that is your **query**. The
# weights are a softmax of query · key, and what you "hear" is the
# weighted sum of the voices, the **values**.

# %%
time = np.linspace(0.0, 0.02, 400, dtype="float32")  # 20 ms
pitches = [220.0, 440.0, 880.0]  # Hz
voices = np.stack([np.sin(2 * np.pi * f * time) for f in pitches])  # (3, 400)
keys = np.eye(3, dtype="float32")  # voice i lives in pitch band i
query = np.array([0.0, 4.0, 0.0], "float32")  # "I want the 440 Hz band"

weights = softmax(keys @ query)  # (3,)
heard = weights @ voices  # (400,): the weighted sum of the values
mixture = voices.mean(axis=0)  # everyone at once, no attention


def similarity(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


print("attention weights over the voices:", weights.round(3))
print(f"mixture vs the 440 Hz voice: {similarity(mixture, voices[1]):.2f}")
print(f"attended vs the 440 Hz voice: {similarity(heard, voices[1]):.2f}")

fig = figure(7, 2.6)
ax = fig.add_subplot()
ax.plot(time * 1000, mixture, color="0.7", label=tr("mixture", "混ざった音"))
ax.plot(time * 1000, heard, label=tr("attended", "注意を向けた音"))
ax.set_xlabel(tr("time (ms)", "時間 (ms)"))
ax.legend(loc="upper right")
show(fig)

# %% [markdown]
# The weighted sum is almost the 440 Hz voice alone, and nothing was thrown
# away: the other voices still contribute with small weights. Change the
# query to `[0, 0, 4]` and you follow the 880 Hz voice instead.
#
# ## Meaning comes from context: "bank"
#
# In English, *bank* is a river bank in "the river bank" and a money bank
# in "the money bank". A **static embedding** (a lookup table such as
# word2vec, or `keras.layers.Embedding`) gives a word one vector, whatever
# surrounds it. Self-attention turns it into a **contextual embedding**:
# each word's new vector is a weighted average over the sentence, so the
# same word comes out differently in different sentences.
#
# To see it without training, we give each word a hand-made vector with
# three features, *(nature, money, grammar)*. A trained model learns such
# vectors, with hundreds of features nobody named.

# %%
features = {  # (nature, money, grammar)
    "the": [0.0, 0.0, 1.0],
    "river": [1.0, 0.0, 0.0],
    "money": [0.0, 1.0, 0.0],
    "bank": [0.5, 0.5, 0.0],
}
sentences = [["the", "river", "bank"], ["the", "money", "bank"]]
x = np.array([[features[w] for w in s] for s in sentences], "float32")

# Static: the vector of "bank" is the same in both sentences.
print("static 'bank':", x[0, 2], x[1, 2])

# Contextual: one self-attention pass, queries = keys = values = x.
contextual = keras_attn.ops.scaled_dot_product_attention(x, x, x)
contextual = ops.convert_to_numpy(contextual)  # (2 sentences, 3 words, 3)
for s, out in zip(sentences, contextual):
    nature, money, _ = out[2]
    print(f"{' '.join(s):16s} -> 'bank' = {out[2].round(3)}", end="  ")
    print(f"nature - money = {nature - money:+.3f}")

# %% [markdown]
# After one attention pass, "bank" leans towards *nature* next to "river"
# and towards *money* next to "money": the sign of *nature − money* flips.
# This is the answer to a learner's question, "is a Transformer just
# word2vec with one more dimension?": no. Word2vec gives one vector per
# word; a Transformer recomputes every word's vector from its sentence, in
# every layer.
#
# ## "得意 な スポーツ は ？" over "野球 が 得意"
#
# The lectures' example: answering the question "得意なスポーツは？" (*what
# sport are you good at?*) by attending over the words of the reply
# "野球 が 得意" (*I'm good at baseball*), with the weights
# **0.6 / 0.02 / 0.38**. The lecture gives these weights; it does not say
# which scores they came from. Any scores whose softmax gives them will do,
# for example their logarithms, and adding one constant to every score
# changes nothing (softmax only sees differences).

# %%
words = ["野球", "が", "得意"]
lecture_weights = np.array([0.6, 0.02, 0.38], "float32")
scores = np.log(lecture_weights)  # one set of scores that gives them
print("scores = log(weights):", scores.round(3))
print("softmax(scores):      ", softmax(scores).round(3))
print("softmax(scores + 5):  ", softmax(scores + 5.0).round(3))

# Values: hand-made (sport, grammar, skill) features of the three words.
values = np.array(
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "float32"
)
answer = lecture_weights @ values  # the weighted sum: what attention returns
print("output (sport, grammar, skill):", answer.round(3))

fig = plot_attention(
    lecture_weights[None, :], ["スポーツ"], words, title=tr("weights", "重み")
)
show(fig)

# %% [markdown]
# The output is 60 % "baseball" and 38 % "good at", with the particle "が"
# almost ignored: the query gathered the two words that answer the
# question. In a trained model, both the scores and the value vectors are
# learned.
#
# **Exercise.** Every example in this notebook takes the same two steps
# after the scores: a softmax over the keys, then the weighted average of
# the values. Write them as one function by filling in the blanks (1) the
# weights and (2) the output; `scores` has one row per query. Run the
# cell: the check under it calls your function on inputs of other sizes
# than the notebook's and prints ✓, or stops the notebook with a hint that
# names the mistake. Then your function recomputes the example above. The
# reference answer is in `tutorials/exercises/solutions.py`; the notebook
# uses it only when the tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and
# then it says so.


# %%
def attend(scores, values):
    """scores (T, S), values (S, Dv) -> output (T, Dv), weights (T, S)."""
    weights = ___  # ___ (1) ___ softmax over the keys: each row sums to 1
    output = ___  # ___ (2) ___ the weighted average of the values
    return output, weights


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
attend = solutions.if_requested(attend)
checks.check_attend(attend)

output, weights = attend(scores[None, :], values)  # one query: スポーツ
output, weights = ops.convert_to_numpy(output), ops.convert_to_numpy(weights)
print("weights:", weights.round(3), "output:", output.round(3))
print("the lecture's weights again:", np.allclose(weights, lecture_weights))
print("the same output:", np.allclose(output, answer[None, :], atol=1e-6))

# %% [markdown]
# ## Query · key: 1.2 and 3.6 → weights 0.4 and 0.6?
#
# The lectures show a query whose dot products with two keys are **1.2**
# and **3.6**, and weights of about **0.4** and **0.6**. Let us compute
# what each reading of that step gives.

# %%
qk = np.array([1.2, 3.6], "float32")
print("softmax(q·k):              ", softmax(qk).round(3))
print("q·k / sum(q·k):            ", (qk / qk.sum()).round(3))
for d_k in (4, 16, 64):
    scaled = softmax(qk / np.sqrt(d_k))
    print(f"softmax(q·k / √{d_k:<3d}):       ", scaled.round(3))
exact = (qk[1] - qk[0]) / np.log(0.6 / 0.4)  # divisor for exactly 0.4/0.6
print(
    f"exactly 0.4 / 0.6 needs a divisor of {exact:.2f} (d_k ≈ {exact**2:.0f})"
)

# %% [markdown]
# The plain softmax of 1.2 and 3.6 is far from 0.4 / 0.6: the larger score
# takes almost everything. Dividing each score by the sum gives 0.25 /
# 0.75, not it either. The lecture does not show how it got its weights;
# of the standard computations, the one that lands near 0.4 / 0.6 is the
# **scaled** dot product of the Transformer, softmax(q·k / √d_k), with the
# paper's head size d_k = 64: the printout gives two weights that round
# to 0.4 and 0.6 at one decimal. So the lecture's numbers are best read
# as an illustration with rounded weights, not as the plain softmax of
# 1.2 and 3.6; the divisor that would give exactly 0.4 / 0.6 is on the
# last line. Tutorial 2 shows why the √d_k is there.
#
# ## Words to ids: "今日 は いい 天気 だ → 21 2 32 90 15"
#
# A network reads numbers, not words. A **tokenizer** splits the text into
# tokens (Japanese has no spaces, so real systems use a morphological
# analyser such as MeCab, or subwords such as SentencePiece); a
# **vocabulary** numbers them. The ids are arbitrary labels: the lecture's
# vocabulary happens to put 今日 at 21. Here is a vocabulary that gives the
# lecture's ids, and the **embedding** lookup that turns ids into vectors.

# %%
vocabulary = {"[PAD]": 0, "は": 2, "だ": 15, "今日": 21, "いい": 32, "天気": 90}
sentence = "今日 は いい 天気 だ"
ids = [vocabulary[token] for token in sentence.split()]
print(sentence, "->", ids)

embedding = keras.layers.Embedding(input_dim=100, output_dim=4)
vectors = ops.convert_to_numpy(embedding(np.array([ids])))  # (1, 5, 4)
table = ops.convert_to_numpy(embedding.embeddings)  # (100, 4)
print("vectors:", vectors.shape, "= rows", ids, "of a", table.shape, "table")
print("row 21 is the vector of 今日:", np.array_equal(vectors[0, 0], table[21]))

# %% [markdown]
# An embedding is a table with one learned row per id: the lookup is the
# static embedding of the "bank" section. Everything after it, attention
# included, works on these vectors.
#
# ## "This is a pen → これはペンです": attention between two sentences
#
# Translation is the lectures' other running example. An **encoder** reads
# the source sentence; a **decoder** writes the target one token at a
# time, starting from a start token. While training, the decoder is fed
# the correct previous tokens (teacher forcing), and a **causal mask**
# keeps each position from looking at the tokens after it.
#
# Between the two runs **cross-attention** (the lectures' *Source-Target
# attention*): every target position is a query over the source tokens,
# which act as keys and values (the *memory*). We give each word a
# hand-made meaning vector shared by the two languages, so the attention
# you see is the one a trained model would learn to find.

# %%
source = ["This", "is", "a", "pen"]
decoder_input = ["<s>", "これ", "は", "ペン", "です"]
target = ["これ", "は", "ペン", "です", "</s>"]

meaning = {  # (this, be, article, pen, start)
    "This": [1, 0, 0, 0, 0],
    "is": [0, 1, 0, 0, 0],
    "a": [0, 0, 1, 0, 0],
    "pen": [0, 0, 0, 1, 0],
    "<s>": [0, 0, 0, 0, 1],
    "これ": [1, 0, 0, 0, 0],
    "は": [0.5, 0.5, 0, 0, 0],  # the topic marker: about "this", before "is"
    "ペン": [0, 0, 0.3, 1, 0],
    "です": [0, 1, 0, 0, 0],
}
src = np.array([[meaning[w] for w in source]], "float32") * 3.0  # (1, 4, 5)
tgt = np.array([[meaning[w] for w in decoder_input]], "float32") * 3.0
_, cross = keras_attn.ops.scaled_dot_product_attention(
    tgt, src, src, return_weights=True
)  # queries: the target positions; keys and values: the source words
causal = keras_attn.ops.causal_mask(len(decoder_input))  # (5, 5), True = see

print("decoder input:", decoder_input)
print("targets:      ", target)
print("cross-attention weights:", tuple(cross.shape), "(target × source)")
print(ops.convert_to_numpy(cross)[0].round(2))
print("causal mask of the decoder (1 = may attend):")
print(ops.convert_to_numpy(causal).astype(int))
show(plot_attention(ops.convert_to_numpy(cross)[0], decoder_input, source))

# %% [markdown]
# これ looks at *This*, ペン at *pen* (and a little at *a*), です at *is*;
# は splits between *This* and *is*. The start token `<s>` matches no
# source word, so its weights are uniform. The causal mask is the lower
# triangle: position 2 (は) may read `<s>`, これ and は, never ペン or です,
# which it has to predict.
#
# ## Where next
#
# * **Tutorial 1** shows why translation needed attention at all.
# * **Tutorial 2** builds the scaled dot-product attention used above.
# * **"Why each piece"** (the other notebook numbered 0) explains the
#   learned projections, the heads, the residuals, Add & Norm, the
#   feed-forward network, convolution and pooling, and additive vs
#   multiplicative attention.
