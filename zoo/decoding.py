"""Batched greedy and beam-search decoding for the zoo's translators.

Both drive a model through a *step function*

    step_fn(tokens, state, index) -> (logits, new_state)

with `tokens` the `(N,)` previous token ids, `state` any nest of tensors
with leading axis N (RNN states, a KV cache, the encoder output...),
`index` the scalar position being generated, and `logits` `(N, V)`. The
loops are `tf.while_loop`s with fixed shapes, so they run inside one
`tf.function` (optionally XLA-compiled) and stop as soon as every sequence
has produced the end token.

Beam search ranks hypotheses by the GNMT length-normalised score
`log P(y) / lp(y)`, `lp(y) = ((5 + |y|) / 6) ** alpha` (Wu et al. 2016);
`alpha=0` is plain log-probability. keras-hub's `BeamSampler` has no length
penalty and no per-hypothesis end-of-sequence handling, which translation
needs, hence this module.
"""

import tensorflow as tf

NEG_INF = -1e9


def _gather_rows(state, rows):
    return tf.nest.map_structure(lambda s: tf.gather(s, rows), state)


def greedy_decode(step_fn, state, batch_size, max_length, start_id, end_id):
    """Greedy decoding.

    Returns:
        `(tokens (B, max_length) int32, log_probs (B,))`: tokens after the
        end token are 0 (padding); `log_probs` is the sum of the chosen
        tokens' log-probabilities, end token included.
    """
    tokens = tf.fill([batch_size], tf.constant(start_id, tf.int32))
    # A fixed-shape buffer (not a TensorArray) so that steps never taken
    # (everything finished early) stay padding and XLA sees static shapes.
    out = tf.zeros([max_length, batch_size], tf.int32)
    finished = tf.zeros([batch_size], tf.bool)
    score = tf.zeros([batch_size], tf.float32)

    def cond(i, tokens, state, out, finished, score):
        return tf.logical_and(i < max_length, ~tf.reduce_all(finished))

    def body(i, tokens, state, out, finished, score):
        logits, state = step_fn(tokens, state, i)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))  # (B, V)
        nxt = tf.argmax(log_probs, axis=-1, output_type=tf.int32)  # (B,)
        gain = tf.gather(log_probs, nxt, batch_dims=1)
        score += tf.where(finished, 0.0, gain)
        nxt = tf.where(finished, 0, nxt)
        out = tf.tensor_scatter_nd_update(out, [[i]], nxt[None])
        finished = finished | tf.equal(nxt, end_id)
        return i + 1, nxt, state, out, finished, score

    _, _, _, out, _, score = tf.while_loop(
        cond, body, (0, tokens, state, out, finished, score)
    )
    return tf.transpose(out), score  # (B, L), (B,)


def length_penalty(length, alpha):
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def beam_search(
    step_fn,
    state,
    batch_size,
    max_length,
    start_id,
    end_id,
    beam_size=4,
    alpha=0.6,
):
    """Beam search with the GNMT length penalty.

    `state` has leading axis B; it is repeated K = `beam_size` times
    (row `b * K + k`), so `step_fn` sees N = B·K rows.

    Returns:
        `(tokens (B, max_length) int32, scores (B,))`: the best finished
        hypothesis per example (0-padded after the end token) and its
        length-normalised log-probability.
    """
    k = beam_size
    state = tf.nest.map_structure(lambda s: tf.repeat(s, k, axis=0), state)
    seqs = tf.zeros([batch_size, k, max_length], tf.int32)
    # Only beam 0 is live at the start, so the first step does not pick
    # K copies of the same token.
    log_p = tf.tile(
        tf.concat([[0.0], tf.fill([k - 1], NEG_INF)], 0)[None], [batch_size, 1]
    )  # (B, K)
    lengths = tf.zeros([batch_size, k], tf.int32)
    finished = tf.zeros([batch_size, k], tf.bool)
    tokens = tf.fill([batch_size * k], tf.constant(start_id, tf.int32))
    offsets = tf.range(batch_size)[:, None] * k  # (B, 1)

    def cond(i, tokens, state, seqs, log_p, lengths, finished):
        return tf.logical_and(i < max_length, ~tf.reduce_all(finished))

    def body(i, tokens, state, seqs, log_p, lengths, finished):
        logits, state = step_fn(tokens, state, i)
        step = tf.nn.log_softmax(tf.cast(logits, tf.float32))  # (B*K, V)
        vocab = tf.shape(step)[-1]
        step = tf.reshape(step, [batch_size, k, vocab])  # (B, K, V)
        # A finished hypothesis may only continue with padding, for free.
        pad_only = tf.concat(
            [tf.zeros([1]), tf.fill([vocab - 1], NEG_INF)], 0
        )  # (V,)
        step = tf.where(finished[..., None], pad_only, step)
        candidate = log_p[..., None] + step  # (B, K, V)
        cand_len = lengths + tf.cast(~finished, tf.int32)  # (B, K)
        ranked = candidate / length_penalty(cand_len, alpha)[..., None]
        _, top = tf.math.top_k(
            tf.reshape(ranked, [batch_size, k * vocab]), k
        )  # (B, K)
        beam, token = top // vocab, top % vocab  # (B, K) each
        log_p = tf.gather(
            tf.reshape(candidate, [batch_size, k * vocab]), top, batch_dims=1
        )
        lengths = tf.gather(cand_len, beam, batch_dims=1)
        was_finished = tf.gather(finished, beam, batch_dims=1)
        token = tf.where(was_finished, 0, token)
        finished = was_finished | tf.equal(token, end_id)
        seqs = tf.gather(seqs, beam, batch_dims=1)  # (B, K, L)
        seqs = tf.tensor_scatter_nd_update(
            tf.transpose(seqs, [2, 0, 1]), [[i]], token[None]
        )
        seqs = tf.transpose(seqs, [1, 2, 0])
        rows = tf.reshape(beam + offsets, [-1])  # (B*K,)
        state = _gather_rows(state, rows)
        return (
            i + 1,
            tf.reshape(token, [-1]),
            state,
            seqs,
            log_p,
            lengths,
            (finished),
        )

    _, _, _, seqs, log_p, lengths, finished = tf.while_loop(
        cond,
        body,
        (0, tokens, state, seqs, log_p, lengths, finished),
    )
    final = log_p / length_penalty(lengths, alpha)  # (B, K)
    # Prefer finished hypotheses; an unfinished one only if none finished.
    final = tf.where(finished, final, final + NEG_INF)
    best = tf.argmax(final, axis=-1, output_type=tf.int32)  # (B,)
    tokens = tf.gather(seqs, best, batch_dims=1)  # (B, L)
    score = tf.gather(
        log_p / length_penalty(lengths, alpha), best, batch_dims=1
    )
    return tokens, score
