"""`memory_efficient_attention` against a dense float64 NumPy reference.

Sizes are tiny and pairwise distinct (B 2, N 4, Nkv 2, T 13, S 19, H 8,
Hv 6) with chunks of 5 queries and 7 keys, so every run has several
blocks, a partial last block (padding) and more than one head per kv
group. The reference (`_reference`) is the dense formula with its
analytic backward; `test_reference_gradients_match_finite_differences`
checks that backward, so the other tests can trust it.
"""

import math
import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.ops.memory_efficient import fused_kernel_available
from keras_attn.ops.memory_efficient import memory_efficient_attention

B, N, NKV, T, S, H, HV = 2, 4, 2, 13, 19, 8, 6
CHUNKS = dict(query_chunk_size=5, key_chunk_size=7)
BACKEND = keras.config.backend()
GRADS = ("query", "key", "value", "bias", "relative_bias_table", "sinks")
SLOPES = np.array([0.5, 0.25, 0.125, 0.0625], "float32")


def _np(x):
    return ops.convert_to_numpy(x)


def _inputs(seed=0, t=T, s=S, nkv=NKV):
    rng = np.random.default_rng(seed)
    return {
        "query": rng.normal(size=(B, N, t, H)).astype("float32"),
        "key": rng.normal(size=(B, nkv, s, H)).astype("float32"),
        "value": rng.normal(size=(B, nkv, s, HV)).astype("float32"),
        "upstream": rng.normal(size=(B, N, t, HV)).astype("float32"),
    }


def _bucket(relative, bidirectional, num_buckets, max_distance):
    """T5's bucketing in NumPy (mesh-tensorflow's `_relative_position_
    bucket`), float32 logs like the library."""
    n = -relative
    bucket = np.zeros_like(n)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (n < 0) * num_buckets
        n = np.abs(n)
    else:
        n = np.maximum(n, 0)
    exact = num_buckets // 2
    ratio = np.log(np.maximum(n, 1).astype("float32") / exact)
    large = exact + (
        ratio / math.log(max_distance / exact) * (num_buckets - exact)
    ).astype("int32")
    large = np.minimum(large, num_buckets - 1)
    return bucket + np.where(n < exact, n, large)


def _reference(q, k, v, upstream, **kw):
    """Dense attention and its gradients (of sum(out · upstream)), float64."""
    q, k, v, up = (np.asarray(x, "float64") for x in (q, k, v, upstream))
    t, s, g = q.shape[2], k.shape[2], q.shape[1] // k.shape[1]
    kk, vv = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)  # n -> n // g
    scale = kw.get("scale") or 1 / math.sqrt(q.shape[-1])
    cap = kw.get("logit_soft_cap")
    raw = np.einsum("bnth,bnsh->bnts", q, kk) * scale
    logits = cap * np.tanh(raw / cap) if cap else raw
    p = kw.get("query_offset", 0) + np.arange(t)[:, None]  # (T, 1)
    j = np.arange(s)[None, :]
    allowed = np.ones(raw.shape, bool)
    if kw.get("mask") is not None:
        allowed = allowed & np.broadcast_to(kw["mask"], raw.shape)
    if kw.get("causal"):
        allowed = allowed & (j <= p)
    if kw.get("sliding_window"):
        allowed = allowed & (np.abs(p - j) < kw["sliding_window"])
    bias = kw.get("bias")
    if bias is not None:
        logits = logits + bias
    if kw.get("alibi_slopes") is not None:
        slopes = np.asarray(kw["alibi_slopes"], "float64")
        logits = logits - slopes[:, None, None] * np.abs(p - j)
    table = kw.get("relative_bias_table")
    if table is not None:
        buckets = _bucket(
            j - p,
            kw.get("relative_bias_bidirectional", True),
            table.shape[0],
            kw.get("relative_bias_max_distance", 128),
        )
        logits = logits + np.asarray(table, "float64")[buckets].transpose(
            2, 0, 1
        )
    top = np.where(allowed, logits, -np.inf).max(-1, keepdims=True)
    sinks = kw.get("sinks")
    if sinks is not None:
        sinks = np.asarray(sinks, "float64")[None, :, None, None]
        top = np.maximum(top, sinks)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(allowed, np.exp(np.where(allowed, logits, 0.0) - top), 0.0)
    denominator = e.sum(-1, keepdims=True)
    if sinks is not None:
        denominator = denominator + np.exp(sinks - top)
    denominator = np.where(denominator > 0, denominator, 1.0)
    w = e / denominator
    seen = allowed.any(-2)[..., None]  # key rows some query may see
    kk, vv = np.where(seen, kk, 0.0), np.where(seen, vv, 0.0)
    out = w @ vv
    grads = {}
    dw = up @ np.swapaxes(vv, -1, -2)
    delta = (up * out).sum(-1, keepdims=True)
    dlogits = np.where(allowed, w * (dw - delta), 0.0)
    dvv = np.swapaxes(w, -1, -2) @ up
    grads["value"] = dvv.reshape(B, -1, g, s, vv.shape[-1]).sum(2)
    if sinks is not None:
        grads["sinks"] = -(np.exp(sinks - top) / denominator * delta).sum(
            (0, 2, 3)
        )
    if bias is not None:
        db = dlogits.sum(tuple(range(4 - np.ndim(bias))))
        axes = tuple(a for a, n in enumerate(np.shape(bias)) if n == 1)
        grads["bias"] = db.sum(axes, keepdims=True)
    if table is not None:
        dt = np.zeros(table.shape)
        per_head = dlogits.sum(0)  # (N, T, S)
        for n in range(table.shape[1]):
            np.add.at(dt[:, n], buckets, per_head[n])
        grads["relative_bias_table"] = dt
    draw = dlogits * (1 - np.tanh(raw / cap) ** 2) if cap else dlogits
    draw = np.where(allowed, draw, 0.0)
    grads["query"] = draw @ kk * scale
    dkk = np.swapaxes(draw, -1, -2) @ q * scale
    grads["key"] = dkk.reshape(B, -1, g, s, kk.shape[-1]).sum(2)
    return out, grads


