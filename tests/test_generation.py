"""`keras_attn.generation` on hand-made step functions with known answers.

The step function looks up fixed next-token probabilities by prefix (and
by row), in `keras.ops` only, so every test runs on each backend and
under `jax.jit` / `tf.function(jit_compile=True)`.
"""

import functools
import itertools

import keras
import numpy as np
import pytest
from keras import ops

import keras_attn
from keras_attn import generation

PAD, START, END, A, B = 0, 1, 2, 3, 4
V = 5
WORDS = (END, A, B)  # the tokens a table gives mass to
BASE = V + 1  # prefix (t0, t1, ...) -> key sum((t_j + 1) * BASE**j)
DEFAULT = [0, 0, 1.0, 0, 0]  # unlisted prefixes: END for sure


def _key(prefix):
    return sum((t + 1) * BASE**j for j, t in enumerate(prefix))


def table_step(tables, max_length):
    """`(step_fn, state)` over one `{prefix: probs}` table per row; a
    table's "default" entry covers the prefixes it does not list."""
    size = BASE ** max(1, max_length - 1)
    log_table = np.zeros((len(tables), size, V), "float32")
    for row, table in enumerate(tables):
        log_table[row] = np.log(np.add(table.get("default", DEFAULT), 1e-12))
        for prefix, probs in table.items():
            if prefix != "default":
                log_table[row, _key(prefix)] = np.log(np.add(probs, 1e-12))
    flat = log_table.reshape(-1, V)
    powers = BASE ** np.arange(max_length, dtype="int32")

    def step_fn(tokens, state, index):
        rows, keys = state
        # The token at position `index` >= 1 is the prefix's last token.
        weight = ops.take(powers, ops.maximum(index - 1, 0))
        grown = keys + (ops.cast(tokens, "int32") + 1) * weight
        keys = ops.where(index > 0, grown, keys)  # (N,)
        logits = ops.take(ops.convert_to_tensor(flat), rows * size + keys, 0)
        return logits, (rows, keys)  # (N, V)

    n = len(tables)
    state = (ops.arange(n, dtype="int32"), ops.zeros((n,), "int32"))
    return step_fn, state


def _np(x):
    return ops.convert_to_numpy(x)


def _lp(length, alpha):
    return ((5 + length) / 6) ** alpha


def _log_p(table, sequence):
    total = 0.0
    for i, token in enumerate(sequence):
        probs = table.get(tuple(sequence[:i]), table.get("default", DEFAULT))
        total += np.log(probs[token] + 1e-12)
    return total


def _padded(sequence, length):
    return list(sequence) + [PAD] * (length - len(sequence))


def _random_tables(n, max_length, rng):
    tables = []
    for _ in range(n):
        table = {}
        for length in range(max_length):
            for prefix in itertools.product((A, B), repeat=length):
                probs = np.zeros(V)
                probs[list(WORDS)] = rng.dirichlet(np.ones(3))
                table[prefix] = probs
        tables.append(table)
    return tables


# Greedy takes A (0.6) but every continuation of A is poor (best 0.4);
# B (0.4) is followed by END with 0.95: P(B END) = 0.38 > P(A x END) <= 0.24.
TABLE = {
    (): [0, 0, 0.0, 0.6, 0.4],
    (A,): [0, 0, 0.4, 0.3, 0.3],
    (B,): [0, 0, 0.95, 0.025, 0.025],
}


def test_beam_finds_the_better_sequence_greedy_misses():
    step, state = table_step([TABLE, TABLE], 4)
    greedy, greedy_score = generation.greedy_search(
        step, state, 4, start_id=START, end_id=END
    )
    beam, beam_score = generation.beam_search(
        step, state, 4, beam_size=2, alpha=0.0, start_id=START, end_id=END
    )
    np.testing.assert_array_equal(_np(greedy), [[A, END, PAD, PAD]] * 2)
    np.testing.assert_array_equal(_np(beam), [[B, END, PAD, PAD]] * 2)
    np.testing.assert_allclose(_np(greedy_score), np.log(0.24), rtol=1e-5)
    np.testing.assert_allclose(_np(beam_score), np.log(0.38), rtol=1e-5)


