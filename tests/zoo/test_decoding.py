"""Greedy and beam search on hand-built distributions with known answers."""

import numpy as np
import tensorflow as tf

from zoo.decoding import beam_search
from zoo.decoding import greedy_decode

PAD, START, END, A, B = 0, 1, 2, 3, 4
V = 5


def _table_step(table):
    """A step function from {prefix tuple: probabilities over V}."""

    def lookup(prefixes):
        rows = []
        for prefix in prefixes:
            key = tuple(int(t) for t in prefix if t not in (PAD, START))
            probs = table.get(key, table["default"])
            rows.append(np.log(np.asarray(probs, "float64") + 1e-12))
        return np.asarray(rows, "float32")

    def step(tokens, state, index):
        prefixes = tf.concat([state, tokens[:, None]], 1)
        logits = tf.numpy_function(lookup, [prefixes], tf.float32)
        logits.set_shape([None, V])
        return logits, prefixes

    return step


# Greedy takes A (0.6) but every continuation of A is poor (best 0.4);
# B (0.4) is followed by END with 0.95: P(B END) = 0.38 > P(A x END) <= 0.24.
TABLE = {
    (): [0, 0, 0.0, 0.6, 0.4],
    (A,): [0, 0, 0.4, 0.3, 0.3],
    (B,): [0, 0, 0.95, 0.025, 0.025],
    "default": [0, 0, 1.0, 0.0, 0.0],
}


def test_beam_finds_the_better_sequence_greedy_misses():
    step = _table_step(TABLE)
    state = tf.zeros([2, 0], tf.int32)
    greedy, greedy_score = greedy_decode(step, state, 2, 4, START, END)
    beam, beam_score = beam_search(
        step, state, 2, 4, START, END, beam_size=2, alpha=0.0
    )
    np.testing.assert_array_equal(greedy.numpy()[0], [A, END, PAD, PAD])
    np.testing.assert_array_equal(beam.numpy()[0], [B, END, PAD, PAD])
    np.testing.assert_allclose(
        greedy_score.numpy(), np.log(0.6 * 0.4), rtol=1e-5
    )
    np.testing.assert_allclose(
        beam_score.numpy(), np.log(0.4 * 0.95), rtol=1e-5
    )


def test_beam_of_one_is_greedy():
    step = _table_step(TABLE)
    state = tf.zeros([1, 0], tf.int32)
    greedy, _ = greedy_decode(step, state, 1, 4, START, END)
    beam, _ = beam_search(step, state, 1, 4, START, END, beam_size=1)
    np.testing.assert_array_equal(greedy.numpy(), beam.numpy())


def test_length_penalty_prefers_longer_hypotheses():
    # END now: 0.5. One more token then END: 0.5 * 0.9 = 0.45.
    table = {
        (): [0, 0, 0.5, 0.5, 0.0],
        (A,): [0, 0, 0.9, 0.1, 0.0],
        "default": [0, 0, 1.0, 0.0, 0.0],
    }
    step = _table_step(table)
    state = tf.zeros([1, 0], tf.int32)
    plain, _ = beam_search(step, state, 1, 4, START, END, 2, alpha=0.0)
    penalised, _ = beam_search(step, state, 1, 4, START, END, 2, alpha=2.0)
    assert plain.numpy()[0, 0] == END
    np.testing.assert_array_equal(penalised.numpy()[0, :2], [A, END])
