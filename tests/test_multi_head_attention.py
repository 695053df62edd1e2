import keras
import numpy as np
import pytest
from keras import ops

from keras_attn import MultiHeadAttention

B, T, S, D, N = 2, 3, 5, 8, 2
rng = np.random.default_rng(0)
X = rng.normal(size=(B, T, D)).astype("float32")
MEM = rng.normal(size=(B, S, 6)).astype("float32")
VALUE_MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


def _np(x):
    return ops.convert_to_numpy(ops.cast(x, "float32"))


def _pair(key_dim=4, **kwargs):
    ref = keras.layers.MultiHeadAttention(N, key_dim, **kwargs)
    ours = MultiHeadAttention(N, key_dim=key_dim, **kwargs)
    return ref, ours


@pytest.mark.parametrize("value_dim", [None, 3])
def test_matches_keras_multi_head_attention_cross_with_value_mask(value_dim):
    if value_dim is not None and keras.backend.backend() == "jax":
        pytest.skip(
            "keras.layers.MultiHeadAttention itself fails on JAX when "
            "value_dim != key_dim (Keras 3.15: a bad reshape in its fused "
            "dot_product_attention path); the reference is unusable there"
        )
    ref, ours = _pair(value_dim=value_dim)
    expected = ref(X, MEM, value_mask=VALUE_MASK)
    ours(X, MEM)
    ours.set_weights(ref.get_weights())
    got, w = ours(X, MEM, value_mask=VALUE_MASK, return_attention_scores=True)
    np.testing.assert_allclose(_np(got), _np(expected), atol=1e-5)
    _, ref_w = ref(X, MEM, value_mask=VALUE_MASK, return_attention_scores=True)
    np.testing.assert_allclose(_np(w), _np(ref_w), atol=1e-6)


def test_matches_keras_multi_head_attention_causal_self():
    ref, ours = _pair()
    expected = ref(X, X, use_causal_mask=True)
    ours(X)
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(
        _np(ours(X, use_causal_mask=True)), _np(expected), atol=1e-5
    )


def test_key_dim_defaults_to_model_dim_over_heads():
    mha = MultiHeadAttention(num_heads=8)
    mha(np.zeros((1, 2, 512), "float32"))
    assert tuple(mha.query_dense.kernel.shape) == (512, 8, 64)
    assert tuple(mha.output_dense.kernel.shape) == (8, 64, 512)


def test_weights_sum_to_one_and_are_zero_at_masked_keys():
    mha = MultiHeadAttention(N)
    x = rng.normal(size=(B, S, D)).astype("float32")
    _, w = mha(
        x,
        query_mask=VALUE_MASK,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    w = _np(w)  # (B, N, S, S)
    allowed = (
        VALUE_MASK[:, None, None, :]
        & VALUE_MASK[:, None, :, None]
        & np.tril(np.ones((S, S), bool))
    )
    allowed = np.broadcast_to(allowed, w.shape)
    assert np.all(w[~allowed] == 0.0)
    rows = allowed.any(-1)
    np.testing.assert_allclose(w.sum(-1)[rows], 1.0, atol=1e-6)
    assert np.all(w.sum(-1)[~rows] == 0.0)  # padded queries attend nothing


def test_keras_mask_from_embedding_is_consumed():
    ids = np.array([[3, 4, 0, 0, 0], [5, 6, 7, 8, 9]], "int32")
    emb = keras.layers.Embedding(10, D, mask_zero=True)
    mha = MultiHeadAttention(N)
    _, w = mha(emb(ids), emb(ids), return_attention_scores=True)
    assert np.all(_np(w)[0, :, :2, 2:] == 0.0)


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_causality_future_tokens_change_no_earlier_output(policy, dropout):
    x = rng.normal(size=(B, S, D)).astype("float32")
    x_future = x.copy()
    x_future[:, 3:] += 5.0 * rng.normal(size=(B, 2, D))
    outs = []
    for inputs in (x, x_future):
        # Same seed and weights: identical dropout masks in both calls.
        mha = MultiHeadAttention(
            N,
            dropout=dropout,
            seed=7,
            dtype=policy,
            kernel_initializer=keras.initializers.GlorotUniform(seed=1),
        )
        outs.append(_np(mha(inputs, use_causal_mask=True, training=True)))
    np.testing.assert_array_equal(outs[0][:, :3], outs[1][:, :3])
    assert not np.allclose(outs[0][:, 3:], outs[1][:, 3:], atol=1e-2)


def test_cached_decoding_equals_full_causal_pass():
    mha = MultiHeadAttention(N, key_dim=3, value_dim=5)
    x = rng.normal(size=(B, S, D)).astype("float32")
    full = _np(mha(x, use_causal_mask=True))
    cache = mha.init_cache(B, S + 2)
    steps = []
    for i in range(S):
        out, cache = mha(
            x[:, i : i + 1], cache=cache, cache_index=i, use_causal_mask=True
        )
        steps.append(_np(out))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)
    # Prefill a prompt of 2, then continue with 3: same again.
    cache = mha.init_cache(B, S)
    a, cache = mha(x[:, :2], cache=cache, cache_index=0, use_causal_mask=True)
    b, cache = mha(x[:, 2:], cache=cache, cache_index=2, use_causal_mask=True)
    np.testing.assert_allclose(
        np.concatenate([_np(a), _np(b)], 1), full, atol=1e-5
    )


