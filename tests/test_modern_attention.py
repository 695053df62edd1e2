"""The attention variants of current models in `MultiHeadAttention`.

Grouped-/multi-query attention, rotary embeddings, ALiBi, T5 relative
bias, QK-norm, logit soft-capping, attention sinks, sliding windows with
a ring-buffer cache, and the memory-efficient path: each against a NumPy
reference written here from the papers' formulas, each cached against the
full pass.
"""

import math

import keras
import numpy as np
import pytest
from keras import ops

import keras_attn
from keras_attn.layers import kv_cache
from tests.layer_contract import run_layer_contract

B, T, D = 2, 7, 16
rng = np.random.default_rng(0)
X = rng.normal(size=(B, T, D)).astype("float32")


# --- NumPy reference ---
def _np(x):
    return np.asarray(ops.convert_to_numpy(x), "float64")


def _rms(x, scale, eps=1e-6):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * scale


def _rope(x, positions, base=10000.0):
    """Rotate-half RoPE of `(B, T, N, H)` at `positions (T,)`."""
    h = x.shape[-1]
    inv = base ** (-np.arange(0, h, 2) / h)
    angle = positions[:, None] * inv[None]  # (T, H/2)
    cos = np.cos(np.concatenate([angle, angle], -1))[None, :, None]
    sin = np.sin(np.concatenate([angle, angle], -1))[None, :, None]
    x1, x2 = x[..., : h // 2], x[..., h // 2 :]
    return x * cos + np.concatenate([-x2, x1], -1) * sin


def _slopes(n):
    return np.array([2.0 ** (-8.0 * (h + 1) / n) for h in range(n)])


def _t5_bucket(rel, bidirectional, num_buckets, max_distance):
    n, out = -rel, np.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        out = np.where(n < 0, num_buckets, 0)
        n = np.abs(n)
    else:
        n = np.maximum(n, 0)
    exact = num_buckets // 2
    large = exact + (
        np.log(np.maximum(n, 1) / exact)
        / np.log(max_distance / exact)
        * (num_buckets - exact)
    ).astype(int)
    return out + np.where(n < exact, n, np.minimum(large, num_buckets - 1))


def reference(layer, x, causal=True):
    """The layer's output, recomputed in float64 NumPy from its weights."""
    x = np.asarray(x, "float64")
    n, nkv = layer.num_heads, layer._kv_heads
    hk = layer._key_dim

    def project(dense, inp):
        y = np.einsum("btd,dnh->btnh", inp, _np(dense.kernel))
        return y + _np(dense.bias) if layer.use_bias else y

    q = project(layer.query_dense, x)
    k = project(layer.key_dense, x)
    v = project(layer.value_dense, x)
    t_len = x.shape[1]
    pos = np.arange(t_len)
    if layer.qk_norm:
        q = _rms(q, _np(layer.query_norm.weights[0]))
        k = _rms(k, _np(layer.key_norm.weights[0]))
    if layer.rotary_embedding is not None:
        q, k = _rope(q, pos), _rope(k, pos)
    k = np.repeat(k, n // nkv, axis=2)  # query head h reads kv head h // G
    v = np.repeat(v, n // nkv, axis=2)
    logits = np.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(hk)
    if layer.logit_soft_cap:
        c = layer.logit_soft_cap
        logits = c * np.tanh(logits / c)
    rel = pos[None, :] - pos[:, None]  # key - query
    if layer.position_bias == "alibi":
        logits = logits - _slopes(n)[:, None, None] * np.abs(rel)[None]
    elif layer.position_bias is not None:
        rpb = layer.position_bias
        buckets = _t5_bucket(
            rel, rpb.bidirectional, rpb.num_buckets, rpb.max_distance
        )
        logits = logits + _np(rpb.embeddings)[buckets].transpose(2, 0, 1)
    allowed = np.ones((t_len, t_len), bool)
    if causal:
        allowed &= rel <= 0
    if layer.sliding_window:
        allowed &= np.abs(rel) < layer.sliding_window
    logits = np.where(allowed, logits, -np.inf)
    m = logits.max(-1, keepdims=True)
    sink = None
    if layer.use_sinks:
        sink = _np(layer.sinks)[None, :, None, None]
        m = np.maximum(m, sink)
    e = np.exp(logits - m)
    denom = e.sum(-1, keepdims=True)
    if sink is not None:
        denom = denom + np.exp(sink - m)
    weights = e / denom
    out = np.einsum("bnts,bsnh->btnh", weights, v)
    y = np.einsum("btnh,nhd->btd", out, _np(layer.output_dense.kernel))
    return y + _np(layer.output_dense.bias)


def _randomize(layer):
    """Non-trivial values for weights whose initial values hide bugs
    (zero biases, unit norm scales, zero sinks and relative biases)."""
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype(w.dtype) * 0.5 + 0.1)


VARIANTS = {
    "gqa": dict(num_key_value_heads=2),
    "mqa": dict(num_key_value_heads=1),
    "rope": dict(rotary_embedding=True),
    "alibi": dict(position_bias="alibi"),
    "relative_bias": dict(
        position_bias=keras_attn.layers.RelativePositionBias(
            4, num_buckets=8, max_distance=16, bidirectional=False
        )
    ),
    "qk_norm": dict(qk_norm=True),
    "soft_cap": dict(logit_soft_cap=1.5),
    "sinks": dict(use_sinks=True),
    "window": dict(sliding_window=3),
    "llama_mistral_gemma": dict(
        num_key_value_heads=2,
        rotary_embedding=True,
        qk_norm=True,
        sliding_window=4,
        logit_soft_cap=2.0,
        use_sinks=True,
    ),
}


def _layer(name, **overrides):
    kwargs = dict(num_heads=4, key_dim=6, value_dim=5)
    kwargs.update(VARIANTS[name])
    if name == "relative_bias":  # a fresh table per test
        kwargs["position_bias"] = keras_attn.layers.RelativePositionBias(
            4, num_buckets=8, max_distance=16, bidirectional=False
        )
    kwargs.update(overrides)
    layer = keras_attn.MultiHeadAttention(**kwargs)
    layer(X, use_causal_mask=True)
    _randomize(layer)
    return layer


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_matches_the_numpy_reference(name):
    layer = _layer(name)
    for causal in (True, False):
        got = ops.convert_to_numpy(layer(X, use_causal_mask=causal))
        np.testing.assert_allclose(
            got, reference(layer, X, causal), rtol=2e-4, atol=2e-4
        )


@pytest.mark.parametrize("name", list(VARIANTS))
def test_cached_prefill_then_steps_equal_the_full_pass(name):
    layer = _layer(name)
    full = ops.convert_to_numpy(layer(X, use_causal_mask=True))
    cache = layer.init_cache(B, T + 2)
    out, cache = layer(
        X[:, :3], cache=cache, cache_index=0, use_causal_mask=True
    )
    steps = [ops.convert_to_numpy(out)]
    for i in range(3, T):
        out, cache = layer(
            X[:, i : i + 1], cache=cache, cache_index=i, use_causal_mask=True
        )
        steps.append(ops.convert_to_numpy(out))
    np.testing.assert_allclose(
        np.concatenate(steps, 1), full, rtol=1e-4, atol=1e-4
    )


def test_grouped_query_cache_holds_only_the_key_value_heads():
    layer = _layer("gqa")
    cache = layer.init_cache(B, 10)
    assert tuple(cache.key.shape) == (B, 2, 10, 6)
    assert tuple(cache.value.shape) == (B, 2, 10, 5)
    assert tuple(layer.key_dense.kernel.shape) == (D, 2, 6)


def test_grouped_query_equals_multi_head_with_repeated_key_value_heads():
    gqa = _layer("gqa")
    mha = keras_attn.MultiHeadAttention(num_heads=4, key_dim=6, value_dim=5)
    mha(X)
    for name in ("query_dense", "output_dense"):
        for a, b in zip(getattr(mha, name).weights, getattr(gqa, name).weights):
            a.assign(b)
    for name in ("key_dense", "value_dense"):  # head h uses kv head h // 2
        for a, b in zip(getattr(mha, name).weights, getattr(gqa, name).weights):
            a.assign(np.repeat(ops.convert_to_numpy(b), 2, axis=-2))
    np.testing.assert_allclose(
        ops.convert_to_numpy(gqa(X, use_causal_mask=True)),
        ops.convert_to_numpy(mha(X, use_causal_mask=True)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_multi_query_scores_have_every_query_head():
    layer = _layer("mqa")
    _, scores = layer(X, use_causal_mask=True, return_attention_scores=True)
    scores = ops.convert_to_numpy(scores)
    assert scores.shape == (B, 4, T, T)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(scores, 1) == 0)


def test_sinks_take_weight_and_rows_sum_below_one():
    layer = _layer("sinks")
    layer.sinks.assign(np.full((4,), 3.0, "float32"))
    _, scores = layer(X, use_causal_mask=True, return_attention_scores=True)
    sums = ops.convert_to_numpy(scores).sum(-1)
    assert np.all(sums < 1.0) and np.all(sums > 0.0)


def test_soft_cap_bounds_the_logits():
    # With a tiny cap every allowed logit is within (-c, c), so the weights
    # of a row differ by at most a factor exp(2c).
    layer = _layer("soft_cap", logit_soft_cap=0.01)
    _, scores = layer(X, return_attention_scores=True)
    scores = ops.convert_to_numpy(scores)
    ratio = scores.max(-1) / scores.min(-1)  # within each row
    assert np.all(ratio < math.exp(0.02) + 1e-6)
    assert ratio.max() > 1.0  # the logits still differ


# --- sliding windows: the ring buffer ---
def test_sliding_window_cache_is_a_ring_of_window_slots():
    layer = _layer("window")
    cache = layer.init_cache(B, 100_000)
    assert isinstance(cache, keras_attn.SlidingWindowCache)
    assert tuple(cache.key.shape) == (B, 4, 3, 6)
    # A window wider than max_length needs no ring.
    assert isinstance(layer.init_cache(B, 3), keras_attn.SelfAttentionCache)


@pytest.mark.parametrize("prefill", [1, 2, 3, 5])
def test_ring_cache_decoding_equals_the_windowed_full_pass(prefill):
    # The ring wraps several times over 7 tokens with a window of 3; a
    # prefill longer than the window keeps only its last 3 tokens.
    layer = _layer("window")
    full = ops.convert_to_numpy(layer(X, use_causal_mask=True))
    cache = layer.init_cache(B, T)
    out, cache = layer(
        X[:, :prefill], cache=cache, cache_index=0, use_causal_mask=True
    )
    steps = [ops.convert_to_numpy(out)]
    for i in range(prefill, T):
        out, cache = layer(
            X[:, i : i + 1], cache=cache, cache_index=i, use_causal_mask=True
        )
        steps.append(ops.convert_to_numpy(out))
    np.testing.assert_allclose(
        np.concatenate(steps, 1), full, rtol=1e-4, atol=1e-4
    )


def test_ring_write_keeps_the_newest_position_of_each_slot():
    ring = kv_cache.SlidingWindowCache(
        np.zeros((1, 1, 3, 1), "float32"), np.zeros((1, 1, 3, 1), "float32")
    )
    new = np.arange(10, 15, dtype="float32").reshape(1, 1, 5, 1)  # pos 4..8
    ring = kv_cache.ring_write(
        ring, ops.convert_to_tensor(4, "int32"), new, new
    )
    # slots: 6 % 3 = 0, 7 % 3 = 1, 8 % 3 = 2 -> values 12, 13, 14
    assert ops.convert_to_numpy(ring.key).ravel().tolist() == [12, 13, 14]
    keys, _, valid = kv_cache.ring_read(ring, ops.convert_to_tensor(9, "int32"))
    assert ops.convert_to_numpy(keys).ravel().tolist() == [12, 13, 14]
    assert ops.convert_to_numpy(valid).ravel().tolist() == [True] * 3
    _, _, valid = kv_cache.ring_read(ring, ops.convert_to_tensor(1, "int32"))
    assert ops.convert_to_numpy(valid).ravel().tolist() == [False, False, True]


def test_ring_cache_refuses_masks_that_name_its_slots():
    layer = _layer("window")
    cache = layer.init_cache(B, 20)
    with pytest.raises(ValueError, match="value_mask"):
        layer(
            X[:, :1],
            cache=cache,
            cache_index=0,
            value_mask=np.ones((B, 3), bool),
        )
    with pytest.raises(ValueError, match="cache_index"):
        layer(X[:, :1], cache=cache, cache_index=-1)


# --- relative position bias shared across layers ---
def test_one_relative_position_bias_is_shared_by_two_layers():
    rpb = keras_attn.layers.RelativePositionBias(2, num_buckets=8)
    inputs = keras.Input((T, D))
    h = keras_attn.MultiHeadAttention(2, position_bias=rpb)(inputs)
    h = keras_attn.MultiHeadAttention(2, position_bias=rpb)(h)
    model = keras.Model(inputs, h)
    tables = [w for w in model.weights if w.shape == (8, 2)]
    assert len(tables) == 1
    model.compile("sgd", "mse")
    before = ops.convert_to_numpy(rpb.embeddings).copy()
    model.fit(X, X, epochs=1, verbose=0)
    assert not np.allclose(ops.convert_to_numpy(rpb.embeddings), before)


# --- the memory-efficient path ---
@pytest.mark.parametrize(
    "name", ["gqa", "alibi", "relative_bias", "llama_mistral_gemma"]
)
def test_memory_efficient_path_equals_the_dense_path(name):
    dense = _layer(name, memory_efficient=False)
    chunked = _layer(name, memory_efficient=True, chunk_size=3)
    chunked.set_weights(dense.get_weights())
    mask = np.ones((B, T), bool)
    mask[1, -2:] = False
    for kwargs in (
        dict(use_causal_mask=True),
        dict(use_causal_mask=False, query_mask=mask),
    ):
        np.testing.assert_allclose(
            ops.convert_to_numpy(chunked(X, **kwargs)),
            ops.convert_to_numpy(dense(X, **kwargs)),
            rtol=1e-5,
            atol=1e-5,
        )


def test_memory_efficient_path_trains_like_the_dense_path():
    # One SGD step through each path from the same weights: every weight
    # (projections, QK-norm scales, sinks, the relative bias table) moves
    # the same way, so the chunked gradients are the dense ones.
    def one_step(memory_efficient):
        layer = _layer(
            "relative_bias",
            use_sinks=True,
            qk_norm=True,
            memory_efficient=memory_efficient,
            chunk_size=3,
        )
        layer.set_weights(weights)
        inputs = keras.Input((T, D))
        model = keras.Model(inputs, layer(inputs, use_causal_mask=True))
        model.compile(keras.optimizers.SGD(1.0), "mse")
        model.train_on_batch(X, X[::-1])
        return [ops.convert_to_numpy(w) for w in layer.weights]

    reference_layer = _layer("relative_bias", use_sinks=True, qk_norm=True)
    weights = reference_layer.get_weights()
    dense, chunked = one_step(False), one_step(True)
    # 8 projection weights, 2 norm scales, the sinks and the bias table
    assert len(dense) == len(weights) == 12
    for before, a, b in zip(weights, dense, chunked):
        assert not np.allclose(a, before)  # every weight has a gradient
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_memory_efficient_cached_decoding_equals_the_full_pass():
    layer = _layer("llama_mistral_gemma", memory_efficient=True, chunk_size=2)
    full = ops.convert_to_numpy(layer(X, use_causal_mask=True))
    cache = layer.init_cache(B, 32)
    out, cache = layer(
        X[:, :5], cache=cache, cache_index=0, use_causal_mask=True
    )
    out2, _ = layer(X[:, 5:], cache=cache, cache_index=5, use_causal_mask=True)
    got = np.concatenate([ops.convert_to_numpy(o) for o in (out, out2)], 1)
    np.testing.assert_allclose(got, full, rtol=1e-4, atol=1e-4)


def test_memory_efficient_path_refuses_what_it_cannot_do():
    layer = _layer("gqa", memory_efficient=True, dropout=0.1)
    with pytest.raises(ValueError, match="return_attention_scores"):
        layer(X, return_attention_scores=True)
    with pytest.raises(ValueError, match="dropout"):
        layer(X, training=True)
    layer(X, training=False)  # no dropout outside training: fine


# --- errors ---
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_heads=4, num_key_value_heads=3), "num_key_value_heads"),
        (dict(num_heads=4, num_key_value_heads=0), "num_key_value_heads"),
        (dict(num_heads=4, position_bias="rope"), "position_bias"),
        (
            dict(
                num_heads=4,
                position_bias=keras_attn.layers.RelativePositionBias(2),
            ),
            "num_heads",
        ),
        (dict(num_heads=4, rotary_embedding="yes"), "rotary_embedding"),
        (dict(num_heads=4, logit_soft_cap=0), "logit_soft_cap"),
        (dict(num_heads=4, memory_efficient="auto"), "memory_efficient"),
        (dict(num_heads=4, chunk_size=0), "chunk_size"),
        (
            dict(num_heads=4, flash_attention=True, position_bias="alibi"),
            "flash",
        ),
    ],
)
def test_bad_variant_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_attn.MultiHeadAttention(**kwargs)