def test_beam_of_one_is_greedy():
    tables = _random_tables(3, 4, np.random.default_rng(1))
    step, state = table_step(tables, 4)
    greedy, g = generation.greedy_search(step, state, 4, start_id=START)
    beam, b = generation.beam_search(
        step, state, 4, beam_size=1, alpha=0.0, start_id=START
    )
    np.testing.assert_array_equal(_np(greedy), _np(beam))
    np.testing.assert_allclose(_np(g), _np(b), rtol=1e-6)


def test_greedy_stops_adding_log_probabilities_after_end():
    # Issue 20, survivor 2: after END the table is far from one-hot, and
    # row 1 keeps the loop running for 3 more steps after row 0 ended.
    ended = {(): [0, 0, 0.7, 0.3, 0], "default": [0, 0, 0.5, 0.25, 0.25]}
    runs_on = {"default": [0, 0, 0.1, 0.9, 0]}
    step, state = table_step([ended, runs_on], 4)
    tokens, scores = generation.greedy_search(
        step, state, 4, start_id=START, end_id=END
    )
    np.testing.assert_array_equal(_np(tokens), [[END, 0, 0, 0], [A] * 4])
    np.testing.assert_allclose(
        _np(scores), [np.log(0.7), 4 * np.log(0.9)], rtol=1e-5
    )


def test_beam_prefers_a_finished_hypothesis_at_max_length():
    # Issue 20, survivor 3: P(A A) = 0.63 beats P(END) = 0.3 on raw score,
    # but [A, A] never ended, so with max_length=2 [END] is the answer.
    table = {(): [0, 0, 0.3, 0.7, 0], (A,): [0, 0, 0.05, 0.9, 0.05]}
    step, state = table_step([table], 2)
    tokens, score = generation.beam_search(
        step, state, 2, beam_size=2, alpha=0.0, start_id=START, end_id=END
    )
    np.testing.assert_array_equal(_np(tokens), [[END, PAD]])
    np.testing.assert_allclose(_np(score), [np.log(0.3)], rtol=1e-5)


def test_beam_prunes_on_the_length_normalised_score():
    # Issue 20, survivor 4. K=3, alpha=1: lp = 1, 7/6, 4/3 at lengths 1-3.
    # Step 0 keeps B (.5), A (.3), END (.2). At step 1, log P and log P/lp:
    #   B B -1.291/-1.107, A A -1.561/-1.338, END -1.609/-1.609,
    #   B A -1.743/-1.494: by the normalised score the beam keeps
    #   {BB, AA, BA} and drops END; by raw log P it keeps {BB, AA, END}.
    # Step 2: B A END = -1.848/-1.386, the best normalised score of all
    # (B B A -1.984/-1.488, ...): normalised pruning returns it; raw
    # pruning lost B A and would return END (-1.609, its only finished).
    table = {
        (): [0, 0, 0.2, 0.3, 0.5],
        (A,): [0, 0, 0.1, 0.7, 0.2],
        (B,): [0, 0, 0.1, 0.35, 0.55],
        (A, A): [0, 0, 0.1, 0.5, 0.4],
        (B, A): [0, 0, 0.9, 0.05, 0.05],
        (B, B): [0, 0, 0.1, 0.5, 0.4],
    }
    step, state = table_step([table], 3)
    tokens, score = generation.beam_search(
        step, state, 3, beam_size=3, alpha=1.0, start_id=START, end_id=END
    )
    np.testing.assert_array_equal(_np(tokens), [[B, A, END]])
    expected = np.log(0.5 * 0.35 * 0.9) / (8 / 6)
    np.testing.assert_allclose(_np(score), [expected], rtol=1e-5)


def test_length_penalty_prefers_longer_hypotheses():
    # END now: 0.5. One more token then END: 0.5 * 0.9 = 0.45.
    table = {(): [0, 0, 0.5, 0.5, 0.0], (A,): [0, 0, 0.9, 0.1, 0.0]}
    step, state = table_step([table], 4)
    kwargs = {"beam_size": 2, "start_id": START, "end_id": END}
    plain, _ = generation.beam_search(step, state, 4, alpha=0.0, **kwargs)
    longer, _ = generation.beam_search(step, state, 4, alpha=2.0, **kwargs)
    assert _np(plain)[0, 0] == END
    np.testing.assert_array_equal(_np(longer)[0, :2], [A, END])
    np.testing.assert_allclose(
        _np(generation.length_penalty(np.array([1, 7]), 0.5)),
        [1.0, np.sqrt(2.0)],
        rtol=1e-6,
    )


