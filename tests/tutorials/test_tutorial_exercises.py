"""Every exercise check passes the solution and names each listed mistake."""

import sys
from pathlib import Path

import numpy as np
import pytest
from keras import ops

sys.path.insert(0, str(Path(__file__).parents[2] / "tutorials"))

from exercises import checks  # noqa: E402
from exercises import solutions  # noqa: E402


def _check(check, answer):
    with pytest.raises(checks.ExerciseError) as info:
        check(answer)
    return str(info.value)


def _stub(*args, **kwargs):
    raise NotImplementedError("exercise")


# --- split_heads -------------------------------------------------------------


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


@pytest.mark.parametrize(
    "answer, words",
    [
        (_stub, "not implemented"),
        (split_no_transpose, "forgot to transpose"),
        (split_reshape_straight, "reshaped straight to (B, N, T, H)"),
        (split_wrong_order, "not (B, T, H, N)"),
        (split_depth_before_time, "(0, 2, 1, 3)"),
        (split_into_batch, "folds the heads into the batch"),
    ],
)
def test_split_heads_check_names_the_mistake(answer, words):
    assert words in _check(checks.check_split_heads, answer)


# --- merge_heads -------------------------------------------------------------


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


@pytest.mark.parametrize(
    "answer, words",
    [
        (_stub, "not implemented"),
        (merge_reshape_straight, "transpose to (B, T, N, H) first"),
        (merge_interleaved, "interleaved"),
        (merge_time_and_depth, "merged time and depth"),
        (merge_no_reshape, "did not reshape"),
    ],
)
def test_merge_heads_check_names_the_mistake(answer, words):
    assert words in _check(checks.check_merge_heads, answer)


# --- attention ---------------------------------------------------------------


def _attention(scale=None, axis=-1, softmax=True, mask_fn=None, values=True):
    """A solution with exactly one mistake switched on."""

    def attention(query, key, value, mask=None):
        depth = query.shape[-1]
        s = depth**-0.5 if scale is None else scale(depth)
        scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) * s
        if mask_fn is not None:
            mask = mask_fn(mask)
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        weights = ops.softmax(scores, axis=axis) if softmax else scores
        return ops.matmul(weights, value if values else key), weights

    return attention


def attention_scores_transposed(query, key, value, mask=None):
    out, weights = solutions.attention(query, key, value, mask)
    return out, ops.swapaxes(weights, -1, -2)


def attention_output_only(query, key, value, mask=None):
    return solutions.attention(query, key, value, mask)[0]


def attention_output_off(query, key, value, mask=None):
    out, weights = solutions.attention(query, key, value, mask)
    return out + 0.1, weights


def attention_nan(query, key, value, mask=None):
    out, weights = solutions.attention(query, key, value, mask)
    return out * np.nan, weights


@pytest.mark.parametrize(
    "answer, words",
    [
        (_stub, "not implemented"),
        (attention_output_only, "must return a pair"),
        (_attention(softmax=False), "forgot the softmax"),
        (_attention(axis=-2), "query axis (-2)"),
        (_attention(axis=0), "batch axis (0)"),
        (_attention(scale=lambda d: 1.0), "not scaled"),
        (_attention(scale=lambda d: 1.0 / d), "divided by d_k"),
        (_attention(scale=lambda d: d**0.5), "multiplied by √d_k"),
        (_attention(mask_fn=ops.logical_not), "polarity is inverted"),
        (_attention(mask_fn=lambda m: None), "mask is ignored"),
        (_attention(values=False), "weighted sum of the values"),
        (attention_scores_transposed, "shape (2, 7, 5)"),
        (attention_nan, "NaN"),
        (attention_output_off, "output (weights @ V) has the right shape"),
    ],
)
def test_attention_check_names_the_mistake(answer, words):
    assert words in _check(checks.check_attention, answer)


@pytest.mark.parametrize(
    "check, solution",
    [
        (checks.check_split_heads, solutions.split_heads),
        (checks.check_merge_heads, solutions.merge_heads),
        (checks.check_attention, solutions.attention),
    ],
)
def test_solutions_pass(check, solution, capsys):
    check(solution)
    assert checks.run(check, solution, None) is solution
    assert "✓" in capsys.readouterr().out


def test_run_falls_back_to_the_solution(capsys):
    used = checks.run(checks.check_split_heads, _stub, solutions.split_heads)
    assert used is solutions.split_heads
    assert "not implemented" in capsys.readouterr().out
