"""Checks for the exercises of tutorials 0-11 that say what is wrong.

Every `check_*` calls the learner's function on a few inputs whose sizes
differ from the notebook's (and from each other, so a transposition
shows), compares with a NumPy reference, and either prints `✓` or raises
`ExerciseError` with a hint in the reader's language. Each hint comes from
comparing the answer with NumPy versions of the usual mistakes, so it
names the mistake that was made rather than just "values differ". A check
never returns or substitutes a solution.
"""

import numpy as np

from .feedback import ExerciseError  # noqa: F401 - the public error type
from .feedback import Mistake
from .feedback import Text
from .feedback import array
from .feedback import call
from .feedback import diagnose
from .feedback import exercise
from .feedback import expect_shape
from .feedback import pair
from .feedback import sizes


def _rng(seed):
    return np.random.default_rng(1000 + seed)


def _softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _swap(x):
    return np.swapaxes(x, -1, -2)


# --- 01: context vector -------------------------------------------------------


@exercise("attention_context")
def check_attention_context(attention_context):
    """`attention_context(dec, states)` -> (context (B, T, U), weights
    (B, T, S)): dot-product scores, softmax over the encoder positions."""
    cases = [(2, 3, 5, 4), (3, 6, 2, 5), (1, 4, 7, 3)]
    for seed, (b, t, s, u) in enumerate(cases):
        where = sizes(B=b, T=t, S=s, U=u)
        rng = _rng(seed)
        dec = rng.normal(size=(b, t, u)).astype("float32")
        states = rng.normal(size=(b, s, u)).astype("float32")
        result = call(attention_context, dec, states, where=where)
        context, weights = pair(
            result, "attention_context", "context", "weights"
        )
        weights = array(weights, "weights")
        context = array(context, "context")
        scores = dec @ _swap(states)  # (B, T, S)
        w_ref = _softmax(scores)
        expect_shape(
            weights,
            (b, t, s),
            "weights",
            "(B, T, S)",
            where,
            {(b, s, t): "scores_transposed"},
        )
        expect_shape(context, (b, t, u), "context", "(B, T, U)", where)
        diagnose(
            weights,
            w_ref,
            [
                (scores, "no_softmax", {}),
                (_softmax(scores, axis=1), "context_softmax_axis", {}),
            ],
            "weights",
            where,
        )
        diagnose(
            context,
            w_ref @ states,
            [(scores @ states, "context_from_scores", {})],
            "context",
            where,
        )
    return len(cases)


# --- 02 (and 03): scaled dot-product attention --------------------------------


def _random_mask(rng, b, t, s):
    """Every row allows some keys and forbids others."""
    mask = rng.random((b, t, s)) < 0.6
    mask[..., 0] = True
    mask[..., -1] = False
    return mask


def _attention_ref(q, k, v, mask, scale, axis=-1, softmax=True, after=False):
    scores = q @ _swap(k) * scale
    if mask is not None and not after:
        scores = np.where(mask, scores, -1e9)
    weights = _softmax(scores, axis) if softmax else scores
    if after:
        weights = np.where(mask, weights, 0.0)
    return weights @ v, weights


@exercise("attention")
def check_attention(attention):
    """`attention(query, key, value, mask=None)` -> (output (B, T, Hv),
    weights (B, T, S)); mask boolean, True = may attend."""
    cases = [(2, 5, 7, 4, 6), (3, 4, 6, 9, 5), (1, 6, 3, 5, 8)]
    for seed, (b, t, s, h, hv) in enumerate(cases):
        where = sizes(B=b, T=t, S=s, H=h, Hv=hv)
        rng = _rng(seed)
        q = rng.normal(size=(b, t, h)).astype("float32") * 2.0
        k = rng.normal(size=(b, s, h)).astype("float32") * 2.0
        v = rng.normal(size=(b, s, hv)).astype("float32")
        mask = _random_mask(rng, b, t, s)
        for m in (mask, None) if seed == 0 else (mask,):
            result = call(attention, q, k, v, m, where=where)
            output, weights = pair(result, "attention", "output", "weights")
            _check_attention_result(q, k, v, m, output, weights, where)
    return len(cases)


