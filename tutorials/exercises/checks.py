"""Checks for the exercises of tutorial 3 that say exactly what is wrong.

Each `check_*` calls the learner's function on small inputs with pairwise
distinct sizes (B=2, N=3, T=5, S=7, H=4) and raises `ExerciseError` with a
precise diagnosis: a wrong shape, a reshape without the transpose, a
missing or wrong √d_k scaling, an inverted or ignored mask, a softmax over
the wrong axis or no softmax at all. The diagnosis compares the answer with
NumPy versions of each of those mistakes, so the message names the mistake
that was made rather than just "values differ".
"""

import numpy as np
from keras import ops

B, N, T, S, H = 2, 3, 5, 7, 4
_RNG = np.random.default_rng(1234)
_X = _RNG.normal(size=(B, T, N * H)).astype("float32")
_HEADS = _RNG.normal(size=(B, N, T, H)).astype("float32")
_Q = _RNG.normal(size=(B, T, H)).astype("float32") * 2.0
_K = _RNG.normal(size=(B, S, H)).astype("float32") * 2.0
_V = _RNG.normal(size=(B, S, H + 2)).astype("float32")
# Every query row allows some keys and forbids others, and no row equals
# its own inverse, so each mistake gives a different result.
_MASK = np.ones((B, T, S), bool)
_MASK[0, :, 5:] = False  # padding: keys 5, 6 of example 0
_MASK[1] = np.tril(np.ones((T, S), bool), k=1)  # look-ahead-style


class ExerciseError(AssertionError):
    """Raised by a check; the message says what is wrong."""


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        raise ExerciseError(
            f"`{fn.__name__}` is not implemented yet ({error})."
        ) from None


def _numpy(x, what):
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception as error:
        raise ExerciseError(
            f"{what} must be a tensor or an array; got {type(x).__name__} "
            f"({error})."
        ) from None


def _close(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-5)


def _diagnose(got, expected, variants, what):
    if _close(got, expected):
        return
    for wrong, message in variants:
        if _close(got, wrong):
            raise ExerciseError(f"{what}: {message}")
    worst = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
    raise ExerciseError(
        f"{what} has the right shape but wrong values (largest difference "
        f"{np.abs(got - expected)[worst]:.3g} at index {worst}). Compare "
        "your steps with the formula one at a time."
    )


def check_split_heads(split_heads):
    """`split_heads(x, num_heads)`: (B, T, N*H) -> (B, N, T, H)."""
    got = _numpy(_call(split_heads, _X, N), "split_heads' result")
    expected = _X.reshape(B, T, N, H).transpose(0, 2, 1, 3)
    if got.shape != expected.shape:
        hints = {
            (B, T, N, H): " That is (B, T, N, H): you reshaped but forgot "
            "to transpose the head axis in front of the time axis.",
            (B, N, H, T): " That is (B, N, H, T): the transpose puts the "
            "depth before time; use axes (0, 2, 1, 3).",
            (B * N, T, H): " That folds the heads into the batch axis; keep "
            "them as their own axis 1.",
        }
        raise ExerciseError(
            f"split_heads returned shape {got.shape}; expected "
            f"{expected.shape} = (B, N, T, H) for B={B}, T={T}, N={N}, H={H}."
            + hints.get(got.shape, "")
        )
    _diagnose(
        got,
        expected,
        [
            (
                _X.reshape(B, N, T, H),
                "you reshaped straight to (B, N, T, H). A reshape keeps the "
                "memory order, so it mixes time steps into heads: reshape to "
                "(B, T, N, H) first, then transpose to (B, N, T, H).",
            ),
            (
                _X.reshape(B, T, H, N).transpose(0, 3, 1, 2),
                "each head must be a contiguous block of H features: reshape "
                "to (B, T, N, H), not (B, T, H, N).",
            ),
        ],
        "split_heads",
    )


