"""The decoding loop every sampler shares, the prompt prefill, and the
argument checks.

A sampler is a `select(i, logits, state, carry) -> (tokens, state, carry)`
function: from the `(N, V)` logits of step `i` it picks the `(N,)` next
tokens, may reorder the model state (beam search does), and updates its
own `carry`, a tuple whose first element is the `finished` flags. The loop
feeds the tokens back to `step_fn` and stops when every row has finished
or `max_length` tokens have been generated.
"""

import keras
from keras import ops

# A finite "minus infinity": -inf would turn `0 * -inf` and `-inf - -inf`
# into NaN in the score arithmetic.
NEG_INF = -1e9


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )


def check_inputs(step_fn, max_length, start_id, prompt, prefill_fn, callback):
    """The checks every sampler shares (`ValueError` naming the argument)."""
    if not callable(step_fn):
        raise ValueError(
            f"`step_fn` must be callable. Received: step_fn={step_fn!r}"
        )
    check_positive_int("max_length", max_length)
    if prompt is None and start_id is None:
        raise ValueError(
            "Pass `start_id` (the token that starts generation) or a "
            "`prompt`. Received: start_id=None, prompt=None"
        )
    if prompt is not None and start_id is not None:
        raise ValueError(
            "Pass either `start_id` or `prompt`, not both. Received: "
            f"start_id={start_id!r} and a prompt"
        )
    if prefill_fn is not None and prompt is None:
        raise ValueError(
            "`prefill_fn` fills the cache from a `prompt`; none was given. "
            "Received: prompt=None"
        )
    if prefill_fn is not None and not callable(prefill_fn):
        raise ValueError(
            "`prefill_fn` must be callable. Received: "
            f"prefill_fn={prefill_fn!r}"
        )
    if callback is not None and not callable(callback):
        raise ValueError(
            f"`callback` must be callable. Received: callback={callback!r}"
        )
    if prompt is not None and len(ops.shape(prompt)) != 2:
        raise ValueError(
            "`prompt` must be `(batch, length)` token ids. Received: "
            f"prompt with shape {tuple(ops.shape(prompt))}"
        )


def batch_size_of(state, prompt, batch_size):
    """The number of rows: given, or the prompt's, or the state's."""
    if batch_size is not None:
        return batch_size
    if prompt is not None:
        return ops.shape(prompt)[0]
    leaves = [t for t in keras.tree.flatten(state) if t is not None]
    if not leaves:
        raise ValueError(
            "`batch_size` is needed when `state` holds no tensor. Received: "
            f"state={state!r}, batch_size=None"
        )
    return ops.shape(leaves[0])[0]


def repeat_rows(state, times):
    """Each row of every tensor of `state` repeated `times` times in place:
    row `b` becomes rows `b * times ... b * times + times - 1`."""
    if times == 1:
        return state
    return keras.tree.map_structure(
        lambda t: None if t is None else ops.repeat(t, times, axis=0), state
    )


def take_rows(state, rows):
    """`state` with every tensor's rows gathered at `rows` `(N,)`."""
    return keras.tree.map_structure(
        lambda t: None if t is None else ops.take(t, rows, axis=0), state
    )


def write_column(buffer, i, values):
    """`buffer (..., L)` with column `i` replaced by `values (...)`; the
    select keeps shapes static (no scatter with a traced index)."""
    length = ops.shape(buffer)[-1]
    at_i = ops.equal(ops.arange(length, dtype="int32"), i)  # (L,)
    return ops.where(at_i, ops.expand_dims(values, -1), buffer)


def log_probabilities(logits):
    return ops.log_softmax(ops.cast(logits, "float32"), axis=-1)  # (N, V)


def flattener(state):
    """`(pack, unpack)`: a state nest to the flat list of its tensors and
    back. Loops carry that list: a `None` in the nest (a decoder layer
    without a cross-attention cache) cannot be a loop variable on every
    backend."""
    template = state
    leaves = keras.tree.flatten(state)

    def pack(state):
        return [t for t in keras.tree.flatten(state) if t is not None]

    def unpack(tensors):
        tensors = iter(tensors)
        filled = [None if t is None else next(tensors) for t in leaves]
        return keras.tree.pack_sequence_as(template, filled)

    return pack, unpack


