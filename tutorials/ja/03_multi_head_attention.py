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
# # 3. マルチヘッドアテンション
#
# 1 つのアテンションは、クエリごとに 1 つの重み付き平均を計算します。マルチヘッドアテンションは、小さなアテンションを N 個並列に計算します。各ヘッドは入力をそれぞれ別の射影を通して見ており、最後にそれらの結果を連結します。
#
# $$\mathrm{MultiHead}(X) = \mathrm{concat}(\mathrm{head}_1, \dots, \mathrm{head}_N)\,W_o, \quad \mathrm{head}_i = \mathrm{Attention}(X W_q^i, X W_k^i, X W_v^i)$$
#
# ヘッドはループで回すのではありません。`N * H` 次元への大きな射影を 1 回行い、**reshape** で特徴量をヘッドに切り分けます。この reshape を正しく書けるかどうかが要なので、自分で書いてみましょう。
#
# **演習。** 「Exercise」と書かれた 2 つの関数には、埋めるべき空欄 `___` があります。特徴量をヘッドに分ける処理と、ヘッドを元に戻す処理です。各関数の下のチェックは、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのか（形、transpose の忘れ、軸の順序など）をヒントで示してノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります（早々に覗かないように）。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。
#
# 形の記号: B バッチ、T 長さ、D モデルの幅、N ヘッド数、H = D / N（1 ヘッドの次元）。

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
from exercises.common import show
from keras_attn.visualize import plot_attention_heads

rng = np.random.default_rng(0)


# %% [markdown]
# ## 演習 1: ヘッドに分ける
#
# `x` の形は `(B, T, D)`、`D = N * H` です。ヘッド `n` は各位置の特徴量 `n*H ... (n+1)*H - 1` を受け持ちます。`(B, N, T, H)` を返してください。こうすると、アテンションは `(B, N)` をまとめてバッチ軸として扱えます。
#
# ヒント: reshape はデータを動かさず、読み方を変えるだけです。まず `(B, T, N, H)` に reshape し、それから transpose します。空欄 (1) と (2) を埋めてください。


# %%
def split_heads(x, num_heads):
    """(B, T, D) -> (B, N, T, H) with H = D // N. Exercise 1."""
    batch, length, depth = x.shape
    x = ops.reshape(x, ___)  # ___ (1) ___ to (B, T, N, H)
    return ops.transpose(x, ___)  # ___ (2) ___ to (B, N, T, H)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
split_heads = solutions.if_requested(split_heads)
checks.check_split_heads(split_heads)


# %% [markdown]
# ## 演習 2: ヘッドをまとめる
#
# 逆変換です: `(B, N, T, H) -> (B, T, N * H)`。ヘッド 0 の特徴量が先頭、次にヘッド 1、という順に並べます。空欄 (1) と (2) を埋めてください。


# %%
def merge_heads(x):
    """(B, N, T, H) -> (B, T, N * H). Exercise 2."""
    batch, heads, length, head_dim = x.shape
    x = ops.transpose(x, ___)  # ___ (1) ___ to (B, T, N, H)
    return ops.reshape(x, ___)  # ___ (2) ___ to (B, T, N*H)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
merge_heads = solutions.if_requested(merge_heads)
checks.check_merge_heads(merge_heads)


# %% [markdown]
# ## チュートリアル 2 のアテンション
#
# チュートリアル 2 で完成させた関数です: `softmax(Q Kᵀ / √d_k) V`。真偽値の `mask`（True = 注意してよい）はソフトマックスの前にロジットへ適用します。先頭にどんな軸があっても動くので、`(B, N, T, H)` のヘッドをそのまま渡せます。


# %%
def attention(query, key, value, mask=None):
    """Tutorial 2's attention; any leading axes, e.g. (B, N, T, H)."""
    depth = query.shape[-1]
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / np.sqrt(depth)
    if mask is not None:
        scores = ops.where(mask, scores, -1e9)  # True = may attend
    weights = ops.softmax(scores, axis=-1)  # (..., T, S)
    return ops.matmul(weights, value), weights  # (..., T, Hv), (..., T, S)


