import re

import numpy as np
import pytest
from keras import ops

from keras_attn.layers.se_residual_block import SEResidualBlock
from keras_attn.layers.squeeze_excite import SqueezeExcite
from tests.layer_contract import run_layer_contract

B, H, W, C, L = 2, 3, 5, 8, 7
RNG = np.random.default_rng(0)
IMAGE = RNG.normal(size=(B, H, W, C)).astype("float32")
SEQUENCE = RNG.normal(size=(B, L, C)).astype("float32")


def _np(x):
    return ops.convert_to_numpy(x)


def _reference_gate(layer, squeezed):
    d1, d2 = layer.squeeze_dense, layer.excite_dense
    hidden = np.maximum(squeezed @ _np(d1.kernel) + _np(d1.bias), 0.0)
    return 1.0 / (1.0 + np.exp(-(hidden @ _np(d2.kernel) + _np(d2.bias))))


@pytest.mark.parametrize(
    "kwargs,x",
    [
        ({"ratio": 4, "data_format": "channels_last"}, IMAGE),
        ({"ratio": 2, "data_format": "channels_first"}, SEQUENCE),
    ],
)
def test_squeeze_excite_contract(kwargs, x):
    run_layer_contract(
        SqueezeExcite, kwargs, {"inputs": x}, expected_output_shape=x.shape
    )


def test_se_residual_block_contract():
    run_layer_contract(
        SEResidualBlock,
        {"filters": 12, "strides": 2, "ratio": 4},
        {"inputs": IMAGE},
        expected_output_shape=(B, 2, 3, 12),
        atol=1e-4,
    )


def test_squeeze_excite_matches_numpy():
    layer = SqueezeExcite(ratio=4, data_format="channels_last")
    out = _np(layer(IMAGE))
    assert layer.squeeze_dense.units == C // 4
    gate = _reference_gate(layer, IMAGE.mean(axis=(1, 2)))  # (B, C)
    np.testing.assert_allclose(out, IMAGE * gate[:, None, None], atol=1e-5)


def test_channels_first_matches_channels_last():
    last = SqueezeExcite(ratio=4, data_format="channels_last")
    first = SqueezeExcite(ratio=4, data_format="channels_first")
    out_last = _np(last(IMAGE))
    x_first = np.transpose(IMAGE, (0, 3, 1, 2))  # (B, C, H, W)
    first.build(x_first.shape)
    first.set_weights(last.get_weights())
    out_first = _np(first(x_first))
    np.testing.assert_allclose(
        out_first, np.transpose(out_last, (0, 3, 1, 2)), atol=1e-6
    )


def test_sequence_mask_padding_invariance():
    layer = SqueezeExcite(ratio=2, data_format="channels_last")
    mask = np.arange(L)[None, :] < np.array([[4], [L]])  # (B, L)
    padded = SEQUENCE.copy()
    padded[0, 4:] = 50.0  # garbage in the padding
    out = _np(layer(padded, mask=mask))
    short = _np(layer(SEQUENCE[:1, :4]))
    np.testing.assert_allclose(out[:1, :4], short, atol=1e-5)
    gate = _reference_gate(layer, SEQUENCE[1:].mean(axis=1))
    np.testing.assert_allclose(out[1:], SEQUENCE[1:] * gate[:, None], atol=1e-5)


