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
# # 8. SAGAN: self-attention over pixels
#
# A convolution sees a small neighbourhood; to relate two far-apart parts
# of an image it needs many layers. The Self-Attention GAN (Zhang et al.
# 2019) adds one attention layer in which **every pixel is a query and
# every pixel a key**:
#
# $$\beta = \mathrm{softmax}(g(x)\, f(x)^\top), \quad o = v(\beta\, h(x)),
# \quad y = \gamma\, o + x$$
#
# with 1×1 convolutions `f, g, h, v` and a learned scalar `γ` that starts
# at 0, so the block begins as the identity and mixes attention in only as
# far as it helps. We compute it by hand, check it against
# `keras_attn.SelfAttention2D`, train a small generator, and look at where
# its pixels attend.

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
# ## The layer by hand
#
# A 1×1 convolution is a matmul over the channel axis, so with the pixels
# flattened to `N = H·W` rows everything is matrix algebra. Note: SAGAN
# does **not** scale the logits by `1/√d`. We set `γ` to a non-zero value
# so that the attention branch shows in the output.

# %% [markdown]
# **Exercise.** Write the layer with its 1×1 kernels as `(C_in, C_out)`
# matrices: fill in the blanks (1) the pixels flattened to rows, (2) the
# attention map β, where row n holds the weights of query pixel n over all
# pixels, and (3) the output y. The check under the function calls it on
# inputs of other sizes than the notebook's and prints ✓, or stops the
# notebook with a hint that names the mistake. The reference answer is in
# `tutorials/exercises/solutions.py`; the notebook uses it only when the
# tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so. The cell
# after it computes the same with the library layer's kernels.


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
# The comparison can fail: with the usual `1/√d` scaling, the map differs.

# %%
q = x.reshape(2, 30, 16) @ kernel(layer.query_conv)
k = x.reshape(2, 30, 16) @ kernel(layer.key_conv)
scaled = ops.softmax(q @ k.transpose(0, 2, 1) / np.sqrt(4), axis=-1)
print("scaled map == SAGAN map:", np.allclose(scaled, lib_map, atol=1e-6))
assert not np.allclose(scaled, lib_map, atol=1e-6)

# %% [markdown]
# ## A small GAN
#
# The generator maps 16 random numbers to a 16×16 grey image, with a
# self-attention layer on its last 16×16 feature map. A GAN needs its own
# training step (two losses, two optimizers), written with `tf.GradientTape`.

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
# ## Samples and attention maps
#
# We run the generator up to the attention layer, then call the layer
# itself with `return_attention_scores=True`. For a generated image and a
# query pixel (the white cross), the overlay
# shows how much that pixel's output reads from every other pixel. After
# training, pixels on a shape tend to attend to other parts of the same
# shape, far beyond a 3×3 neighbourhood. (In small mode the GAN is
# untrained: noise in, noise out.)

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
# **Summary.** SAGAN self-attention: pixels are queries and keys, 1×1
# convolutions make `f, g, h`, no `1/√d` scaling, and a residual gate `γ`
# that starts at zero.