def test_positions_are_refused_in_cross_attention_and_odd_rope_depth():
    layer = keras_attn.MultiHeadAttention(2, rotary_embedding=True)
    with pytest.raises(ValueError, match="rotary_embedding"):
        layer(X, X[:, :3])
    with pytest.raises(ValueError, match="key_dim"):
        keras_attn.MultiHeadAttention(2, key_dim=3, rotary_embedding=True)(X)


# --- the generic contract ---
@pytest.mark.parametrize("name", ["llama_mistral_gemma", "alibi", "mqa"])
def test_variant_layer_contract(name):
    run_layer_contract(
        keras_attn.MultiHeadAttention,
        dict(num_heads=4, key_dim=6, **VARIANTS[name]),
        {"query": X},
        {"use_causal_mask": True},
        expected_output_shape=(B, T, D),
    )


# --- a Llama-style decoder from keras_attn options only ---
def test_llama_style_decoder_trains_with_fit_and_decodes_with_the_cache():
    """RMSNorm pre-norm blocks, SwiGLU, grouped-query attention, RoPE and a
    sliding window (a ring cache while decoding): a configuration of
    `TransformerDecoder`, no new code. It learns to continue the sequence
    `+1 mod V`, and cached greedy decoding equals re-running the full
    model on the growing sequence."""
    vocab, length, dim = 11, 12, 32
    embed = keras.layers.Embedding(vocab, dim, name="tokens")
    decoder = keras_attn.TransformerDecoder(
        2,
        num_heads=4,
        intermediate_dim=64,
        norm_first=True,
        normalization="rms_norm",
        activation="swiglu",
        use_bias=False,
        num_key_value_heads=2,
        rotary_embedding=True,
        sliding_window=4,
    )
    head = keras.layers.Dense(vocab, use_bias=False, name="logits")
    ids = keras.Input((None,), dtype="int32")
    model = keras.Model(ids, head(decoder(embed(ids))))
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    starts = np.random.default_rng(1).integers(0, vocab, size=(256, 1))
    seqs = (starts + np.arange(length + 1)) % vocab
    history = model.fit(
        seqs[:, :-1], seqs[:, 1:], epochs=12, batch_size=32, verbose=0
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.1 * losses[0], losses

    prompt = np.array([[3, 4, 5], [9, 10, 0]], "int32")
    new = 8

    def step_fn(token_ids, cache, index):
        x = embed(token_ids[:, None])
        h, cache = decoder(x, cache=cache, cache_index=index)
        return head(h)[:, 0], cache

    def prefill_fn(tokens, cache):
        h, cache = decoder(embed(tokens), cache=cache, cache_index=0)
        return head(h)[:, -1], cache

    cache = decoder.init_cache(2, 3 + new)
    assert all(isinstance(c, keras_attn.SlidingWindowCache) for c, _ in cache)
    tokens, _ = keras_attn.generation.greedy_search(
        step_fn, cache, new, prompt=prompt, prefill_fn=prefill_fn
    )
    tokens = ops.convert_to_numpy(tokens)
    # The same tokens from full passes, without any cache.
    seq = prompt
    for _ in range(new):
        logits = ops.convert_to_numpy(model(seq))[:, -1]
        seq = np.concatenate([seq, logits.argmax(-1)[:, None]], 1)
    np.testing.assert_array_equal(tokens, seq[:, 3:])
    expected = (prompt[:, -1:] + np.arange(1, new + 1)) % vocab
    np.testing.assert_array_equal(tokens, expected)


# --- position-bias ops ---
def test_alibi_slopes_follow_the_paper_for_any_head_count():
    from keras_attn.ops.positions import alibi_slopes

    np.testing.assert_allclose(alibi_slopes(8), 2.0 ** -np.arange(1, 9))
    # 6 heads: the 4-head slopes, then every other 8-head slope.
    np.testing.assert_allclose(
        alibi_slopes(6), [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]
    )
    with pytest.raises(ValueError, match="num_heads"):
        alibi_slopes(0)


def test_alibi_bias_is_minus_slope_times_distance():
    from keras_attn.ops.positions import alibi_bias

    bias = ops.convert_to_numpy(
        alibi_bias(np.array([5, 6]), np.arange(7), np.array([0.5, 0.25]))
    )
    assert bias.shape == (2, 2, 7)
    np.testing.assert_allclose(bias[0, 0], -0.5 * np.abs(np.arange(7) - 5))
    np.testing.assert_allclose(bias[1, 1], -0.25 * np.abs(np.arange(7) - 6))


def test_relative_position_bucket_hand_values():
    from keras_attn.ops.positions import relative_position_bucket

    rel = np.array([0, -1, 1, -7, -8, -200, 200])
    # 32 buckets, both ways: 16 per side, 8 exact; future keys from 16.
    got = ops.convert_to_numpy(relative_position_bucket(rel))
    assert got.tolist() == [0, 1, 17, 7, 8, 15, 31]
    # One way: future keys share bucket 0; 16 exact buckets of the past.
    got = ops.convert_to_numpy(relative_position_bucket(rel, False))
    assert got.tolist() == [0, 1, 0, 7, 8, 31, 0]


# --- routing to the backend's fused kernel ---------------------------------
def test_plain_calls_route_to_the_fused_kernel_where_one_exists(monkeypatch):
    # No GPU here: pretend a flash kernel exists, and stand in for it with
    # Keras' own op (same arguments, flash off), recording each call.
    from keras_attn.layers import _mha_core
    from keras_attn.ops import memory_efficient

    calls = []

    def fake_fused(q, k, v, mask, scale, is_causal=False):
        calls.append((mask, is_causal))
        out = keras.ops.dot_product_attention(
            *(ops.transpose(x, (0, 2, 1, 3)) for x in (q, k, v)),
            scale=scale,
            is_causal=is_causal,
        )
        return ops.transpose(out, (0, 2, 1, 3))

    monkeypatch.setattr(
        memory_efficient, "fused_kernel_available", lambda *a: True
    )
    monkeypatch.setattr(_mha_core, "_fused", fake_fused)
    # Flash kernels take one head size: value_dim == key_dim.
    layer = _layer("gqa", value_dim=6)
    dense = _layer("gqa", value_dim=6, memory_efficient=False)
    dense.set_weights(layer.get_weights())
    for causal in (True, False):
        got = layer(X, use_causal_mask=causal)
        assert calls[-1] == (None, causal)
        np.testing.assert_allclose(
            ops.convert_to_numpy(got),
            ops.convert_to_numpy(dense(X, use_causal_mask=causal)),
            rtol=1e-5,
            atol=1e-5,
        )
    count = len(calls)
    # What the kernel cannot do stays on our paths: masks, weights, extras,
    # a cache (queries not at position 0).
    layer(X, query_mask=np.ones((B, T), bool))
    layer(X, return_attention_scores=True)
    _layer("gqa")(X, use_causal_mask=True)  # value_dim 5 != key_dim 6
    _layer("alibi")(X, use_causal_mask=True)
    cache = layer.init_cache(B, T)
    layer(X[:, :2], cache=cache, cache_index=0, use_causal_mask=True)
    assert len(calls) == count
