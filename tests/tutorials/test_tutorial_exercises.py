"""Every exercise check passes its solution and names each listed mistake,
in English and in Japanese, and never substitutes a solution."""

import re
import string
import sys
from pathlib import Path

import numpy as np
import pytest
from keras import ops

sys.path.insert(0, str(Path(__file__).parents[2] / "tutorials"))

from exercises import checks  # noqa: E402
from exercises import feedback  # noqa: E402
from exercises import solutions  # noqa: E402
from exercises.messages import MESSAGES  # noqa: E402

from tests.tutorials._notebooks import LANGUAGES  # noqa: E402
from tests.tutorials._notebooks import graded_exercises  # noqa: E402
from tests.tutorials._notebooks import sources  # noqa: E402

# Notebook-like globals that a hard-coded answer reads (the checks use
# other sizes).
B, T, S, N, H, HV = 2, 3, 5, 3, 8, 6
MASK = 2

_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _blank(*args):
    return ___  # noqa: F821 - the scaffold's blank, never filled


def _typo(*args):
    return undefined_helper(*args)  # noqa: F821


def _no_return(*args):
    args[0] * 2  # the result is computed but not returned


# --- 01 -----------------------------------------------------------------------


def context_softmax_axis(dec, states):
    scores = ops.matmul(dec, ops.swapaxes(states, 1, 2))
    weights = ops.softmax(scores, axis=1)
    return ops.matmul(weights, states), weights


def context_no_softmax(dec, states):
    scores = ops.matmul(dec, ops.swapaxes(states, 1, 2))
    return ops.matmul(scores, states), scores


def context_from_scores(dec, states):
    scores = ops.matmul(dec, ops.swapaxes(states, 1, 2))
    return ops.matmul(scores, states), ops.softmax(scores, axis=-1)


def context_no_transpose(dec, states):
    scores = ops.matmul(dec, states)  # (B, T, U) @ (B, S, U): fails
    weights = ops.softmax(scores)
    return ops.matmul(weights, states), weights


def context_scores_transposed(dec, states):
    context, weights = solutions.attention_context(dec, states)
    return context, ops.swapaxes(weights, 1, 2)


def context_weights_only(dec, states):
    return solutions.attention_context(dec, states)[1]


# --- 02 -----------------------------------------------------------------------


def _attention(scale=None, axis=-1, softmax=True, mask_fn=None, after=False):
    """The solution with exactly one mistake switched on."""

    def attention(query, key, value, mask=None):
        depth = query.shape[-1]
        s = depth**-0.5 if scale is None else scale(query, value)
        scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) * s
        if mask_fn is not None and mask is not None:
            mask = mask_fn(mask)
        if mask is not None and not after:
            scores = ops.where(mask, scores, -1e9)
        weights = ops.softmax(scores, axis=axis) if softmax else scores
        if mask is not None and after:
            weights = ops.where(mask, weights, 0.0)  # "set the weight to 0"
        return ops.matmul(weights, value), weights

    return attention


def attention_hard_coded(query, key, value, mask=None):
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / np.sqrt(H)
    if mask is not None:
        scores = ops.where(mask, scores, -1e9)
    weights = ops.softmax(scores, axis=-1)
    return ops.matmul(weights, value), weights


def attention_numpy_transpose(query, key, value, mask=None):
    scores = ops.matmul(query, key.T)  # .T reverses all three axes
    return scores, scores


def attention_bad_permutation(query, key, value, mask=None):
    scores = ops.matmul(query, ops.transpose(key, (0, 1, 2, 3)))
    return scores, scores


def attention_output_from_keys(query, key, value, mask=None):
    _, weights = solutions.attention(query, key, value, mask)
    return ops.matmul(weights, key), weights


def attention_scores_transposed(query, key, value, mask=None):
    out, weights = solutions.attention(query, key, value, mask)
    return out, ops.swapaxes(weights, -1, -2)


def attention_output_off(query, key, value, mask=None):
    out, weights = solutions.attention(query, key, value, mask)
    return out + 0.1, weights


