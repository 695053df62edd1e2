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
# # 2. スケール化内積アテンションを一から作る
#
# アテンションは「やわらかい辞書引き」です。各**クエリ**をすべての**キー**と比べ、その類似度をソフトマックスで重みに変え、**バリュー**の重み付き平均を出力します。
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# ここでは `keras.ops` だけでこれを組み立て、$\sqrt{d_k}$ で割る理由を数値で確かめ、パディングマスクと先読み防止マスクを加え、最後に `keras_attn.ops.scaled_dot_product_attention` と `allclose` で照合します。
#
# 形の記号: B バッチ、T クエリの数、S キーの数、H クエリ・キーの次元、Hv バリューの次元。

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
# ## スコア: クエリとキーの組ごとに内積を 1 つ
#
# `Q Kᵀ` で、すべてのクエリとすべてのキーを一度に比べます: `(B, T, H) @ (B, H, S) -> (B, T, S)`。`t` 行目は、クエリ `t` と全キーとのスコアです。

# %%
scores = ops.matmul(query, ops.swapaxes(key, -1, -2))  # (B, T, S)
print("scores:", tuple(scores.shape))
manual = float(np.dot(query[0, 1], key[0, 4]))
print("scores[0, 1, 4] =", float(scores[0, 1, 4]), "== q1 . k4 =", manual)

# %% [markdown]
# ## なぜ √d_k で割るのか
#
# `q` と `k` の各成分が平均 0・分散 1 で独立なら、`q · k` はそうした積を `d_k` 個足したものなので、分散は `d_k` になります。ロジットが大きいとソフトマックスは飽和し、1 つの重みだけがほぼ 1、残りはほぼ 0 になって勾配も消えてしまいます。`√d_k` で割れば、次元がいくつでも分散は 1 に戻ります。実際に測ってみましょう。

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
# スケールしないと、16 個の重みのうち最大のものが `d_k` とともに 1 に近づきます。ソフトマックスが事実上の argmax になってしまうのです。スケールすればそうはなりません。
#
# ## キー方向のソフトマックス、そして重み付き和
#
# クエリごとに、すべての**キー**に対する重みの和が 1 になっていなければなりません。そのため、ソフトマックスは最後の軸（`-1`、長さ S）に沿って取ります。そのあと `weights @ V`: `(B, T, S) @ (B, S, Hv) -> (B, T, Hv)`。
#
# **演習。** 下の `attention` の空欄を埋めて完成させてください。空欄は (1) スケーリング、(2) マスク、(3) softmax の軸の 3 つです。マスクは次の節で詳しく扱います。ここでは、マスクは真偽値で True が「注意してよい」を表すこと、そしてマスクされたキーの重みはちょうど 0 になり、*それでも各行の和は 1 のまま*でなければならないこと、の 2 点だけ押さえておけば十分です。セルを実行すると、関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。


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
# ## マスク: True =「注意を向けてよい」
#
# **パディングマスク。** バッチでは短い系列を ID 0 で埋めます。どのクエリもパディングに注意を向けてはいけません。マスクは `ids != 0` で、形を `(B, 1, S)` にして T 個のクエリへブロードキャストさせます。
#
# **先読み防止（因果）マスク。** トークン `t` を予測するデコーダは、`t` より後ろを見てはいけません。クエリ `i` がキー `j` を見てよいのは `j <= i` のときだけで、`(T, T)` の下三角行列になります。
#
# 複数のマスクは論理積で組み合わせます。

# %%
ids = np.array([[5, 7, 2, 0, 0], [4, 1, 9, 3, 8]])  # (B, S), 0 = pad
pad_mask = (ids != 0)[:, None, :]  # (B, 1, S)
look_ahead = np.tril(np.ones((S, S), bool))  # (S, S)
self_mask = pad_mask & look_ahead  # (B, S, S)
print(self_mask[0].astype(int))

# %% [markdown]
# ### 極性の落とし穴
#
# ライブラリによって `1 = 隠す` だったり `1 = 残す` だったりします。このライブラリのマスクは真偽値で、**True が「注意を向けてよい」**です。うっかり反転させると、モデルはパディング*だけ*を見るようになります。重みを見ればすぐにわかります。

# %%
x = rng.normal(size=(B, S, H)).astype("float32")
_, right = attention(x, x, x, mask=self_mask)
_, flipped = attention(x, x, x, mask=~self_mask)
print("weight on pads, correct mask:", float(ops.sum(right[0, :, 3:])))
print("weight on pads, flipped mask:", float(ops.sum(flipped[0, :, 3:])))
tokens = [str(t) if t else "pad" for t in ids[0]]  # key and query labels
show(plot_attention(right[0], tokens, tokens, title="True = may attend"))

# %% [markdown]
# ## ライブラリと照合する
#
# ライブラリは同じマスクを `padding_mask` と `causal_mask` で作り、アテンションを `scaled_dot_product_attention` で計算します。自作の部品が 1 つでも違えば、下の assert が失敗します。

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
# この照合は飾りではなく、間違いがあれば実際に失敗します。たとえばスケーリングを忘れると、出力は一致しません。

# %%
unscaled = ops.softmax(ops.matmul(x, ops.swapaxes(x, -1, -2)), axis=-1)
lib_w = keras_attn.ops.scaled_dot_product_attention(
    x, x, x, return_weights=True
)[1]
print("unscaled == library:", np.allclose(unscaled, lib_w, atol=1e-5))
assert not np.allclose(unscaled, lib_w, atol=1e-5)

# %% [markdown]
# ## 飽和を目で見る
#
# 同じロジットを 3 通りの「温度」で比べます: `1/√d_k` でスケールしたもの、スケールなしで `d_k = 64` 相当、スケールなしで `d_k = 1024` 相当。

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
# **まとめ。** アテンション = スコア計算、`1/√d_k` でスケール、マスク（True = 注意してよい）、キー方向のソフトマックス、バリューの重み付き和。次は、複数のアテンションを並べるマルチヘッドアテンションです。
