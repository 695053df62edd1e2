import math

import keras
from keras import ops

from keras_attn.layers._validation import check_positive_float
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import static_int_scalar

_SCALINGS = (None, "linear", "dynamic", "yarn")


def _yarn_inv_freq(dim, base, factor, original_max_length, fast, slow):
    """YaRN's per-frequency blend of `θ_i` and `θ_i / s` (Python floats)."""

    def index_of(rotations):  # the i whose wavelength fits `rotations` times
        ratio = original_max_length / (rotations * 2.0 * math.pi)
        return dim * math.log(ratio) / (2.0 * math.log(base))

    low = max(math.floor(index_of(fast)), 0)
    high = min(math.ceil(index_of(slow)), dim - 1)
    if low == high:
        high += 0.001
    inv_freq = []
    for i in range(dim // 2):
        theta = base ** (-2.0 * i / dim)
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)  # 1: interpolate
        inv_freq.append(theta * (1.0 - ramp) + theta / factor * ramp)
    return inv_freq


@keras.saving.register_keras_serializable(package="keras_attn")
class RotaryEmbedding(keras.layers.Layer):
    """Rotary position embedding (RoPE), "rotate-half" convention.

    The first `d = rotary_dim` features (all by default) are split into
    halves `x1, x2` and rotated by the angle `p · θ_i` of position `p`:
    `out = x · cos + rotate_half(x) · sin`, `rotate_half(x) = [-x2, x1]`,
    `θ_i = max_wavelength^(-2i/d)` for `i < d/2`, cos/sin tiled twice (as
    GPT-NeoX, Hugging Face Llama and keras-hub; Meta's reference code
    rotates interleaved pairs instead). The features after `d` pass
    through.
    Applied to queries and keys, `q·k` then depends on positions only
    through their difference.

    Context extension (`scaling`, with `s = scaling_factor`, `L0 =
    original_max_length`):
    - `"linear"` (position interpolation): `p → p / s`.
    - `"dynamic"` (dynamic NTK): with `L = max(positions) + 1`, once
      `L > L0` the base becomes `b · (s·L/L0 - (s - 1))^(d/(d-2))`. `L` is
      the length so far: under a KV cache, keys cached earlier keep the
      angles of an older base (as in Hugging Face transformers).
    - `"yarn"`: `θ_i → (1 - γ_i) θ_i + γ_i θ_i / s`, where `γ_i` ramps
      linearly from 0 at `i = max(⌊i(β_fast)⌋, 0)` to 1 at
      `i = min(⌈i(β_slow)⌉, d - 1)`, `i(r) = d · ln(L0 / (2π r)) / (2 ln b)`
      being the dimension whose wavelength `2π/θ_i` fits `r` times in `L0`:
      fast dimensions are kept, slow ones interpolated. The ramp is linear
      in `i`, as in the authors' code and Hugging Face's
      `_compute_yarn_parameters` (the paper writes it over `r`). cos and
      sin are multiplied by the attention temperature `0.1 · ln(s) + 1`.
    Angles, cos and sin are computed in float32, then cast to the compute
    dtype.

    Masking: position-wise; the input's Keras mask is passed through.

    Args:
        max_wavelength: the base `b` (10000 in RoFormer and Llama 2).
        rotary_dim: even number of leading features to rotate (partial
            rotary, GPT-NeoX / Phi); None rotates all of them.
        scaling: None, `"linear"`, `"dynamic"` or `"yarn"`.
        scaling_factor: `s >= 1`; must stay 1 when `scaling` is None.
        original_max_length: `L0`, the training context length; needed
            by `"dynamic"` and `"yarn"`.
        yarn_beta_fast, yarn_beta_slow: YaRN's `β > α` rotation counts
            (32 and 1 for Llama).

    Call arguments:
        inputs: e.g. `(B, T, N, H)`, `(B, T, D)` or `(B, N, T, H)`.
        positions: optional int `(T,)` or `(B, T)`, the absolute positions;
            `start_index` is ignored when they are given.
        start_index: int or int scalar tensor (may be traced, e.g. a KV
            cache write index); the default positions are
            `start_index + arange(T)`.
        sequence_axis: the `T` axis of `inputs`.
        feature_axis: the axis holding the features to rotate.

    Returns:
        The rotated inputs, same shape, in the compute dtype.

    Example:
    >>> import numpy as np
    >>> rope = RotaryEmbedding()
    >>> x = np.ones((1, 3, 2, 4), "float32")  # (B, T, N, H)
    >>> out = np.asarray(rope(x, start_index=1))  # positions 1, 2, 3
    >>> out.shape, [round(float(v), 3) for v in out[0, 0, 0]]
    ((1, 3, 2, 4), [-0.301, 0.99, 1.382, 1.01])

    Reference:
        Su et al., "RoFormer: Enhanced Transformer with Rotary Position
        Embedding", 2021; Chen et al., "Extending Context Window of Large
        Language Models via Positional Interpolation", 2023; Peng et al.,
        "YaRN: Efficient Context Window Extension of Large Language
        Models", ICLR 2024.
    """

    def __init__(
        self,
        max_wavelength=10000,
        rotary_dim=None,
        scaling=None,
        scaling_factor=1.0,
        original_max_length=None,
        yarn_beta_fast=32.0,
        yarn_beta_slow=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_wavelength = check_positive_float(
            "max_wavelength", max_wavelength
        )
        if self.max_wavelength <= 1.0:
            raise ValueError(
                "`max_wavelength` must be greater than 1. Received: "
                f"max_wavelength={max_wavelength!r}"
            )
        self.rotary_dim = check_positive_int(
            "rotary_dim", rotary_dim, allow_none=True
        )
        if rotary_dim is not None and rotary_dim % 2:
            raise ValueError(
                "`rotary_dim` must be even (its features rotate in two "
                f"halves). Received: rotary_dim={rotary_dim}"
            )
        if scaling not in _SCALINGS:
            raise ValueError(
                "`scaling` must be one of None, 'linear', 'dynamic', "
                f"'yarn'. Received: scaling={scaling!r}"
            )
        self.scaling = scaling
        self.scaling_factor = check_positive_float(
            "scaling_factor", scaling_factor
        )
        if self.scaling_factor < 1.0 or (
            scaling is None and self.scaling_factor != 1.0
        ):
            raise ValueError(
                "`scaling_factor` must be >= 1, and 1 when `scaling` is "
                f"None. Received: scaling_factor={scaling_factor!r}, "
                f"scaling={scaling!r}"
            )
        self.original_max_length = check_positive_int(
            "original_max_length", original_max_length, allow_none=True
        )
        if scaling in ("dynamic", "yarn") and original_max_length is None:
            raise ValueError(
                f"`scaling={scaling!r}` needs `original_max_length`, the "
                "training context length. Received: original_max_length=None"
            )
        self.yarn_beta_fast = check_positive_float(
            "yarn_beta_fast", yarn_beta_fast
        )
        self.yarn_beta_slow = check_positive_float(
            "yarn_beta_slow", yarn_beta_slow
        )
        if self.yarn_beta_fast <= self.yarn_beta_slow:
            raise ValueError(
                "`yarn_beta_fast` must exceed `yarn_beta_slow`. Received: "
                f"yarn_beta_fast={yarn_beta_fast!r}, "
                f"yarn_beta_slow={yarn_beta_slow!r}"
            )
        self.supports_masking = True

    def _dim(self, head_dim):
        """The number of rotated features for a feature size `head_dim`."""
        dim = head_dim if self.rotary_dim is None else self.rotary_dim
        if head_dim is None or dim > head_dim or dim % 2:
            raise ValueError(
                "`rotary_dim` (default: the feature size) must be even and at "
                "most the feature size of `inputs`. Received: "
                f"rotary_dim={self.rotary_dim}, feature size={head_dim}"
            )
        if self.scaling == "dynamic" and dim < 4:
            raise ValueError(
                "`scaling='dynamic'` needs at least 4 rotated features. "
                f"Received: rotary_dim={dim}"
            )
        return dim

    def _inv_freq(self, dim, positions):
        """`θ_i`, `(d/2,)` float32, after the context-extension scaling."""
        base, factor = self.max_wavelength, self.scaling_factor
        if self.scaling == "yarn":
            return ops.convert_to_tensor(
                _yarn_inv_freq(
                    dim,
                    base,
                    factor,
                    self.original_max_length,
                    self.yarn_beta_fast,
                    self.yarn_beta_slow,
                ),
                "float32",
            )
        exponent = ops.arange(0, dim, 2, dtype="float32") / dim  # (d/2,)
        if self.scaling != "dynamic":
            inv_freq = ops.power(base, -exponent)
            return inv_freq / factor if self.scaling == "linear" else inv_freq
        original = float(self.original_max_length)
        length = ops.maximum(ops.max(positions) + 1.0, original)  # L
        base = base * ops.power(
            factor * length / original - (factor - 1.0), dim / (dim - 2.0)
        )
        return ops.power(base, -exponent)

    def cos_sin(self, positions, head_dim, dtype=None):
        """cos and sin of the rotation angles, tiled over both halves.

        Args:
            positions: int tensor of any shape `P`.
            head_dim: the feature size `H` of the rotated tensors.
            dtype: output dtype; defaults to the compute dtype.

        Returns:
            `(cos, sin)`, each `P + (rotary_dim,)`, YaRN's temperature
            included.
        """
        dim = self._dim(head_dim)
        positions = ops.cast(positions, "float32")
        inv_freq = self._inv_freq(dim, positions)  # (d/2,)
        angles = ops.expand_dims(positions, -1) * inv_freq  # P + (d/2,)
        angles = ops.concatenate([angles, angles], axis=-1)  # P + (d,)
        cos, sin = ops.cos(angles), ops.sin(angles)
        if self.scaling == "yarn":
            mscale = 0.1 * math.log(self.scaling_factor) + 1.0
            cos, sin = cos * mscale, sin * mscale
        dtype = dtype or self.compute_dtype
        return ops.cast(cos, dtype), ops.cast(sin, dtype)

    def call(
        self,
        inputs,
        positions=None,
        start_index=0,
        sequence_axis=1,
        feature_axis=-1,
    ):
        x = ops.cast(inputs, self.compute_dtype)
        rank = len(x.shape)
        seq, feat = _axes(rank, sequence_axis, feature_axis)
        if feat != rank - 1:
            x = ops.moveaxis(x, feat, -1)  # features last
            seq -= int(seq > feat)
        if positions is None:
            static_int_scalar(
                "start_index", start_index
            )  # an integer scalar, or a ValueError
            positions = ops.arange(ops.shape(x)[seq], dtype="int32") + (
                ops.cast(start_index, "int32")
            )  # (T,)
        positions = _check_positions(positions, x.shape, seq)
        head_dim = x.shape[-1]
        cos, sin = self.cos_sin(positions, head_dim)  # (T, d) or (B, T, d)
        cos = _place(cos, rank, seq)  # T on axis `seq`, d last, 1 elsewhere
        sin = _place(sin, rank, seq)
        dim = cos.shape[-1]
        x_rot, x_pass = x[..., :dim], x[..., dim:]
        x1, x2 = ops.split(x_rot, 2, axis=-1)  # (..., d/2) each
        rotated = ops.concatenate([-x2, x1], axis=-1)  # rotate_half
        out = x_rot * cos + rotated * sin
        if dim < head_dim:
            out = ops.concatenate([out, x_pass], axis=-1)
        if feat != rank - 1:
            out = ops.moveaxis(out, -1, feat)
        return out

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "rotary_dim": self.rotary_dim,
                "scaling": self.scaling,
                "scaling_factor": self.scaling_factor,
                "original_max_length": self.original_max_length,
                "yarn_beta_fast": self.yarn_beta_fast,
                "yarn_beta_slow": self.yarn_beta_slow,
            }
        )
        return config