def test_greedy_and_beam_equal_brute_force():
    max_length, alpha = 3, 0.6
    tables = _random_tables(4, max_length, np.random.default_rng(0))
    step, state = table_step(tables, max_length)
    greedy, _ = generation.greedy_search(
        step, state, max_length, start_id=START, end_id=END
    )
    # A beam wider than the number of distinct hypotheses (<= 15) is an
    # exhaustive search.
    beam, beam_scores = generation.beam_search(
        step,
        state,
        max_length,
        beam_size=16,
        alpha=alpha,
        start_id=START,
        end_id=END,
    )
    for row, table in enumerate(tables):
        chain = []
        while len(chain) < max_length and END not in chain:
            chain.append(int(np.argmax(table.get(tuple(chain), DEFAULT))))
        np.testing.assert_array_equal(
            _np(greedy)[row], _padded(chain, max_length)
        )
        ended = [
            (*body, END)
            for length in range(max_length)
            for body in itertools.product((A, B), repeat=length)
        ]
        scores = [_log_p(table, s) / _lp(len(s), alpha) for s in ended]
        best = ended[int(np.argmax(scores))]
        np.testing.assert_array_equal(_np(beam)[row], _padded(best, 3))
        np.testing.assert_allclose(_np(beam_scores)[row], max(scores), 1e-5)


# First-token probabilities, descending: B .6, A .3, END .1; PAD and
# START have none.
SAMPLE = {(): [0, 0, 0.1, 0.3, 0.6]}


def _samples(seed=0, rows=64, **kwargs):
    step, state = table_step([SAMPLE] * rows, 2)
    tokens, _ = generation.sample(
        step, state, 2, seed=seed, start_id=START, end_id=END, **kwargs
    )
    return _np(tokens)


def test_top_k_never_samples_outside_the_k_best():
    assert set(_samples(top_k=2)[:, 0]) == {B, A}
    assert set(_samples(top_k=1)[:, 0]) == {B}
    assert set(_samples()[:, 0]) <= {B, A, END}  # never PAD or START


def test_top_p_never_samples_outside_the_nucleus():
    # Nucleus of 0.8: {B (.6), A (.3)}; of 0.5: {B} (B alone reaches it).
    assert set(_samples(top_p=0.8)[:, 0]) == {B, A}  # A kept, 1 in 3
    assert set(_samples(top_p=0.5)[:, 0]) == {B}
    assert set(_samples(top_p=0.95, top_k=1)[:, 0]) == {B}


def test_sampling_is_deterministic_for_a_seed_and_cold_is_greedy():
    np.testing.assert_array_equal(_samples(seed=3), _samples(seed=3))
    tables = _random_tables(8, 4, np.random.default_rng(2))
    step, state = table_step(tables, 4)
    greedy, _ = generation.greedy_search(step, state, 4, start_id=START)
    cold, _ = generation.sample(
        step, state, 4, temperature=1e-4, seed=0, start_id=START
    )
    np.testing.assert_array_equal(_np(cold), _np(greedy))


def _compile(fn):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no compiled while_loop on the {backend} backend")


def test_compiled_run_gives_the_eager_tokens():
    tables = _random_tables(3, 4, np.random.default_rng(3))
    step, state = table_step(tables, 4)
    runs = {
        "greedy": lambda s: generation.greedy_search(
            step, s, 4, start_id=START, end_id=END
        ),
        "beam": lambda s: generation.beam_search(
            step, s, 4, beam_size=3, start_id=START, end_id=END
        ),
        "sample": lambda s: generation.sample(
            step, s, 4, top_k=2, top_p=0.9, seed=5, start_id=START
        ),
    }
    for name, run in runs.items():
        eager_tokens, eager_scores = run(state)
        compiled = _compile(run)
        tokens, scores = compiled(state)
        if name == "sample" and keras.backend.backend() == "tensorflow":
            # XLA picks another stateless RNG algorithm than TensorFlow
            # does eagerly: other draws, as deterministic (documented).
            np.testing.assert_array_equal(_np(compiled(state)[0]), tokens)
            import tensorflow as tf

            tokens, scores = tf.function(run)(state)
        np.testing.assert_array_equal(_np(tokens), _np(eager_tokens), name)
        np.testing.assert_allclose(_np(scores), _np(eager_scores), 1e-5)


