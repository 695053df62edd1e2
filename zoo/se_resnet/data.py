"""tf.data pipelines for the SE-ResNet classifier.

Elements are `(images, labels)`: float32 `(B, 32, 32, 1)` in [-1, 1] (see
`zoo.fashion_mnist.to_model_input`) and int32 `(B,)`. The training stream
is shuffled with a fixed seed and repeated, so step `i` always sees the
same batch (what the harness's exact resume needs).
"""

import numpy as np
import tensorflow as tf

from zoo import fashion_mnist


def load_splits(config):
    """`{"train", "validation", "test"}` → `(images, labels)` numpy pairs.

    Validation is a fixed random subset of the training images (seed 0);
    the test split is the official 10k test set.
    """
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load(config.data)
    order = np.random.default_rng(0).permutation(len(x_train))
    held = order[: config.validation_examples]
    kept = order[config.validation_examples :]
    if config.max_train_examples is not None:
        kept = kept[: config.max_train_examples]

    def pair(x, y):
        return fashion_mnist.to_model_input(x), y.astype("int32")

    return {
        "train": pair(x_train[kept], y_train[kept]),
        "validation": pair(x_train[held], y_train[held]),
        "test": pair(x_test, y_test),
    }


def _flip(step, batch):
    # Stateless, keyed on the step: a resumed run flips the same images.
    images, labels = batch
    seed = tf.stack([tf.constant(1, tf.int64), step])
    return tf.image.stateless_random_flip_left_right(images, seed), labels


def train_stream(split, config, seed=0):
    """The repeated, shuffled, batched training stream."""
    images, labels = split
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=seed).repeat()
    dataset = dataset.batch(config.batch_size, drop_remainder=True)
    if config.augment:
        dataset = tf.data.Dataset.zip(tf.data.Dataset.counter(), dataset)
        dataset = dataset.map(_flip)
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_dataset(split, batch_size):
    """A finite, ordered dataset for `evaluate` / `predict`."""
    dataset = tf.data.Dataset.from_tensor_slices(split)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(split, config):
    return max(1, len(split[0]) // config.batch_size)
