"""The SAGAN training model: one D and one G update per `train_step`.

    D step: L_D = mean(relu(1 − D(x, y))) + mean(relu(1 + D(G(z, y'), y')))
    G step: L_G = −mean(D(G(z', y''), y''))

with two Adam optimizers (two-timescale update rule: lr_D 4e-4, lr_G 1e-4,
β = (0, 0.9)) and an optional exponential moving average of G's weights.

Spectral norm: each `SpectralNormalization` advances its vector `u` once
per step, not once per call. D's wrappers update on the real-image pass
(the first D call of the step); G's on the G-step pass. The fake-image D
passes and the D-step G pass run with `update_singular_vectors=False`, so
both D passes of a step use the same W/σ(W).

Elements of the training stream are dicts: `images (B, 32, 32, 1)`,
`labels (B,)`, `z_d`, `z_g (B, Z)` and `fake_labels_d`, `fake_labels_g`
`(B,)` (see `zoo.sagan.train.train_stream`), so the noise is a function
of the step.
"""

import keras
import tensorflow as tf
from keras import ops

from zoo.sagan.model.networks import Discriminator
from zoo.sagan.model.networks import Generator


def d_hinge_loss(real_logits, fake_logits):
    """mean(relu(1 − D(x))) + mean(relu(1 + D(G(z))))."""
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(
        ops.relu(1.0 + fake_logits)
    )


def g_hinge_loss(fake_logits):
    """−mean(D(G(z)))."""
    return -ops.mean(fake_logits)


def build_networks(config, num_classes=10):
    """`(generator, discriminator)` for a `Config`, built."""
    classes = num_classes if config.conditional else 0
    generator = Generator(
        config.latent_dim,
        config.generator_channels,
        config.attention_resolution,
        classes,
        name="generator",
    )
    discriminator = Discriminator(
        config.discriminator_channels,
        config.attention_resolution,
        classes,
        name="discriminator",
    )
    generator.build((None, config.latent_dim))
    discriminator.build((None, 32, 32, 1))
    return generator, discriminator


class SAGAN(keras.Model):
    """Trains a `Generator` against a `Discriminator` with `model.fit`.

    Args:
        generator, discriminator: built networks.
        ema_decay: float in (0, 1) to keep `generator_ema`, an exponential
            moving average of the generator (trainable weights averaged,
            BatchNorm statistics and `u` vectors copied); None = off.
    """

    def __init__(self, generator, discriminator, ema_decay=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_decay = ema_decay
        self.generator_ema = None
        if ema_decay is not None:
            if not 0.0 < ema_decay < 1.0:
                raise ValueError(
                    "`ema_decay` must be in (0, 1) or None. Received: "
                    f"ema_decay={ema_decay}"
                )
            self.generator_ema = Generator.from_config(
                {**generator.get_config(), "name": "generator_ema"}
            )
            self.generator_ema.build((None, generator.latent_dim))
            self.generator_ema.set_weights(generator.get_weights())
            self.generator_ema.trainable = False
            trainable = {id(v) for v in generator.trainable_variables}
            self._ema_mask = [id(v) in trainable for v in generator.weights]
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "d_real", "d_fake")
        }
        self.built = True

    @property
    def sampler(self):
        """The generator to sample from: the EMA one if kept."""
        return self.generator_ema or self.generator

    def compile(self, d_optimizer, g_optimizer, jit_compile=False, **kwargs):
        # `optimizer` is D's: the harness counts steps with its iterations.
        super().compile(
            optimizer=d_optimizer, jit_compile=jit_compile, **kwargs
        )
        self.g_optimizer = g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _labels(self, labels):
        return labels if self.generator.num_classes else None

    def train_step(self, data):
        images, labels = data["images"], self._labels(data["labels"])
        fake_d = self._labels(data["fake_labels_d"])
        fake_g = self._labels(data["fake_labels_g"])
        scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        fakes = self.generator(
            data["z_d"], fake_d, training=True, update_singular_vectors=False
        )  # (B, 32, 32, 1)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(
                images, labels, training=True, update_singular_vectors=True
            )  # (B, 1); advances D's u
            fake_logits = self.discriminator(
                fakes, fake_d, training=True, update_singular_vectors=False
            )
            d_loss = d_hinge_loss(real_logits, fake_logits)
            scaled = d_loss * scale  # summed over replicas
        grads = tape.gradient(scaled, d_vars)
        self.optimizer.apply_gradients(zip(grads, d_vars))

        with tf.GradientTape() as tape:
            fakes = self.generator(
                data["z_g"], fake_g, training=True, update_singular_vectors=True
            )  # advances G's u
            logits = self.discriminator(
                fakes, fake_g, training=True, update_singular_vectors=False
            )
            g_loss = g_hinge_loss(logits)
            scaled = g_loss * scale
        grads = tape.gradient(scaled, g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars))
        self._update_ema()

        for name, value in (
            ("d_loss", d_loss),
            ("g_loss", g_loss),
            ("d_real", ops.mean(real_logits)),
            ("d_fake", ops.mean(fake_logits)),
        ):
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def _update_ema(self):
        if self.generator_ema is None:
            return
        decay = self.ema_decay
        for source, target, averaged in zip(
            self.generator.weights, self.generator_ema.weights, self._ema_mask
        ):
            if averaged:
                target.assign(decay * target + (1.0 - decay) * source)
            else:
                target.assign(source)

    def call(self, z, labels=None, training=None):
        return self.sampler(z, self._labels(labels), training=training)
