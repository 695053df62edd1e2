"""keras_attn.MultiHeadAttention as a drop-in for the Keras layer.

The Keras layer's documented arguments and behaviours are the spec: each
test builds both layers with the same arguments and weights and compares
outputs, or checks the documented behaviour directly. Sizes are small and
pairwise distinct (B=2, T=3, S=5, D=8, N=2, H=4) so a transposed axis fails.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_attn

B, T, S, D, N, H = 2, 3, 5, 8, 2, 4
rng = np.random.default_rng(0)
X = rng.normal(size=(B, T, D)).astype("float32")
MEM = rng.normal(size=(B, S, D)).astype("float32")
IMG = rng.normal(size=(B, 3, 4, 6)).astype("float32")  # (B, H, W, C)
ATOL = 1e-5


def _np(x):
    return ops.convert_to_numpy(ops.cast(x, "float32"))


def _pair(query, value, **kwargs):
    """Both layers built on the same inputs, ours holding Keras' weights."""
    kwargs.setdefault("key_dim", H)
    ref = keras.layers.MultiHeadAttention(N, **kwargs)
    ours = keras_attn.MultiHeadAttention(N, **kwargs)
    ref(query, value)
    ours(query, value)
    ours.set_weights(ref.get_weights())
    return ref, ours


@pytest.mark.parametrize(
    "kwargs",
    [
        {"output_shape": 6},
        {"output_shape": (2, 3)},
        {"use_gate": True},
        {"use_bias": False},
        {"sliding_window": 2},
        {"kernel_initializer": "he_normal", "bias_initializer": "ones"},
    ],
    ids=lambda kw: ",".join(kw),
)
def test_constructor_arguments_compute_what_keras_computes(kwargs):
    ref, ours = _pair(X, MEM, **kwargs)
    assert [w.shape for w in ours.weights] == [w.shape for w in ref.weights]
    for call in ({}, {"use_causal_mask": True}):
        np.testing.assert_allclose(
            _np(ours(X, MEM, **call)), _np(ref(X, MEM, **call)), atol=ATOL
        )
    # Self-attention through the fused projection: same function.
    ref, ours = _pair(MEM, MEM, **kwargs)
    np.testing.assert_allclose(
        _np(ours(MEM, use_causal_mask=True)),
        _np(ref(MEM, MEM, use_causal_mask=True)),
        atol=ATOL,
    )


def test_sliding_window_is_a_symmetric_band():
    mha = keras_attn.MultiHeadAttention(N, key_dim=H, sliding_window=2)
    _, w = mha(MEM, MEM, return_attention_scores=True)
    i, j = np.indices((S, S))
    assert np.all(_np(w)[..., np.abs(i - j) >= 2] == 0.0)
    assert np.all(_np(w)[..., np.abs(i - j) < 2] > 0.0)


@pytest.mark.parametrize("axes", [(1, 2), (2,), 1, (2, 1), (-2,)])
def test_attention_axes_on_images_match_keras(axes):
    ref, ours = _pair(IMG, IMG, attention_axes=axes, output_shape=(5,))
    out, scores = ours(IMG, IMG, return_attention_scores=True)
    ref_out, ref_scores = ref(IMG, IMG, return_attention_scores=True)
    assert tuple(out.shape) == (B, 3, 4, 5)
    assert tuple(scores.shape) == tuple(ref_scores.shape)
    np.testing.assert_allclose(_np(out), _np(ref_out), atol=ATOL)
    np.testing.assert_allclose(_np(scores), _np(ref_scores), atol=1e-6)


def test_attention_axes_with_an_attention_mask_match_keras():
    # Over the pixels of each image: mask (B, H, W, H, W) hides pixel 0.
    mask = np.ones((B, 3, 4, 3, 4), bool)
    mask[..., 0, 0] = False
    ref, ours = _pair(IMG, IMG, attention_axes=(1, 2))
    out, scores = ours(
        IMG, IMG, attention_mask=mask, return_attention_scores=True
    )
    np.testing.assert_allclose(
        _np(out), _np(ref(IMG, IMG, attention_mask=mask)), atol=ATOL
    )
    assert np.all(_np(scores)[..., 0, 0] == 0.0)


@pytest.mark.parametrize("dtype", ["int32", "float32", "bool"])
def test_numeric_attention_mask_means_nonzero_may_attend(dtype):
    keep = rng.random((B, T, S)) > 0.4
    keep[..., 0] = True
    ref, ours = _pair(X, MEM)
    got = _np(ours(X, MEM, attention_mask=keep.astype(dtype)))
    np.testing.assert_allclose(
        got, _np(ours(X, MEM, attention_mask=keep)), atol=0
    )
    np.testing.assert_allclose(
        got, _np(ref(X, MEM, attention_mask=keep.astype(dtype))), atol=ATOL
    )


def test_causal_mask_without_cache_is_top_left_aligned_like_keras():
    # T=3 queries over S=5 keys: query i sees keys 0..i (Keras), not the
    # end-aligned i + 2 a cache would use.
    ref, ours = _pair(X, MEM)
    out, w = ours(X, MEM, use_causal_mask=True, return_attention_scores=True)
    np.testing.assert_allclose(
        _np(out), _np(ref(X, MEM, use_causal_mask=True)), atol=ATOL
    )
    i, j = np.indices((T, S))
    assert np.all(_np(w)[..., j > i] == 0.0)


