import keras
from keras import ops

from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import static_int_scalar
from keras_attn.ops.positions import relative_position_bucket


@keras.saving.register_keras_serializable(package="keras_attn")
class RelativePositionBias(keras.layers.Layer):
    """T5's bucketed relative position bias for attention logits.

    A trainable table `E` of shape `(num_buckets, num_heads)`; query `i`
    (at position `query_offset + i`) and key `j` (at position `j`) get the
    bias `E[bucket(j - query_offset - i), h]` on head `h`, where `bucket`
    is `keras_attn.ops.relative_position_bucket`: `num_buckets // 2`
    buckets per direction when `bidirectional` (one direction otherwise,
    future keys sharing bucket 0), half of them exact distances, the rest
    logarithmic up to `max_distance`, beyond which distances share the
    last bucket. As in T5, one such layer serves a whole stack: compute
    the bias once and add it to every layer's logits.

    The default `embeddings_initializer="zeros"` starts the model exactly
    as attention without a bias; the table needs no symmetry breaking,
    since each head's column is trained by that head's own logits. T5
    (Hugging Face) initialises it with a normal of stddev `d_model^-0.5`;
    pass `keras.initializers.RandomNormal(stddev=d_model**-0.5)` to match.

    Masking: none; the bias is added to the logits before the mask.

    Args:
        num_heads: N.
        num_buckets: number of buckets (32 in T5); even, >= 4, when
            `bidirectional`, else >= 2.
        max_distance: the distance from which the last bucket is used (128
            in T5); larger than the number of exact buckets per direction,
            `(num_buckets // 2 if bidirectional else num_buckets) // 2`.
        bidirectional: True for encoder self-attention, False for causal
            decoder self-attention.
        embeddings_initializer: initializer of the table.

    Call arguments:
        query_length: T, int or int scalar tensor (static under `jax.jit`).
        key_length: S, int or int scalar tensor (static under `jax.jit`).
        query_offset: int or int scalar tensor (may be traced), the position
            of the first query; the KV-cache write index when decoding.

    Returns:
        `(1, N, T, S)` bias in the compute dtype, to add to the logits.

    Example:
    >>> bias = RelativePositionBias(num_heads=2)(3, 5)
    >>> tuple(bias.shape)
    (1, 2, 3, 5)

    Reference:
        Raffel et al., "Exploring the Limits of Transfer Learning with a
        Unified Text-to-Text Transformer", JMLR 2020, §2.1.
    """

    def __init__(
        self,
        num_heads,
        num_buckets=32,
        max_distance=128,
        bidirectional=True,
        embeddings_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.bidirectional = bool(bidirectional)
        self.num_buckets = check_positive_int("num_buckets", num_buckets)
        if self.bidirectional and (num_buckets < 4 or num_buckets % 2):
            raise ValueError(
                "`num_buckets` must be even and at least 4 when "
                "`bidirectional=True` (half the buckets per direction). "
                f"Received: num_buckets={num_buckets}"
            )
        if num_buckets < 2:
            raise ValueError(
                "`num_buckets` must be at least 2. Received: "
                f"num_buckets={num_buckets}"
            )
        self.max_distance = check_positive_int("max_distance", max_distance)
        per_direction = num_buckets // 2 if self.bidirectional else num_buckets
        if max_distance <= per_direction // 2:
            raise ValueError(
                "`max_distance` must exceed the number of exact buckets per "
                f"direction ({per_direction // 2} for num_buckets="
                f"{num_buckets}, bidirectional={self.bidirectional}). "
                f"Received: max_distance={max_distance}"
            )
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )
        # The lengths are Python ints (or scalar tensors): let Keras take
        # them positionally, as its preprocessing layers do.
        self._allow_non_tensor_positional_args = True
        self.build()

    def build(self, *_shapes):
        if self.built:
            return
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_buckets, self.num_heads),
            initializer=clone_initializer(self.embeddings_initializer),
        )
        self.built = True

    def call(self, query_length, key_length, query_offset=0):
        for name, length in (
            ("query_length", query_length),
            ("key_length", key_length),
        ):
            if isinstance(length, int):
                check_positive_int(name, length)
        try:
            static_int_scalar("query_offset", query_offset)
        except ValueError:
            raise ValueError(
                "`query_offset` must be an integer scalar. Received: "
                f"query_offset={query_offset!r}"
            ) from None
        query_positions = ops.arange(query_length, dtype="int32") + ops.cast(
            query_offset, "int32"
        )  # (T,)
        key_positions = ops.arange(key_length, dtype="int32")  # (S,)
        relative = key_positions[None, :] - query_positions[:, None]  # (T, S)
        buckets = relative_position_bucket(
            relative, self.bidirectional, self.num_buckets, self.max_distance
        )  # (T, S)
        bias = ops.take(self.embeddings, buckets, axis=0)  # (T, S, N)
        bias = ops.transpose(bias, (2, 0, 1))[None]  # (1, N, T, S)
        return ops.cast(bias, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "num_buckets": self.num_buckets,
                "max_distance": self.max_distance,
                "bidirectional": self.bidirectional,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
