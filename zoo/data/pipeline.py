"""tf.data input pipeline for translation models trained with `model.fit`.

Each element is `((source_ids, target_input_ids), target_output_ids)`:
`target_input_ids = [START] + y` and `target_output_ids = y + [END]`
(teacher forcing: position t of the input predicts position t of the
output). Every tensor is int32, `(B, T)`, padded with 0 (`[PAD]`), so a
model should mask id 0 (`Embedding(mask_zero=True)`) and use a loss that
ignores it (`SparseCategoricalCrossentropy(ignore_class=0)`).
"""

import tensorflow as tf

from zoo.data.tokenizers import END_ID
from zoo.data.tokenizers import START_ID


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )


def make_dataset(
    pairs,
    source_tokenizer,
    target_tokenizer,
    batch_size=64,
    max_length=64,
    shuffle=False,
    seed=0,
    bucket_boundaries=None,
    pad_to_max_length=False,
    drop_remainder=False,
    repeat=False,
):
    """Batches of `((source_ids, target_input_ids), target_output_ids)`.

    All pairs are tokenized once up front (Japanese MeCab segmentation runs
    in Python there), then sliced into a dataset.

    Args:
        pairs: list of `(source, target)` string pairs.
        source_tokenizer, target_tokenizer: `TranslationTokenizer`s.
        batch_size: int. Pairs per batch.
        max_length: int. Sources are truncated to `max_length` ids, targets
            to `max_length - 1` before adding `[START]` / `[END]`, so every
            tensor has at most `max_length` columns.
        shuffle: bool. Shuffle the pairs (the whole split) with `seed`,
            differently each epoch; use for the training split only.
        seed: int. Shuffle seed.
        bucket_boundaries: list of increasing ints or None. If given, batch
            pairs of similar target length together
            (`Dataset.bucket_by_sequence_length`) to cut padding.
        pad_to_max_length: bool. Pad every batch to `max_length` columns
            (static shapes, e.g. for XLA) instead of the batch's longest.
        drop_remainder: bool. Drop a last, smaller batch.
        repeat: bool. An endless stream of passes over the pairs, each pass
            in its own order (with `shuffle`) drawn statelessly from
            `(seed, pass number)`. Element i of the stream then depends on
            `(seed, i)` alone, so a resumed run can `skip` to where it
            stopped (`Dataset.shuffle(reshuffle_each_iteration=True)` keeps
            its per-pass seeds in the dataset, and a second iterator gets
            different orders).

    Returns:
        A prefetched `tf.data.Dataset`.
    """
    _check_positive("batch_size", batch_size)
    _check_positive("max_length", max_length)
    if max_length < 2:
        raise ValueError(
            "`max_length` must be at least 2 ([START]/[END] plus one token). "
            f"Received: max_length={max_length!r}"
        )
    pairs = list(pairs)
    if not pairs:
        raise ValueError("`pairs` must not be empty. Received: pairs=[]")
    sources = source_tokenizer.tokenize([s for s, _ in pairs])
    targets = target_tokenizer.tokenize([t for _, t in pairs])
    sources = sources[:, :max_length]  # (N, None) ragged
    targets = targets[:, : max_length - 1]  # (N, None) ragged
    if repeat:
        count = len(pairs)

        def one_pass(number):
            order = tf.range(count, dtype=tf.int64)
            if shuffle:
                order = tf.random.experimental.stateless_shuffle(
                    order, seed=tf.stack([tf.constant(seed, tf.int64), number])
                )
            return tf.data.Dataset.from_tensor_slices(order)

        dataset = (
            tf.data.Dataset.counter()
            .flat_map(one_pass)
            .map(lambda i: (tf.gather(sources, i), tf.gather(targets, i)))
        )
    else:
        dataset = tf.data.Dataset.from_tensor_slices((sources, targets))
        if shuffle:
            dataset = dataset.shuffle(
                len(pairs), seed=seed, reshuffle_each_iteration=True
            )

    def add_start_end(source, target):
        start = tf.constant([START_ID], tf.int32)
        end = tf.constant([END_ID], tf.int32)
        target_input = tf.concat([start, target], axis=0)  # (T,)
        target_output = tf.concat([target, end], axis=0)  # (T,)
        return (source, target_input), target_output

    dataset = dataset.map(add_start_end, num_parallel_calls=tf.data.AUTOTUNE)
    length = max_length if pad_to_max_length else None
    padded_shapes = (([length], [length]), [length])
    if bucket_boundaries is None:
        dataset = dataset.padded_batch(
            batch_size,
            padded_shapes=padded_shapes,
            padding_values=0,
            drop_remainder=drop_remainder,
        )
    else:
        boundaries = list(bucket_boundaries)
        if not boundaries or boundaries != sorted(set(boundaries)):
            raise ValueError(
                "`bucket_boundaries` must be a non-empty increasing list. "
                f"Received: bucket_boundaries={bucket_boundaries!r}"
            )
        dataset = dataset.bucket_by_sequence_length(
            lambda inputs, output: tf.shape(output)[0],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=padded_shapes,
            padding_values=0,
            drop_remainder=drop_remainder,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