# %% [markdown]
# ## マルチヘッドアテンションを組み立てる
#
# `keras_attn.MultiHeadAttention` は射影の重みをヘッドごとに持っていて、クエリのカーネルは `(D, N, H)` です。これを `(D, N*H)` に平らにすれば全ヘッドぶんが 1 回の行列積で済み、結果を自作の `split_heads` がヘッドに切り分けます。ライブラリの層の重みを借りるので、両者は同じ関数を計算するはずです。比べてみましょう。

# %%
B, T, D, N = 2, 5, 12, 3
H = D // N
x = rng.normal(size=(B, T, D)).astype("float32")
mha = keras_attn.MultiHeadAttention(num_heads=N)
mha(x)  # builds the weights
w = {  # "query/kernel", "query/bias", ...: one sub-layer per projection
    "/".join(v.path.split("/")[-2:]): ops.convert_to_numpy(v)
    for v in mha.weights
}
print({name: value.shape for name, value in w.items()})


def my_multi_head_attention(x, mask=None):
    def project(name):
        kernel = w[f"{name}/kernel"].reshape(D, N * H)  # (D, N*H)
        bias = w[f"{name}/bias"].reshape(N * H)
        return split_heads(ops.matmul(x, kernel) + bias, N)  # (B, N, T, H)

    q, k, v = project("query"), project("key"), project("value")
    heads, weights = attention(q, k, v, mask)  # (B, N, T, H), (B, N, T, T)
    merged = merge_heads(heads)  # (B, T, N*H)
    kernel = w["attention_output/kernel"].reshape(N * H, D)  # (N*H, D)
    return ops.matmul(merged, kernel) + w["attention_output/bias"], weights


ours, ours_w = my_multi_head_attention(x)
lib, lib_w = mha(x, return_attention_scores=True)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(ours_w, lib_w, rtol=1e-5, atol=1e-6)
print("matches keras_attn.MultiHeadAttention")

# %% [markdown]
# 先読み防止マスクでも確かめます。ライブラリの `use_causal_mask=True` は、自作の `(T, T)` マスクをバッチとヘッドにブロードキャストしたものと一致するはずです。

# %%
causal = np.tril(np.ones((T, T), bool))  # (T, T)
ours, ours_w = my_multi_head_attention(x, mask=causal)
lib, lib_w = mha(x, use_causal_mask=True, return_attention_scores=True)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(ours_w, lib_w, rtol=1e-5, atol=1e-6)
print("causal: matches")

# %% [markdown]
# このライブラリの層の重みは、Keras 本体の `keras.layers.MultiHeadAttention` と形も順序も同じです。3 つ目の実装も比較に加えられます。

# %%
keras_mha = keras.layers.MultiHeadAttention(num_heads=N, key_dim=H)
keras_mha(x, x)
keras_mha.set_weights(mha.get_weights())
np.testing.assert_allclose(
    keras_mha(x, x, use_causal_mask=True), lib, rtol=1e-5, atol=1e-5
)
print("keras.layers.MultiHeadAttention agrees too")


# %% [markdown]
# この比較も、実装が間違っていれば実際に失敗します。transpose を忘れた split は別の関数になってしまい、assert がそれを見逃しません。


# %%
def split_without_transpose(x, num_heads):
    return ops.reshape(x, (B, num_heads, T, -1))  # the classic mistake


split_heads, correct_split = split_without_transpose, split_heads
wrong, _ = my_multi_head_attention(x)
split_heads = correct_split
print("wrong split == library:", np.allclose(wrong, mha(x), atol=1e-5))
assert not np.allclose(wrong, mha(x), atol=1e-5)

# %% [markdown]
# ## ヘッドを眺める
#
# ヘッドごとに重みが違うので、注意の向け方もヘッドごとに違います。どのヘッドも下三角になるのは、因果マスクのためです（クエリは自分自身とそれより前のキーしか見られません）。射影はまだ学習していないので、ヘッドの違いは、その三角形の中での重みの配り方に表れるだけです。学習済みのモデル（チュートリアル 5・9・10）では、直前のトークン、同じ単語、句読点などにヘッドが特化していきます。

# %%
tokens = ["the", "cat", "sat", "on", "mats"]
show(plot_attention_heads(lib_w[0], tokens, tokens, ncols=3))

# %% [markdown]
# **まとめ。** マルチヘッドアテンション = 1 回の射影、`split_heads`（reshape してから transpose）、`(B, N, T, H)` でのアテンション、`merge_heads`（transpose してから reshape）、出力の射影 1 回。