def _run(data, wrt=("query", "key", "value"), dtype="float32", **kw):
    """Our op and the gradients of sum(out · upstream) w.r.t. `wrt`.

    tf.GradientTape (eager) on TensorFlow, jax.grad under jax.jit on JAX
    (one compile per configuration; eager JAX compiles every loop anyway),
    torch.autograd on PyTorch. Tensor-valued `kw` entries named in `wrt`
    are differentiated; a tensor `query_offset` goes in as a traced input.
    Query, key and value are cast to `dtype` inside; the output comes back
    as float32 and the output dtype is checked to be `dtype`.
    """
    arrays = {n: data[n] for n in ("query", "key", "value")}
    arrays.update({n: kw.pop(n) for n in wrt if n in kw})
    if not isinstance(kw.get("query_offset", 0), int):
        arrays["query_offset"] = kw.pop("query_offset")
    names = list(arrays)
    upstream = data["upstream"]

    def fn(*xs):
        args = dict(zip(names, xs))
        q, k, v = (
            ops.cast(args.pop(n), dtype) for n in ("query", "key", "value")
        )
        out = memory_efficient_attention(q, k, v, **args, **kw, **CHUNKS)
        assert keras.backend.standardize_dtype(out.dtype) == dtype
        return ops.cast(out, "float32")

    n_grad = len(names) - ("query_offset" in names)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(arrays[n]) for n in names]
        with tf.GradientTape() as tape:
            tape.watch(xs[:n_grad])
            out = fn(*xs)
            loss = tf.reduce_sum(out * upstream)
        grads = tape.gradient(loss, xs[:n_grad])
    elif BACKEND == "jax":
        import jax

        def loss(*xs):
            out = fn(*xs)
            return (out * upstream).sum(), out

        step = jax.value_and_grad(loss, tuple(range(n_grad)), has_aux=True)
        args = [arrays[n] for n in names]
        # Compiling dominates these tiny runs; without LLVM's optimisations
        # it takes about 40% less time (the same XLA program).
        options = {"xla_backend_optimization_level": 0}
        step = jax.jit(step).lower(*args).compile(options)
        (_, out), grads = step(*args)
    else:
        import torch

        xs = [torch.as_tensor(_np(arrays[n])) for n in names]
        for x in xs[:n_grad]:
            x.requires_grad_(True)
        out = fn(*xs)
        (out * torch.tensor(upstream)).sum().backward()
        grads = [x.grad for x in xs[:n_grad]]
    return _np(out), {n: _np(g) for n, g in zip(names, grads)}


