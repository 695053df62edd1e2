"""Argument checks shared by the layers (one message template)."""

import keras


def check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return value


def check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_positive_float(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
    if value <= 0:
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
    return float(value)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {sorted(choices)}. "
            f"Received: {name}={value!r}"
        )
    return value


def static_int_scalar(name, value):
    """`value` as a Python int, or None when it is traced/symbolic.

    Raises `ValueError` naming `name` for a value that is not an integer
    scalar.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if (
        dtype is None
        or "int" not in keras.backend.standardize_dtype(dtype)
        or len(shape) != 0
    ):
        raise ValueError(
            f"`{name}` must be an integer scalar. Received: {name}={value!r}"
        )
    if isinstance(value, keras.KerasTensor):
        return None
    try:
        return int(value)
    except TypeError:  # a graph tensor or a JAX tracer: no value yet
        return None