def test_callback_streams_the_tokens_in_order():
    step, state = table_step([TABLE, {"default": [0, 0, 0.1, 0.9, 0]}], 4)
    seen = []
    tokens, _ = generation.greedy_search(
        step,
        state,
        4,
        start_id=START,
        end_id=END,
        callback=lambda i, t: seen.append((i, _np(t).tolist())),
    )
    assert [i for i, _ in seen] == [0, 1, 2, 3]
    streamed = np.array([t for _, t in seen]).T  # (N, steps)
    np.testing.assert_array_equal(streamed, _np(tokens))
    printed = []
    generation.sample(
        step,
        state,
        4,
        seed=0,
        start_id=START,
        callback=lambda i, t: printed.append(i),
    )
    assert printed == sorted(printed) and printed[0] == 0


def test_prefill_and_steps_equal_the_full_causal_pass():
    vocab, dim, prompt_length, new = 11, 8, 3, 4
    total = prompt_length + new
    keras.utils.set_random_seed(0)
    embed = keras_attn.TokenAndPositionEmbedding(vocab, total, dim)
    decoder = keras_attn.TransformerDecoder(
        num_layers=2, num_heads=2, intermediate_dim=12
    )
    head = keras.layers.Dense(vocab)
    prompt = np.array([[3, 4, 5], [6, 7, 8]], "int32")  # (B, P)

    def full(ids):  # (B, T) -> (B, T, V), causal
        return head(decoder(embed(ids)))

    full(prompt)  # build

    def prefill_fn(ids, cache):
        h, cache = decoder(embed(ids), cache=cache, cache_index=0)
        return head(h)[:, -1], cache

    def step_fn(tokens, cache, index):
        x = embed(tokens[:, None], start_index=index)  # (N, 1, D)
        h, cache = decoder(x, cache=cache, cache_index=index)
        return head(h)[:, 0], cache

    cache = decoder.init_cache(2, total)
    tokens, scores = generation.greedy_search(
        step_fn, cache, new, prompt=prompt, prefill_fn=prefill_fn
    )
    stepped, stepped_scores = generation.greedy_search(
        step_fn, cache, new, prompt=prompt
    )
    np.testing.assert_array_equal(_np(stepped), _np(tokens))
    np.testing.assert_allclose(_np(stepped_scores), _np(scores), atol=1e-5)
    sequence = np.concatenate([prompt, _np(tokens)], axis=1)  # (B, P + new)
    log_probs = _np(ops.log_softmax(full(sequence), axis=-1))[
        :, prompt_length - 1 : -1
    ]  # (B, new, V): the predictions of the generated tokens
    np.testing.assert_array_equal(log_probs.argmax(-1), _np(tokens))
    chosen = np.take_along_axis(log_probs, _np(tokens)[..., None], -1)
    np.testing.assert_allclose(chosen.sum((1, 2)), _np(scores), atol=1e-4)
    beam, _ = generation.beam_search(
        step_fn, cache, new, beam_size=1, prompt=prompt, prefill_fn=prefill_fn
    )
    np.testing.assert_array_equal(_np(beam), _np(tokens))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_length": 0}, "max_length=0"),
        ({"beam_size": 0}, "beam_size=0"),
        ({"alpha": -1.0}, "alpha=-1.0"),
        ({"start_id": None}, "start_id"),
        ({"prefill_fn": lambda p, s: s}, "prompt=None"),
    ],
)
def test_beam_search_rejects_bad_arguments(kwargs, match):
    step, state = table_step([TABLE], 2)
    kwargs = {"max_length": 2, "start_id": START, **kwargs}
    with pytest.raises(ValueError, match=match):
        generation.beam_search(step, state, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"temperature": -1}, "temperature=-1"),
        ({"top_p": 0.0}, "top_p=0.0"),
        ({"top_p": 1.5}, "top_p=1.5"),
        ({"top_k": 0}, "top_k=0"),
        ({"callback": 3}, "callback=3"),
        ({"max_length": 2.0}, "max_length=2.0"),
    ],
)
def test_sample_rejects_bad_arguments(kwargs, match):
    step, state = table_step([TABLE], 2)
    kwargs = {"max_length": 2, "start_id": START, **kwargs}
    with pytest.raises(ValueError, match=match):
        generation.sample(step, state, **kwargs)


