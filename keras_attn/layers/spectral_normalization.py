import keras
from keras import ops

from keras_attn.layers._validation import check_positive_int

_SUPPORTED = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)


# Guards the normalisations against a zero kernel.
_EPSILON = 1e-12


def _l2_normalize(x, epsilon):
    return x / ops.maximum(ops.norm(x), epsilon)


@keras.saving.register_keras_serializable(package="keras_attn")
class SpectralNormalization(keras.layers.Wrapper):
    """Spectral normalisation of a layer's kernel, computed in the graph.

    Runs the wrapped layer with `W_SN = W / σ(W)`, where σ is the largest
    singular value of the kernel viewed as a matrix `W_m` of shape
    `(prod(kernel.shape[:-1]), kernel.shape[-1])`, estimated by power
    iteration from a persistent unit vector `u` (non-trainable state):

        u ← normalise(W_mᵀ normalise(W_m u))     # `power_iterations` times
        σ = ‖W_m u‖

    `u` is treated as a constant (stop-gradient) but σ is not: gradients
    flow through `W / σ(W)` into the kernel, as in the paper.

    `u` is updated only when `update_singular_vectors` is true, which
    defaults to `training`. A GAN discriminator that sees a real and a fake
    batch in the same step passes `update_singular_vectors=False` on the
    second pass, so both passes use the same `W_SN`. Without an update, σ
    is computed from the stored `u`, so a non-updating call right after an
    updating one uses exactly the same σ.

    Differences from `keras.layers.SpectralNormalization`: that layer
    re-runs the power iteration on every training call and *assigns* the
    normalised kernel to the wrapped layer's kernel variable, so the stored
    weights drift from what the optimiser updates and a second call in the
    same step normalises an already-normalised kernel. This wrapper never
    writes the wrapped kernel; it computes the layer's op with `W_SN`
    (supported: `Dense`, `EinsumDense`, `Conv1D/2D/3D`; subclasses add
    others by overriding `_apply`), and lets the caller skip the update.

    The wrapped layer's own variables (kernel, bias) stay its weights; the
    op runs in this wrapper's compute dtype. σ is computed in float32.

    Args:
        layer: a `Dense`, `EinsumDense` or `Conv1D/2D/3D` layer.
        power_iterations: positive int, power-iteration steps per update.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: the wrapped layer's input.
        training: whether the call is in training mode.
        update_singular_vectors: update `u`; None means `training`.

    Returns:
        The wrapped layer's output computed with the normalised kernel.

    Example:
    >>> import numpy as np, keras
    >>> layer = SpectralNormalization(keras.layers.Dense(4))
    >>> tuple(layer(np.ones((2, 8), "float32"), training=True).shape)
    (2, 4)

    Reference:
        Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for
        Generative Adversarial Networks", ICLR 2018, Algorithm 1.
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        if not isinstance(layer, _SUPPORTED):
            raise ValueError(
                "`layer` must be a Dense, EinsumDense or Conv1D/2D/3D layer. "
                f"Received: layer={layer!r}"
            )
        if getattr(layer, "padding", None) == "causal":
            raise ValueError(
                "`layer` with padding='causal' is not supported. Received: "
                f"layer={layer!r}"
            )
        super().__init__(layer, **kwargs)
        self.power_iterations = check_positive_int(
            "power_iterations", power_iterations
        )

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel_shape = tuple(self.layer.kernel.shape)
        self.singular_vector = self.add_weight(
            name="singular_vector",
            shape=(kernel_shape[-1],),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            dtype="float32",
            autocast=False,
        )

    def _matrix(self):
        kernel = ops.cast(self.layer.kernel, "float32")
        return ops.reshape(kernel, (-1, kernel.shape[-1]))  # (fan_in, out)

    def normalized_kernel(self, update=False):
        """Return `W / σ(W)`; with `update`, first advance and store `u`."""
        matrix = self._matrix()  # (fan_in, out)
        u = self.singular_vector  # (out,)
        if update:
            u = ops.convert_to_tensor(u)
            stopped = ops.stop_gradient(matrix)
            for _ in range(self.power_iterations):
                v = _l2_normalize(ops.matmul(stopped, u), _EPSILON)
                u = _l2_normalize(ops.matmul(v, stopped), _EPSILON)
            self.singular_vector.assign(u)
        u = ops.stop_gradient(ops.convert_to_tensor(u))
        sigma = ops.norm(ops.matmul(matrix, u))  # ‖W_m u‖, differentiable in W
        kernel = ops.cast(self.layer.kernel, "float32") / ops.maximum(
            sigma, _EPSILON
        )
        return ops.cast(kernel, self.compute_dtype)

    def _apply(self, inputs, kernel):
        """The wrapped layer's op with `kernel` in place of its own.

        Computed here from the layer's public config rather than by swapping
        the layer's kernel attribute: no Python state is mutated during the
        call, so it is the same function under tf.function, XLA and JAX's
        stateless tracing.
        """
        layer = self.layer
        if isinstance(layer, keras.layers.EinsumDense):
            x = ops.einsum(layer.equation, inputs, kernel)
            bias_shape = None
        elif isinstance(layer, keras.layers.Dense):
            x = ops.matmul(inputs, kernel)
            bias_shape = None
        else:
            x = layer.convolution_op(inputs, kernel)
            bias_shape = (1,) * (layer.rank + 1) + (layer.filters,)
            if layer.data_format == "channels_first":
                bias_shape = (1, layer.filters) + (1,) * layer.rank
        if getattr(layer, "bias", None) is not None:
            bias = ops.cast(layer.bias, x.dtype)
            if bias_shape is not None:
                bias = ops.reshape(bias, bias_shape)
            x = ops.add(x, bias)
        if layer.activation is not None:
            x = layer.activation(x)
        return x

    def call(self, inputs, training=None, update_singular_vectors=None):
        if update_singular_vectors is None:
            update_singular_vectors = bool(training)
        kernel = self.normalized_kernel(update=update_singular_vectors)
        return self._apply(inputs, kernel)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"power_iterations": self.power_iterations})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # `Wrapper.from_config` pops "layer" from the caller's dict; copy.
        return super().from_config(dict(config), custom_objects)