def _check_attention_result(q, k, v, mask, output, weights, where):
    (b, t, h), s, hv = q.shape, k.shape[1], v.shape[-1]
    weights = array(weights, "weights")
    output = array(output, "output")
    expect_shape(
        weights,
        (b, t, s),
        "weights",
        "(B, T, S)",
        where,
        {(b, s, t): "scores_transposed"},
    )
    expect_shape(
        output,
        (b, t, hv),
        "output",
        "(B, T, Hv)",
        where,
        {(b, t, h): "output_from_keys"},
    )
    scale = 1 / np.sqrt(h)
    out_ref, w_ref = _attention_ref(q, k, v, mask, scale)
    variants = [
        (_attention_ref(q, k, v, mask, scale, softmax=False)[1], "no_softmax"),
        (_attention_ref(q, k, v, mask, scale, -2)[1], "softmax_query_axis"),
        (_attention_ref(q, k, v, mask, scale, 0)[1], "softmax_batch_axis"),
        (_attention_ref(q, k, v, mask, 1 / np.sqrt(hv))[1], "scaled_by_dv"),
        (_attention_ref(q, k, v, mask, 1.0)[1], "not_scaled"),
        (_attention_ref(q, k, v, mask, 1 / h)[1], "divided_by_dk"),
        (_attention_ref(q, k, v, mask, np.sqrt(h))[1], "multiplied_by_sqrt_dk"),
    ]
    if mask is not None:
        variants += [
            (_attention_ref(q, k, v, ~mask, scale)[1], "mask_inverted"),
            (_attention_ref(q, k, v, None, scale)[1], "mask_ignored"),
        ]
        zeroed = _attention_ref(q, k, v, mask, scale, after=True)[1]
        if np.allclose(weights, zeroed, rtol=1e-4, atol=1e-5):
            sums = np.round(weights.sum(-1).ravel()[:4], 2)
            raise Mistake("zeroed_after_softmax", sums=tuple(sums))
    fields = {"dk": h, "dv": hv}
    diagnose(
        weights,
        w_ref,
        [(w, code, fields) for w, code in variants],
        "weights",
        where,
    )
    diagnose(output, out_ref, [], "output", where)


# --- 03: split and merge heads ------------------------------------------------

_HEAD_CASES = [(2, 4, 3, 6), (3, 5, 2, 7), (1, 7, 4, 3)]  # B, T, N, H


@exercise("split_heads")
def check_split_heads(split_heads):
    """`split_heads(x, num_heads)`: (B, T, N*H) -> (B, N, T, H)."""
    for seed, (b, t, n, h) in enumerate(_HEAD_CASES):
        where = sizes(B=b, T=t, N=n, H=h)
        x = _rng(seed).normal(size=(b, t, n * h)).astype("float32")
        got = array(call(split_heads, x, n, where=where), "split_heads(x, N)")
        expect_shape(
            got,
            (b, n, t, h),
            "split_heads(x, N)",
            "(B, N, T, H)",
            where,
            {
                (b, t, n, h): "split_no_transpose",
                (b, n, h, t): "split_depth_before_time",
                (b * n, t, h): "split_into_batch",
            },
        )
        diagnose(
            got,
            x.reshape(b, t, n, h).transpose(0, 2, 1, 3),
            [
                (x.reshape(b, n, t, h), "split_reshape_straight", {}),
                (
                    x.reshape(b, t, h, n).transpose(0, 3, 1, 2),
                    "split_wrong_order",
                    {},
                ),
            ],
            "split_heads(x, N)",
            where,
        )
    return len(_HEAD_CASES)