def test_callback_needs_eager_execution():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("checked with tf.function")
    import tensorflow as tf

    step, state = table_step([TABLE], 2)
    table = np.log(np.array([[0, 0, 0.2, 0.8, 0]] * V, "float32") + 1e-9)

    def lookup(tokens, state, index):  # no state at all
        return ops.take(ops.convert_to_tensor(table), tokens, 0), state

    runs = [
        lambda: generation.greedy_search(
            step, state, 2, start_id=START, callback=print
        ),
        # Nothing traced but the start tokens, or the prompt's logits.
        lambda: generation.greedy_search(
            lookup, (), 2, start_id=START, batch_size=1, callback=print
        ),
        lambda: generation.sample(
            lookup, (), 2, prompt=np.array([[A]]), callback=print
        ),
    ]
    for run in runs:
        with pytest.raises(ValueError) as info:
            tf.function(run, autograph=False)()
        assert str(info.value) == (
            "`callback` streams tokens in eager mode only; inside "
            "`tf.function` or `jax.jit` pass callback=None."
        )


# Found by mutation testing (docs/testing.md): each test below kills
# mutants of keras_attn/generation that the tests above let survive.


def test_every_argument_error_says_exactly_what_was_wrong():
    step, state = table_step([TABLE], 2)
    greedy, beam, sample = (
        generation.greedy_search,
        generation.beam_search,
        generation.sample,
    )
    prompt = np.array([[A]], "int32")
    cases = [
        (
            greedy,
            {"step_fn": 3},
            "`step_fn` must be callable. Received: step_fn=3",
        ),
        (
            greedy,
            {"max_length": True},
            "`max_length` must be a positive "
            "integer. Received: max_length=True",
        ),
        (
            beam,
            {"beam_size": True},
            "`beam_size` must be a positive integer. Received: beam_size=True",
        ),
        (
            greedy,
            {"start_id": None},
            "Pass `start_id` (the token that starts "
            "generation) or a `prompt`. Received: start_id=None, prompt=None",
        ),
        (
            greedy,
            {"prompt": prompt},
            "Pass either `start_id` or `prompt`, "
            "not both. Received: start_id=1 and a prompt",
        ),
        (
            greedy,
            {"prefill_fn": max},
            "`prefill_fn` fills the cache from a "
            "`prompt`; none was given. Received: prompt=None",
        ),
        (
            greedy,
            {"start_id": None, "prompt": prompt, "prefill_fn": 3},
            "`prefill_fn` must be callable. Received: prefill_fn=3",
        ),
        (
            greedy,
            {"callback": 3},
            "`callback` must be callable. Received: callback=3",
        ),
        (
            greedy,
            {"start_id": None, "prompt": np.array([A, B])},
            "`prompt` must be `(batch, length)` token ids. Received: prompt "
            "with shape (2,)",
        ),
        (
            greedy,
            {"state": ()},
            "`batch_size` is needed when `state` holds "
            "no tensor. Received: state=(), batch_size=None",
        ),
        (
            beam,
            {"alpha": True},
            "`alpha` must be a number >= 0. Received: alpha=True",
        ),
        (
            beam,
            {"alpha": "1"},
            "`alpha` must be a number >= 0. Received: alpha='1'",
        ),
        (beam, {"alpha": -0.5}, "`alpha` must be >= 0. Received: alpha=-0.5"),
        (
            sample,
            {"temperature": True},
            "`temperature` must be a number > 0. Received: temperature=True",
        ),
        (
            sample,
            {"temperature": "1"},
            "`temperature` must be a number > 0. Received: temperature='1'",
        ),
        (
            sample,
            {"top_k": True},
            "`top_k` must be a positive integer. Received: top_k=True",
        ),
        (
            sample,
            {"top_p": True},
            "`top_p` must be in (0, 1]. Received: top_p=True",
        ),
        (
            sample,
            {"top_p": "0.5"},
            "`top_p` must be in (0, 1]. Received: top_p='0.5'",
        ),
    ]
    for fn, kwargs, message in cases:
        kwargs = {
            "step_fn": step,
            "state": state,
            "max_length": 2,
            "start_id": START,
            **kwargs,
        }
        with pytest.raises(ValueError) as info:
            fn(**kwargs)
        assert str(info.value) == message, (fn.__name__, kwargs)


def test_top_p_of_one_keeps_every_token():
    # top_p = 1 is allowed ("in (0, 1]") and truncates nothing.
    assert set(_samples(top_p=1.0)[:, 0]) == {B, A, END}