def test_regularizers_add_the_losses_keras_adds():
    kwargs = dict(
        kernel_regularizer=keras.regularizers.L2(0.1),
        bias_regularizer=keras.regularizers.L1(0.2),
        activity_regularizer=keras.regularizers.L2(0.3),
        bias_initializer="ones",
    )
    ref, ours = _pair(X, MEM, **kwargs)
    assert len(ours.losses) == len(ref.losses) > 0

    def model(layer):
        q, v = keras.Input((T, D)), keras.Input((S, D))
        return keras.Model([q, v], layer(q, v))

    losses = []
    for layer in (ref, ours):
        m = model(layer)
        m([X[:1], MEM[:1]])
        losses.append(float(sum(_np(x) for x in m.losses)))
    assert losses[0] > 0
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_activity_regularizer_also_applies_in_fused_self_attention():
    mha = keras_attn.MultiHeadAttention(
        N, key_dim=H, activity_regularizer=keras.regularizers.L2(1.0)
    )
    q = keras.Input((S, D))
    model = keras.Model(q, mha(q))
    model(MEM)
    assert len(model.losses) == 4  # query, key, value, output


def test_constraints_hold_after_a_training_step():
    mha = keras_attn.MultiHeadAttention(
        N,
        key_dim=H,
        kernel_constraint=keras.constraints.NonNeg(),
        bias_constraint=keras.constraints.MaxNorm(0.01),
    )
    q = keras.Input((T, D))
    model = keras.Model(q, mha(q))
    model.compile(keras.optimizers.SGD(1.0), "mse")
    model.fit(X, X, epochs=1, verbose=0)
    for layer in (mha.query_dense, mha.key_dense, mha.output_dense):
        assert _np(layer.kernel).min() >= 0.0
        assert np.linalg.norm(_np(layer.bias), axis=0).max() <= 0.01 + 1e-6


def test_flash_attention_arguments_follow_keras():
    with pytest.raises(ValueError, match="dropout"):
        keras_attn.MultiHeadAttention(
            N, key_dim=H, flash_attention=True, dropout=0.1
        )
    ours = keras_attn.MultiHeadAttention(N, key_dim=H, flash_attention=True)
    ref = keras.layers.MultiHeadAttention(N, key_dim=H, flash_attention=True)
    outcomes = []
    for layer in (ref, ours):
        try:
            outcomes.append(("ok", _np(layer(X, MEM))))
        except (ValueError, RuntimeError) as error:  # no flash kernel here
            outcomes.append((type(error).__name__, None))
    assert outcomes[0][0] == outcomes[1][0]
    if outcomes[0][0] == "ok":  # a machine with a flash kernel
        ours.set_weights(ref.get_weights())
        np.testing.assert_allclose(
            _np(ours(X, MEM)), _np(ref(X, MEM)), atol=1e-2
        )
        with pytest.raises(ValueError, match="scores"):
            ours(X, MEM, return_attention_scores=True)
    config = ours.get_config()
    assert config["flash_attention"] is True


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"output_shape": (2, 3)}, {"use_gate": True}],
    ids=["plain", "output_shape", "use_gate"],
)
@pytest.mark.parametrize("direction", ["keras_to_ours", "ours_to_keras"])
def test_weight_files_load_both_ways(tmp_path, kwargs, direction):
    def model(cls):
        q, v = keras.Input((T, D)), keras.Input((S, D))
        out = cls(N, key_dim=H, name="mha", **kwargs)(q, v)
        return keras.Model([q, v], out)

    classes = [keras.layers.MultiHeadAttention, keras_attn.MultiHeadAttention]
    if direction == "ours_to_keras":
        classes.reverse()
    source, target = (model(c) for c in classes)
    path = os.path.join(tmp_path, "mha.weights.h5")
    source.save_weights(path)
    target.load_weights(path)
    np.testing.assert_allclose(
        _np(target([X, MEM])), _np(source([X, MEM])), atol=ATOL
    )


@pytest.mark.parametrize("direction", ["keras_to_ours", "ours_to_keras"])
def test_weight_files_load_both_ways_with_attention_axes(tmp_path, direction):
    def model(cls):
        x = keras.Input(IMG.shape[1:])
        out = cls(N, key_dim=H, attention_axes=(1, 2), name="mha")(x, x)
        return keras.Model(x, out)

    classes = [keras.layers.MultiHeadAttention, keras_attn.MultiHeadAttention]
    if direction == "ours_to_keras":
        classes.reverse()
    source, target = (model(c) for c in classes)
    path = os.path.join(tmp_path, "mha.weights.h5")
    source.save_weights(path)
    target.load_weights(path)
    np.testing.assert_allclose(_np(target(IMG)), _np(source(IMG)), atol=ATOL)