def attention_nan(query, key, value, mask=None):
    out, weights = solutions.attention(query, key, value, mask)
    return out, weights * np.nan


def attention_no_mask_none(query, key, value, mask=None):
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2))
    scores = ops.where(mask, scores / query.shape[-1] ** 0.5, -1e9)
    weights = ops.softmax(scores)
    return ops.matmul(weights, value), weights


# --- 03 -----------------------------------------------------------------------


def split_no_transpose(x, num_heads):
    b, t, d = x.shape
    return ops.reshape(x, (b, t, num_heads, d // num_heads))


def split_reshape_straight(x, num_heads):
    b, t, d = x.shape
    return ops.reshape(x, (b, num_heads, t, d // num_heads))


def split_wrong_order(x, num_heads):
    b, t, d = x.shape
    x = ops.reshape(x, (b, t, d // num_heads, num_heads))
    return ops.transpose(x, (0, 3, 1, 2))


def split_depth_before_time(x, num_heads):
    return ops.swapaxes(solutions.split_heads(x, num_heads), -1, -2)


def split_into_batch(x, num_heads):
    b, t, d = x.shape
    y = solutions.split_heads(x, num_heads)
    return ops.reshape(y, (b * num_heads, t, d // num_heads))


def split_hard_coded(x, num_heads):
    x = ops.reshape(x, (B, T, N, H))
    return ops.transpose(x, (0, 2, 1, 3))


def split_literal_sizes(x, num_heads):
    x = ops.reshape(x, (2, 5, 3, 4))
    return ops.transpose(x, (0, 2, 1, 3))


def split_bad_permutation(x, num_heads):
    b, t, d = x.shape
    x = ops.reshape(x, (b, t, num_heads, d // num_heads))
    return ops.transpose(x, (0, 2, 1))


def merge_reshape_straight(x):
    b, n, t, h = x.shape
    return ops.reshape(x, (b, t, n * h))


def merge_interleaved(x):
    b, n, t, h = x.shape
    return ops.reshape(ops.transpose(x, (0, 2, 3, 1)), (b, t, n * h))


def merge_time_and_depth(x):
    b, n, t, h = x.shape
    return ops.reshape(x, (b, n, t * h))


def merge_no_reshape(x):
    return ops.transpose(x, (0, 2, 1, 3))


# --- 04 -----------------------------------------------------------------------


def _table(exponent=2, swap=False, halves=False, invert=False, fixed=None):
    def sinusoid_table(length, depth, max_wavelength=10000.0):
        if fixed:
            length, depth = fixed
        pos = np.arange(length)[:, None]
        i = np.arange(0, depth, 2)[None, :] * exponent / 2
        rate = max_wavelength ** (i / depth)
        angle = pos * rate if invert else pos / rate
        first, second = (np.cos, np.sin) if swap else (np.sin, np.cos)
        if halves:
            return np.concatenate([first(angle), second(angle)], axis=1)
        table = np.zeros((length, depth), "float32")
        table[:, 0::2] = first(angle)
        table[:, 1::2] = second(angle)
        return table

    return sinusoid_table


# --- 05 -----------------------------------------------------------------------


def _mask(pad="keys", polarity=True, tri=np.tril, k=0, combine="and"):
    def decoder_self_mask(decoder_in):
        t = decoder_in.shape[1]
        real = (decoder_in != 0) if polarity else (decoder_in == 0)
        pad_mask = real[:, None, :] if pad == "keys" else real[:, :, None]
        look_ahead = tri(np.ones((t, t), bool), k)
        if combine == "and":
            return pad_mask & look_ahead
        if combine == "or":
            return pad_mask | look_ahead
        if combine == "causal only":
            return np.broadcast_to(look_ahead, (len(decoder_in), t, t))
        return np.broadcast_to(pad_mask, (len(decoder_in), t, t))

    return decoder_self_mask


def mask_as_ints(decoder_in):
    return solutions.decoder_self_mask(decoder_in).astype("int32")


def mask_hard_coded_length(decoder_in):
    pad = (decoder_in != 0)[:, None, :]
    return pad & np.tril(np.ones((T, T), bool))


# --- 06 -----------------------------------------------------------------------


def _additive(kind):
    def additive_scores(query, keys, w_q, w_k, v):
        q = ops.matmul(query, w_q)[:, :, None, :]
        k = ops.matmul(keys, w_k)[:, None, :, :]
        if kind == "no tanh":
            return ops.matmul(q + k, v)
        if kind == "tanh outside":
            return ops.tanh(ops.matmul(q + k, v))
        if kind == "product":
            return ops.matmul(ops.tanh(q * k), v)
        if kind == "transposed":
            return ops.swapaxes(ops.matmul(ops.tanh(q + k), v), 1, 2)
        # no broadcasting axes: (B, T, u) + (B, S, u) fails
        q, k = ops.matmul(query, w_q), ops.matmul(keys, w_k)
        return ops.matmul(ops.tanh(q + k), v)

    return additive_scores


# --- 07 -----------------------------------------------------------------------


def _se(squeeze=ops.mean, gate=ops.sigmoid, scale="channel"):
    def squeeze_excite(x, w1, b1, w2, b2):
        squeezed = squeeze(x, axis=(1, 2))
        hidden = ops.relu(ops.matmul(squeezed, w1) + b1)
        gates = gate(ops.matmul(hidden, w2) + b2)
        if scale == "single":
            return x * ops.mean(gates), gates
        if scale == "gates":
            return gates, gates
        if scale == "wrong axes":
            return x * gates[:, :, None, None], gates
        return x * gates[:, None, None, :], gates

    return squeeze_excite


def _identity(x):
    return x


# --- 08 -----------------------------------------------------------------------


def _sagan(scaled=False, axis=-1, transposed=False, order="rows", y="ok"):
    def sagan_attention(x, w_q, w_k, w_v, w_o, gamma):
        b, height, width, c = x.shape
        if order == "columns":
            x_flat = ops.transpose(x, (0, 2, 1, 3))
        else:
            x_flat = x
        flat = ops.reshape(x_flat, (b, height * width, c))
        q, k = ops.matmul(flat, w_q), ops.matmul(flat, w_k)
        if transposed:
            q, k = k, q
        logits = ops.matmul(q, ops.swapaxes(k, 1, 2))
        if scaled:
            logits = logits / np.sqrt(w_q.shape[-1])
        beta = ops.softmax(logits, axis=axis)
        o = ops.matmul(ops.matmul(beta, ops.matmul(flat, w_v)), w_o)
        out = {"ok": gamma * o + flat, "no residual": o, "no gamma": o + flat}
        return ops.reshape(out[y], x.shape), beta

    return sagan_attention


def sagan_hard_coded(x, w_q, w_k, w_v, w_o, gamma):
    flat = ops.reshape(x, (2, 30, 16))
    return solutions.sagan_attention(flat, w_q, w_k, w_v, w_o, gamma)


# --- 09 -----------------------------------------------------------------------


def _bert(mask_below=0.8, swap=(0.8, 0.9), need_chosen=True, weights="ok"):
    def mask_80_10_10(tokens, chosen, action, random_words, mask_id):
        inputs = tokens.copy()
        where = chosen if need_chosen else np.ones_like(chosen)
        inputs[where & (action < mask_below)] = mask_id
        swapped = where & (action >= swap[0]) & (action < swap[1])
        inputs[swapped] = random_words[swapped]
        w = {
            "ok": chosen,
            "changed": inputs != tokens,
            "words": tokens > mask_id,
            "ones": np.ones_like(chosen),
        }[weights]
        return inputs, w.astype("float32")

    return mask_80_10_10


def bert_in_place(tokens, chosen, action, random_words, mask_id):
    tokens[chosen & (action < 0.8)] = mask_id
    return tokens, chosen.astype("float32")


def bert_global_mask(tokens, chosen, action, random_words, mask_id):
    inputs = tokens.copy()
    inputs[chosen & (action < 0.8)] = MASK
    swap = chosen & (action >= 0.8) & (action < 0.9)
    inputs[swap] = random_words[swap]
    return inputs, chosen.astype("float32")


# --- 10 -----------------------------------------------------------------------


def shift_none(windows):
    return windows[:, :-1], windows[:, :-1]


def shift_reversed(windows):
    return windows[:, 1:], windows[:, :-1]


def shift_whole(windows):
    return windows, windows[:, 1:]


def _probs(kind):
    def next_char_probs(logits, temperature):
        z = {
            "multiplied": logits * temperature,
            "ignored": logits,
        }.get(kind, logits / temperature)
        z = z - z.max()
        p = z if kind == "no exp" else np.exp(z)
        return p / p.sum()

    return next_char_probs


def probs_tensor_error(logits, temperature):
    z = ops.convert_to_tensor(logits) / temperature
    return z.reshape(-1)  # tensors have no .reshape: AttributeError


# --- 00 -----------------------------------------------------------------------


def _attend(weights_of, output="weighted"):
    """The reader's `attend` with the weights computed by `weights_of`."""

    def attend(scores, values):
        weights = weights_of(scores)
        if output == "scores":
            return ops.matmul(scores, values), weights
        if output == "mean":
            mean = ops.mean(values, axis=0, keepdims=True)  # (1, Dv)
            return ops.repeat(mean, scores.shape[0], axis=0), weights
        return ops.matmul(weights, values), weights

    return attend


def _softmax_rows(scores):
    return ops.softmax(scores, axis=-1)


def attend_hard_coded(scores, values):
    weights = ops.softmax(scores, axis=-1)
    output = ops.matmul(weights, values)  # (T, Dv)
    return ops.reshape(output, (T, -1)), weights  # T: the notebook's


def attend_values_first(scores, values):
    weights = ops.softmax(scores, axis=-1)
    return ops.matmul(values, weights), weights  # (S, Dv) @ (T, S)


# --- 00b ----------------------------------------------------------------------


def _ffn(kind):
    def feed_forward(x, w1, b1, w2, b2):
        pre = ops.matmul(x, w1) + b1
        if kind == "no relu":
            return ops.matmul(pre, w2) + b2
        if kind == "relu outside":
            return ops.relu(ops.matmul(pre, w2) + b2)
        if kind == "bias after":
            return ops.matmul(ops.relu(ops.matmul(x, w1)) + b1, w2) + b2
        if kind == "no b2":
            return ops.matmul(ops.relu(pre), w2)
        if kind == "residual":
            return x + ops.matmul(ops.relu(pre), w2) + b2
        raise ValueError(kind)

    return feed_forward


def ffn_wrong_order(x, w1, b1, w2, b2):
    return ops.matmul(ops.relu(ops.matmul(x, w2) + b1), w1) + b2


# --- 11 -----------------------------------------------------------------------


def _apply_rope(theta_of=None, partner="ok", swap=False, pairs=False):
    """The reader's `apply_rope` with one mistake switched on."""

    def apply_rope(x, max_wavelength=10000.0):
        length, depth = x.shape[1], x.shape[-1]
        i = np.arange(depth // 2)
        theta = (theta_of or (lambda i, d: max_wavelength ** (-2 * i / d)))(
            i, depth
        )
        angles = np.arange(length)[:, None] * theta  # (T, H/2)
        if pairs:  # RoFormer / GPT-J: pairs (2i, 2i + 1)
            cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
            x1, x2 = x[..., 0::2], x[..., 1::2]
            y = np.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
            return y.reshape(x.shape)
        angles = np.concatenate([angles, angles], -1)[:, None, :]
        x1, x2 = x[..., : depth // 2], x[..., depth // 2 :]
        rotated = {
            "ok": ops.concatenate([-x2, x1], axis=-1),
            "backwards": ops.concatenate([x2, -x1], axis=-1),
        }[partner]
        if swap:
            return x * np.sin(angles) + rotated * np.cos(angles)
        return x * np.cos(angles) + rotated * np.sin(angles)

    return apply_rope


def rope_hard_coded(x, max_wavelength=10000.0):
    return solutions.apply_rope(x[:, :T], max_wavelength)  # T: a global


def rope_wrong_concat(x, max_wavelength=10000.0):
    depth = x.shape[-1]
    x1, x2 = x[..., : depth // 2], x[..., depth // 2 :]
    return x * ops.concatenate([-x2, x1], axis=0)  # wrong axis: fails


# --- the table ----------------------------------------------------------------

MISTAKES = {
    checks.check_attend: [
        (_blank, "blank"),
        (_attend(lambda s: s), "no_softmax"),
        (_attend(lambda s: ops.softmax(s, axis=0)), "softmax_query_axis"),
        (
            _attend(lambda s: s / ops.sum(s, axis=-1, keepdims=True)),
            "divided_by_sum",
        ),
        (_attend(ops.exp), "not_normalised"),
        (_attend(_softmax_rows, output="scores"), "output_from_scores"),
        (_attend(_softmax_rows, output="mean"), "plain_mean"),
        (attend_values_first, "raised"),
        (attend_hard_coded, "hard_coded"),
        (_no_return, "not_pair"),
    ],
    checks.check_feed_forward: [
        (_blank, "blank"),
        (_ffn("no relu"), "ffn_no_relu"),
        (_ffn("relu outside"), "ffn_relu_outside"),
        (_ffn("bias after"), "ffn_bias_after"),
        (_ffn("no b2"), "ffn_no_b2"),
        (_ffn("residual"), "ffn_residual"),
        (ffn_wrong_order, "raised"),
    ],
    checks.check_apply_rope: [
        (_blank, "blank"),
        (
            _apply_rope(lambda i, d: 10000.0 ** (2 * i / d)),
            "rope_theta_inverted",
        ),
        (_apply_rope(lambda i, d: 10000.0 ** (-i / d)), "rope_exponent_i"),
        (_apply_rope(partner="backwards"), "rope_wrong_direction"),
        (_apply_rope(swap=True), "rope_cos_sin_swapped"),
        (_apply_rope(pairs=True), "rope_interleaved"),
        (rope_wrong_concat, "raised"),
        (rope_hard_coded, "hard_coded"),
    ],
    checks.check_attention_context: [
        (_blank, "blank"),
        (_typo, "undefined_name"),
        (context_softmax_axis, "context_softmax_axis"),
        (context_no_softmax, "no_softmax"),
        (context_from_scores, "context_from_scores"),
        (context_no_transpose, "raised"),
        (context_scores_transposed, "scores_transposed"),
        (context_weights_only, "not_pair"),
    ],
    checks.check_attention: [
        (_blank, "blank"),
        (_attention(softmax=False), "no_softmax"),
        (_attention(axis=-2), "softmax_query_axis"),
        (_attention(axis=0), "softmax_batch_axis"),
        (_attention(scale=lambda q, v: 1.0), "not_scaled"),
        (_attention(scale=lambda q, v: 1 / q.shape[-1]), "divided_by_dk"),
        (
            _attention(scale=lambda q, v: q.shape[-1] ** 0.5),
            "multiplied_by_sqrt_dk",
        ),
        (_attention(scale=lambda q, v: v.shape[-1] ** -0.5), "scaled_by_dv"),
        (_attention(mask_fn=ops.logical_not), "mask_inverted"),
        (_attention(mask_fn=lambda m: None), "mask_ignored"),
        (_attention(after=True), "zeroed_after_softmax"),
        (attention_hard_coded, "hard_coded"),
        (attention_bad_permutation, "raised"),
        (attention_numpy_transpose, "raised"),  # `.T` is not the global T
        (attention_no_mask_none, "raised"),
        (attention_output_from_keys, "output_from_keys"),
        (attention_scores_transposed, "scores_transposed"),
        (attention_nan, "nan"),
        (attention_output_off, "values"),
    ],
    checks.check_split_heads: [
        (_blank, "blank"),
        (split_no_transpose, "split_no_transpose"),
        (split_reshape_straight, "split_reshape_straight"),
        (split_wrong_order, "split_wrong_order"),
        (split_depth_before_time, "split_depth_before_time"),
        (split_into_batch, "split_into_batch"),
        (split_hard_coded, "hard_coded"),
        (split_literal_sizes, "raised"),
        (split_bad_permutation, "raised"),
    ],
    checks.check_merge_heads: [
        (_typo, "undefined_name"),
        (merge_reshape_straight, "merge_reshape_straight"),
        (merge_interleaved, "merge_interleaved"),
        (merge_time_and_depth, "merge_time_and_depth"),
        (merge_no_reshape, "merge_no_reshape"),
    ],
    checks.check_sinusoid_table: [
        (_blank, "blank"),
        (_table(swap=True), "sin_cos_swapped"),
        (_table(halves=True), "halves_not_interleaved"),
        (_table(exponent=1), "exponent_i"),
        (_table(invert=True), "frequency_inverted"),
        (_table(fixed=(64, 32)), "shape"),
        (_no_return, "not_array"),
    ],
    checks.check_decoder_self_mask: [
        (_blank, "blank"),
        (_mask(polarity=False), "padding_inverted"),
        (_mask(tri=np.triu), "causal_upper"),
        (_mask(k=-1), "causal_strict"),
        (_mask(pad="queries"), "padding_on_queries"),
        (_mask(combine="or"), "masks_or"),
        (_mask(combine="causal only"), "padding_missing"),
        (_mask(combine="padding only"), "causal_missing"),
        (mask_as_ints, "not_bool"),
        (mask_hard_coded_length, "hard_coded"),
    ],
    checks.check_additive_scores: [
        (_blank, "blank"),
        (_additive("no tanh"), "no_tanh"),
        (_additive("tanh outside"), "tanh_outside"),
        (_additive("product"), "multiplicative"),
        (_additive("transposed"), "additive_transposed"),
        (_additive("no broadcast"), "raised"),
    ],
    checks.check_squeeze_excite: [
        (_blank, "blank"),
        (_se(squeeze=ops.max), "se_max"),
        (_se(gate=_identity), "se_no_sigmoid"),
        (_se(gate=ops.softmax), "se_softmax"),
        (_se(scale="single"), "se_single_gate"),
        (_se(scale="gates"), "se_gates_only"),
        (_se(scale="wrong axes"), "raised"),
    ],
    checks.check_sagan_attention: [
        (_blank, "blank"),
        (_sagan(scaled=True), "sagan_scaled"),
        (_sagan(axis=-2), "softmax_query_axis"),
        (_sagan(transposed=True), "sagan_transposed"),
        (_sagan(order="columns"), "sagan_pixel_order"),
        (_sagan(y="no residual"), "sagan_residual"),
        (_sagan(y="no gamma"), "sagan_residual"),
        (sagan_hard_coded, "raised"),
    ],
    checks.check_mask_80_10_10: [
        (_blank, "blank"),
        (_bert(mask_below=1.0, swap=(2, 2)), "bert_all_masked"),
        (_bert(swap=(2, 2)), "bert_no_random"),
        (_bert(need_chosen=False), "bert_unchosen_changed"),
        (_bert(mask_below=0.7, swap=(0.7, 0.9)), "bert_split"),
        (_bert(weights="changed"), "bert_weights_changed_only"),
        (_bert(weights="words"), "bert_weights_everywhere"),
        (_bert(weights="ones"), "bert_weights_everywhere"),
        (bert_in_place, "bert_in_place"),
        (bert_global_mask, "hard_coded"),
    ],
    checks.check_split_window: [
        (_blank, "blank"),
        (shift_none, "shift_none"),
        (shift_reversed, "shift_reversed"),
        (shift_whole, "shape"),
    ],
    checks.check_next_char_probs: [
        (_blank, "blank"),
        (_probs("multiplied"), "temperature_multiplied"),
        (_probs("ignored"), "temperature_ignored"),
        (_probs("no exp"), "no_exp"),
        (probs_tensor_error, "raised"),
        (_no_return, "not_array"),
    ],
}

SOLUTIONS = {
    checks.check_attend: solutions.attend,
    checks.check_feed_forward: solutions.feed_forward,
    checks.check_apply_rope: solutions.apply_rope,
    checks.check_attention_context: solutions.attention_context,
    checks.check_attention: solutions.attention,
    checks.check_split_heads: solutions.split_heads,
    checks.check_merge_heads: solutions.merge_heads,
    checks.check_sinusoid_table: solutions.sinusoid_table,
    checks.check_decoder_self_mask: solutions.decoder_self_mask,
    checks.check_additive_scores: solutions.additive_scores,
    checks.check_squeeze_excite: solutions.squeeze_excite,
    checks.check_sagan_attention: solutions.sagan_attention,
    checks.check_mask_80_10_10: solutions.mask_80_10_10,
    checks.check_split_window: solutions.split_window,
    checks.check_next_char_probs: solutions.next_char_probs,
}


def _cases():
    for check, mistakes in MISTAKES.items():
        for answer, code in mistakes:
            name = getattr(answer, "__qualname__", answer.__name__)
            yield pytest.param(
                check,
                answer,
                code,
                id=f"{check.__name__[6:]}-{code}-{name.split('.')[0]}",
            )


def _literal(template):
    """The text of a template up to its first field."""
    return template.split("{")[0].strip()[:20]


@pytest.mark.parametrize("check, answer, code", list(_cases()))
def test_check_names_the_mistake(check, answer, code, monkeypatch):
    """The check stops with the hint `code`, and the hint reads right in
    English and in Japanese (rendered from the same failure)."""
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "en")
    with pytest.raises(checks.ExerciseError) as info:
        check(answer)
    assert info.value.code == code, str(info.value)
    assert str(info.value) == info.value.in_language("en")
    for language, template in zip(("en", "ja"), MESSAGES[code]):
        message = info.value.in_language(language)
        assert _literal(template) in message, message
        assert message.startswith("✗ `")
        assert bool(_CJK.search(message)) == (language == "ja"), message
        assert "np.int" not in message and "np.float" not in message
        assert "Traceback" not in message


@pytest.mark.parametrize(
    "check, answer, code",
    [
        (
            checks.check_attention,
            _attention(after=True),
            "zeroed_after_softmax",
        ),
        (
            checks.check_attention,
            _attention(scale=lambda q, v: v.shape[-1] ** -0.5),
            "scaled_by_dv",
        ),
        (checks.check_split_heads, split_hard_coded, "hard_coded"),
        (
            checks.check_mask_80_10_10,
            _bert(mask_below=0.7, swap=(0.7, 0.9)),
            "bert_split",
        ),
    ],
)
def test_the_reader_gets_japanese_in_japanese_notebooks(
    check, answer, code, monkeypatch
):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "ja")
    with pytest.raises(checks.ExerciseError) as info:
        check(answer)
    assert info.value.code == code
    assert str(info.value) == info.value.in_language("ja")
    assert _CJK.search(str(info.value))


def test_every_mistake_message_is_tested():
    tested = {code for mistakes in MISTAKES.values() for _, code in mistakes}
    verdicts = {"correct", "failed", "solution_used", "bert_counts"}
    assert set(MESSAGES) - verdicts - tested == set()


def test_hard_coded_hint_names_the_global(monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "en")
    with pytest.raises(checks.ExerciseError) as info:
        checks.check_split_heads(split_hard_coded)
    assert "`B`, `H`, `N`, `T`" in str(info.value)


def test_raised_hint_quotes_the_line_and_the_sizes(monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "en")
    with pytest.raises(checks.ExerciseError) as info:
        checks.check_split_heads(split_bad_permutation)
    message = str(info.value)
    assert "return ops.transpose(x, (0, 2, 1))" in message
    assert "B=2, T=4, N=3, H=6" in message


def test_blank_hint_quotes_the_line(monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "ja")
    with pytest.raises(checks.ExerciseError) as info:
        checks.check_merge_heads(_blank)
    assert "return ___" in str(info.value)
    assert "空欄" in str(info.value)


@pytest.mark.parametrize("check, solution", SOLUTIONS.items())
@pytest.mark.parametrize("language", ["en", "ja"])
def test_solutions_pass(check, solution, language, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", language)
    assert check(solution) is None  # a verdict, never a function
    out = capsys.readouterr().out
    assert out.startswith("✓") and bool(_CJK.search(out)) == (language == "ja")


def test_every_check_has_mistakes_and_a_solution():
    public = {
        getattr(checks, name)
        for name in dir(checks)
        if name.startswith("check_")
    }
    assert public == set(MISTAKES) == set(SOLUTIONS)


def test_the_checker_never_substitutes():
    assert not hasattr(checks, "run")  # the old fall-back to the solution
    with pytest.raises(checks.ExerciseError):
        checks.check_split_heads(_blank)


def test_exercise_error_renders_without_traceback(monkeypatch):
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "en")
    with pytest.raises(checks.ExerciseError) as info:
        checks.check_split_heads(split_no_transpose)
    lines = info.value._render_traceback_()  # what IPython shows
    assert lines == str(info.value).splitlines()
    assert "forgot to transpose" in lines[-1]


def test_solutions_only_when_requested(monkeypatch, capsys):
    monkeypatch.delenv("KERAS_ATTN_TUTORIAL_SOLUTIONS", raising=False)
    assert solutions.if_requested(_blank) is _blank
    assert capsys.readouterr().out == ""

    def split_heads(x, num_heads):
        return ___  # noqa: F821

    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_SOLUTIONS", "1")
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "en")
    assert solutions.if_requested(split_heads) is solutions.split_heads
    assert "reference `split_heads`" in capsys.readouterr().out


def test_language_from_env_script_notebook_and_cwd(monkeypatch, tmp_path):
    for name in ("KERAS_ATTN_TUTORIAL_LANG", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__file__", "/x/pytest", raising=False)
    (tmp_path / "ja").mkdir()
    (tmp_path / "en").mkdir()
    monkeypatch.chdir(tmp_path / "ja")  # Jupyter and nbclient: cwd
    assert feedback.language() == "ja"
    monkeypatch.chdir(tmp_path / "en")
    assert feedback.language() == "en"
    monkeypatch.chdir(tmp_path)
    assert feedback.language() == "en"  # the default
    monkeypatch.setenv("JPY_SESSION_NAME", "/t/tutorials/ja/03_x.ipynb")
    assert feedback.language() == "ja"
    monkeypatch.setattr(main, "__file__", "/t/tutorials/en/03_x.py")
    assert feedback.language() == "en"  # `python en/03_x.py`
    monkeypatch.setenv("KERAS_ATTN_TUTORIAL_LANG", "ja")
    assert feedback.language() == "ja"


def test_messages_have_both_languages_with_the_same_fields():
    def fields(template):
        return sorted(
            f for _, f, _, _ in string.Formatter().parse(template) if f
        )

    for code, (english, japanese) in MESSAGES.items():
        assert fields(english) == fields(japanese), code
        assert not _CJK.search(english), code
        assert _CJK.search(japanese) or code == "failed", code


def test_numbers_in_messages_are_plain():
    assert feedback.plain((np.int64(0), np.int64(3))) == (0, 3)
    assert repr(feedback.plain(np.float32(0.123456))) == "0.123"
    assert repr(feedback.plain(np.bool_(True))) == "True"


def test_every_tutorial_has_a_graded_exercise():
    """Every tutorial, 00 to 11, grades at least one exercise, and every
    check is used by some notebook."""
    used = set()
    for language in LANGUAGES:
        paths = sources(language)
        assert {p.stem[:2] for p in paths} >= {f"{n:02d}" for n in range(12)}
        for path in paths:
            found = graded_exercises(path)
            assert found, f"{language}/{path.stem} has no graded exercise"
            used.update(found)
    assert used == {n for n in dir(checks) if n.startswith("check_")}
