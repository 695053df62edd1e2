"""Reference solutions to the exercises of tutorials 0-11.

Try the exercises first. A notebook uses these only where it says so:
each exercise cell ends with `name = solutions.if_requested(name)`, which
returns your function unchanged unless `KERAS_ATTN_TUTORIAL_SOLUTIONS=1`
is set (as the tests that execute the notebooks do), and says so when it
swaps. The checks never fall back to these.
"""

import os
import sys

import numpy as np
from keras import ops

from .feedback import say

ENV = "KERAS_ATTN_TUTORIAL_SOLUTIONS"


def requested():
    return os.environ.get(ENV, "") not in ("", "0")


def if_requested(answer):
    """`answer`, or the reference solution of the same name when
    `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` (printed, never silent)."""
    if not requested():
        return answer
    name = answer.__name__
    print(say("solution_used", name=name))
    return getattr(sys.modules[__name__], name)


# --- 01 -----------------------------------------------------------------------


def attention_context(dec, states):
    """Dot-product attention of decoder states over encoder states."""
    scores = ops.matmul(dec, ops.swapaxes(states, 1, 2))  # (B, T, S)
    weights = ops.softmax(scores, axis=-1)  # over encoder positions
    context = ops.matmul(weights, states)  # (B, T, U)
    return context, weights


# --- 02 -----------------------------------------------------------------------


def attention(query, key, value, mask=None):
    """softmax(Q Kᵀ / √d_k) V with a boolean mask, True = may attend."""
    depth = query.shape[-1]
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2))  # (B, T, S)
    scores = scores / np.sqrt(depth)
    if mask is not None:
        scores = ops.where(mask, scores, -1e9)  # masked keys -> -1e9
    weights = ops.softmax(scores, axis=-1)  # (B, T, S), rows sum to 1
    return ops.matmul(weights, value), weights  # (B, T, Hv), (B, T, S)


# --- 03 -----------------------------------------------------------------------