@exercise("merge_heads")
def check_merge_heads(merge_heads):
    """`merge_heads(x)`: (B, N, T, H) -> (B, T, N*H)."""
    for seed, (b, t, n, h) in enumerate(_HEAD_CASES):
        where = sizes(B=b, T=t, N=n, H=h)
        x = _rng(seed).normal(size=(b, n, t, h)).astype("float32")
        got = array(call(merge_heads, x, where=where), "merge_heads(x)")
        expect_shape(
            got,
            (b, t, n * h),
            "merge_heads(x)",
            "(B, T, N*H)",
            where,
            {
                (b, n, t * h): "merge_time_and_depth",
                (b, t, n, h): "merge_no_reshape",
            },
        )
        diagnose(
            got,
            x.transpose(0, 2, 1, 3).reshape(b, t, n * h),
            [
                (x.reshape(b, t, n * h), "merge_reshape_straight", {}),
                (
                    x.transpose(0, 2, 3, 1).reshape(b, t, n * h),
                    "merge_interleaved",
                    {},
                ),
            ],
            "merge_heads(x)",
            where,
        )
    return len(_HEAD_CASES)


# --- 04: sinusoid table -------------------------------------------------------


def _sinusoid(length, depth, exponent=2, invert=False):
    pos = np.arange(length)[:, None]
    i = np.arange(depth // 2)[None, :]
    rate = 10000.0 ** (exponent * i / depth)
    angle = pos * rate if invert else pos / rate  # (L, D/2)
    return np.sin(angle), np.cos(angle)


def _interleave(even, odd):
    table = np.zeros((even.shape[0], 2 * even.shape[1]))
    table[:, 0::2], table[:, 1::2] = even, odd
    return table


@exercise("sinusoid_table")
def check_sinusoid_table(sinusoid_table):
    """`sinusoid_table(length, depth)` -> (length, depth)."""
    cases = [(7, 6), (11, 10), (5, 16)]
    for length, depth in cases:
        where = sizes(length=length, depth=depth)
        got = call(sinusoid_table, length, depth, where=where)
        got = array(got, "sinusoid_table(length, depth)")
        expect_shape(
            got,
            (length, depth),
            "sinusoid_table(length, depth)",
            "(length, depth)",
            where,
        )
        sin, cos = _sinusoid(length, depth)
        diagnose(
            got,
            _interleave(sin, cos),
            [
                (_interleave(cos, sin), "sin_cos_swapped", {}),
                (np.concatenate([sin, cos], 1), "halves_not_interleaved", {}),
                (_interleave(*_sinusoid(length, depth, 1)), "exponent_i", {}),
                (
                    _interleave(*_sinusoid(length, depth, invert=True)),
                    "frequency_inverted",
                    {},
                ),
            ],
            "sinusoid_table(length, depth)",
            where,
        )
    return len(cases)


# --- 05: decoder self-attention mask ------------------------------------------


@exercise("decoder_self_mask")
def check_decoder_self_mask(decoder_self_mask):
    """`decoder_self_mask(decoder_in)`: ids (B, T) -> bool (B, T, T)."""
    cases = [(3, 6), (2, 9), (4, 5)]
    for seed, (b, t) in enumerate(cases):
        where = sizes(B=b, T=t)
        rng = _rng(seed)
        ids = rng.integers(1, 30, (b, t))
        for row, length in enumerate(rng.integers(2, t, b)):
            ids[row, length:] = 0  # padding at the end
        ids[0, :] = rng.integers(1, 30, t)  # one row without padding
        got = call(decoder_self_mask, ids, where=where)
        got = array(got, "decoder_self_mask(decoder_in)")
        expect_shape(
            got, (b, t, t), "decoder_self_mask(decoder_in)", "(B, T, T)", where
        )
        if got.dtype != bool:
            raise Mistake(
                "not_bool",
                what="decoder_self_mask(decoder_in)",
                dtype=str(got.dtype),
            )
        pad = (ids != 0)[:, None, :]  # (B, 1, T)
        tril = np.tril(np.ones((t, t), bool))
        full = (b, t, t)
        diagnose(
            got.astype("float32"),
            (pad & tril).astype("float32"),
            [
                (~pad & tril, "padding_inverted", {}),
                (pad & np.triu(np.ones((t, t), bool)), "causal_upper", {}),
                (pad & np.tril(np.ones((t, t), bool), -1), "causal_strict", {}),
                (pad.transpose(0, 2, 1) & tril, "padding_on_queries", {}),
                (pad | tril, "masks_or", {}),
                (np.broadcast_to(tril, full), "padding_missing", {}),
                (np.broadcast_to(pad, full), "causal_missing", {}),
            ],
            "decoder_self_mask(decoder_in)",
            where,
        )
    return len(cases)


# --- 06: additive (Bahdanau) score --------------------------------------------


@exercise("additive_scores")
def check_additive_scores(additive_scores):
    """`additive_scores(query, keys, w_q, w_k, v)` -> (B, T, S)."""
    cases = [(2, 3, 5, 4, 6, 7), (3, 4, 2, 5, 3, 6), (1, 6, 4, 3, 8, 5)]
    for seed, (b, t, s, dq, dk, u) in enumerate(cases):
        where = sizes(B=b, T=t, S=s, Dq=dq, Dk=dk, units=u)
        rng = _rng(seed)
        query = rng.normal(size=(b, t, dq)).astype("float32")
        keys = rng.normal(size=(b, s, dk)).astype("float32")
        w_q = rng.normal(size=(dq, u)).astype("float32")
        w_k = rng.normal(size=(dk, u)).astype("float32")
        v = rng.normal(size=(u,)).astype("float32")
        got = call(additive_scores, query, keys, w_q, w_k, v, where=where)
        got = array(got, "additive_scores(...)")
        expect_shape(
            got,
            (b, t, s),
            "additive_scores(...)",
            "(B, T, S)",
            where,
            {(b, s, t): "additive_transposed"},
        )
        q = (query @ w_q)[:, :, None, :]  # (B, T, 1, u)
        k = (keys @ w_k)[:, None, :, :]  # (B, 1, S, u)
        diagnose(
            got,
            np.tanh(q + k) @ v,
            [
                ((q + k) @ v, "no_tanh", {}),
                (np.tanh((q + k) @ v), "tanh_outside", {}),
                ((query @ w_q) @ _swap(keys @ w_k), "multiplicative", {}),
                ((q * k) @ v, "multiplicative", {}),
                (np.tanh(q * k) @ v, "multiplicative", {}),
            ],
            "additive_scores(...)",
            where,
        )
    return len(cases)


# --- 07: squeeze-and-excitation -----------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _excite(squeezed, w1, b1, w2, b2):
    return np.maximum(squeezed @ w1 + b1, 0) @ w2 + b2  # (B, C)


@exercise("squeeze_excite")
def check_squeeze_excite(squeeze_excite):
    """`squeeze_excite(x, w1, b1, w2, b2)` -> (y (B, H, W, C), gates (B, C))."""
    cases = [(2, 3, 5, 8, 2), (3, 4, 2, 6, 3), (1, 5, 3, 12, 4)]
    for seed, (b, h, w, c, hidden) in enumerate(cases):
        where = sizes(B=b, H=h, W=w, C=c)
        rng = _rng(seed)
        x = rng.normal(1.0, 1.0, size=(b, h, w, c)).astype("float32")
        w1 = rng.normal(size=(c, hidden)).astype("float32")
        b1 = rng.normal(size=(hidden,)).astype("float32")
        w2 = rng.normal(size=(hidden, c)).astype("float32")
        b2 = rng.normal(size=(c,)).astype("float32")
        result = call(squeeze_excite, x, w1, b1, w2, b2, where=where)
        y, gates = pair(result, "squeeze_excite", "y", "gates")
        gates, y = array(gates, "gates"), array(y, "y")
        expect_shape(gates, (b, c), "gates", "(B, C)", where)
        expect_shape(
            y,
            (b, h, w, c),
            "y",
            "(B, H, W, C)",
            where,
            {(b, c): "se_gates_only"},
        )

        weights = (w1, b1, w2, b2)
        logits = _excite(x.mean(axis=(1, 2)), *weights)
        g_ref = _sigmoid(logits)
        diagnose(
            gates,
            g_ref,
            [
                (_sigmoid(_excite(x.max(axis=(1, 2)), *weights)), "se_max", {}),
                (logits, "se_no_sigmoid", {}),
                (_softmax(logits), "se_softmax", {}),
            ],
            "gates",
            where,
        )
        diagnose(
            y,
            x * g_ref[:, None, None, :],
            [(x * g_ref.mean(), "se_single_gate", {})],
            "y",
            where,
        )
    return len(cases)


# --- 08: SAGAN attention over pixels ------------------------------------------


def _sagan_logits(image, w_q, w_k):
    b, h, w, c = image.shape
    flat = image.reshape(b, h * w, c)  # (B, N, C), row by row
    return (flat @ w_q) @ _swap(flat @ w_k), flat


@exercise("sagan_attention")
def check_sagan_attention(sagan_attention):
    """`sagan_attention(x, w_q, w_k, w_v, w_o, gamma)` -> (y (B, H, W, C),
    beta (B, N, N)) with N = H*W."""
    cases = [(2, 3, 4, 8, 2, 0.7), (3, 2, 5, 12, 3, 0.3), (1, 4, 3, 8, 2, -0.5)]
    for seed, (b, h, w, c, cq, gamma) in enumerate(cases):
        where = sizes(B=b, H=h, W=w, C=c)
        rng = _rng(seed)
        x = rng.normal(size=(b, h, w, c)).astype("float32")
        w_q, w_k = (rng.normal(size=(c, cq)).astype("float32") for _ in "qk")
        w_v = rng.normal(size=(c, c // 2)).astype("float32")
        w_o = rng.normal(size=(c // 2, c)).astype("float32")
        result = call(
            sagan_attention, x, w_q, w_k, w_v, w_o, gamma, where=where
        )
        y, beta = pair(result, "sagan_attention", "y", "beta")
        beta, y = array(beta, "beta"), array(y, "y")
        n = h * w
        expect_shape(beta, (b, n, n), "beta", "(B, H·W, H·W)", where)
        expect_shape(y, (b, h, w, c), "y", "(B, H, W, C)", where)

        scores, flat = _sagan_logits(x, w_q, w_k)
        column_order = _sagan_logits(x.transpose(0, 2, 1, 3), w_q, w_k)[0]
        beta_ref = _softmax(scores)
        diagnose(
            beta,
            beta_ref,
            [
                (_softmax(scores / np.sqrt(cq)), "sagan_scaled", {}),
                (_softmax(scores, -2), "softmax_query_axis", {}),
                (_softmax(_swap(scores)), "sagan_transposed", {}),
                (_softmax(column_order), "sagan_pixel_order", {}),
            ],
            "beta",
            where,
        )
        o = beta_ref @ (flat @ w_v) @ w_o  # (B, N, C)
        diagnose(
            y,
            (gamma * o + flat).reshape(x.shape),
            [
                (o.reshape(x.shape), "sagan_residual", {}),
                ((o + flat).reshape(x.shape), "sagan_residual", {}),
                ((gamma * o).reshape(x.shape), "sagan_residual", {}),
            ],
            "y",
            where,
        )
    return len(cases)


# --- 09: BERT's 80/10/10 ------------------------------------------------------


def _bert_case(seed, n, length, mask_id, vocabulary_size):
    rng = _rng(seed)
    tokens = rng.integers(mask_id + 1, vocabulary_size, (n, length))
    tokens[:, 0] = 1  # [CLS]
    for row, end in enumerate(rng.integers(length // 2, length + 1, n)):
        tokens[row, end:] = 0  # padding
    chosen = (tokens > mask_id) & (rng.random(tokens.shape) < 0.5)
    action = rng.random(tokens.shape)
    rows, cols = np.nonzero(chosen)
    action[rows[:3], cols[:3]] = (0.3, 0.85, 0.95)  # one of each kind
    random_words = rng.integers(mask_id + 1, vocabulary_size, tokens.shape)
    same = random_words == tokens
    random_words[same] = (
        mask_id + 1 + (tokens[same] - mask_id) % (vocabulary_size - mask_id - 1)
    )
    return tokens, chosen, action, random_words


@exercise("mask_80_10_10")
def check_mask_80_10_10(mask_80_10_10):
    """`mask_80_10_10(tokens, chosen, action, random_words, mask_id)` ->
    (inputs (N, L) ints, weights (N, L) floats)."""
    cases = [(4, 9, 4, 30), (6, 7, 6, 25), (3, 12, 3, 40)]
    for seed, (n, length, mask_id, vocabulary_size) in enumerate(cases):
        where = sizes(N=n, L=length, mask_id=mask_id)
        case = _bert_case(seed, n, length, mask_id, vocabulary_size)
        tokens, chosen, action, random_words = case
        original = tokens.copy()
        result = call(mask_80_10_10, *case, mask_id, where=where)
        if not np.array_equal(tokens, original):
            raise Mistake("bert_in_place", sizes=where)
        inputs, weights = pair(result, "mask_80_10_10", "inputs", "weights")
        inputs, weights = array(inputs, "inputs"), array(weights, "weights")
        expect_shape(inputs, tokens.shape, "inputs", "(N, L)", where)
        expect_shape(weights, tokens.shape, "weights", "(N, L)", where)
        to_mask = chosen & (action < 0.8)
        to_swap = chosen & (action >= 0.8) & (action < 0.9)
        expected = np.where(to_mask, mask_id, tokens)
        expected = np.where(to_swap, random_words, expected)
        if not np.array_equal(inputs, expected):
            _diagnose_bert_inputs(inputs, case, mask_id, where)
        diagnose(
            weights.astype("float32"),
            chosen.astype("float32"),
            [
                (expected != tokens, "bert_weights_changed_only", {}),
                (tokens > mask_id, "bert_weights_everywhere", {}),
                (tokens != 0, "bert_weights_everywhere", {}),
                (np.ones(tokens.shape), "bert_weights_everywhere", {}),
            ],
            "weights",
            where,
        )
    return len(cases)


def _diagnose_bert_inputs(inputs, case, mask_id, where):
    tokens, chosen, action, random_words = case
    masked = inputs == mask_id
    swapped = (inputs != tokens) & ~masked
    if (masked | swapped)[~chosen].any():
        raise Mistake("bert_unchosen_changed", sizes=where)
    if np.array_equal(masked, chosen):
        raise Mistake("bert_all_masked", sizes=where)
    if not swapped.any():
        raise Mistake("bert_no_random", sizes=where)
    a = action[chosen]
    counts = {
        "mask": (a < 0.8).sum(),
        "random": ((a >= 0.8) & (a < 0.9)).sum(),
        "kept": (a >= 0.9).sum(),
        "got_mask": masked[chosen].sum(),
        "got_random": swapped[chosen].sum(),
        "got_kept": (~masked & ~swapped)[chosen].sum(),
    }
    raise Mistake("bert_split", counts=Text("bert_counts", **counts))


# --- 10: next-token targets and temperature -----------------------------------


@exercise("split_window")
def check_split_window(split_window):
    """`split_window(windows)`: (N, T+1) -> (inputs (N, T), targets (N, T))."""
    cases = [(3, 6), (5, 9), (2, 4)]
    for seed, (n, t) in enumerate(cases):
        where = sizes(N=n, T=t)
        windows = _rng(seed).permutation(n * (t + 1)).reshape(n, t + 1)
        result = call(split_window, windows, where=where)
        inputs, targets = pair(result, "split_window", "inputs", "targets")
        inputs, targets = array(inputs, "inputs"), array(targets, "targets")
        expect_shape(inputs, (n, t), "inputs", "(N, T)", where)
        expect_shape(targets, (n, t), "targets", "(N, T)", where)
        first, rest = windows[:, :-1], windows[:, 1:]
        if np.array_equal(inputs, targets):
            raise Mistake("shift_none", sizes=where)
        if np.array_equal(inputs, rest) and np.array_equal(targets, first):
            raise Mistake("shift_reversed", sizes=where)
        diagnose(inputs, first, [], "inputs", where)
        diagnose(targets, rest, [], "targets", where)
    return len(cases)


@exercise("next_char_probs")
def check_next_char_probs(next_char_probs):
    """`next_char_probs(logits, temperature)`: (V,) -> probabilities (V,)."""
    cases = [(7, 0.5), (12, 2.0), (5, 0.25)]
    for seed, (vocabulary_size, tau) in enumerate(cases):
        where = sizes(V=vocabulary_size, temperature=tau)
        logits = _rng(seed).normal(size=vocabulary_size) * 3.0
        got = call(next_char_probs, logits, tau, where=where)
        got = array(got, "next_char_probs(logits, temperature)")
        expect_shape(
            got,
            logits.shape,
            "next_char_probs(logits, temperature)",
            "(V,)",
            where,
        )
        z = logits / tau - (logits / tau).max()
        diagnose(
            got,
            _softmax(logits / tau),
            [
                (_softmax(logits * tau), "temperature_multiplied", {}),
                (_softmax(logits), "temperature_ignored", {}),
                (z / z.sum(), "no_exp", {}),
            ],
            "next_char_probs(logits, temperature)",
            where,
        )
    return len(cases)


# --- 00: attention, intuitively -----------------------------------------------


@exercise("attend")
def check_attend(attend):
    """`attend(scores, values)`: scores (T, S), values (S, Dv) ->
    (output (T, Dv), weights (T, S)), softmax over the keys."""
    cases = [(2, 3, 4), (4, 6, 2), (1, 5, 7)]
    for seed, (t, s, dv) in enumerate(cases):
        where = sizes(T=t, S=s, Dv=dv)
        rng = _rng(seed)
        scores = (rng.normal(size=(t, s)) * 2.0 + 1.0).astype("float32")
        values = rng.normal(size=(s, dv)).astype("float32")
        result = call(attend, scores, values, where=where)
        output, weights = pair(result, "attend", "output", "weights")
        weights, output = array(weights, "weights"), array(output, "output")
        expect_shape(weights, (t, s), "weights", "(T, S)", where)
        expect_shape(output, (t, dv), "output", "(T, Dv)", where)
        exp = np.exp(scores)
        diagnose(
            weights,
            _softmax(scores),
            [
                (scores, "no_softmax", {}),
                (_softmax(scores, axis=0), "softmax_query_axis", {}),
                (scores / scores.sum(-1, keepdims=True), "divided_by_sum", {}),
                (exp, "not_normalised", {}),
            ],
            "weights",
            where,
        )
        diagnose(
            output,
            _softmax(scores) @ values,
            [
                (scores @ values, "output_from_scores", {}),
                (np.tile(values.mean(0), (t, 1)), "plain_mean", {}),
            ],
            "output",
            where,
        )
    return len(cases)


# --- 00b: why each piece: the feed-forward network ----------------------------


@exercise("feed_forward")
def check_feed_forward(feed_forward):
    """`feed_forward(x, w1, b1, w2, b2)`: (B, T, D) -> (B, T, D),
    max(0, x W1 + b1) W2 + b2 at every position."""
    cases = [(2, 3, 4, 10), (3, 5, 6, 8), (1, 4, 2, 7)]  # B, T, D, F
    for seed, (b, t, d, f) in enumerate(cases):
        where = sizes(B=b, T=t, D=d, F=f)
        rng = _rng(seed)
        x = rng.normal(size=(b, t, d)).astype("float32")
        w1 = rng.normal(size=(d, f)).astype("float32")
        b1 = rng.normal(size=f).astype("float32")
        w2 = rng.normal(size=(f, d)).astype("float32")
        b2 = rng.normal(size=d).astype("float32")
        got = call(feed_forward, x, w1, b1, w2, b2, where=where)
        what = "feed_forward(x, w1, b1, w2, b2)"
        got = array(got, what)
        expect_shape(got, (b, t, d), what, "(B, T, D)", where)
        pre = x @ w1 + b1  # (B, T, F)
        diagnose(
            got,
            np.maximum(0.0, pre) @ w2 + b2,
            [
                (pre @ w2 + b2, "ffn_no_relu", {}),
                (np.maximum(0.0, pre @ w2 + b2), "ffn_relu_outside", {}),
                (
                    np.maximum(0.0, x @ w1) @ w2 + b1 @ w2 + b2,
                    "ffn_bias_after",
                    {},
                ),
                (np.maximum(0.0, pre) @ w2, "ffn_no_b2", {}),
                (x + np.maximum(0.0, pre) @ w2 + b2, "ffn_residual", {}),
            ],
            what,
            where,
        )
    return len(cases)


# --- 11: rotary position embedding (rotate-half) ------------------------------


def _rope(x, exponent=2.0, sign=1.0, layout="half", swap=False):
    """RoPE of x (B, T, N, H) at positions 0..T-1, one mistake switchable."""
    length, depth = x.shape[1], x.shape[-1]
    half = depth // 2
    theta = 10000.0 ** (-exponent * np.arange(half) / depth)  # (H/2,)
    angles = np.arange(length)[:, None] * theta  # (T, H/2)
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    if swap:  # x sin + rotate_half(x) cos
        cos, sin = sin, cos
    if layout == "half":
        x1, x2 = x[..., :half], x[..., half:]
    else:  # pairs (2i, 2i + 1)
        x1, x2 = x[..., 0::2], x[..., 1::2]
    y1 = x1 * cos - sign * x2 * sin
    y2 = x2 * cos + sign * x1 * sin
    if layout == "half":
        return np.concatenate([y1, y2], -1)
    y = np.empty_like(x)
    y[..., 0::2], y[..., 1::2] = y1, y2
    return y


@exercise("apply_rope")
def check_apply_rope(apply_rope):
    """`apply_rope(x)`: (B, T, N, H) -> (B, T, N, H), the pair (i, i + H/2)
    at position p turned by p · θ_i, θ_i = 10000^(−2i/H)."""
    cases = [(2, 5, 3, 6), (1, 7, 2, 10), (3, 4, 1, 4)]  # B, T, N, H
    for seed, (b, t, n, h) in enumerate(cases):
        where = sizes(B=b, T=t, N=n, H=h)
        x = _rng(seed).normal(size=(b, t, n, h)).astype("float32")
        got = array(call(apply_rope, x, where=where), "apply_rope(x)")
        expect_shape(got, x.shape, "apply_rope(x)", "(B, T, N, H)", where)
        diagnose(
            got,
            _rope(x),
            [
                (_rope(x, exponent=-2.0), "rope_theta_inverted", {}),
                (_rope(x, exponent=1.0), "rope_exponent_i", {}),
                (_rope(x, sign=-1.0), "rope_wrong_direction", {}),
                (_rope(x, layout="pairs"), "rope_interleaved", {}),
                (_rope(x, swap=True), "rope_cos_sin_swapped", {}),
            ],
            "apply_rope(x)",
            where,
        )
    return len(cases)
