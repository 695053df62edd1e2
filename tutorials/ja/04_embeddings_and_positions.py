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
# # 4. 埋め込みと位置エンコーディング
#
# アテンションはベクトル同士を比べるので、まずトークンをベクトルにする必要があります。トークン ID ごとに学習される行を 1 本ずつ持つ**埋め込み**（embedding）表です。そして意外な事実: アテンションは、それだけでは入力の*順番*を知りません。これを置換テストで確かめ、Transformer 論文の正弦波**位置エンコーディング**で解決します。表は自分で作り、`keras_attn.SinusoidalPositionEncoding` と照合します。

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

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 埋め込みは表引き
#
# `Embedding(V, D)` は `(V, D)` の表を持ち、トークン ID `i` は `i` 行目になります。これは one-hot ベクトルに表を掛けるのと同じで、教科書ではよくそう描かれます。

# %%
V, D = 20, 8
embedding = keras.layers.Embedding(V, D)
ids = np.array([[3, 14, 15, 9, 2]])  # (B, T)
looked_up = embedding(ids)  # (B, T, D)
table = ops.convert_to_numpy(embedding.embeddings)  # (V, D)
one_hot = np.eye(V, dtype="float32")[ids]  # (B, T, V)
np.testing.assert_allclose(looked_up, one_hot @ table, rtol=1e-6)
print("lookup == one-hot @ table:", tuple(looked_up.shape))

# %% [markdown]
# ## アテンションは順番を無視する: 置換テスト
#
# 自己アテンションは各位置について全位置の重み付き平均を取りますが、その重みは*中身*だけで決まります。入力の位置を並べ替えれば、出力も同じように並べ替わるだけで、ほかは何も変わりません。式で書けば、任意の置換 `P` について `Attn(P X) = P Attn(X)`。「犬が人をかむ」と「人が犬をかむ」の区別がつかないわけです。

# %%
T = 6
mha = keras_attn.MultiHeadAttention(num_heads=2)
x = rng.normal(size=(1, T, D)).astype("float32")
perm = rng.permutation(T)
out = ops.convert_to_numpy(mha(x))
out_of_shuffled = ops.convert_to_numpy(mha(x[:, perm]))
np.testing.assert_allclose(out_of_shuffled, out[:, perm], atol=1e-5)
print("permutation", perm, "-> outputs permuted the same way")


# %% [markdown]
# ## 正弦波の表
#
# Transformer は各埋め込みに、位置 `pos` だけで決まるベクトルを足します。
#
# $$PE_{pos, 2i} = \sin\!\left(\frac{pos}{10000^{2i/D}}\right),\quad PE_{pos, 2i+1} = \cos\!\left(\frac{pos}{10000^{2i/D}}\right)$$
#
# 次元の組 1 つ 1 つが、それぞれ違う速さで回る時計の針だと思ってください。速い針は 2π 位置で 1 周、遅い針は 10000·2π 位置で 1 周します。
#
# **演習。** この表を作ってみましょう。空欄は、(1) 次元の組ごとの指数 2i/D、(2) 偶数番目の列、(3) 奇数番目の列の 3 つです。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。


# %%
def sinusoid_table(length, depth, max_wavelength=10000.0):
    pos = np.arange(length)[:, None]  # (L, 1)
    exponent = ___  # ___ (1) ___ 2i/D for each pair of dims: (1, D/2)
    angle = pos / max_wavelength**exponent  # (L, D/2)
    table = np.zeros((length, depth), "float32")
    table[:, 0::2] = ___  # ___ (2) ___ the even dims
    table[:, 1::2] = ___  # ___ (3) ___ the odd dims
    return table


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
sinusoid_table = solutions.if_requested(sinusoid_table)
checks.check_sinusoid_table(sinusoid_table)

table = sinusoid_table(64, 32)
fig = figure(6, 3.5)
ax = fig.add_subplot()
image = ax.imshow(table, cmap="RdBu", aspect="auto")
ax.set_xlabel("dimension")
ax.set_ylabel("position")
fig.colorbar(image, ax=ax)
show(fig)

# %% [markdown]
# ライブラリの層と照合します（この層は入力の形にブロードキャストした表を返します）。

# %%
lib_table = keras_attn.SinusoidalPositionEncoding()(np.zeros((1, 64, 32)))
np.testing.assert_allclose(table, lib_table[0], rtol=1e-5, atol=1e-5)
print("our table matches keras_attn.SinusoidalPositionEncoding")

# %% [markdown]
# ### 便利な性質: 類似度は距離だけで決まる
#
# `PE[p] · PE[p + k]` は `cos(k · ω_i)` の和なので、ずれ `k` には依存しますが `p` には依存しません。そのためアテンションは「2 つ前のトークンを見る」といった規則を、すべての位置に対して一度に学べます。

# %%
for k in (1, 4, 16):
    dots = [float(table[p] @ table[p + k]) for p in (0, 10, 30)]
    print(f"offset {k:2d}:", np.round(dots, 4))

# %% [markdown]
# ## 位置を足せば順番が効く
#
# エンコーディングを足して置換テストをやり直すと、今度は出力が元の出力の並べ替えに*なりません*。これこそ望んでいた性質です。

# %%
pe = ops.convert_to_numpy(keras_attn.SinusoidalPositionEncoding()(x))
out = ops.convert_to_numpy(mha(x + pe))
out_of_shuffled = ops.convert_to_numpy(mha(x[:, perm] + pe))
print("still equivariant?", np.allclose(out_of_shuffled, out[:, perm]))
assert not np.allclose(out_of_shuffled, out[:, perm], atol=1e-5)

# %% [markdown]
# ## トークンと位置の埋め込みを 1 つの層で
#
# `keras_attn.TokenAndPositionEmbedding` は両方をまとめて行います。元祖 Transformer なら `E[id] · √D + PE[pos]`（`position_encoding="sinusoidal"`、`scale_embeddings=True`）、BERT や GPT なら学習される位置表です。正弦波版を、層のトークン表から組み立て直してみます。

# %%
layer = keras_attn.TokenAndPositionEmbedding(
    vocabulary_size=V,
    max_length=16,
    embedding_dim=D,
    position_encoding="sinusoidal",
    scale_embeddings=True,
    mask_zero=True,
)
ids = np.array([[3, 14, 15, 9, 0, 0]])  # 0 = padding
lib = layer(ids)
tokens = ops.convert_to_numpy(layer.token_embedding.embeddings)[ids]
ours = tokens * np.sqrt(D) + sinusoid_table(ids.shape[1], D)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
print("matches; Keras mask:", ops.convert_to_numpy(layer.compute_mask(ids)))

# %% [markdown]
# なぜ `√D` を掛けるのか。埋め込み表の初期値は小さく（ここでは ±0.05 の一様分布）、位置エンコーディングは ±1 の範囲です。スケールしないと、トークンの情報が位置の情報に埋もれてしまいます。
#
# **まとめ。** 埋め込みは ID をベクトルに変える。アテンションは順番に無頓着（置換同変）。位置エンコーディングを足すとその対称性が破れる。次は Transformer ブロック全体です。
