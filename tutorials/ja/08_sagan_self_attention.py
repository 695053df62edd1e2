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
# # 8. SAGAN: 画素どうしの自己アテンション
#
# 畳み込みが見るのは近くの小さな領域だけです。画像の離れた部分どうしを関係づけるには、層を何段も重ねる必要があります。Self-Attention GAN（Zhang ら 2019）は、**すべての画素をクエリとし、すべての画素をキーとする**アテンション層を 1 つ加えます。
#
# $$\beta = \mathrm{softmax}(g(x)\, f(x)^\top), \quad o = v(\beta\, h(x)), \quad y = \gamma\, o + x$$
#
# `f, g, h, v` は 1×1 畳み込み、`γ` は 0 から始まる学習可能なスカラーです。ブロックは恒等写像として出発し、役に立つ分だけアテンションを混ぜていきます。手で計算して `keras_attn.SelfAttention2D` と照合し、小さな生成器を学習させ、その画素がどこに注意を向けているかを見ます。

# %%
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # tutorials/, for `exercises`
import exercises  # noqa: F401  (first: no TensorFlow start-up noise)

# isort: split

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import keras_attn
from exercises import checks
from exercises import data
from exercises import solutions
from exercises.common import figure
from exercises.common import pick
from exercises.common import show
from keras_attn.visualize import plot_sagan_attention

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 層を手で計算する
#
# 1×1 畳み込みはチャンネル軸での行列積なので、画素を `N = H·W` 行に平らにすれば、すべて行列演算になります。注意: SAGAN はロジットを `1/√d` で**スケールしません**。アテンションの分岐が出力に現れるよう、`γ` を 0 以外の値にしておきます。

# %% [markdown]
# **演習。** 1×1 畳み込みのカーネルを `(C_in, C_out)` の行列として受け取る形で、この層を書いてみましょう。空欄は、(1) 画素を行として並べた平坦化、(2) アテンションマップ β（行 n に、クエリ画素 n から全画素への重みが入ります）、(3) 出力 y の 3 つです。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。その次のセルでは、ライブラリの層のカーネルを使って同じ計算をします。


# %%
def sagan_attention(x, w_q, w_k, w_v, w_o, gamma):
    """SAGAN self-attention; 1×1 kernels as (C_in, C_out) matrices."""
    b, height, width, c = x.shape
    flat = ___  # ___ (1) ___ pixels as rows, shape (B, N, C), N = H·W
    q = ops.matmul(flat, w_q)  # g(x): (B, N, C/r)
    k = ops.matmul(flat, w_k)  # f(x): (B, N, C/r)
    v = ops.matmul(flat, w_v)  # h(x): (B, N, C/2)
    beta = ___  # ___ (2) ___ (B, N, N), each row sums to 1
    o = ops.matmul(ops.matmul(beta, v), w_o)  # (B, N, C)
    y = ___  # ___ (3) ___ the output, shape (B, N, C)
    return ops.reshape(y, (b, height, width, c)), beta


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
sagan_attention = solutions.if_requested(sagan_attention)
checks.check_sagan_attention(sagan_attention)

# %%
x = rng.normal(size=(2, 6, 5, 16)).astype("float32")  # (B, H, W, C)
layer = keras_attn.SelfAttention2D(ratio=4)
layer(x)  # build
layer.gamma.assign(0.7)
lib, lib_map = layer(x, return_attention_scores=True)


def kernel(conv):
    return ops.convert_to_numpy(conv.kernel)[0, 0]  # (1, 1, C_in, C_out)


def sagan_attention(x):
    b, height, width, c = x.shape
    flat = x.reshape(b, height * width, c)  # (B, N, C)
    q = flat @ kernel(layer.query_conv)  # g: (B, N, C/r)
    k = flat @ kernel(layer.key_conv)  # f: (B, N, C/r)
    v = flat @ kernel(layer.value_conv)  # h: (B, N, C/2)
    beta = ops.softmax(q @ k.transpose(0, 2, 1), axis=-1)  # (B, N, N)
    o = ops.matmul(beta, v) @ kernel(layer.output_conv)  # (B, N, C)
    y = 0.7 * o + flat
    return ops.reshape(y, x.shape), beta


