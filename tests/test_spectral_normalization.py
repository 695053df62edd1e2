import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.layers.spectral_normalization import SpectralNormalization
from tests.layer_contract import run_layer_contract

B, D_IN, D_OUT = 2, 8, 4
RNG = np.random.default_rng(0)
X = RNG.normal(size=(B, D_IN)).astype("float32")
IMAGE = RNG.normal(size=(B, 5, 6, 3)).astype("float32")
SINGULAR_VALUES = np.array([5.0, 2.0, 1.0, 0.5], "float32")


def _np(x):
    return ops.convert_to_numpy(x)


def _known_kernel():
    """An (8, 4) kernel with singular values 5, 2, 1, 0.5."""
    left, _ = np.linalg.qr(RNG.normal(size=(D_IN, D_OUT)))
    right, _ = np.linalg.qr(RNG.normal(size=(D_OUT, D_OUT)))
    return (left * SINGULAR_VALUES @ right.T).astype("float32")


def _wrapped_dense(power_iterations=1, activation=None):
    layer = SpectralNormalization(
        keras.layers.Dense(D_OUT, activation=activation),
        power_iterations=power_iterations,
    )
    layer.build(X.shape)
    layer.layer.kernel.assign(_known_kernel())
    layer.layer.bias.assign(np.arange(D_OUT, dtype="float32") / 10)
    return layer


def test_contract_dense():
    run_layer_contract(
        SpectralNormalization,
        {"layer": keras.layers.Dense(D_OUT), "power_iterations": 2},
        {"inputs": X},
        expected_output_shape=(B, D_OUT),
    )


def test_contract_conv2d():
    run_layer_contract(
        SpectralNormalization,
        {"layer": keras.layers.Conv2D(7, 3, padding="same")},
        {"inputs": IMAGE},
        expected_output_shape=(B, 5, 6, 7),
    )


def test_normalized_kernel_has_unit_spectral_norm():
    layer = _wrapped_dense(power_iterations=30)
    kernel = _np(layer.layer.kernel)
    layer(X, training=True)
    normalized = _np(layer.normalized_kernel())
    np.testing.assert_allclose(
        np.linalg.svd(normalized, compute_uv=False)[0], 1.0, rtol=1e-4
    )
    np.testing.assert_allclose(
        normalized, kernel / SINGULAR_VALUES[0], rtol=1e-4, atol=1e-6
    )


def test_output_matches_numpy_and_kernel_is_not_overwritten():
    layer = _wrapped_dense(power_iterations=30, activation="tanh")
    kernel, bias = _np(layer.layer.kernel), _np(layer.layer.bias)
    for _ in range(2):
        out = _np(layer(X, training=True))
    np.testing.assert_array_equal(_np(layer.layer.kernel), kernel)
    sigma = np.linalg.svd(kernel, compute_uv=False)[0]
    expected = np.tanh(X @ (kernel / sigma) + bias)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_singular_vector_updates_only_when_asked():
    layer = _wrapped_dense()
    u0 = _np(layer.singular_vector)
    layer(X)
    layer(X, training=False)
    layer(X, training=True, update_singular_vectors=False)
    np.testing.assert_array_equal(_np(layer.singular_vector), u0)
    real = _np(layer(X, training=True))
    u1 = _np(layer.singular_vector)
    assert not np.allclose(u1, u0)
    # The discriminator's second pass in the same step: same W_SN.
    fake = _np(layer(X, training=True, update_singular_vectors=False))
    np.testing.assert_allclose(fake, real, atol=1e-6)
    np.testing.assert_array_equal(_np(layer.singular_vector), u1)
    layer(X, training=False, update_singular_vectors=True)
    assert not np.allclose(_np(layer.singular_vector), u1)


def _kernel_gradient(layer, x):
    """d sum(layer(x)) / d kernel, without updating u.

    Each backend's own autodiff: a TF tape cannot watch torch tensors.
    """
    if keras.backend.backend() == "jax":
        import jax

        kernel_index = next(
            i
            for i, v in enumerate(layer.trainable_variables)
            if v is layer.layer.kernel
        )
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss(values):
            out, _ = layer.stateless_call(values, non_trainable, x)
            return ops.sum(out)

        return np.asarray(jax.grad(loss)(trainable)[kernel_index])
    if keras.backend.backend() == "torch":
        kernel = layer.layer.kernel.value  # a torch Parameter
        kernel.grad = None
        ops.sum(layer(x, training=False)).backward()
        return kernel.grad.detach().cpu().numpy()
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = ops.sum(layer(x, training=False))
    return tape.gradient(loss, layer.layer.kernel.value).numpy()


def test_gradient_flows_through_sigma():
    layer = _wrapped_dense()
    kernel = _np(layer.layer.kernel)
    u = _np(layer.singular_vector)
    grad = _kernel_gradient(layer, X)
    # L = aᵀ W 1 / σ with σ = ‖W u‖ and u held constant.
    a = X.sum(0)
    sigma = np.linalg.norm(kernel @ u)
    v = kernel @ u / sigma
    value = a @ kernel @ np.ones(D_OUT)
    expected = np.outer(a, np.ones(D_OUT)) / sigma - value / sigma**2 * (
        np.outer(v, u)
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "make_layer,x",
    [
        (lambda: keras.layers.Conv2D(7, 3, strides=2, padding="same"), IMAGE),
        (lambda: keras.layers.Conv1D(7, 2, dilation_rate=2), X[..., None]),
        (
            lambda: keras.layers.EinsumDense("ab,bc->ac", D_OUT, bias_axes="c"),
            X,
        ),
    ],
)
def test_matches_wrapped_layer_with_normalized_kernel(make_layer, x):
    layer = SpectralNormalization(make_layer(), power_iterations=3)
    out = _np(layer(x, training=True))
    reference = make_layer()
    reference.build(x.shape)
    reference.set_weights(
        [_np(layer.normalized_kernel())] + layer.layer.get_weights()[1:]
    )
    np.testing.assert_allclose(out, _np(reference(x)), atol=1e-5)


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: SpectralNormalization(keras.layers.Dense(3), 0),
            "power_iterations=0",
        ),
        (
            lambda: SpectralNormalization(keras.layers.LSTM(3)),
            "`layer`.*Received: layer=<LSTM",
        ),
        (
            lambda: SpectralNormalization(
                keras.layers.Conv1D(3, 2, padding="causal")
            ),
            "causal",
        ),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