def test_prompt_tokens_reach_the_model_as_int32():
    step, state = table_step([TABLE], 3)
    seen, prefilled = [], []

    def dtype(x):
        return keras.backend.standardize_dtype(x.dtype)

    def spy(tokens, state, index):
        seen.append(dtype(tokens))
        return step(tokens, state, index)

    def prefill_fn(prompt, state):
        prefilled.append(dtype(prompt))
        return ops.zeros((1, V)), state

    prompt = np.array([[A, B]], "int64")
    generation.greedy_search(spy, state, 2, prompt=prompt)
    for search in (
        generation.greedy_search,
        generation.beam_search,
        functools.partial(generation.sample, seed=0),
    ):
        search(spy, state, 2, prompt=prompt, prefill_fn=prefill_fn)
    assert set(seen) == {"int32"}
    assert prefilled == ["int32"] * 3  # each search used the prefill_fn


def test_sampling_frequencies_follow_the_truncated_distribution():
    # One token for each of 3000 rows: the shares of B, A and END must be
    # the renormalised probabilities of the candidates (SAMPLE: .6/.3/.1).
    rows = 3000
    step, state = table_step([SAMPLE] * rows, 2)
    warm = np.sqrt([0.6, 0.3, 0.1])  # temperature 2: p ** (1 / 2)
    cases = [
        ({}, [0.6, 0.3, 0.1]),
        ({"temperature": 2.0}, warm / warm.sum()),
        ({"top_k": 2}, [2 / 3, 1 / 3, 0]),
        ({"top_p": 0.8}, [2 / 3, 1 / 3, 0]),
    ]
    for kwargs, expected in cases:
        tokens, _ = generation.sample(
            step, state, 1, seed=1, start_id=START, **kwargs
        )
        tokens = _np(tokens)[:, 0]
        assert tokens.dtype == np.int32, kwargs  # documented dtype
        shares = [np.mean(tokens == t) for t in (B, A, END)]
        np.testing.assert_allclose(shares, expected, atol=0.03, err_msg=kwargs)


def test_outputs_and_fed_tokens_have_the_documented_dtypes():
    step, state = table_step([TABLE, TABLE], 3)
    fed = []

    def spy(tokens, state, index):
        fed.append(keras.backend.standardize_dtype(tokens.dtype))
        return step(tokens, state, index)

    kwargs = {"start_id": START, "end_id": END}
    runs = [
        generation.greedy_search(spy, state, 3, **kwargs),
        generation.beam_search(spy, state, 3, beam_size=2, **kwargs),
        generation.sample(spy, state, 3, seed=0, **kwargs),
    ]
    assert set(fed) == {"int32"}
    for tokens, scores in runs:
        assert keras.backend.standardize_dtype(tokens.dtype) == "int32"
        assert keras.backend.standardize_dtype(scores.dtype) == "float32"


def test_beam_search_defaults_are_four_beams_and_alpha_0_6():
    step, state = table_step([TABLE], 4)
    rows = []

    def spy(tokens, state, index):
        rows.append(ops.shape(tokens)[0])
        return step(tokens, state, index)

    tokens, score = generation.beam_search(
        spy, state, 4, start_id=START, end_id=END
    )
    assert set(rows) == {4}  # B * K rows, K = 4
    np.testing.assert_array_equal(_np(tokens), [[B, END, PAD, PAD]])
    np.testing.assert_allclose(_np(score), [np.log(0.38) / _lp(2, 0.6)], 1e-5)


def test_without_end_id_every_token_continues():
    # end_id=None: no token ends a row, not even START (1) or END (2).
    step, state = table_step([{"default": [0, 0.9, 0.1, 0, 0]}], 3)
    greedy, _ = generation.greedy_search(step, state, 3, start_id=START)
    beam, _ = generation.beam_search(step, state, 3, start_id=START)
    np.testing.assert_array_equal(_np(greedy), [[START] * 3])
    np.testing.assert_array_equal(_np(beam), [[START] * 3])


