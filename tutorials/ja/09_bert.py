# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. BERT: マスク言語モデルで事前学習し、ファインチューニングする
#
# BERT は Transformer の**エンコーダ**です。各トークンは左右両方のすべてのトークンを見ます。そのため次のトークンを予測させる学習はできません（答えが見えてしまいます）。代わりに穴埋めで学習します。トークンの 15% を隠し、両側の文脈から当てさせるのです。そのあと同じエンコーダの `[CLS]` トークンに小さな分類器を載せ、タスクに合わせて**ファインチューニング**します。
#
# マスクのかけ方とマスク言語モデルの損失を手で書き、損失を Keras の損失と照合し、パディングがエンコーダに漏れないことを確かめてから、40 文の英文で事前学習し、話題分類にファインチューニングします。

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
# ## トークン
#
# 単語単位です。先頭に `[CLS]`、続いて単語を並べ、ID 0 で埋めます。

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
# ## マスクのかけ方
#
# 実際の単語の位置（`[CLS]` やパディングは除く）から 15% を選びます。選んだうち 80% を `[MASK]` に、10% をランダムな単語に置き換え、10% はそのまま残します。こうしておけば、モデルは `[MASK]` が見えることに頼れません。損失を数えるのは選んだ位置だけです。


# %% [markdown]
# **演習。** 80/10/10 の部分を書いてみましょう。`chosen`（真偽値）は損失の対象に選ばれた位置、`action` は位置ごとの [0, 1) の一様乱数、`random_words` は位置ごとのランダムな単語です。空欄は、(1) 入力を `[MASK]` にする位置、(2) ランダムな単語にする位置、(3) 損失の重みの 3 つです。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。その次のセルが、手順全体です。


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
# ## モデル
#
# `mask_zero=True` の学習される位置埋め込み付きトークン埋め込み、GELU を使うエンコーダブロック 2 段（BERT と同じ）、語彙全体に対するマスク言語モデルの出力層、そして後で使う `[CLS]` 出力の分類器です。

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
# ## マスク言語モデルの損失を手で計算する
#
# 選んだ位置だけの交差エントロピーを、その位置の数で平均します: `-Σ w_t log p(label_t) / Σ w_t`。Keras の sparse cross-entropy に `sample_weight` と `reduction="sum"` を指定すると、分子が得られます。


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
# この照合も、間違いがあれば実際に失敗します。マスクした位置ではなく*全*位置で平均すると、違う値になります。

# %%
everywhere = ops.mean(nll)
print("mean over all positions:", float(everywhere))
assert not np.allclose(everywhere, keras_loss, rtol=1e-5)

# %% [markdown]
# ## パディングは漏れない
#
# パディングを増やしても、実際のトークンの位置のエンコーダ出力は変わってはいけません。`mask_zero=True` から生まれる Keras のマスクが、すべてのアテンションに届いているからです。

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
# ## 事前学習
#
# エポックごとにマスクを引き直します。これは RoBERTa（Liu ら 2019）の**動的マスキング**です。元の BERT のマスクは静的で、前処理の段階で各系列に 10 通りのマスクを作り、データを 10 倍に複製していました。

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
# ## ファインチューニング: 話題分類
#
# 話題は 4 つ（動物、食べ物、天気、旅行）。`[CLS]` の出力に `Dense` 層を載せ、事前学習済みのエンコーダも小さな学習率でさらに学習させます。5 文に 1 文をテスト用に取り分けます。

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
# 学習用の文が 32 しかないので、数字のばらつきは大きいです。大事なのは手順のほうです。1 つのエンコーダを、ラベルのないテキストで穴埋めの損失を使って事前学習し、小さな出力層を付けてラベル付きのタスクに使い回す。
#
# **まとめ。** BERT = 双方向のエンコーダ。マスク言語モデルで事前学習（15%、80/10/10、損失は選んだ位置だけ）し、`[CLS]` でファインチューニングする。
