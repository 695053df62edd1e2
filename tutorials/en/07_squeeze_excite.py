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
# # 7. Squeeze-and-Excitation: attention over channels
#
# Attention need not be over positions. Squeeze-and-Excitation (Hu et al.
# 2018) looks at a whole feature map and decides **how much each channel
# matters for this image**:
#
# 1. *squeeze*: average each channel over all positions, `(B, H, W, C) ->
#    (B, C)`;
# 2. *excite*: a small bottleneck MLP ending in a sigmoid gives one gate in
#    (0, 1) per channel;
# 3. *scale*: multiply every channel by its gate.
#
# We build it from `keras.ops`, check it against `keras_attn.SqueezeExcite`,
# train a small classifier of generated shapes, and look at what the gates
# learned for each class.

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
# ## The data: four shapes
#
# Squares, discs, crosses and striped squares, 16×16 pixels, random
# position, size and colour.

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
# ## The block from keras.ops
#
# `W_1` reduces `C` channels to `C / r`, `W_2` brings them back. We borrow
# the weights of a library layer and compare outputs.


# %% [markdown]
# **Exercise.** Write the whole block with the weights as arguments (`w1`,
# `b1` reduce, `w2`, `b2` restore): fill in the blanks (1) the squeeze, (2)
# the excitation's gates, one in (0, 1) per channel, and (3) the scaled
# feature map. The check under the function calls it on inputs of other
# sizes than the notebook's and prints ✓, or stops the notebook with a hint
# that names the mistake. The reference answer is in
# `tutorials/exercises/solutions.py`; the notebook uses it only when the
# tests set `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`, and then it says so. The cell
# after it builds the same from a library layer's weights.


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
# The comparison can fail: one shared gate for all channels (the mean of
# the gates) is not channel attention, and the assert notices.

# %%
wrong = x * ops.mean(gates)  # one gate for all channels
print("single gate == SE:", np.allclose(wrong, lib, atol=1e-6))
assert not np.allclose(wrong, lib, atol=1e-6)

# %% [markdown]
# ## A small classifier with SE blocks

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
# ## What the gates learned
#
# For every test image we recompute the second block's gates with our own
# function (on the feature map that enters it) and average them per
# class. After training, some channels are switched on for one shape and
# damped for the others: the network routes each class through its own
# channels. (In small mode the gates are still close to their start.)

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
# **Summary.** SE is attention over channels: squeeze (mean over space),
# excite (bottleneck MLP + sigmoid), scale. The gates depend on the input,
# so each image chooses its own channels.
