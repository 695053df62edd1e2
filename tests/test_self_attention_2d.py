import re

import numpy as np
import pytest
from keras import ops

from keras_attn.layers.self_attention_2d import SelfAttention2D
from tests.layer_contract import run_layer_contract

B, H, W, C = 2, 4, 6, 16
RNG = np.random.default_rng(0)
IMAGE = RNG.normal(size=(B, H, W, C)).astype("float32")


def _np(x):
    return ops.convert_to_numpy(x)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _pool(x):
    """2×2 max pool of (B, H, W, c) with even H, W."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _reference(layer, x, gamma):
    def conv(sublayer, y):
        return y @ _np(sublayer.kernel)[0, 0]  # 1×1 conv, no bias

    q, k, v = (
        conv(c, x) for c in (layer.query_conv, layer.key_conv, layer.value_conv)
    )
    if layer.pool_keys:
        k, v = _pool(k), _pool(v)
    q, k, v = (t.reshape(B, -1, t.shape[-1]) for t in (q, k, v))
    beta = _softmax(q @ np.swapaxes(k, 1, 2))  # (B, H·W, keys), unscaled
    o = (beta @ v).reshape(B, H, W, -1)
    return gamma * conv(layer.output_conv, o) + x, beta


def test_contract():
    run_layer_contract(
        SelfAttention2D,
        {},
        {"inputs": IMAGE},
        expected_output_shape=IMAGE.shape,
    )


def test_contract_pooled_spectral_norm_channels_first():
    x = np.transpose(IMAGE, (0, 3, 1, 2))  # (B, C, H, W)
    run_layer_contract(
        SelfAttention2D,
        {
            "ratio": 4,
            "value_dim": 6,
            "pool_keys": True,
            "use_spectral_norm": True,
            "data_format": "channels_first",
        },
        {"inputs": x},
        call_kwargs={"return_attention_scores": True},
        expected_output_shape=[x.shape, (B, H * W, (H // 2) * (W // 2))],
        check_compute_output_shape=False,
    )


@pytest.mark.parametrize("pool_keys", [False, True])
def test_identity_at_initialisation(pool_keys):
    layer = SelfAttention2D(pool_keys=pool_keys)
    out, attention = layer(IMAGE, return_attention_scores=True)
    assert float(_np(layer.gamma)) == 0.0
    np.testing.assert_array_equal(_np(out), IMAGE)
    keys = (H // 2) * (W // 2) if pool_keys else H * W
    assert tuple(attention.shape) == (B, H * W, keys)
    np.testing.assert_allclose(_np(attention).sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("pool_keys", [False, True])
def test_matches_numpy_reference(pool_keys):
    layer = SelfAttention2D(ratio=4, pool_keys=pool_keys)
    layer.build(IMAGE.shape)
    layer.gamma.assign(0.7)
    out, attention = layer(IMAGE, return_attention_scores=True)
    expected, beta = _reference(layer, IMAGE, 0.7)
    assert layer.value_conv.kernel.shape[-1] == C // 2
    np.testing.assert_allclose(_np(attention), beta, atol=1e-5)
    np.testing.assert_allclose(_np(out), expected, atol=1e-4)


def test_channels_first_matches_channels_last():
    last = SelfAttention2D(data_format="channels_last")
    first = SelfAttention2D(data_format="channels_first")
    last.build(IMAGE.shape)
    last.gamma.assign(0.5)
    x_first = np.transpose(IMAGE, (0, 3, 1, 2))
    first.build(x_first.shape)
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(
        _np(first(x_first)),
        np.transpose(_np(last(IMAGE)), (0, 3, 1, 2)),
        atol=1e-5,
    )


def test_spectral_norm_update_passes_through():
    layer = SelfAttention2D(use_spectral_norm=True)
    layer(IMAGE)
    convs = [
        layer.query_conv,
        layer.key_conv,
        layer.value_conv,
        layer.output_conv,
    ]
    u0 = [_np(c.singular_vector) for c in convs]
    layer(IMAGE, training=True, update_singular_vectors=False)
    layer(IMAGE, training=False)
    for conv, u in zip(convs, u0):
        np.testing.assert_array_equal(_np(conv.singular_vector), u)
    layer(IMAGE, training=True)
    for conv, u in zip(convs, u0):
        assert not np.allclose(_np(conv.singular_vector), u)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"ratio": 0}, "ratio=0"),
        ({"value_dim": -1}, "value_dim=-1"),
        ({"data_format": "NCHW"}, "data_format='NCHW'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SelfAttention2D(**kwargs)


def test_bad_rank():
    with pytest.raises(ValueError, match=r"inputs.shape=\(2, 5, 16\)"):
        SelfAttention2D()(np.ones((2, 5, 16), "float32"))


def test_functional_model_can_return_the_attention_map():
    import keras as _keras

    from keras_attn.layers.self_attention_2d import SelfAttention2D as _SA

    x = _keras.Input((4, 6, 16))
    y, attn = _SA(pool_keys=True)(x, return_attention_scores=True)
    assert tuple(attn.shape) == (None, 24, 6)
    model = _keras.Model(x, [y, attn])
    _, maps = model(np.ones((2, 4, 6, 16), "float32"))
    assert tuple(maps.shape) == (2, 24, 6)


@pytest.mark.parametrize(
    "shape,data_format",
    [((2, 1, 4, 16), "channels_last"), ((2, 16, 4, 1), "channels_first")],
)
def test_pool_keys_needs_at_least_a_2x2_map(shape, data_format):
    x = np.ones(shape, "float32")
    assert SelfAttention2D(data_format=data_format)(x).shape == shape
    layer = SelfAttention2D(pool_keys=True, data_format=data_format)
    with pytest.raises(
        ValueError,
        match=rf"pool_keys=True.*inputs.shape={re.escape(str(shape))}",
    ):
        layer(x)
    # A built layer checks the call too: a 4×6 build, then a 1×4 map.
    layer = SelfAttention2D(pool_keys=True)
    layer(IMAGE)
    with pytest.raises(ValueError, match="pool_keys=True"):
        layer(np.ones((B, 1, 4, C), "float32"))