def test_residual_block_identity_shortcut_math():
    block = SEResidualBlock(C, ratio=4, data_format="channels_last")
    out = _np(block(IMAGE, training=False))
    assert block.shortcut_conv is None  # same channels, stride 1
    x = block.norm_1(block.conv_1(IMAGE), training=False)
    x = block.norm_2(block.conv_2(np.maximum(_np(x), 0)), training=False)
    branch = _np(x)
    gate = _reference_gate(block.squeeze_excite, branch.mean(axis=(1, 2)))
    expected = np.maximum(branch * gate[:, None, None] + IMAGE, 0.0)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def _conv_same(x, kernel, strides):
    """NumPy 2-D convolution, Keras `padding="same"`, channels last."""
    k, _, _, out_channels = kernel.shape
    b, h, w, _ = x.shape
    out_h, out_w = -(-h // strides), -(-w // strides)
    pad_h = max((out_h - 1) * strides + k - h, 0)
    pad_w = max((out_w - 1) * strides + k - w, 0)
    x = np.pad(
        x,
        [
            (0, 0),
            (pad_h // 2, pad_h - pad_h // 2),
            (pad_w // 2, pad_w - pad_w // 2),
            (0, 0),
        ],
    )
    out = np.zeros((b, out_h, out_w, out_channels))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * strides, j * strides
            patch = x[:, top : top + k, left : left + k]  # (B, k, k, C_in)
            out[:, i, j] = np.einsum("bhwc,hwco->bo", patch, kernel)
    return out


def _batch_norm(norm, x):
    """Inference-mode BatchNormalization from the layer's weights."""
    gamma, beta, mean, variance = (_np(w) for w in norm.weights)
    return (x - mean) / np.sqrt(variance + norm.epsilon) * gamma + beta


def _set_distinct_norm_statistics(block, rng):
    """Non-trivial BN weights, so skipping a norm changes the outputs."""
    for norm in (block.norm_1, block.norm_2, block.shortcut_norm):
        channels = norm.gamma.shape[0]
        norm.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
        norm.beta.assign(rng.normal(size=channels).astype("float32"))
        norm.moving_mean.assign(rng.normal(size=channels).astype("float32"))
        norm.moving_variance.assign(
            rng.uniform(0.5, 2.0, channels).astype("float32")
        )


def test_residual_block_projection_shortcut_matches_numpy():
    block = SEResidualBlock(12, strides=2, ratio=4)
    block.build(IMAGE.shape)
    assert tuple(block.shortcut_conv.kernel.shape) == (1, 1, C, 12)
    _set_distinct_norm_statistics(block, np.random.default_rng(1))
    out = _np(block(IMAGE, training=False))
    # The whole block in NumPy: relu(SE(residual branch) + BN(conv1x1/2(x))).
    x = _conv_same(IMAGE, _np(block.conv_1.kernel), 2)  # (B, 2, 3, 12)
    x = np.maximum(_batch_norm(block.norm_1, x), 0.0)
    x = _conv_same(x, _np(block.conv_2.kernel), 1)
    branch = _batch_norm(block.norm_2, x)
    gate = _reference_gate(block.squeeze_excite, branch.mean(axis=(1, 2)))
    shortcut = _conv_same(IMAGE, _np(block.shortcut_conv.kernel), 2)
    shortcut = _batch_norm(block.shortcut_norm, shortcut)  # (B, 2, 3, 12)
    expected = np.maximum(branch * gate[:, None, None] + shortcut, 0.0)
    assert out.shape == (B, 2, 3, 12)
    assert tuple(block.compute_output_shape(IMAGE.shape)) == out.shape
    assert 0.2 < np.mean(expected > 0) < 0.8  # the final ReLU hides little
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_feature_map_mask_restricts_the_squeeze():
    layer = SqueezeExcite(ratio=4, data_format="channels_last")
    mask = np.zeros((B, H, W), bool)
    mask[0, :2, :3] = True  # sample 0: a 2×3 image padded to 3×5
    mask[1] = True
    padded = IMAGE.copy()
    padded[0][~mask[0]] = 50.0  # garbage in the padding
    out = _np(layer(padded, mask=mask))
    gate = _reference_gate(
        layer, np.stack([IMAGE[0, :2, :3].mean((0, 1)), IMAGE[1].mean((0, 1))])
    )
    np.testing.assert_allclose(out, padded * gate[:, None, None], atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_non_boolean_mask_is_rejected(dtype):
    layer = SqueezeExcite(ratio=2)
    mask = np.ones((B, L), dtype)
    with pytest.raises(ValueError, match=f"`mask`.*mask.dtype={dtype}"):
        layer(SEQUENCE, mask=mask)


@pytest.mark.parametrize(
    "x,mask_shape",
    [(IMAGE, (B, H)), (IMAGE, (B, H, W, C)), (SEQUENCE, (B, L - 1))],
)
def test_mask_that_does_not_cover_the_positions_is_rejected(x, mask_shape):
    mask = np.ones(mask_shape, bool)
    match = rf"`mask`.*mask.shape={re.escape(str(mask_shape))}, inputs.shape"
    with pytest.raises(ValueError, match=match):
        SqueezeExcite(ratio=2)(x, mask=mask)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: SqueezeExcite(ratio=0), "ratio=0"),
        (lambda: SqueezeExcite(data_format="NHWC"), "data_format='NHWC'"),
        (lambda: SEResidualBlock(0), "filters=0"),
        (lambda: SEResidualBlock(8, strides=1.5), "strides=1.5"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_rank():
    with pytest.raises(ValueError, match=r"inputs.shape=\(2, 8\)"):
        SqueezeExcite()(np.ones((2, 8), "float32"))