def _check(data, wrt=("query", "key", "value"), atol=1e-5, **kw):
    """Values and gradients agree with the float64 reference."""
    ref_kw = dict(kw)
    if "query_offset" in ref_kw:
        ref_kw["query_offset"] = int(_np(ref_kw["query_offset"]))
    out, grads = _run(data, wrt, **kw)
    ref, ref_grads = _reference(
        data["query"], data["key"], data["value"], data["upstream"], **ref_kw
    )
    np.testing.assert_allclose(out, ref, atol=atol, err_msg="output")
    assert set(grads) == set(wrt)
    for name in wrt:
        np.testing.assert_allclose(
            grads[name], ref_grads[name], atol=atol, err_msg=name
        )
    return out, grads


def test_reference_gradients_match_finite_differences():
    # The analytic NumPy backward is what the other tests compare with, so
    # check it once, in float64, on every feature at once.
    rng = np.random.default_rng(5)
    data = _inputs(5, t=5, s=7)
    fixed = dict(
        mask=rng.random((B, 1, 5, 7)) > 0.2,
        causal=True,
        query_offset=2,
        sliding_window=5,
        alibi_slopes=SLOPES,
        relative_bias_max_distance=5,
        logit_soft_cap=1.5,
    )
    args = {n: np.asarray(data[n], "float64") for n in ("query", "key")}
    args["value"] = np.asarray(data["value"], "float64")
    args["bias"] = rng.normal(size=(N, 5, 7))
    args["relative_bias_table"] = rng.normal(size=(6, N))
    args["sinks"] = rng.normal(size=N)

    def forward(a):
        a = dict(a)
        q, k, v = (a.pop(n) for n in ("query", "key", "value"))
        return _reference(q, k, v, data["upstream"], **a, **fixed)

    def loss(a):
        return (forward(a)[0] * data["upstream"]).sum()

    grads = forward(args)[1]
    for name, x in args.items():
        for index in list(np.ndindex(x.shape))[:: max(1, x.size // 6)]:
            step = np.zeros_like(x)
            step[index] = 1e-6
            numeric = (
                loss({**args, name: x + step}) - loss({**args, name: x - step})
            ) / 2e-6
            assert abs(numeric - grads[name][index]) < 1e-6, (name, index)


@pytest.mark.parametrize(
    "mask_shape, bias_shape, nkv",
    [
        ((B, 1, 1, S), (B, N, T, S), 2),  # key padding; a full bias
        ((1, 1, T, S), (1, N, 1, S), 1),  # shared 2-D mask; per-key bias; MQA
        ((B, N, T, S), (B, 1, T, 1), 4),  # per-head mask; per-query bias; MHA
        ((T, S), (T, S), 2),  # rank 2, broadcast over B and N
    ],
)
def test_mask_bias_shapes_and_head_groups(mask_shape, bias_shape, nkv):
    # Each bias layout takes a different gradient route (full: its own
    # pass over block pairs; no key axis: the dQ pass; no query axis: the
    # dK/dV pass), and the head groups are 2 (GQA), 4 (MQA) and 1 (MHA).
    rng = np.random.default_rng(1)
    mask = rng.random(mask_shape) > 0.3
    bias = rng.normal(size=bias_shape).astype("float32")
    _check(_inputs(nkv=nkv), GRADS[:4], mask=mask, bias=bias)


@pytest.mark.parametrize("tensor_offset", [False, True])
def test_causal_with_query_offset(tensor_offset):
    # T != S: 13 queries continuing a cache at position 20 of 37 keys, so
    # the last 4 keys are in the future of every query.
    offset = ops.convert_to_tensor(20, "int32") if tensor_offset else 20
    _check(_inputs(t=T, s=37), causal=True, query_offset=offset)


def test_decoding_step_t1_with_a_tensor_offset():
    data = _inputs(2, t=1, s=37)
    offset = ops.convert_to_tensor(29, "int32")
    _check(data, causal=True, query_offset=offset, sliding_window=9)


@pytest.mark.parametrize("causal", [True, False])
def test_sliding_window_with_alibi(causal):
    # Bidirectional: the window reaches 5 keys ahead and behind.
    _check(
        _inputs(3),
        causal=causal,
        sliding_window=6,
        query_offset=3,
        alibi_slopes=SLOPES,
    )


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_bias_table(bidirectional):
    table = np.random.default_rng(6).normal(size=(10, N)).astype("float32")
    _check(
        _inputs(6, t=T, s=37),
        GRADS[:3] + ("relative_bias_table",),
        relative_bias_table=table,
        relative_bias_bidirectional=bidirectional,
        relative_bias_max_distance=24,
        query_offset=9,
    )


def test_soft_cap_scale_and_sinks():
    # Logits scaled up so the cap (tanh) saturates some of them.
    sinks = np.array([0.5, -1.0, 2.0, 0.0], "float32")
    _check(
        _inputs(7),
        GRADS[:3] + ("sinks",),
        scale=1.5,
        logit_soft_cap=3.0,
        sinks=sinks,
        causal=True,
    )


@pytest.mark.parametrize("sinks", [False, True])
def test_rows_with_no_allowed_key_are_zero_with_finite_gradients(sinks):
    # A negative offset puts the first 3 queries before every key, and the
    # mask empties one more row and the whole second batch element.
    mask = np.ones((B, N, T, S), bool)
    mask[0, 1, 7] = False
    mask[1] = False
    kw = dict(mask=mask, causal=True, query_offset=-3)
    wrt = GRADS[:3]
    if sinks:
        kw["sinks"] = np.array([0.5, -1.0, 2.0, 0.0], "float32")
        wrt += ("sinks",)
    out, grads = _check(_inputs(9), wrt, **kw)
    assert np.all(out[:, :, :3] == 0) and np.all(out[0, 1, 7] == 0)
    assert np.all(out[1] == 0) and np.all(grads["query"][1] == 0)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_nan_in_masked_key_and_value_rows_reaches_nothing():
    # Key padding (keys 20-22 of example 0) and keys no query may see
    # (past offset + T - 1 = 28) hold NaN and inf, as a padded batch or a
    # stale KV cache would; the result must be the clean inputs' result.
    mask = np.ones((B, 1, 1, 37), bool)
    mask[0, ..., 20:23] = False
    kw = dict(mask=mask, causal=True, query_offset=16, logit_soft_cap=4.0)
    clean = _inputs(10, t=T, s=37)
    dirty = dict(clean)
    for name, poison in (("key", np.nan), ("value", np.inf)):
        x = clean[name].copy()
        x[0, :, 20:23] = poison
        x[:, :, 29:] = poison
        dirty[name] = x
    out, grads = _run(dirty, **kw)
    ref, ref_grads = _reference(
        clean["query"], clean["key"], clean["value"], clean["upstream"], **kw
    )
    np.testing.assert_allclose(out, ref, atol=1e-5)
    for name in ("query", "key", "value"):
        assert np.all(np.isfinite(grads[name])), name
        np.testing.assert_allclose(grads[name], ref_grads[name], atol=1e-5)
    assert np.all(grads["key"][:, :, 29:] == 0)


def test_bfloat16_inputs_match_the_float32_result():
    # The float32 result of the same (rounded) inputs is the float64
    # reference within 1e-5 (every other test), far below bfloat16's
    # resolution, so we compare with the reference. Statistics and blocks
    # are float32 and the output is rounded to bfloat16 once: |out| < 2
    # here, where bfloat16's half-ulp is at most 2**-8, so |out - ref| <=
    # 2**-8 + 1e-5. (bfloat16 statistics miss that by 2-3x.) Gradients are
    # rounded once too (half-ulp 2**-7 for |grad| < 4) after using the
    # rounded output in D = rowsum(dO · O): atol 2**-6.
    data = {
        n: _np(ops.cast(ops.cast(x, "bfloat16"), "float32"))
        for n, x in _inputs(11).items()
    }
    kw = dict(causal=True, alibi_slopes=SLOPES, query_offset=2)
    ref, ref_grads = _reference(
        data["query"], data["key"], data["value"], data["upstream"], **kw
    )
    out, grads = _run(data, dtype="bfloat16", **kw)
    assert np.abs(ref).max() < 2
    assert np.abs(out - ref).max() > 1e-5  # it did run in bfloat16
    np.testing.assert_allclose(out, ref, atol=2.0**-8 + 1e-5, rtol=0)
    for name in ("query", "key", "value"):
        assert np.abs(ref_grads[name]).max() < 4
        np.testing.assert_allclose(
            grads[name], ref_grads[name], atol=2.0**-6, rtol=0
        )


@pytest.mark.skipif(BACKEND == "jax", reason="JAX runs float32 by default")
def test_float64_inputs_keep_float64_statistics():
    # float32 statistics would leave errors near 1e-7; float64 ones 1e-15.
    data = {n: x.astype("float64") for n, x in _inputs(12).items()}
    q, k, v = (data[n] for n in ("query", "key", "value"))
    out = memory_efficient_attention(q, k, v, causal=True, **CHUNKS)
    assert keras.backend.standardize_dtype(out.dtype) == "float64"
    ref, _ = _reference(q, k, v, data["upstream"], causal=True)
    np.testing.assert_allclose(_np(out), ref, atol=1e-12)


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit")
def test_jax_jit_graph_does_not_grow_with_length():
    # Every JAX run above is under jax.jit (see `_run`); here the traced
    # program, forward and backward, is the same size for 4x the length.
    import jax

    def size(t):
        data = _inputs(t=t, s=t)
        q, k, v = (data[n] for n in ("query", "key", "value"))

        def loss(q, k, v):
            out = memory_efficient_attention(q, k, v, causal=True, **CHUNKS)
            return out.sum()

        jaxpr = jax.make_jaxpr(jax.grad(loss, (0, 1, 2)))(q, k, v)
        return len(str(jaxpr).splitlines())

    assert size(4 * 35) == size(35)


@pytest.mark.tf_only
@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.function")
def test_tf_function_xla_and_unknown_lengths():
    import tensorflow as tf

    data = _inputs(13)
    mask = np.random.default_rng(13).random((B, 1, T, S)) > 0.3
    kw = dict(mask=mask, causal=True, query_offset=3, sliding_window=8)
    ref, ref_grads = _reference(
        data["query"], data["key"], data["value"], data["upstream"], **kw
    )

    def step(q, k, v, mask, offset):
        with tf.GradientTape() as tape:
            tape.watch([q, k, v])
            out = memory_efficient_attention(
                q,
                k,
                v,
                **{**kw, "mask": mask, "query_offset": offset},
                **CHUNKS,
            )
            loss = tf.reduce_sum(out * data["upstream"])
        return out, tape.gradient(loss, [q, k, v])

    unknown = [
        tf.TensorSpec((None, N, None, H)),
        tf.TensorSpec((None, NKV, None, H)),
        tf.TensorSpec((None, NKV, None, HV)),
        tf.TensorSpec((None, 1, None, None), tf.bool),
        tf.TensorSpec((), tf.int32),
    ]
    args = [data["query"], data["key"], data["value"], mask, 3]
    for fn in (
        tf.function(step, jit_compile=True),
        tf.function(step, input_signature=unknown),
    ):
        out, grads = fn(*(tf.constant(a) for a in args))
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)
        for name, grad in zip(("query", "key", "value"), grads):
            np.testing.assert_allclose(grad.numpy(), ref_grads[name], atol=1e-5)

    @tf.function
    def loss_and_grads(q, k, v):
        with tf.GradientTape() as tape:
            tape.watch([q, k, v])
            out = memory_efficient_attention(q, k, v, causal=True, **CHUNKS)
            loss = tf.reduce_sum(out)
        return tape.gradient(loss, [q, k, v])

    def graph_size(t):  # the loops are while ops: no growth with T
        specs = [(B, N, t, H), (B, NKV, t, H), (B, NKV, t, HV)]
        specs = [tf.TensorSpec(shape) for shape in specs]
        graph = loss_and_grads.get_concrete_function(*specs).graph
        return len(graph.get_operations())

    # (Lengths where every zeros tensor is big enough to be a Fill op:
    # TensorFlow makes small ones Const ops, which shifts the count by 1.)
    assert graph_size(4 * 70) == graph_size(70)


class _TinyT5Attention(keras.layers.Layer):
    """Self-attention with a trainable relative table and sinks."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=(8, 2), initializer="zeros")
        self.sinks = self.add_weight(shape=(2,), initializer="zeros")

    def call(self, x):  # (B, T, 8)
        heads = ops.transpose(ops.reshape(x, (-1, 6, 2, 4)), (0, 2, 1, 3))
        out = memory_efficient_attention(
            heads,
            heads,
            heads,
            causal=True,
            relative_bias_table=self.table,
            sinks=self.sinks,
            query_chunk_size=4,
            key_chunk_size=4,
        )  # (B, 2, T, 4)
        return ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, 6, 8))


def test_model_fit_trains_the_relative_table_and_sinks():
    x = np.random.default_rng(14).normal(size=(4, 6, 8)).astype("float32")
    inputs = keras.Input((6, 8))
    model = keras.Model(inputs, _TinyT5Attention()(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    history = model.fit(x, x[:, ::-1], batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    table, sinks = (_np(w) for w in model.layers[-1].weights)
    assert np.abs(table).max() > 0 and np.abs(sinks).max() > 0


def _bad(name):
    q = np.zeros((B, N, T, H), "float32")
    k = np.zeros((B, NKV, S, H), "float32")
    v = np.zeros((B, NKV, S, HV), "float32")
    cases = {
        "key": dict(key=np.zeros((B, 3, S, H), "float32")),  # 4 % 3
        "query": dict(query=np.zeros((B, N, T, 5), "float32")),  # depth
        "value": dict(value=np.zeros((B, NKV, S + 1, HV), "float32")),
        "query_chunk_size": dict(query_chunk_size=0),
        "key_chunk_size": dict(key_chunk_size=2.5),
        "sliding_window": dict(sliding_window=0),
        "mask": dict(mask=np.ones((B, 1, 1, S), "float32")),
        "bias": dict(bias=np.zeros((B, 3, T, S), "float32")),
        "relative_bias_table": dict(
            relative_bias_table=np.zeros((8, N + 1), "float32")
        ),
        "alibi_slopes": dict(alibi_slopes=np.ones((N, 1), "float32")),
        "sinks": dict(sinks=np.zeros((NKV,), "float32")),
        "query_offset": dict(query_offset=1.5),
        "logit_soft_cap": dict(logit_soft_cap=-1.0),
        "scale": dict(scale=0.0),
    }
    kw = dict(query=q, key=k, value=v, **CHUNKS) | cases[name]
    return kw


@pytest.mark.parametrize(
    "name, received",
    [
        ("key", "key.shape=(2, 3, 19, 8)"),
        ("query", "query.shape=(2, 4, 13, 5)"),
        ("value", "value.shape=(2, 2, 20, 6)"),
        ("query_chunk_size", "query_chunk_size=0"),
        ("key_chunk_size", "key_chunk_size=2.5"),
        ("sliding_window", "sliding_window=0"),
        ("mask", "mask.dtype=float32"),
        ("bias", "bias.shape=(2, 3, 13, 19)"),
        ("relative_bias_table", "relative_bias_table.shape=(8, 5)"),
        ("alibi_slopes", "alibi_slopes.shape=(4, 1)"),
        ("sinks", "sinks.shape=(2,)"),
        ("query_offset", "query_offset=1.5"),
        ("logit_soft_cap", "logit_soft_cap=-1.0"),
        ("scale", "scale=0.0"),
    ],
)
def test_bad_arguments_raise_a_value_error_naming_them(name, received):
    kw = _bad(name)
    with pytest.raises(ValueError, match=re.escape(received)):
        memory_efficient_attention(
            kw.pop("query"), kw.pop("key"), kw.pop("value"), **kw
        )


def test_fused_kernel_decision():
    # On this CPU the probe fails on every backend; the rules that need no
    # probe hold everywhere.
    assert not fused_kernel_available("float32", 64)
    assert not fused_kernel_available("bfloat16", 64, sinks=np.zeros(2))
    assert not fused_kernel_available("float16", 64, dropout=0.1)
    assert not fused_kernel_available("bfloat16", 64, logit_soft_cap=30.0)
    assert not fused_kernel_available("bfloat16", 64)  # no GPU here