def split_heads(x, num_heads):
    """(B, T, D) -> (B, N, T, H) with H = D // N."""
    batch, length, depth = x.shape
    x = ops.reshape(x, (batch, length, num_heads, depth // num_heads))
    return ops.transpose(x, (0, 2, 1, 3))  # (B, N, T, H)


def merge_heads(x):
    """(B, N, T, H) -> (B, T, N * H), the inverse of `split_heads`."""
    batch, heads, length, depth = x.shape
    x = ops.transpose(x, (0, 2, 1, 3))  # (B, T, N, H)
    return ops.reshape(x, (batch, length, heads * depth))  # (B, T, N*H)


# --- 04 -----------------------------------------------------------------------


def sinusoid_table(length, depth, max_wavelength=10000.0):
    pos = np.arange(length)[:, None]  # (L, 1)
    two_i = np.arange(0, depth, 2)[None, :]  # (1, D/2)
    angle = pos / max_wavelength ** (two_i / depth)  # (L, D/2)
    table = np.zeros((length, depth), "float32")
    table[:, 0::2] = np.sin(angle)  # even dims
    table[:, 1::2] = np.cos(angle)  # odd dims
    return table


# --- 05 -----------------------------------------------------------------------


def decoder_self_mask(decoder_in):
    """(B, T) ids, 0 = pad -> (B, T, T) bool, True = may attend."""
    length = decoder_in.shape[1]
    pad = (decoder_in != 0)[:, None, :]  # (B, 1, T): real keys
    look_ahead = np.tril(np.ones((length, length), bool))  # (T, T)
    return pad & look_ahead  # (B, T, T)


# --- 06 -----------------------------------------------------------------------


def additive_scores(query, keys, w_q, w_k, v):
    """e_ts = vᵀ tanh(W_q q_t + W_k k_s): (B, T, S)."""
    q = ops.matmul(query, w_q)[:, :, None, :]  # (B, T, 1, units)
    k = ops.matmul(keys, w_k)[:, None, :, :]  # (B, 1, S, units)
    return ops.matmul(ops.tanh(q + k), v)  # (B, T, S)


# --- 07 -----------------------------------------------------------------------


def squeeze_excite(x, w1, b1, w2, b2):
    """(B, H, W, C) -> (B, H, W, C), and the gates (B, C)."""
    squeezed = ops.mean(x, axis=(1, 2))  # (B, C): squeeze
    hidden = ops.relu(ops.matmul(squeezed, w1) + b1)  # (B, C/r)
    gates = ops.sigmoid(ops.matmul(hidden, w2) + b2)  # (B, C): excite
    return x * gates[:, None, None, :], gates  # scale every channel


# --- 08 -----------------------------------------------------------------------


def sagan_attention(x, w_q, w_k, w_v, w_o, gamma):
    """SAGAN self-attention with 1×1 kernels given as (C_in, C_out)."""
    b, height, width, c = x.shape
    flat = ops.reshape(x, (b, height * width, c))  # (B, N, C)
    q = ops.matmul(flat, w_q)  # g: (B, N, C/r)
    k = ops.matmul(flat, w_k)  # f: (B, N, C/r)
    v = ops.matmul(flat, w_v)  # h: (B, N, C/2)
    beta = ops.softmax(ops.matmul(q, ops.swapaxes(k, 1, 2)), axis=-1)
    o = ops.matmul(ops.matmul(beta, v), w_o)  # (B, N, C)
    y = gamma * o + flat
    return ops.reshape(y, (b, height, width, c)), beta


# --- 09 -----------------------------------------------------------------------


def mask_80_10_10(tokens, chosen, action, random_words, mask_id):
    """BERT's corruption of the chosen tokens, and the loss weights."""
    inputs = tokens.copy()
    inputs[chosen & (action < 0.8)] = mask_id  # 80%: [MASK]
    swap = chosen & (action >= 0.8) & (action < 0.9)  # 10%: random word
    inputs[swap] = random_words[swap]
    return inputs, chosen.astype("float32")  # 10% unchanged; loss on all


# --- 10 -----------------------------------------------------------------------


def split_window(windows):
    """(N, T+1) -> inputs (N, T), targets (N, T): shifted by one."""
    return windows[:, :-1], windows[:, 1:]


def next_char_probs(logits, temperature):
    z = logits / temperature
    z = z - z.max()  # stability
    p = np.exp(z)
    return p / p.sum()


# --- 00 -----------------------------------------------------------------------


def attend(scores, values):
    """Scores (T, S) -> weights (softmax over the keys) -> the weighted
    average of the values (S, Dv): output (T, Dv), weights (T, S)."""
    weights = ops.softmax(scores, axis=-1)  # each row sums to 1
    return ops.matmul(weights, values), weights  # (T, Dv), (T, S)


# --- 00b ----------------------------------------------------------------------


def feed_forward(x, w1, b1, w2, b2):
    """FFN(x) = max(0, x W1 + b1) W2 + b2 at every position."""
    hidden = ops.maximum(0.0, ops.matmul(x, w1) + b1)  # (B, T, F)
    return ops.matmul(hidden, w2) + b2  # (B, T, D)


# --- 11 -----------------------------------------------------------------------


def apply_rope(x, max_wavelength=10000.0):
    """RoPE, rotate-half layout: x (B, T, N, H), positions 0..T-1."""
    length, depth = x.shape[1], x.shape[-1]
    i = np.arange(depth // 2)  # the pair index
    theta = max_wavelength ** (-2.0 * i / depth)  # (H/2,)
    angles = np.arange(length)[:, None] * theta  # (T, H/2): p · θ_i
    angles = np.concatenate([angles, angles], -1)[:, None, :]  # (T, 1, H)
    x1, x2 = x[..., : depth // 2], x[..., depth // 2 :]  # the two halves
    rotated = ops.concatenate([-x2, x1], axis=-1)  # (B, T, N, H)
    return x * np.cos(angles) + rotated * np.sin(angles)
