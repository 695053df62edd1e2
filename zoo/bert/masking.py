"""BERT's dynamic masking, with tensorflow-text, reproducible per batch.

`mask_batch(token_ids, seed, ...)` applies `tf_text.mask_language_model`
to a batch: a `RandomItemSelector` picks `ceil(rate · n)` of the `n`
selectable tokens of each row (special tokens and padding never), and a
`MaskValuesChooser` replaces each picked token by `[MASK]` (80%), a random
ordinary token (10%) or itself (10%).

Both tensorflow-text classes draw from stateful random ops by default, so a
batch's mask would depend on how many batches the process had drawn
before. Here they draw from *stateless* ops keyed on a `(2,)` seed: the
selector through its `shuffle_fn` hook, the chooser by overriding
`get_mask_values`. The pretraining stream passes `(seed, batch index)`, so
batch i of the stream always gets the same mask (exact resume), while every
batch, and so every epoch, gets a new one (dynamic masking, RoBERTa).

Random replacement ids are drawn from the ordinary tokens only
(`[first_random_id, vocab_size)`): a random `[PAD]` in the middle of a
sentence would be mistaken for padding.

Reference: Devlin et al., "BERT", NAACL 2019, §3.1 (Task #1: Masked LM);
Liu et al., "RoBERTa", 2019, §4.1 (dynamic masking).
"""

import tensorflow as tf
import tensorflow_text as tf_text


def _fold(seed, data):
    return tf.random.experimental.stateless_fold_in(
        seed, tf.cast(data, tf.int64)
    )


class StatelessMaskValuesChooser(tf_text.MaskValuesChooser):
    """`tf_text.MaskValuesChooser` drawing from stateless ops keyed on `seed`.

    Args:
        vocab_size: V; random ids are drawn from `[first_random_id, V)`.
        mask_token: the `[MASK]` id.
        seed: int64 `(2,)` tensor.
        mask_token_rate: share of picked tokens replaced by `[MASK]`.
        random_token_rate: share replaced by a random ordinary token.
        first_random_id: the smallest id a random replacement may take.
    """

    def __init__(
        self,
        vocab_size,
        mask_token,
        seed,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        first_random_id=0,
    ):
        super().__init__(
            vocab_size, mask_token, mask_token_rate, random_token_rate
        )
        self._seed = seed
        self._first_random_id = first_random_id

    def get_mask_values(self, masked_lm_ids):
        ids = masked_lm_ids.flat_values  # (K,) picked tokens of the batch
        shape = tf.shape(ids)
        draw = tf.random.stateless_uniform(shape, _fold(self._seed, 1))
        random_ids = tf.random.stateless_uniform(
            shape,
            _fold(self._seed, 2),
            minval=self._first_random_id,
            maxval=self.vocab_size,
            dtype=tf.int64,
        )
        mask_rate = self._mask_token_rate
        random_rate = mask_rate + self.random_token_rate
        values = tf.where(
            draw < mask_rate,
            tf.cast(self.mask_token, ids.dtype),
            tf.where(draw < random_rate, tf.cast(random_ids, ids.dtype), ids),
        )
        return masked_lm_ids.with_flat_values(values)


def _stateless_shuffle_fn(seed):
    """A `RandomItemSelector.shuffle_fn` with one stream per row.

    The selector shuffles each row's selectable positions (flat indices
    into the batch) separately; keying on the row's first position makes
    rows of equal length draw different permutations.
    """

    def shuffle(positions):
        first = tf.concat([tf.cast(positions, tf.int64), [-1]], 0)[0]
        return tf.random.experimental.stateless_shuffle(
            positions, _fold(seed, first)
        )

    return shuffle


def mask_batch(
    token_ids,
    seed,
    vocabulary_size,
    mask_id,
    unselectable_ids,
    max_predictions,
    selection_rate=0.15,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    first_random_id=None,
):
    """Masks a batch for the masked-LM task.

    Args:
        token_ids: int32 `(B, T)`, 0-padded at the end of each row.
        seed: int64 `(2,)` tensor: the same seed gives the same mask.
        vocabulary_size: V.
        mask_id: the `[MASK]` id.
        unselectable_ids: ids never picked (padding and special tokens).
        max_predictions: P, at most this many picks per row.
        selection_rate: share of selectable tokens picked (rounded up).
        mask_token_rate, random_token_rate: see the module docstring.
        first_random_id: smallest id of a random replacement; default
            `max(unselectable_ids) + 1` (the special tokens come first).

    Returns:
        A dict: `token_ids` `(B, T)` with the replacements applied,
        `mask_positions` `(B, P)` (0-padded), `mask_ids` `(B, P)` the
        original ids (0-padded) and `mask_weights` float32 `(B, P)`, 1 for
        a real prediction and 0 for padding.
    """
    unselectable_ids = list(unselectable_ids)
    if first_random_id is None:
        first_random_id = max(unselectable_ids) + 1
    seed = tf.cast(seed, tf.int64)
    shape = tf.shape(token_ids)
    ragged = tf.RaggedTensor.from_tensor(token_ids, padding=0)  # (B, None)
    selector = tf_text.RandomItemSelector(
        max_selections_per_batch=max_predictions,
        selection_rate=selection_rate,
        unselectable_ids=unselectable_ids,
        shuffle_fn=_stateless_shuffle_fn(_fold(seed, 0)),
    )
    chooser = StatelessMaskValuesChooser(
        vocabulary_size,
        mask_id,
        seed,
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
        first_random_id=first_random_id,
    )
    masked, positions, originals = tf_text.mask_language_model(
        ragged, selector, chooser
    )
    prediction_shape = [shape[0], max_predictions]
    return {
        "token_ids": masked.to_tensor(0, shape=shape),  # (B, T)
        "mask_positions": tf.cast(
            positions.to_tensor(0, shape=prediction_shape), tf.int32
        ),  # (B, P)
        "mask_ids": originals.to_tensor(0, shape=prediction_shape),  # (B, P)
        "mask_weights": tf.ones_like(positions, tf.float32).to_tensor(
            0.0, shape=prediction_shape
        ),  # (B, P)
    }