ours, ours_map = sagan_attention(x)
np.testing.assert_allclose(ours, lib, rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(ours_map, lib_map, rtol=1e-4, atol=1e-6)
print("matches keras_attn.SelfAttention2D; map", tuple(lib_map.shape))

# %% [markdown]
# この照合も、間違いがあれば実際に失敗します。たとえば、おなじみの `1/√d` のスケーリングを入れると、マップは一致しません。

# %%
q = x.reshape(2, 30, 16) @ kernel(layer.query_conv)
k = x.reshape(2, 30, 16) @ kernel(layer.key_conv)
scaled = ops.softmax(q @ k.transpose(0, 2, 1) / np.sqrt(4), axis=-1)
print("scaled map == SAGAN map:", np.allclose(scaled, lib_map, atol=1e-6))
assert not np.allclose(scaled, lib_map, atol=1e-6)

# %% [markdown]
# ## 小さな GAN
#
# 生成器は 16 個の乱数から 16×16 のグレー画像を作り、最後の 16×16 の特徴マップに自己アテンション層を持ちます。GAN には 2 つの損失と 2 つのオプティマイザを扱う独自の学習ステップが必要なので、`tf.GradientTape` で書きます。

# %%
Z = 16
images, _ = data.shapes(pick(256, 4000), seed=0, channels=1)
images = images * 2.0 - 1.0  # [-1, 1], like the tanh output


def build_generator():
    z = keras.Input((Z,))
    h = keras.layers.Dense(4 * 4 * 32, activation="relu")(z)
    h = keras.layers.Reshape((4, 4, 32))(h)
    h = keras.layers.UpSampling2D()(h)  # (8, 8)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.UpSampling2D()(h)  # (16, 16)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras_attn.SelfAttention2D(ratio=4, name="attention")(h)
    image = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(h)
    return keras.Model(z, image)


def build_discriminator():
    return keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(16, 4, strides=2, padding="same"),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv2D(32, 4, strides=2, padding="same"),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )


class GAN(keras.Model):
    def __init__(self, generator, discriminator):
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.noise = keras.random.SeedGenerator(0)
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self, g_optimizer, d_optimizer):
        super().compile()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    def _step(self, loss_fn, model, optimizer):
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss

    def train_step(self, real):
        z = keras.random.normal((ops.shape(real)[0], Z), seed=self.noise)

        def d_loss():
            fake = self.generator(z, training=True)
            r = self.discriminator(real, training=True)
            f = self.discriminator(fake, training=True)
            real_loss = self.bce(ops.ones_like(r), r)
            return real_loss + self.bce(ops.zeros_like(f), f)

        def g_loss():
            f = self.discriminator(self.generator(z, training=True))
            return self.bce(ops.ones_like(f), f)

        return {
            "d_loss": self._step(d_loss, self.discriminator, self.d_optimizer),
            "g_loss": self._step(g_loss, self.generator, self.g_optimizer),
        }


gan = GAN(build_generator(), build_discriminator())
gan.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
history = gan.fit(images, batch_size=32, epochs=pick(1, 40), verbose=0)
print({k: round(float(v[-1]), 3) for k, v in history.history.items()})
print("gamma =", float(gan.generator.get_layer("attention").gamma))

# %% [markdown]
# ## 生成画像とアテンションマップ
#
# 生成器をアテンション層の手前まで走らせ、層そのものを `return_attention_scores=True` で呼び出します。生成画像とクエリ画素（白い×印）について、その画素の出力が他の各画素からどれだけ読み取っているかを重ねて表示します。学習後は、図形の上の画素が同じ図形の別の部分に注意を向けやすくなり、3×3 の近傍をはるかに越えて情報を集めます。（小さいモードの GAN は未学習なので、雑音から雑音が出てくるだけです。）

# %%
generator = gan.generator
attention_layer = generator.get_layer("attention")
z = rng.normal(size=(4, Z)).astype("float32")
fake = ops.convert_to_numpy(generator(z))  # (4, 16, 16, 1)
features = keras.Model(generator.input, attention_layer.input)(z)
_, attention = attention_layer(features, return_attention_scores=True)
attention = ops.convert_to_numpy(attention)  # (4, 256, 256)
fig = figure(8, 2)
for i in range(4):
    ax = fig.add_subplot(1, 4, i + 1)
    ax.imshow(fake[i, :, :, 0], cmap="gray")
    ax.set_axis_off()
show(fig)
for pixel in ((8, 8), (2, 13)):
    show(plot_sagan_attention(fake[0, :, :, 0], attention[0], pixel))

# %% [markdown]
# **まとめ。** SAGAN の自己アテンション: 画素がクエリでありキーでもある。`f, g, h` は 1×1 畳み込み、`1/√d` のスケーリングはなし、そして 0 から始まる残差のゲート `γ`。
