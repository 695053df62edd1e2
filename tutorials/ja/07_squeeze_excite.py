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
# # 7. Squeeze-and-Excitation: チャンネルへのアテンション
#
# アテンションの対象は位置とは限りません。Squeeze-and-Excitation（Hu ら 2018）は特徴マップ全体を眺めて、**この画像にとって各チャンネルがどれだけ大事か**を決めます。
#
# 1. *squeeze*（絞る）: 各チャンネルを全位置で平均する、`(B, H, W, C) -> (B, C)`。
# 2. *excite*（励起）: ボトルネック型の小さな MLP の最後にシグモイドを置き、チャンネルごとに (0, 1) のゲートを 1 つ出す。
# 3. *scale*: 各チャンネルにそのゲートを掛ける。
#
# `keras.ops` で組み立てて `keras_attn.SqueezeExcite` と照合し、生成した図形の小さな分類器を学習させて、クラスごとにゲートが何を学んだかを見ます。

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
from exercises.common import figure
from exercises.common import pick
from exercises.common import show

keras.utils.set_random_seed(0)

# %% [markdown]
# ## データ: 4 種類の図形
#
# 正方形、円、十字、縞模様の正方形。16×16 画素で、位置・大きさ・色はランダムです。

# %%
images, labels = data.shapes(pick(256, 4000), seed=0)
test_images, test_labels = data.shapes(pick(64, 500), seed=1)
fig = figure(8, 2)
for i in range(8):
    ax = fig.add_subplot(1, 8, i + 1)
    ax.imshow(images[i])
    ax.set_title(["square", "disc", "cross", "stripes"][labels[i]], fontsize=8)
    ax.set_axis_off()
show(fig)


# %% [markdown]
# ## keras.ops でブロックを組む
#
# `W_1` で `C` チャンネルを `C / r` に縮め、`W_2` で元に戻します。ライブラリの層の重みを借りて、出力を比べます。


# %% [markdown]
# **演習。** 重みを引数に取る形で、ブロック全体を書いてみましょう（`w1`, `b1` でチャンネルを減らし、`w2`, `b2` で元に戻します）。空欄は、(1) squeeze、(2) excite で得るゲート（チャンネルごとに (0, 1) の値を 1 つ）、(3) ゲートを掛けた特徴マップの 3 つです。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。その次のセルでは、ライブラリの層の重みを使って同じものを組み立てます。


# %%
def squeeze_excite(x, w1, b1, w2, b2):
    """(B, H, W, C) -> (B, H, W, C), and the gates (B, C)."""
    squeezed = ___  # ___ (1) ___ squeeze, shape (B, C)
    hidden = ops.relu(ops.matmul(squeezed, w1) + b1)  # (B, C/r)
    gates = ___  # ___ (2) ___ excite: one gate in (0, 1) per channel
    return ___, gates  # ___ (3) ___ every channel times its gate


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
squeeze_excite = solutions.if_requested(squeeze_excite)
checks.check_squeeze_excite(squeeze_excite)


# %%
def squeeze_excite_gates(x, layer):
    squeezed = ops.mean(x, axis=(1, 2))  # (B, C): squeeze
    hidden = ops.relu(layer.squeeze_dense(squeezed))  # (B, C/r)
    return ops.sigmoid(  # (B, C): excite
        ops.matmul(hidden, layer.excite_dense.kernel) + layer.excite_dense.bias
    )


x = np.random.default_rng(0).normal(size=(2, 5, 7, 16)).astype("float32")
se = keras_attn.SqueezeExcite(ratio=4)
lib = se(x)
gates = squeeze_excite_gates(x, se)
ours = x * gates[:, None, None, :]  # scale every channel
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-6)
print("matches keras_attn.SqueezeExcite; gates", tuple(gates.shape))

# %% [markdown]
# この照合も、間違いがあれば実際に失敗します。全チャンネルに共通のゲート（ゲートの平均）を 1 つ掛けるだけではチャンネルへのアテンションにならず、assert がそれを見抜きます。

# %%
wrong = x * ops.mean(gates)  # one gate for all channels
print("single gate == SE:", np.allclose(wrong, lib, atol=1e-6))
assert not np.allclose(wrong, lib, atol=1e-6)

# %% [markdown]
# ## SE ブロック入りの小さな分類器

# %%
inputs = keras.Input((16, 16, 3))
h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
h = keras_attn.SqueezeExcite(ratio=4, name="se_1")(h)
h = keras.layers.MaxPooling2D()(h)
h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
h = keras_attn.SqueezeExcite(ratio=4, name="se_2")(h)
h = keras.layers.GlobalAveragePooling2D()(h)
outputs = keras.layers.Dense(4)(h)
model = keras.Model(inputs, outputs)
model.compile(
    "adam",
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.fit(images, labels, batch_size=64, epochs=pick(1, 15), verbose=0)
print("test accuracy", model.evaluate(test_images, test_labels, verbose=0)[1])

# %% [markdown]
# ## ゲートは何を学んだか
#
# テスト画像ごとに、2 つ目のブロックのゲートを自作の関数で（そのブロックに入る特徴マップから）計算し直し、クラスごとに平均します。学習が進むと、ある図形のときだけ開き、ほかの図形では絞られるチャンネルが現れます。ネットワークはクラスごとに専用のチャンネルを通すようになるのです。（小さいモードでは、ゲートはまだ初期値の近くにあります。）

# %%
se_2 = model.get_layer("se_2")
features = keras.Model(model.input, se_2.input)(test_images)  # (N, 8, 8, 32)
gates = ops.convert_to_numpy(squeeze_excite_gates(features, se_2))
per_class = np.stack([gates[test_labels == c].mean(0) for c in range(4)])
fig = figure(8, 2.2)
ax = fig.add_subplot()
image = ax.imshow(per_class, aspect="auto", cmap="magma", vmin=0, vmax=1)
ax.set_yticks(range(4), ["square", "disc", "cross", "stripes"])
ax.set_xlabel("channel of the second block")
fig.colorbar(image, ax=ax)
show(fig)
print("mean spread of a gate across classes:", per_class.std(0).mean())

# %% [markdown]
# **まとめ。** SE はチャンネル方向のアテンションです。squeeze（空間方向の平均）、excite（ボトルネック MLP + シグモイド）、scale。ゲートは入力に依存するので、画像ごとに使うチャンネルを選べます。