def test_cross_attention_cache_equals_recomputing_memory():
    mha = MultiHeadAttention(N)
    full = _np(mha(X, MEM, value_mask=VALUE_MASK))
    cache = mha.compute_key_value(MEM)
    out, same_cache = mha(X, cache=cache, value_mask=VALUE_MASK)
    np.testing.assert_allclose(_np(out), full, atol=1e-6)
    for a, b in zip(same_cache, cache):
        np.testing.assert_array_equal(_np(a), _np(b))


def test_padding_invariance():
    mha = MultiHeadAttention(N)
    mem2 = MEM.copy()
    mem2[0, 3:] = 100.0  # change only padded memory positions
    a = _np(mha(X, MEM, value_mask=VALUE_MASK))
    b = _np(mha(X, mem2, value_mask=VALUE_MASK))
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0}, "num_heads=0"),
        ({"num_heads": 2, "key_dim": -1}, "key_dim=-1"),
        ({"num_heads": 2, "dropout": 1.5}, "dropout=1.5"),
        ({"num_heads": 2, "output_dim": 0}, "output_dim=0"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_bad_call_arguments():
    with pytest.raises(ValueError, match="num_heads=3"):
        MultiHeadAttention(3)(X)
    with pytest.raises(ValueError, match="query.shape"):
        MultiHeadAttention(2)(X[0])
    mha = MultiHeadAttention(2)
    mha(X)
    with pytest.raises(ValueError, match="omit `value`"):
        mha(X, MEM, cache=mha.init_cache(B, 4), cache_index=0)
    with pytest.raises(ValueError, match=r"attention_mask.shape=\(2, 3, 5\)"):
        mha(X, attention_mask=np.ones((B, T, S), "float32"))
    with pytest.raises(ValueError, match="max_length=0"):
        mha.init_cache(B, 0)


def test_symbolic_call_with_scores_gives_every_output():
    q = keras.Input((T, D))
    v = keras.Input((S, 6))
    out, scores = MultiHeadAttention(N)(q, v, return_attention_scores=True)
    assert tuple(out.shape) == (None, T, D)
    assert tuple(scores.shape) == (None, N, T, S)
    model = keras.Model([q, v], [out, scores])
    a, w = model([X, MEM])
    assert tuple(w.shape) == (B, N, T, S)


def test_cached_call_returns_the_full_pass_scores_and_cache():
    mha = MultiHeadAttention(N, key_dim=3)
    x = rng.normal(size=(B, S, D)).astype("float32")
    full, full_w = mha(x, use_causal_mask=True, return_attention_scores=True)
    cache = mha.init_cache(B, S)
    a, a_w, cache = mha(
        x[:, :2],
        cache=cache,
        cache_index=0,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    b, b_w, cache = mha(
        x[:, 2:],
        cache=cache,
        cache_index=2,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(_np(a_w), _np(full_w)[:, :, :2], atol=1e-6)
    np.testing.assert_allclose(_np(b_w), _np(full_w)[:, :, 2:], atol=1e-6)
    keys, _ = mha.compute_key_value(x)  # every position, projected at once
    np.testing.assert_allclose(_np(cache.key), _np(keys), atol=1e-5)


def test_cached_call_without_causal_mask_sees_only_written_positions():
    # Prefill 2 tokens into a max_length=5 cache, no causal mask: the 3
    # unwritten slots must stay invisible, as in the uncached call.
    mha = MultiHeadAttention(N)
    x = rng.normal(size=(B, 2, D)).astype("float32")
    expected, expected_w = mha(x, return_attention_scores=True)
    out, w, _ = mha(
        x,
        cache=mha.init_cache(B, 5),
        cache_index=0,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(_np(out), _np(expected), atol=1e-5)
    np.testing.assert_allclose(_np(w)[..., :2], _np(expected_w), atol=1e-6)
    assert np.all(_np(w)[..., 2:] == 0.0)


# --- misuse is loud -----------------------------------------------------


def _built(**kwargs):
    mha = MultiHeadAttention(N, **kwargs)
    mha(X)
    return mha


@pytest.mark.parametrize(
    "index, length, received",
    [
        (4, 1, "cache_index=4"),  # == max_length
        (-1, 1, "cache_index=-1"),
        (3, 3, "cache_index=3"),  # a 3-token prefill at 3 of 4
        (np.int32(7), 1, "cache_index=7"),
    ],
)
def test_cache_index_out_of_range_raises_instead_of_clamping(
    index, length, received
):
    mha = _built()
    cache = mha.init_cache(B, 4)
    with pytest.raises(ValueError, match=received):
        mha(X[:, :length], cache=cache, cache_index=index)


@pytest.mark.parametrize("index", [1.7, True, np.array([1, 2])])
def test_cache_index_must_be_an_integer_scalar(index):
    mha = _built()
    with pytest.raises(ValueError, match="cache_index"):
        mha(X[:, :1], cache=mha.init_cache(B, 4), cache_index=index)


def test_traced_cache_index_out_of_range_fails_at_run_time():
    """Inside a compiled function there is no value to check in Python."""
    mha = _built()
    cache = mha.init_cache(B, 4)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        step = tf.function(lambda i: mha(X[:, :1], cache=cache, cache_index=i))
        out, _ = step(tf.constant(2))  # in range: fine
        assert np.all(np.isfinite(_np(out)))
        with pytest.raises(tf.errors.InvalidArgumentError, match="cache_index"):
            step(tf.constant(4))
        xla = tf.function(
            lambda i: mha(X[:, :1], cache=cache, cache_index=i),
            jit_compile=True,
        )
        out, new_cache = xla(tf.constant(4))  # XLA: no assertion, poison
    elif backend == "jax":
        import jax

        step = jax.jit(lambda i: mha(X[:, :1], cache=cache, cache_index=i))
        assert np.all(np.isfinite(_np(step(2)[0])))
        out, new_cache = step(4)
    else:
        pytest.skip("PyTorch runs eagerly: the index is checked in Python")
    assert np.all(np.isnan(_np(out)))
    # What was written is NaN (at the slot the backend clamped to), so any
    # later step that reads the cache is NaN too.
    for t in new_cache:
        assert np.isnan(_np(t)).any()
        assert not np.isnan(_np(t)).all()  # O(T) poison, not the whole cache


def test_cache_for_another_batch_size_raises():
    mha = _built()
    with pytest.raises(ValueError, match=r"cache.key.shape=\(2,"):
        mha(X[:1, :1], cache=mha.init_cache(B, 4), cache_index=0)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_init_cache_rejects_a_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=f"batch_size={batch_size!r}"):
        _built().init_cache(batch_size, 4)


def test_self_attention_cache_without_cache_index_raises():
    mha = _built()
    with pytest.raises(ValueError, match="cache_index"):
        mha(X[:, :1], cache=mha.init_cache(B, 4))


def test_cross_attention_cache_with_cache_index_raises():
    mha = MultiHeadAttention(N)
    mha(X, MEM)
    with pytest.raises(ValueError, match="CrossAttentionCache|cache_index"):
        mha(X, cache=mha.compute_key_value(MEM), cache_index=0)


def test_a_plain_tuple_cache_raises():
    mha = _built()
    keys, values = mha.init_cache(B, 4)
    with pytest.raises(ValueError, match="init_cache"):
        mha(X[:, :1], cache=(keys, values), cache_index=0)


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"query_mask": np.ones((B, S), bool)}, r"query_mask.shape=\(2, 5\)"),
        ({"value_mask": np.ones((B, T), bool)}, r"value_mask.shape=\(2, 3\)"),
        ({"key_mask": np.ones((B, 4), bool)}, r"key_mask.shape=\(2, 4\)"),
        (
            {"attention_mask": np.ones((B, T, T), bool)},
            r"attention_mask.shape=\(2, 3, 3\)",
        ),
    ],
)
def test_mask_errors_name_the_argument_passed(kwargs, received):
    mha = MultiHeadAttention(N)
    with pytest.raises(ValueError, match=received):
        mha(X, np.zeros((B, S, D), "float32"), **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_a_padded_value_row_never_reaches_an_output(bad):
    mha = MultiHeadAttention(N)
    clean = _np(mha(X, MEM, value_mask=VALUE_MASK))
    mem = MEM.copy()
    mem[0, 3:] = bad  # padded positions of row 0
    got = _np(mha(X, mem, value_mask=VALUE_MASK))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, clean, atol=1e-6)


def test_float16_overflow_at_padded_positions_never_reaches_an_output():
    # No NaN in the input: a huge padded row overflows the float16 value
    # projection to inf, which weight 0 would turn into NaN.
    mha = MultiHeadAttention(N, dtype="mixed_float16")
    clean = _np(mha(X, MEM, value_mask=VALUE_MASK))
    mem = MEM.copy()
    mem[0, 3:] = 6e4
    got = _np(mha(X, mem, value_mask=VALUE_MASK))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, clean, atol=1e-2)