def prefill(step_fn, state, prompt, prefill_fn):
    """`(logits (B, V) of the position after the prompt, state, P)`.

    With `prefill_fn` the prompt's cache is filled in one call; without it
    the prompt is fed through `step_fn` one token at a time (positions
    `0 .. P - 1`).
    """
    prompt = ops.cast(prompt, "int32")
    length = ops.shape(prompt)[1]
    if prefill_fn is not None:
        logits, state = prefill_fn(prompt, state)
        return logits, state, length
    zero = ops.convert_to_tensor(0, "int32")
    logits, state = step_fn(prompt[:, 0], state, zero)

    pack, unpack = flattener(state)

    def body(p, carry):
        token = ops.take(prompt, p, axis=1)  # (B,)
        logits, state = step_fn(token, unpack(carry[1]), p)
        return logits, pack(state)

    logits, tensors = ops.fori_loop(1, length, body, (logits, pack(state)))
    return logits, unpack(tensors), length


def _is_eager(*nests):
    try:
        for leaf in keras.tree.flatten(nests):
            if leaf is not None:
                ops.convert_to_numpy(leaf)
    except Exception:  # a traced tensor has no value
        return False
    return True


def decode_loop(
    step_fn,
    select,
    state,
    carry,
    max_length,
    start_tokens=None,
    first=None,
    callback=None,
):
    """Runs `select(step_fn(...))` until every row finishes.

    Without a prompt (`first` None), step `i` feeds the previous token
    (`start_tokens` first) at position `i`. After a prompt of length P,
    `first = (logits, P)`: the prefill's logits give token 0, and step
    `i >= 1` feeds token `i - 1` at position `P + i - 1`. Returns the final
    `(state, carry)`.
    """
    if callback is not None and not _is_eager(state, start_tokens, first):
        raise ValueError(
            "`callback` streams tokens in eager mode only; inside "
            "`tf.function` or `jax.jit` pass callback=None."
        )
    i = ops.convert_to_tensor(0, "int32")
    position0 = ops.convert_to_tensor(0, "int32")
    tokens = start_tokens
    if first is not None:
        logits, prompt_length = first
        tokens, state, carry = select(i, logits, state, carry)
        if callback is not None:
            callback(0, tokens)
        i = i + 1
        position0 = ops.cast(prompt_length, "int32") - 1

    pack, unpack = flattener(state)

    def cond(i, tokens, tensors, carry):
        return ops.logical_and(
            ops.less(i, max_length), ops.logical_not(ops.all(carry[0]))
        )

    def body(i, tokens, tensors, carry):
        logits, state = step_fn(tokens, unpack(tensors), position0 + i)
        tokens, state, carry = select(i, logits, state, carry)
        return i + 1, tokens, pack(state), carry

    loop_vars = (i, tokens, pack(state), carry)
    if callback is None:
        _, _, tensors, carry = ops.while_loop(cond, body, loop_vars)
        return unpack(tensors), carry
    # A Python loop, so the callback sees concrete tokens on every backend
    # (`jax.lax.while_loop` would trace the body even when called eagerly).
    while bool(ops.convert_to_numpy(cond(*loop_vars))):
        loop_vars = body(*loop_vars)
        callback(int(ops.convert_to_numpy(loop_vars[0])) - 1, loop_vars[1])
    return unpack(loop_vars[2]), loop_vars[3]


def token_by_token(
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
):
    """Greedy search and sampling: one token per row and step, chosen by
    `choose(i, logits (N, V), log_probs (N, V)) -> (N,) int32`; rows stop
    at `end_id`. Returns `(token_ids (N, max_length), scores (N,))`."""
    check_inputs(step_fn, max_length, start_id, prompt, prefill_fn, callback)
    rows = batch_size_of(state, prompt, batch_size)
    end = -1 if end_id is None else end_id

    def select(i, logits, state, carry):
        finished, out, score = carry
        log_probs = log_probabilities(logits)  # (N, V)
        token = choose(i, logits, log_probs)  # (N,)
        gain = ops.take_along_axis(log_probs, token[:, None], axis=1)[:, 0]
        score = score + ops.where(finished, 0.0, gain)  # nothing after end
        token = ops.where(finished, pad_id, token)
        out = write_column(out, i, token)
        finished = ops.logical_or(finished, ops.equal(token, end))
        return token, state, (finished, out, score)

    carry = (
        ops.zeros((rows,), "bool"),
        ops.full((rows, max_length), pad_id, "int32"),
        ops.zeros((rows,), "float32"),
    )
    start, first = None, None
    if prompt is None:
        start = ops.full((rows,), start_id, "int32")
    else:
        logits, state, length = prefill(step_fn, state, prompt, prefill_fn)
        first = (logits, length)
    _, (_, out, score) = decode_loop(
        step_fn, select, state, carry, max_length, start, first, callback
    )
    return out, score
