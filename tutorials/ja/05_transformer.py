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
# # 5. Transformer ブロックとエンコーダ・デコーダ
#
# Transformer の 1 層は 2 つのサブ層からなります。どちらのサブ層にも、残差結合とレイヤー正規化（あわせて Add & Norm）が付いています。
#
# 1. マルチヘッド**自己アテンション**: 各位置がほかのすべての位置を見る。
# 2. 位置ごとの**フィードフォワード**: 同じ 2 層 MLP を各位置に適用する。
#
# デコーダには 3 つ目のサブ層、**クロスアテンション**が加わります。ターゲット側の位置（クエリ）がエンコーダの出力（キーとバリュー）を見ます。アテンションごとに必要なマスクが違います。ここではエンコーダブロックを手で組み立てて `keras_attn.TransformerEncoderBlock` と照合し、3 種類のマスクを書き出し、小さな英日翻訳モデルを学習させます。

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
# ## エンコーダブロックを手で組む
#
# 論文どおりの post-norm: `x = LN(x + MHA(x))`、続いて `x = LN(x + FFN(x))`。ライブラリのブロックのサブ層（つまり重み）をそのまま借り、配線だけを自分で書きます。パディングの位置は、どこにも注意を向けず、どこからも注意を向けられません。

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
# 配線を間違えれば、この照合は実際に失敗します。たとえば pre-norm の配線（`x + MHA(LN(x))`、GPT-2 や深いモデルの多くが採用）は別の関数なので、一致しません。

# %%
h = block.self_attention(block.self_attention_layer_norm(x))
pre = x + h
pre = pre + block.feed_forward(block.feed_forward_layer_norm(pre))
print("pre-norm == post-norm block:", np.allclose(pre, lib, atol=1e-5))
assert not np.allclose(pre, lib, atol=1e-5)

# %% [markdown]
# ## データ: 40 組の文
#
# 英語は単語単位、日本語は文字単位で扱います。デコーダの入力は、開始記号 `<s>` の後ろにターゲットを 1 つずらして並べたもの、ラベルは末尾に `</s>` を付けたものです。

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
# ## 3 つのアテンション、3 つのマスク（True = 注意してよい）
#
# * **エンコーダの自己アテンション**: ソース側のパディング、`(B, 1, S)`。
# * **デコーダの自己アテンション**: ターゲット側のパディング*かつ*先読み防止。位置 `t` はこれから予測するトークンを見てはいけない、`(B, T, T)`。
# * **クロスアテンション**: キーはエンコーダの位置なので、やはりソース側のパディング、`(B, 1, S)`。

# %% [markdown]
# ### 演習: デコーダの自己アテンションのマスク
#
# デコーダ入力の ID から、デコーダの自己アテンションのマスクを作ってください。空欄は、(1) パディングの部分（実際のトークンで True。隠すのはパディングの「キー」なので、形は `(B, 1, T)`）と、(2) 先読み防止の部分の 2 つです。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。その次のセルで、パディングがいちばん多い文の組について、3 つのマスクをすべて図にします。


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
# ## 翻訳モデル
#
# トークン埋め込みと（正弦波の）位置エンコーディングを `mask_zero=True` で使うと、Keras のパディングマスクがエンコーダ、デコーダの自己アテンション、クロスアテンションへ自動的に流れます。デコーダの先読み防止マスクは既定で有効です。

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
# ## 因果性のチェック
#
# デコーダ入力の*後ろの方*を書き換えても、前の位置の予測は変わってはいけません（先読み防止マスクを外すと、このチェックは失敗します）。

# %%
changed = decoder_in[:1].copy()
changed[0, 6:] = rng.integers(3, len(tgt_vocab), T_LEN - 6)
before = ops.convert_to_numpy(model((source[:1], decoder_in[:1])))
after = ops.convert_to_numpy(model((source[:1], changed)))
np.testing.assert_allclose(before[0, :6], after[0, :6], atol=1e-5)
print("position 6 changed:", not np.allclose(before[0, 6], after[0, 6]))


# %% [markdown]
# ## 貪欲デコーディング
#
# `<s>` から始めて次の文字を予測し、それを付け足して繰り返し、`</s>` が出たら止めます。学習に使った文と、一度も見せていない取り分けた文の両方を翻訳し、それぞれの出力を参照訳と比べて採点します。指標は、完全一致の数と、共通する文字の F1 スコアです。この小さなモデルは、学習した文なら暗唱できますが、新しい文では、覚えた文字や言い回しを組み合わせることしかできません。取り分けた文にしか出てこない単語は、一度も学習されていません。2 行の差は、これだけ少ない文からどこまで一般化できるかを表しています。翻訳できるだけのデータで学習するのが、zoo の翻訳モデル（`python -m zoo train transformer --preset cpu`、Tatoeba で学習）です。小さいモードのモデルは、まだ何も学習していません。


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
# ## クロスアテンション: 各文字はどの英単語を見ているか
#
# 学習済みの層を 1 つずつ呼び出して、デコーダからアテンションの重みを取り出します。

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
# **まとめ。** エンコーダブロック = 自己アテンション + FFN（それぞれ残差とレイヤー正規化付き）。デコーダにはクロスアテンションが加わる。マスクは、ソースのパディング（エンコーダの自己アテンションとクロスアテンション）と、ターゲットのパディング + 先読み防止（デコーダの自己アテンション）。
