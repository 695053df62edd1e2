"""The SAGAN training stream and the real images its scores compare to.

Each element is a dict (see `zoo.sagan.model`): a shuffled, repeated batch
of real `images (B, 32, 32, 1)` in [-1, 1] with `labels (B,)`, and noise
`z_d`, `z_g (B, Z)` ~ N(0, I) with class labels `fake_labels_d`,
`fake_labels_g` uniform over the 10 classes. The noise is drawn with
stateless ops keyed on the step, so a resumed run sees the same noise.
"""

import tensorflow as tf

from zoo import fashion_mnist


def load_images(config):
    """`(train, test)`, each `(images (N, 32, 32, 1), labels (N,) int32)`."""
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load(config.data)
    return (
        (fashion_mnist.to_model_input(x_train), y_train.astype("int32")),
        (fashion_mnist.to_model_input(x_test), y_test.astype("int32")),
    )


def train_stream(split, config, seed=0):
    """The repeated training stream of dicts; element `i` = step `i`."""
    images, labels = split
    batch = config.batch_size
    real = tf.data.Dataset.from_tensor_slices((images, labels))
    real = real.shuffle(len(images), seed=seed).repeat()
    real = real.batch(batch, drop_remainder=True)

    def add_noise(step, pair):
        keys = [
            tf.stack([tf.constant(seed + k, tf.int64), step])
            for k in (1, 2, 3, 4)
        ]
        shape = (batch, config.latent_dim)
        return {
            "images": pair[0],
            "labels": pair[1],
            "z_d": tf.random.stateless_normal(shape, keys[0]),
            "z_g": tf.random.stateless_normal(shape, keys[1]),
            "fake_labels_d": tf.random.stateless_uniform(
                (batch,), keys[2], 0, fashion_mnist.NUM_CLASSES, tf.int32
            ),
            "fake_labels_g": tf.random.stateless_uniform(
                (batch,), keys[3], 0, fashion_mnist.NUM_CLASSES, tf.int32
            ),
        }

    stream = tf.data.Dataset.zip(tf.data.Dataset.counter(), real)
    return stream.map(add_noise).prefetch(tf.data.AUTOTUNE)