def test_lora_reaches_the_projections_in_the_fused_path():
    ref, ours = _pair(MEM, MEM)
    before = _np(ours(MEM))
    for layer in (ours, ref):
        layer.query_dense.enable_lora(2)
        layer.value_dense.enable_lora(2)
    for dense in (ours.query_dense, ours.value_dense):
        names = {v.path.split("/")[-1] for v in dense.trainable_variables}
        assert names == {"lora_kernel_a", "lora_kernel_b", "bias"}
    np.testing.assert_allclose(_np(ours(MEM)), before, atol=1e-6)  # B = 0
    lora = [
        (mine, theirs)
        for mine, theirs in zip(
            ours.trainable_variables, ref.trainable_variables
        )
        if "lora" in mine.path
    ]
    assert len(lora) == 4
    for ours_v, ref_v in lora:
        value = rng.normal(size=ours_v.shape).astype("float32")
        ours_v.assign(value)
        ref_v.assign(value)
    got = _np(ours(MEM))  # value is None: the fused projection
    assert not np.allclose(got, before, atol=1e-3)
    np.testing.assert_allclose(got, _np(ref(MEM, MEM)), atol=ATOL)


def test_int8_quantization_reaches_the_projections():
    def model(cls):
        q, v = keras.Input((T, D)), keras.Input((S, D))
        return keras.Model([q, v], cls(N, key_dim=H, name="mha")(q, v))

    ref, ours = (
        model(keras.layers.MultiHeadAttention),
        model(keras_attn.MultiHeadAttention),
    )
    ours.set_weights(ref.get_weights())
    full = _np(ours([X, MEM]))
    for m in (ref, ours):
        m.quantize("int8")
    layer = ours.get_layer("mha")
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense):
        assert dense.quantization_mode == "int8"
        assert keras.backend.standardize_dtype(dense._kernel.dtype) == "int8"
    got = _np(ours([X, MEM]))
    np.testing.assert_allclose(got, _np(ref([X, MEM])), atol=ATOL)
    assert not np.array_equal(got, full)  # really quantized
    np.testing.assert_allclose(got, full, atol=0.1)
    # Self-attention leaves the fused matmul for the quantized kernels.
    self_out = _np(layer(MEM))
    np.testing.assert_allclose(
        self_out, _np(ref.get_layer("mha")(MEM, MEM)), atol=ATOL
    )


def test_dtype_policy_map_reaches_the_projections():
    policies = keras.dtype_policies.DTypePolicyMap(default_policy="float32")
    policies["mha/query"] = "bfloat16"
    policies["mha/attention_output"] = "float16"
    ref = keras.layers.MultiHeadAttention(
        N, key_dim=H, dtype=policies, name="mha"
    )
    ours = keras_attn.MultiHeadAttention(
        N, key_dim=H, dtype=policies, name="mha"
    )
    ref(X, X)
    ours(X)
    ours.set_weights(ref.get_weights())
    assert keras.backend.standardize_dtype(ours.query_dense.kernel.dtype) == (
        "bfloat16"
    )
    out = ours(X)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(_np(out), _np(ref(X, X)), atol=1e-3)


def test_config_round_trips_every_keras_argument():
    kwargs = dict(
        num_heads=N,
        key_dim=H,
        value_dim=3,
        dropout=0.1,
        use_bias=False,
        output_shape=(2, 3),
        attention_axes=(1,),
        sliding_window=4,
        flash_attention=False,
        kernel_initializer="he_normal",
        bias_initializer="ones",
        kernel_regularizer="l2",
        bias_regularizer="l1",
        activity_regularizer="l2",
        kernel_constraint="non_neg",
        bias_constraint="max_norm",
        use_gate=True,
        seed=3,
    )
    layer = keras_attn.MultiHeadAttention(**kwargs)
    clone = keras_attn.MultiHeadAttention.from_config(layer.get_config())
    config = clone.get_config()
    for name in ("num_heads", "key_dim", "value_dim", "dropout", "use_bias"):
        assert config[name] == kwargs[name]
    assert tuple(config["output_shape"]) == (2, 3)
    assert tuple(config["attention_axes"]) == (1,)
    assert config["use_gate"] and config["sliding_window"] == 4
    assert config["activity_regularizer"] is not None
    # And the clone computes the same function.
    layer(X, MEM)
    clone(X, MEM)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_np(clone(X, MEM)), _np(layer(X, MEM)), atol=0)


@pytest.mark.parametrize(
    "shape", [(3, 5), (4, 3, 5), (4, 1, 3, 5), (4, 2, 3, 5)]
)
def test_attention_mask_ranks_with_batch_unlike_heads(shape):
    """(T, S), (B, T, S) and (B, N, T, S) masks with B=4 != N=2: the
    batch axis is checked against the batch, not the heads."""
    query = rng.normal(size=(4, T, D)).astype("float32")
    value = rng.normal(size=(4, S, D)).astype("float32")
    keep = np.broadcast_to(rng.random((T, S)) > 0.4, shape).copy()
    keep[..., 0] = True
    ref, ours = _pair(query, value)
    got = _np(ours(query, value, attention_mask=keep))
    np.testing.assert_allclose(
        got, _np(ref(query, value, attention_mask=keep)), atol=ATOL
    )