def _axes(rank, sequence_axis, feature_axis):
    """Non-negative, distinct `(sequence_axis, feature_axis)`."""
    axes = []
    for name, axis in (
        ("sequence_axis", sequence_axis),
        ("feature_axis", feature_axis),
    ):
        if not isinstance(axis, int) or not -rank < axis < rank:
            raise ValueError(
                f"`{name}` must be an axis of the rank-{rank} `inputs`. "
                f"Received: {name}={axis!r}"
            )
        axes.append(axis % rank)
    if axes[0] == axes[1] or axes[0] == 0:
        raise ValueError(
            "`sequence_axis` must differ from `feature_axis` and from the "
            f"batch axis 0. Received: sequence_axis={sequence_axis}, "
            f"feature_axis={feature_axis}"
        )
    return axes


def _place(table, rank, seq):
    """`(T, d)` / `(B, T, d)` -> rank `rank`, T on axis `seq`, d last."""
    batched = len(table.shape) == 3
    for _ in range(seq - int(batched)):  # axes between batch and T
        table = ops.expand_dims(table, int(batched))
    for _ in range(rank - 2 - seq):  # axes between T and d
        table = ops.expand_dims(table, -2)
    return table


def _check_positions(positions, shape, seq):
    positions = ops.convert_to_tensor(positions)
    dtype = keras.backend.standardize_dtype(positions.dtype)
    length = shape[seq]
    given = positions.shape[-1] if len(positions.shape) else None
    if (
        "int" not in dtype
        or len(positions.shape) not in (1, 2)
        or (given is not None and length is not None and given != length)
    ):
        raise ValueError(
            "`positions` must be an integer tensor `(T,)` or `(B, T)` with "
            f"T={length} (the sequence axis of `inputs`). Received: "
            f"positions.shape={tuple(positions.shape)}, dtype={dtype}"
        )
    return positions
