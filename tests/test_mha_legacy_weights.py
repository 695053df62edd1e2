"""Files saved with the first release's `MultiHeadAttention` still load.

The fixtures in `tests/data/legacy_mha/` were written by the release
(`make_fixtures.py` there says how); the same builders make the models
here with the current layers.
"""

import importlib.util
import pathlib
import re
import shutil

import h5py
import keras
import numpy as np
import pytest

from keras_attn.layers import MultiHeadAttention

DATA = pathlib.Path(__file__).parent / "data" / "legacy_mha"
ATOL = 1e-6


def _fixtures():
    spec = importlib.util.spec_from_file_location(
        "legacy_mha_fixtures", DATA / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDERS = _fixtures().BUILDERS


def _reference(name):
    data = np.load(DATA / f"{name}.npz")
    count = sum(key.startswith("input_") for key in data.files)
    inputs = [data[f"input_{i}"] for i in range(count)]
    return (inputs[0] if count == 1 else inputs), data


def _attentions(model):
    """Every `MultiHeadAttention` of a fixture model."""
    for layer in model.layers:
        if isinstance(layer, MultiHeadAttention):
            yield layer
        for block in getattr(layer, "blocks", ()):
            yield block.self_attention
            if getattr(block, "cross_attention", None) is not None:
                yield block.cross_attention


def _check_outputs(model, name):
    inputs, data = _reference(name)
    output = keras.ops.convert_to_numpy(model(inputs))
    np.testing.assert_allclose(output, data["output"], rtol=0, atol=ATOL)
    for layer in _attentions(model):
        for projection in (
            layer.query_dense,
            layer.key_dense,
            layer.value_dense,
            layer.output_dense,
        ):  # the one-shot hook that accepts the empty entry is gone
            assert "load_own_variables" not in vars(projection)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_release_weights_file_loads(name):
    model = BUILDERS[name]()
    model.load_weights(DATA / f"{name}.weights.h5")
    _check_outputs(model, name)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_release_keras_file_loads(name):
    model = keras.models.load_model(DATA / f"{name}.keras")
    assert any(True for _ in _attentions(model))
    _check_outputs(model, name)


def test_variables_keep_the_release_order():
    # An optimizer's state in a `.keras` file is stored by this order.
    _, data = _reference("transformer")
    renamed = [
        re.sub(
            r"/(query|key|value|attention_output)/(kernel|bias)$",
            lambda m: f"/{m[1].replace('attention_', '')}_{m[2]}",
            v.path,
        )
        for v in BUILDERS["transformer"]().trainable_variables
    ]
    assert renamed == list(data["variables"])


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype))


def _self_attention_with_sinks():
    x = keras.Input((3, 8), batch_size=2)
    mha = MultiHeadAttention(2, use_sinks=True, name="attention")
    return keras.Model(x, mha(x))


@pytest.mark.parametrize(
    "build",
    [
        BUILDERS["transformer"],
        BUILDERS["cross_attention"],
        _self_attention_with_sinks,
    ],
)
def test_current_format_still_loads(build, tmp_path):
    model = build()
    _randomize(model, 1)
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(2, *x.shape[1:])) for x in model.inputs]
    inputs = inputs[0] if len(inputs) == 1 else inputs
    expected = keras.ops.convert_to_numpy(model(inputs))
    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.keras")
    fresh = build()
    fresh.load_weights(tmp_path / "m.weights.h5")
    for loaded in (fresh, keras.models.load_model(tmp_path / "m.keras")):
        got = keras.ops.convert_to_numpy(loaded(inputs))
        np.testing.assert_array_equal(got, expected)


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_file_of_neither_format_raises(tmp_path):
    path = tmp_path / "broken.weights.h5"
    shutil.copy(DATA / "self_attention.weights.h5", path)
    with h5py.File(path, "a") as f:  # drop the output bias
        del f["layers/multi_head_attention/vars/7"]
    model = BUILDERS["self_attention"]()
    before = _weights(model)
    with pytest.raises(ValueError) as info:
        model.load_weights(path)
    message = str(info.value)
    assert "MultiHeadAttention 'attention'" in message
    assert "Received: 7 variables of shapes [(8, 2, 4), (2, 4)," in message
    assert "(2, 4, 8)]" in message  # the output kernel, last received
    for old, new in zip(before, _weights(model)):
        np.testing.assert_array_equal(old, new)  # nothing half-loaded


def test_release_file_of_other_shapes_raises():
    model = BUILDERS["self_attention"]()  # key/value depth 4, not 3 and 5
    with pytest.raises(
        ValueError,
        match=r"Received: 8 variables of shapes "
        r"\[\(8, 2, 3\), \(2, 3\)",
    ):
        model.load_weights(DATA / "head_dims.weights.h5")


def test_release_file_cannot_fill_sinks():
    model = _self_attention_with_sinks()
    with pytest.raises(ValueError, match="never had.*sinks"):
        model.load_weights(DATA / "self_attention.weights.h5")


def test_direct_call_never_swallows_a_later_entry(tmp_path):
    # Called by hand (not by Keras' walk), the release loader leaves its
    # one-shot hooks behind; the next real entry must still load.
    model = BUILDERS["self_attention"]()
    _randomize(model, 3)
    inputs, _ = _reference("self_attention")
    expected = keras.ops.convert_to_numpy(model(inputs))
    model.save_weights(tmp_path / "current.weights.h5")
    with h5py.File(DATA / "self_attention.weights.h5") as f:
        group = f["layers/multi_head_attention/vars"]
        release = {key: group[key][()] for key in group}
    model.get_layer("attention").load_own_variables(release)
    model.load_weights(tmp_path / "current.weights.h5")
    got = keras.ops.convert_to_numpy(model(inputs))
    np.testing.assert_array_equal(got, expected)
