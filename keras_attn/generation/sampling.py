"""Random sampling: temperature, top-k and top-p (nucleus)."""

import keras
from keras import ops

from keras_attn.generation import loop


def _check(temperature, top_k, top_p):
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not temperature > 0
    ):
        raise ValueError(
            "`temperature` must be a number > 0. Received: "
            f"temperature={temperature!r}"
        )
    if top_k is not None:
        loop.check_positive_int("top_k", top_k)
    if top_p is not None and (
        isinstance(top_p, bool)
        or not isinstance(top_p, (int, float))
        or not 0 < top_p <= 1
    ):
        raise ValueError(
            f"`top_p` must be in (0, 1]. Received: top_p={top_p!r}"
        )


def _draw(logits, uniform, temperature, top_k, top_p):
    """`(N,)` tokens from `(N, V)` logits by inverse-CDF sampling with one
    `(N,)` uniform draw in [0, 1) per row, over the candidates that the
    top-k and top-p truncations keep."""
    logits = ops.cast(logits, "float32") / temperature
    vocab = ops.shape(logits)[-1]
    if top_k is None and top_p is None:
        ids = None  # every token is a candidate, in vocabulary order
    else:
        k = vocab if top_k is None else min(top_k, vocab)
        logits, ids = ops.top_k(logits, k)  # (N, k) sorted, descending
    # exp(x - max), unnormalised: the CDF below is scaled by its total.
    probs = ops.exp(logits - ops.max(logits, axis=-1, keepdims=True))
    if top_p is not None:
        # Keep the smallest prefix whose mass reaches top_p: a token stays
        # if the mass before it is below top_p (the first always stays).
        probs = probs / ops.sum(probs, axis=-1, keepdims=True)  # (N, C)
        before = ops.cumsum(probs, axis=-1) - probs
        probs = ops.where(ops.less(before, top_p), probs, 0.0)
    cdf = ops.cumsum(probs, axis=-1)  # (N, C), unnormalised
    threshold = uniform[:, None] * cdf[:, -1:]  # (N, 1)
    # The first candidate whose CDF exceeds the threshold (it has mass),
    # clipped to the last candidate with mass against rounding.
    position = ops.sum(ops.cast(ops.less_equal(cdf, threshold), "int32"), -1)
    candidates = ops.arange(ops.shape(probs)[-1], dtype="int32")  # (C,)
    last = ops.max(ops.where(probs > 0.0, candidates, 0), axis=-1)  # (N,)
    position = ops.minimum(position, last)[:, None]
    if ids is None:
        return position[:, 0]
    return ops.cast(ops.take_along_axis(ids, position, axis=1)[:, 0], "int32")


def sample(
    step_fn,
    state,
    max_length,
    *,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=None,
    start_id=None,
    end_id=None,
    prompt=None,
    prefill_fn=None,
    batch_size=None,
    pad_id=0,
    callback=None,
):
    """Random sampling from `softmax(logits / temperature)`, truncated.

    At each step the logits are divided by `temperature` (below 1 sharper,
    above 1 flatter), then only the `top_k` most likely tokens (Fan et al.
    2018) and/or the nucleus, the smallest set of most likely tokens whose
    probability reaches `top_p` (Holtzman et al. 2020), stay candidates;
    the next token is drawn from the renormalised candidates. Rows stop at
    `end_id` as in `greedy_search`.

    Randomness: `max_length` uniform numbers per row are drawn once, before
    the loop, with `keras.random.uniform(seed=seed)`, and each step samples
    by inverse CDF with its own. A fixed int `seed` therefore gives the
    same tokens on every call (on TensorFlow, XLA uses another stateless
    RNG algorithm than eager execution and `tf.function` do, so
    `jit_compile=True` draws other, equally deterministic, tokens); a
    `keras.random.SeedGenerator` gives new tokens on every call (under
    `jax.jit` use an int seed, or a `keras.StatelessScope`).

    Args:
        step_fn, state, max_length, start_id, end_id, prompt, prefill_fn,
        batch_size, pad_id, callback: as in `greedy_search`.
        temperature: a number > 0.
        top_k: keep the k most likely tokens; None keeps all.
        top_p: in (0, 1]: keep the nucleus of this mass; None keeps all.
        seed: an int, a `keras.random.SeedGenerator`, or None (Keras'
            global seed generator).

    Returns:
        `(token_ids (N, max_length) int32, scores (N,) float32)`: the
        sampled tokens and the sum of their log-probabilities under the
        model (`log_softmax(logits)`, before temperature and truncation).

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_attn import generation
    >>> table = np.log(np.array([[1, 1, 1, 1], [0, 0, 0.5, 0.5],
    ...     [1, 1, 1, 1], [0, 0, 1, 0]], "float32") + 1e-9)
    >>> def step_fn(token_ids, state, index):
    ...     return ops.take(ops.convert_to_tensor(table), token_ids, 0), state
    >>> tokens, _ = generation.sample(step_fn, (), max_length=3, top_k=2,
    ...     seed=0, start_id=1, end_id=2, batch_size=4)
    >>> rows = set(map(tuple, ops.convert_to_numpy(tokens).tolist()))
    >>> rows <= {(2, 0, 0), (3, 2, 0)}  # only the two best, then the end
    True

    References:
        Fan, Lewis & Dauphin, 2018, "Hierarchical Neural Story
        Generation" (top-k). Holtzman et al., 2020, "The Curious Case of
        Neural Text Degeneration" (top-p, nucleus sampling).
    """
    loop.check_inputs(
        step_fn, max_length, start_id, prompt, prefill_fn, callback
    )
    _check(temperature, top_k, top_p)
    rows = loop.batch_size_of(state, prompt, batch_size)
    uniforms = keras.random.uniform((max_length, rows), seed=seed)  # (L, N)

    def choose(i, logits, log_probs):
        uniform = ops.take(uniforms, i, axis=0)  # (N,)
        return _draw(logits, uniform, temperature, top_k, top_p)

    return loop.token_by_token(
        choose,
        step_fn,
        state,
        max_length,
        start_id,
        end_id,
        prompt,
        prefill_fn,
        batch_size,
        pad_id,
        callback,
    )
