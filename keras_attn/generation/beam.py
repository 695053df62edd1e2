"""Beam search with the GNMT length penalty and per-hypothesis ends."""

from keras import ops

from keras_attn.generation import loop


def length_penalty(length, alpha):
    """The GNMT length penalty `lp(y) = ((5 + |y|) / 6) ** alpha`.

    Beam search ranks a hypothesis by `log P(y) / lp(y)`; `alpha = 0` is
    plain log-probability, larger values favour longer hypotheses.

    Example:
    >>> from keras import ops
    >>> float(ops.convert_to_numpy(length_penalty(7, 1.0)))
    2.0

    Reference:
        Wu et al., 2016, "Google's Neural Machine Translation System"
        (arXiv:1609.08144), eq. 14.
    """
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def beam_search(
    step_fn,
    state,
    max_length,
    *,
    beam_size=4,
    alpha=0.6,
    start_id=None,
    end_id=None,
    prompt=None,
    prefill_fn=None,
    batch_size=None,
    pad_id=0,
):
    """Beam search ranked by the length-normalised `log P(y) / lp(y)`.

    Every row of `state` is repeated K = `beam_size` times (row
    `b * K + k`), so `step_fn` sees N = B·K rows and the state is reordered
    with the surviving hypotheses after each step. At each step the K·V
    extensions of the K hypotheses are pruned to the K best by the
    normalised score (`length_penalty`). A hypothesis that produced
    `end_id` is finished: it stays in the beam, continues with `pad_id` at
    no cost, and competes with the unfinished ones on its normalised
    score. The loop ends when every hypothesis has finished or after
    `max_length` tokens; the best finished hypothesis is returned, an
    unfinished one only where none finished. No streaming callback: a
    beam's tokens are not final until the search ends.

    Args:
        step_fn, state, max_length, start_id, end_id, prompt, prefill_fn,
        batch_size, pad_id: as in `greedy_search` (`batch_size` is B; the
            prefill runs on the B rows, before they are repeated).
        beam_size: K, the number of hypotheses kept per row; 1 is greedy.
        alpha: the length-penalty exponent (`0` = no penalty).

    Returns:
        `(token_ids (B, max_length) int32, scores (B,) float32)`: the best
        hypothesis per row (`pad_id` after its end token) and its
        length-normalised log-probability.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_attn import generation
    >>> # Tokens: 0 pad, 1 start, 2 end, 3 "a", 4 "b". Greedy takes "a"
    >>> # (0.6), then ends with 0.4: P = 0.24; "b" then end: 0.4 * 0.9.
    >>> table = np.log(np.array([[1, 1, 1, 1, 1], [0, 0, 0, 0.6, 0.4],
    ...     [0, 0, 1, 0, 0], [0, 0, 0.4, 0.3, 0.3], [0, 0, 0.9, 0.1, 0]],
    ...     "float32") + 1e-9)
    >>> def step_fn(token_ids, state, index):
    ...     return ops.take(ops.convert_to_tensor(table), token_ids, 0), state
    >>> tokens, _ = generation.beam_search(step_fn, (), max_length=3,
    ...     beam_size=2, alpha=0.0, start_id=1, end_id=2, batch_size=1)
    >>> ops.convert_to_numpy(tokens).tolist()
    [[4, 2, 0]]

    Reference:
        Wu et al., 2016, "Google's Neural Machine Translation System"
        (arXiv:1609.08144), section 7 (length normalisation).
    """
    loop.check_inputs(step_fn, max_length, start_id, prompt, prefill_fn, None)
    loop.check_positive_int("beam_size", beam_size)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise ValueError(
            f"`alpha` must be a number >= 0. Received: alpha={alpha!r}"
        )
    if alpha < 0:
        raise ValueError(f"`alpha` must be >= 0. Received: alpha={alpha!r}")
    k = beam_size
    batch = loop.batch_size_of(state, prompt, batch_size)
    end = -1 if end_id is None else end_id
    offsets = ops.arange(batch, dtype="int32")[:, None] * k  # (B, 1)

    def select(i, logits, state, carry):
        finished, seqs, log_p, lengths = carry  # (B, K) (B, K, L) ...
        step = loop.log_probabilities(logits)  # (B*K, V)
        vocab = ops.shape(step)[-1]
        step = ops.reshape(step, (batch, k, vocab))  # (B, K, V)
        # A finished hypothesis may only continue with padding, for free.
        pad_only = ops.where(
            ops.equal(ops.arange(vocab, dtype="int32"), pad_id),
            0.0,
            loop.NEG_INF,
        )  # (V,)
        step = ops.where(finished[..., None], pad_only, step)
        candidate = log_p[..., None] + step  # (B, K, V)
        cand_len = lengths + ops.cast(ops.logical_not(finished), "int32")
        ranked = candidate / length_penalty(cand_len, alpha)[..., None]
        _, top = ops.top_k(ops.reshape(ranked, (batch, k * vocab)), k)
        top = ops.cast(top, "int32")  # (B, K) indices into K·V
        beam, token = top // vocab, top % vocab  # (B, K) each
        log_p = ops.take_along_axis(
            ops.reshape(candidate, (batch, k * vocab)), top, axis=1
        )
        lengths = ops.take_along_axis(cand_len, beam, axis=1)
        was_finished = ops.take_along_axis(finished, beam, axis=1)
        token = ops.where(was_finished, pad_id, token)
        finished = ops.logical_or(was_finished, ops.equal(token, end))
        seqs = ops.take_along_axis(seqs, beam[..., None], axis=1)  # (B, K, L)
        seqs = loop.write_column(seqs, i, token)
        state = loop.take_rows(state, ops.reshape(beam + offsets, (-1,)))
        tokens = ops.reshape(token, (-1,))  # (B*K,)
        return tokens, state, (finished, seqs, log_p, lengths)

    # Only beam 0 is live at the start, so the first step does not pick K
    # copies of the same token.
    first_beam = ops.concatenate(
        [ops.zeros((1,)), ops.full((k - 1,), loop.NEG_INF)], axis=0
    )
    carry = (
        ops.zeros((batch, k), "bool"),
        ops.full((batch, k, max_length), pad_id, "int32"),
        ops.zeros((batch, k)) + first_beam,  # (B, K) log P
        ops.zeros((batch, k), "int32"),  # (B, K) lengths
    )
    start, first = None, None
    if prompt is None:
        state = loop.repeat_rows(state, k)
        start = ops.full((batch * k,), start_id, "int32")
    else:  # prefill the B rows once, then repeat them to the B·K beams
        logits, state, length = loop.prefill(step_fn, state, prompt, prefill_fn)
        state, logits = loop.repeat_rows((state, logits), k)
        first = (logits, length)
    _, (finished, seqs, log_p, lengths) = loop.decode_loop(
        step_fn, select, state, carry, max_length, start, first
    )
    final = log_p / length_penalty(lengths, alpha)  # (B, K)
    # Prefer finished hypotheses; an unfinished one only if none finished.
    ranked = ops.where(finished, final, final + loop.NEG_INF)
    best = ops.cast(ops.argmax(ranked, axis=-1), "int32")[:, None]  # (B, 1)
    tokens = ops.take_along_axis(seqs, best[..., None], axis=1)[:, 0]
    return tokens, ops.take_along_axis(final, best, axis=1)[:, 0]
