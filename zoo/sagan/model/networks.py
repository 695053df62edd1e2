"""SAGAN generator and discriminator (Zhang et al. 2019), for 32×32 images.

    G: z (B, Z) → SN-Dense → (B, 4, 4, c0) → GeneratorBlock ×3 (8, 16, 32)
       [SelfAttention2D after the block at `attention_resolution`]
       → BN → ReLU → SN-conv3x3(1) → tanh                  # (B, 32, 32, 1)
    D: x (B, 32, 32, 1) → DiscriminatorBlock ×3 (16, 8, 4)
       [SelfAttention2D after the block at `attention_resolution`]
       → DiscriminatorBlock (4×4) → ReLU → sum over H, W → h (B, C)
       → SN-Dense(1)(h) + ⟨SN-embed(y), h⟩ (projection)   # (B, 1) logits

Class conditioning (optional): conditional BatchNorm in G, projection in D
(Miyato & Koyama 2018). Both networks forward `update_singular_vectors` to
every spectral-norm wrapper (see `zoo.sagan.model.SAGAN.train_step`).
"""

import keras
from keras import ops

import keras_attn
from zoo.sagan.model.blocks import DiscriminatorBlock
from zoo.sagan.model.blocks import GeneratorBlock
from zoo.sagan.model.blocks import spectral_conv
from zoo.sagan.model.blocks import spectral_dense


def _attention(resolution, sides, network):
    if not resolution:
        return None
    if resolution not in sides:
        raise ValueError(
            f"`attention_resolution` must be 0/None or one of the {network}"
            f" feature sides {sides}. Received: "
            f"attention_resolution={resolution}"
        )
    return keras_attn.SelfAttention2D(
        pool_keys=True, use_spectral_norm=True, name="self_attention"
    )


@keras.saving.register_keras_serializable(package="zoo")
class Generator(keras.Model):
    """z (and a class label) → a 32×32 image in [-1, 1]; see module doc.

    Call arguments: `z (B, latent_dim)`, `labels (B,)` int (conditional
    only), `training`, `update_singular_vectors` (None = `training`),
    `return_attention_scores` (also return the attention map
    `(B, r·r, (r/2)²)`, or None without attention).
    """

    def __init__(
        self,
        latent_dim,
        channels,
        attention_resolution=16,
        num_classes=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.channels = tuple(channels)
        self.attention_resolution = attention_resolution or 0
        self.num_classes = num_classes
        self.sides = tuple(4 * 2**i for i in range(1, len(self.channels)))
        self.dense = spectral_dense(16 * self.channels[0], "dense")
        self.blocks = [
            GeneratorBlock(c, num_classes, name=f"block_{i}")
            for i, c in enumerate(self.channels[1:])
        ]
        self.attention = _attention(
            self.attention_resolution, self.sides, "generator"
        )
        self.final_norm = keras.layers.BatchNormalization(name="final_norm")
        self.final_conv = spectral_conv(1, 3, "final_conv")

    def build(self, z_shape):
        self.dense.build((None, self.latent_dim))
        shape = (None, 4, 4, self.channels[0])
        for block, side in zip(self.blocks, self.sides):
            block.build(shape)
            shape = (None, side, side, block.filters)
            if self.attention is not None and side == self.attention_resolution:
                self.attention.build(shape)
        self.final_norm.build(shape)
        self.final_conv.build(shape)
        self.built = True

    def call(
        self,
        z,
        labels=None,
        training=None,
        update_singular_vectors=None,
        return_attention_scores=False,
    ):
        if update_singular_vectors is None:
            update_singular_vectors = bool(training)
        sn = {
            "training": training,
            "update_singular_vectors": update_singular_vectors,
        }
        x = self.dense(z, **sn)  # (B, 16·c0)
        x = ops.reshape(x, (-1, 4, 4, self.channels[0]))  # (B, 4, 4, c0)
        scores = None
        for block, side in zip(self.blocks, self.sides):
            x = block(x, labels, **sn)  # (B, side, side, c)
            if self.attention is not None and side == self.attention_resolution:
                x, scores = self.attention(
                    x, return_attention_scores=True, **sn
                )  # (B, side, side, c), (B, side², keys)
        x = ops.relu(self.final_norm(x, training=training))
        images = ops.tanh(self.final_conv(x, **sn))  # (B, 32, 32, 1)
        if return_attention_scores:
            return images, scores
        return images

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "latent_dim": self.latent_dim,
            "channels": list(self.channels),
            "attention_resolution": self.attention_resolution,
            "num_classes": self.num_classes,
        }


@keras.saving.register_keras_serializable(package="zoo")
class Discriminator(keras.Model):
    """A 32×32 image (and a class label) → a real/fake logit `(B, 1)`.

    Call arguments: `images (B, 32, 32, 1)`, `labels (B,)` int (conditional
    only), `training`, `update_singular_vectors` (None = `training`).
    """

    def __init__(
        self, channels, attention_resolution=16, num_classes=0, **kwargs
    ):
        super().__init__(**kwargs)
        self.channels = tuple(channels)
        self.attention_resolution = attention_resolution or 0
        self.num_classes = num_classes
        down = len(self.channels) - 1
        self.sides = tuple(32 // 2 ** (i + 1) for i in range(down))
        self.blocks = [
            DiscriminatorBlock(
                c, downsample=i < down, first=i == 0, name=f"block_{i}"
            )
            for i, c in enumerate(self.channels)
        ]
        self.attention = _attention(
            self.attention_resolution, self.sides, "discriminator"
        )
        self.output_dense = spectral_dense(1, "output_dense")
        self.embedding = None
        if num_classes:
            self.embedding = spectral_dense(
                self.channels[-1], "class_embedding", use_bias=False
            )

    def build(self, images_shape):
        shape = tuple(images_shape)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
            if self.attention is not None and shape[1] == (
                self.attention_resolution
            ):
                if not self.attention.built:
                    self.attention.build(shape)
        self.output_dense.build((None, self.channels[-1]))
        if self.embedding is not None:
            self.embedding.build((None, self.num_classes))
        self.built = True

    def call(
        self, images, labels=None, training=None, update_singular_vectors=None
    ):
        if update_singular_vectors is None:
            update_singular_vectors = bool(training)
        sn = {
            "training": training,
            "update_singular_vectors": update_singular_vectors,
        }
        x = images
        for index, block in enumerate(self.blocks):
            x = block(x, **sn)  # (B, side, side, c)
            side = self.sides[index] if index < len(self.sides) else None
            if self.attention is not None and side == self.attention_resolution:
                x = self.attention(x, **sn)
        h = ops.sum(ops.relu(x), axis=(1, 2))  # (B, C)
        logits = self.output_dense(h, **sn)  # (B, 1)
        if self.embedding is not None:
            onehot = ops.one_hot(ops.cast(labels, "int32"), self.num_classes)
            projected = self.embedding(onehot, **sn)  # (B, C)
            logits = logits + ops.sum(projected * h, axis=-1, keepdims=True)
        return logits

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "channels": list(self.channels),
            "attention_resolution": self.attention_resolution,
            "num_classes": self.num_classes,
        }
