"""Helpers of `MultiHeadAttention`: projection equations, axes, masks."""

import string

import keras
from keras import ops

from keras_attn.layers._utils import clone_initializer


def projection_equation(free_dims, bound_dims, output_dims):
    """`EinsumDense` equation contracting the last `bound_dims` input axes.

    The input has `free_dims` leading axes kept as they are (batch first);
    the kernel maps the `bound_dims` axes to `output_dims` new ones, which
    also carry the bias. `(3, 1, 2)` gives `"abc,cde->abde"`, the `(B, T, D)
    -> (B, T, N, H)` projection of multi-head attention.

    Returns:
        `(equation, bias_axes)`.
    """
    letters = string.ascii_lowercase
    free = letters[:free_dims]
    bound = letters[free_dims : free_dims + bound_dims]
    out = letters[free_dims + bound_dims : free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{out}->{free}{out}", out


def resolve_attention_axes(attention_axes, rank):
    """Attention axes of a rank-`rank` input as non-negative indices."""
    if attention_axes is None:
        return tuple(range(1, rank - 1))
    axes = tuple(a + rank if a < 0 else a for a in attention_axes)
    if any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(
            "`attention_axes` must be distinct axes between the batch and "
            f"the feature axis (1..{rank - 2} for a rank-{rank} input). "
            f"Received: attention_axes={attention_axes}"
        )
    return axes


def sublayer_kwargs(layer):
    """Keyword arguments every projection of `layer` shares."""
    return dict(
        kernel_initializer=clone_initializer(layer.kernel_initializer),
        bias_initializer=clone_initializer(layer.bias_initializer),
        kernel_regularizer=layer.kernel_regularizer,
        bias_regularizer=layer.bias_regularizer,
        activity_regularizer=layer._projection_activity_regularizer,
        kernel_constraint=layer.kernel_constraint,
        bias_constraint=layer.bias_constraint,
        dtype=layer.dtype_policy,
    )


def check_layer_mask(name, mask, expected):
    """A layer-level mask as boolean, its shape checked against `expected`.

    Keras semantics at the layer API: a boolean mask is used as is; an
    integer or float mask means "may attend" where nonzero. `expected` is a
    tuple of static sizes (None = any); each axis must equal it or be 1.
    """
    mask = ops.convert_to_tensor(mask)
    if keras.backend.standardize_dtype(mask.dtype) != "bool":
        mask = ops.not_equal(mask, ops.zeros_like(mask))
    if expected is None:
        return mask
    shape = tuple(mask.shape)
    if len(shape) != len(expected) or any(
        None not in (got, want) and got not in (1, want)
        for got, want in zip(shape, expected)
    ):
        legend = "".join(f"{w}, " for w in expected).rstrip(", ")
        raise ValueError(
            f"`{name}` must have shape ({legend}) to match the inputs "
            f"(None = any size, 1 broadcasts). Received: {name}.shape={shape}"
        )
    return mask