def test_batch_size_from_the_argument_or_the_prompt():
    # A state without tensors: the rows come from `batch_size`, or from
    # the prompt; a state's first tensor may have any shape after N.
    table = np.log(np.array([[0, 0, 0, 1, 0]] * V, "float32") + 1e-9)

    def step_fn(tokens, state, index):
        return ops.take(ops.convert_to_tensor(table), tokens, 0), state

    prompt = np.full((3, 2), A, "int32")
    sample = functools.partial(generation.sample, seed=0)
    for search in (generation.greedy_search, generation.beam_search, sample):
        by_arg, _ = search(step_fn, (), 2, start_id=START, batch_size=3)
        by_prompt, _ = search(step_fn, (), 2, prompt=prompt)
        by_state, _ = search(step_fn, ops.zeros((3, 2)), 2, start_id=START)
        for tokens in (by_arg, by_prompt, by_state):
            np.testing.assert_array_equal(_np(tokens), [[A, A]] * 3)


def test_sample_pads_after_the_end_token():
    step, state = table_step([{"default": DEFAULT}] * 2, 3)  # END at once
    tokens, scores = generation.sample(
        step, state, 3, seed=0, start_id=START, end_id=END
    )
    np.testing.assert_array_equal(_np(tokens), [[END, PAD, PAD]] * 2)
    np.testing.assert_allclose(_np(scores), [0.0, 0.0], atol=1e-5)


def test_state_may_hold_none_and_matrices():
    # A `None` in the state (a decoder layer without a cross-attention
    # cache) is carried through the loop, the beam repeat and reorder; so
    # is a (N, 2) tensor, row by row.
    tables = _random_tables(2, 3, np.random.default_rng(4))
    step, (rows, keys) = table_step(tables, 3)

    def step_fn(tokens, state, index):
        pair, none, keys, also_none = state
        assert none is None and also_none is None
        logits, (r, k) = step(tokens, (pair[:, 1] - 1, keys), index)
        return logits, (pair, None, k, None)

    pair = ops.stack([rows * 7, rows + 1], axis=1)  # (N, 2)
    kwargs = {"start_id": START, "end_id": END}
    for search in (generation.greedy_search, generation.beam_search):
        expected, _ = search(step, (rows, keys), 3, **kwargs)
        tokens, _ = search(step_fn, (pair, None, keys, None), 3, **kwargs)
        np.testing.assert_array_equal(_np(tokens), _np(expected))


def test_batch_size_from_a_state_that_starts_with_none():
    # A state may hold None (documented); the batch comes from its first
    # tensor, not its first leaf.
    step, (rows, keys) = table_step([TABLE, TABLE], 2)

    def step_fn(tokens, state, index):
        logits, (r, k) = step(tokens, state[1:], index)
        return logits, (None, r, k)

    tokens, _ = generation.greedy_search(
        step_fn, (None, rows, keys), 2, start_id=START, end_id=END
    )
    np.testing.assert_array_equal(_np(tokens), [[A, END]] * 2)


def test_callback_with_a_state_of_more_than_three_tensors():
    # The streaming loop carries the state flattened; it must come back
    # whole, whatever its size (it once unpacked the wrong carry item).
    step, (rows, keys) = table_step([TABLE, TABLE], 4)

    def step_fn(tokens, state, index):
        logits, (r, k) = step(tokens, state[:2], index)
        return logits, (r, k, state[2] + 1, state[3])

    state = (rows, keys, ops.zeros((2,), "int32"), ops.ones((2, 3)))
    seen = []
    greedy, sample = generation.greedy_search, generation.sample
    for search, kwargs in ((greedy, {}), (sample, {"seed": 3})):
        kwargs.update(start_id=START, end_id=END)
        expected, _ = search(step_fn, state, 4, **kwargs)
        tokens, _ = search(
            step_fn, state, 4, callback=lambda i, t: seen.append(i), **kwargs
        )
        np.testing.assert_array_equal(_np(tokens), _np(expected))
    assert seen


def test_callback_streams_after_a_prompt_and_stops_with_the_rows():
    step, state = table_step([TABLE, TABLE], 4)
    seen = []
    tokens, _ = generation.greedy_search(
        step,
        state,
        4,
        prompt=np.array([[START, A], [START, B]], "int32"),
        end_id=END,
        callback=lambda i, t: seen.append((i, _np(t).tolist())),
    )
    # After the prefixes (A,) and (B,), END is the likeliest next token.
    np.testing.assert_array_equal(_np(tokens), [[END, 0, 0, 0], [END, 0, 0, 0]])
    assert seen == [(0, [END, END])]  # every row ended: no more steps
    seen.clear()
    generation.greedy_search(
        step,
        state,
        4,
        start_id=START,
        end_id=END,
        callback=lambda i, t: seen.append(i),
    )
    assert seen == [0, 1]  # A, then END in both rows
