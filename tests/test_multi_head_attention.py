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
    assert tuple(mha.query_kernel.shape) == (512, 8, 64)
    assert tuple(mha.output_kernel.shape) == (8, 64, 512)


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
    with pytest.raises(ValueError, match="cache_index"):
        mha(X, MEM, cache=mha.init_cache(B, 4), cache_index=0)
    with pytest.raises(ValueError, match="attention_mask|mask"):
        mha(X, attention_mask=np.ones((B, T, T), "float32"))
    with pytest.raises(ValueError, match="max_length=0"):
        mha.init_cache(B, 0)


def test_symbolic_calls_with_scores_and_cache_give_every_output():
    q = keras.Input((T, D))
    v = keras.Input((S, 6))
    out, scores = MultiHeadAttention(N)(q, v, return_attention_scores=True)
    assert tuple(out.shape) == (None, T, D)
    assert tuple(scores.shape) == (None, N, T, S)
    model = keras.Model([q, v], [out, scores])
    a, w = model([X, MEM])
    assert tuple(w.shape) == (B, N, T, S)
