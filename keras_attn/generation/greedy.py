"""Greedy search: the most likely next token at every step."""

from keras import ops

from keras_attn.generation import loop


def greedy_search(
    step_fn,
    state,
    max_length,
    *,
    start_id=None,
    end_id=None,
    prompt=None,
    prefill_fn=None,
    batch_size=None,
    pad_id=0,
    callback=None,
):
    """Greedy decoding: `y_t = argmax_v log p(v | y_<t)`, batched.

    Each row stops at its end token: later positions hold `pad_id` and add
    nothing to its score. The loop (a `keras.ops.while_loop` with fixed
    shapes) ends when every row has produced `end_id`, or after
    `max_length` tokens, so it compiles once under `tf.function`
    (`jit_compile=True` included) and `jax.jit`.

    Args:
        step_fn: `step_fn(token_ids, state, index) -> (logits, new_state)`:
            the `(N,)` previous tokens at position `index` (a scalar int32
            tensor, or a Python int while an eager prompt is fed) in, the
            `(N, V)` next-token logits and the updated state out.
            `state` is any nest (tuples, named tuples such as
            `keras_attn.SelfAttentionCache`, dicts) of tensors whose
            leading axis is N.
        state: the initial state (e.g. a KV cache from `init_cache`).
        max_length: the number of tokens generated (a Python int).
        start_id: the token fed at position 0 when there is no `prompt`.
        end_id: the token that ends a row; None never ends early.
        prompt: `(N, P)` int token ids that come before the generated ones
            (a GPT-style prompt), instead of `start_id`.
        prefill_fn: `prefill_fn(prompt, state) -> (logits, state)`: the
            `(N, V)` logits after the prompt and the state with the
            prompt's positions `0 .. P - 1` filled in one call. Without
            it the prompt is fed through `step_fn` one token at a time.
        batch_size: N; by default the prompt's, else the first tensor's
            of `state`.
        pad_id: the token written after a row's end token.
        callback: `callback(i, token_ids)`, called with the `(N,)` tokens
            of step `i` as soon as they are chosen (streaming). Eager
            execution only: inside `tf.function` / `jax.jit` pass None.

    Returns:
        `(token_ids (N, max_length) int32, scores (N,) float32)`: the
        generated tokens (not the prompt), and the sum of their
        log-probabilities up to and including the end token.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_attn import generation
    >>> # Tokens: 0 pad, 1 start, 2 end, 3 "a"; a row per previous token.
    >>> table = np.log(np.array([[1, 1, 1, 1], [0, 0, 0.3, 0.7],
    ...     [1, 1, 1, 1], [0, 0, 0.8, 0.2]], "float32") + 1e-9)
    >>> def step_fn(token_ids, state, index):
    ...     return ops.take(ops.convert_to_tensor(table), token_ids, 0), state
    >>> tokens, scores = generation.greedy_search(
    ...     step_fn, (), max_length=4, start_id=1, end_id=2, batch_size=2)
    >>> ops.convert_to_numpy(tokens).tolist()
    [[3, 2, 0, 0], [3, 2, 0, 0]]
    """

    def choose(i, logits, log_probs):
        return ops.cast(ops.argmax(log_probs, axis=-1), "int32")  # (N,)

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