def check_merge_heads(merge_heads):
    """`merge_heads(x)`: (B, N, T, H) -> (B, T, N*H)."""
    got = _numpy(_call(merge_heads, _HEADS), "merge_heads' result")
    expected = _HEADS.transpose(0, 2, 1, 3).reshape(B, T, N * H)
    if got.shape != expected.shape:
        hints = {
            (B, N, T * H): " You merged time and depth; the heads should "
            "be merged with the depth: transpose to (B, T, N, H) first.",
            (B, T, N, H): " You transposed but did not reshape the last "
            "two axes into one.",
        }
        raise ExerciseError(
            f"merge_heads returned shape {got.shape}; expected "
            f"{expected.shape} = (B, T, N*H) for B={B}, N={N}, T={T}, H={H}."
            + hints.get(got.shape, "")
        )
    _diagnose(
        got,
        expected,
        [
            (
                _HEADS.reshape(B, T, N * H),
                "you reshaped (B, N, T, H) straight to (B, T, N*H), which "
                "mixes heads and time steps: transpose to (B, T, N, H) "
                "first, then reshape.",
            ),
            (
                _HEADS.transpose(0, 2, 3, 1).reshape(B, T, N * H),
                "the features come out interleaved (h0 of every head, then "
                "h1, ...): transpose with axes (0, 2, 1, 3), not (0, 2, 3, "
                "1).",
            ),
        ],
        "merge_heads",
    )


def _softmax(x, axis):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _attention(scale, mask, axis=-1, softmax=True):
    scores = _Q @ _K.transpose(0, 2, 1) * scale
    if mask is not None:
        scores = np.where(mask, scores, -1e9)
    weights = _softmax(scores, axis) if softmax else scores
    return weights @ _V, weights


def check_attention(attention):
    """`attention(q, k, v, mask)` -> (output (B, T, Hv), weights (B, T, S))."""
    result = _call(attention, _Q, _K, _V, mask=_MASK)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise ExerciseError(
            "attention must return a pair (output, weights); got "
            f"{type(result).__name__}."
        )
    output = _numpy(result[0], "attention's output")
    weights = _numpy(result[1], "attention's weights")
    out_ref, w_ref = _attention(1 / np.sqrt(H), _MASK)
    hints = {
        ("weights", (B, S, T)): " Multiply Q by Kᵀ (swap the last two axes "
        "of K), so that rows are queries.",
        ("output", (B, T, H)): " That is the depth of the keys: the output "
        "must be a weighted sum of the values.",
    }
    for name, got, ref, legend in (
        ("weights", weights, w_ref, "(B, T, S)"),
        ("output", output, out_ref, "(B, T, Hv)"),
    ):
        if got.shape != ref.shape:
            hint = hints.get((name, got.shape), "")
            raise ExerciseError(
                f"attention's {name} has shape {got.shape}; expected "
                f"{ref.shape} = {legend} for B={B}, T={T}, S={S}, Hv={H + 2}."
                + hint
            )
    if np.isnan(weights).any() or np.isnan(output).any():
        raise ExerciseError(
            "attention returned NaN: use a large finite negative number "
            "(or `ops.where` after the softmax) for masked logits, not -inf "
            "multiplied by 0."
        )
    scale = 1 / np.sqrt(H)
    variants = [
        (
            _attention(scale, _MASK, softmax=False)[1],
            "the weights are the raw scores: you forgot the softmax.",
        ),
        (
            _attention(scale, _MASK, axis=-2)[1],
            "the softmax runs over the query axis (-2), so each *column* "
            "sums to 1. Normalise over the keys: `axis=-1`.",
        ),
        (
            _attention(scale, _MASK, axis=0)[1],
            "the softmax runs over the batch axis (0). Normalise over the "
            "keys: `axis=-1`.",
        ),
        (
            _attention(1.0, _MASK)[1],
            "the logits are not scaled: divide Q Kᵀ by √d_k (√H = "
            f"{np.sqrt(H):g} here).",
        ),
        (
            _attention(1 / H, _MASK)[1],
            f"you divided by d_k = {H}; divide by its square root √d_k = "
            f"{np.sqrt(H):g}.",
        ),
        (
            _attention(np.sqrt(H), _MASK)[1],
            "you multiplied by √d_k; divide by it.",
        ),
        (
            _attention(scale, ~_MASK)[1],
            "mask polarity is inverted: True means 'may attend', so keep "
            "the logits where the mask is True and push them to -inf where "
            "it is False.",
        ),
        (
            _attention(scale, None)[1],
            "the mask is ignored: weights where the mask is False must be "
            "exactly 0.",
        ),
    ]
    _diagnose(weights, w_ref, variants, "attention's weights")
    _diagnose(output, out_ref, [], "attention's output (weights @ V)")


def run(check, answer, solution):
    """Run `check(answer)`, print the verdict, return what to use next.

    Returns the learner's `answer` when it passes, otherwise the reference
    `solution`, so that the rest of the notebook still runs.
    """
    try:
        check(answer)
    except ExerciseError as error:
        print(f"✗ {error}")
        print("  (using the reference solution for the rest of the notebook)")
        return solution
    print(f"✓ {answer.__name__} is correct.")
    return answer
