"""The generic contract every public keras_attn layer must pass.

`run_layer_contract` checks, for one layer configuration:
config round trip; eager and symbolic calls agree in shape; the layer's
`compute_output_shape` agrees with what it returns; a functional model
trains one `fit` step (finite loss, trainable weights move); `.keras`
save → reload *without custom_objects* gives identical outputs; the layer
runs under `mixed_float16` and `mixed_bfloat16` with the right output dtype
and finite values; a `jit_compile=True` model gives the eager outputs.
"""

import os
import tempfile

import keras
import numpy as np
from keras import ops


def _as_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _to_numpy_list(outputs):
    return [ops.convert_to_numpy(o) for o in _as_list(outputs)]


def _symbolic_inputs(input_data):
    return {
        name: keras.Input(
            shape=np.asarray(x).shape[1:],
            batch_size=None,
            dtype=str(np.asarray(x).dtype),
            name=name,
        )
        for name, x in input_data.items()
    }


def _call(layer, inputs, call_kwargs):
    return layer(**inputs, **call_kwargs)


def _shape_of(x):
    return tuple(np.asarray(x).shape)


def _float_outputs(outputs):
    return [o for o in outputs if np.issubdtype(o.dtype, np.floating)]


def run_layer_contract(
    layer_cls,
    init_kwargs,
    input_data,
    call_kwargs=None,
    expected_output_shape=None,
    check_compute_output_shape=True,
    expect_trainable_weights=True,
    mixed_precision=True,
    jit_compile=True,
    atol=1e-5,
):
    """Run the generic layer contract; raise AssertionError on a breach.

    Args:
        layer_cls: the layer class (must be importable and registered).
        init_kwargs: constructor arguments.
        input_data: dict `call argument name -> numpy array` (batch first);
            these become `keras.Input`s in the symbolic checks.
        call_kwargs: non-tensor call arguments (e.g. `use_causal_mask`).
        expected_output_shape: shape (or list of shapes) of the eager
            outputs, checked exactly when given.
        check_compute_output_shape: compare `compute_output_shape` with
            the eager outputs.
        expect_trainable_weights: assert that one fit step moves them.
        mixed_precision: run the float16 / bfloat16 checks.
        jit_compile: run the XLA-compiled check.
        atol: tolerance for output equality checks.
    """
    call_kwargs = dict(call_kwargs or {})

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, (config, clone.get_config())
    registered = keras.saving.get_registered_object(
        keras.saving.get_registered_name(layer_cls)
    )
    assert registered is layer_cls, "layer is not registered serializable"

    # 2. Eager call and output shapes.
    eager = _to_numpy_list(_call(layer, input_data, call_kwargs))
    if expected_output_shape is not None:
        expected = expected_output_shape
        if not isinstance(expected, list):
            expected = [expected]
        assert [o.shape for o in eager] == [tuple(s) for s in expected], (
            [o.shape for o in eager],
            expected,
        )
    for out in _float_outputs(eager):
        assert np.all(np.isfinite(out)), "non-finite eager output"

    # 3. compute_output_shape agrees with the eager call.
    if check_compute_output_shape:
        shapes = [_shape_of(x) for x in input_data.values()]
        computed = layer.compute_output_shape(*shapes)
        computed = (
            [computed]
            if isinstance(computed, tuple)
            and all(isinstance(d, (int, type(None))) for d in computed)
            else list(computed)
        )
        assert [tuple(c) for c in computed] == [o.shape for o in eager], (
            computed,
            [o.shape for o in eager],
        )

    # 4. Symbolic call (fresh layer) and a functional model.
    layer = layer_cls(**init_kwargs)
    inputs = _symbolic_inputs(input_data)
    outputs = _as_list(_call(layer, inputs, call_kwargs))
    assert len(outputs) == len(eager), (
        f"symbolic call gave {len(outputs)} outputs, eager {len(eager)}"
    )
    for sym, out in zip(outputs, eager):
        assert tuple(sym.shape[1:]) == out.shape[1:], (sym.shape, out.shape)
    model = keras.Model(inputs, outputs)
    reference = _to_numpy_list(model(input_data, training=False))

    # 5. One fit step: loss is finite and trainable weights move.
    before = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    targets = [np.zeros_like(o) + 0.5 for o in reference]
    float_idx = [
        i
        for i, o in enumerate(reference)
        if np.issubdtype(o.dtype, np.floating)
    ]
    train_model = keras.Model(inputs, [outputs[i] for i in float_idx])
    train_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = train_model.fit(
        input_data,
        [targets[i] for i in float_idx],
        batch_size=len(next(iter(input_data.values()))),
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][-1])
    after = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    if expect_trainable_weights:
        assert before, "layer has no trainable weights"
        assert any(not np.allclose(b, a) for b, a in zip(before, after)), (
            "fit step did not change any trainable weight"
        )
    reference = _to_numpy_list(model(input_data, training=False))

    # 6. .keras save -> reload without custom_objects -> same outputs.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)
    restored = _to_numpy_list(reloaded(input_data, training=False))
    for a, b in zip(reference, restored):
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)

    # 7. XLA: a jit-compiled predict gives the same outputs.
    if jit_compile and keras.backend.backend() != "torch":
        model.compile(jit_compile=True)
        compiled = _as_list(
            model.predict(input_data, batch_size=len(reference[0]), verbose=0)
        )
        for a, b in zip(reference, compiled):
            np.testing.assert_allclose(a, np.asarray(b), atol=atol, rtol=1e-4)

    # 8. Mixed precision: outputs in the compute dtype and finite.
    if mixed_precision:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            mp_layer = layer_cls(**init_kwargs, dtype=policy)
            mp_out = _as_list(_call(mp_layer, input_data, call_kwargs))
            compute = policy.split("_")[1]
            for out in mp_out:
                # str(tf.float16) is "<dtype: 'float16'>": standardize first.
                dtype = keras.backend.standardize_dtype(out.dtype)
                if "float" in dtype:
                    assert dtype == compute, (
                        policy,
                        out.dtype,
                    )
                    values = ops.convert_to_numpy(ops.cast(out, "float32"))
                    assert np.all(np.isfinite(values)), policy
    return eager
