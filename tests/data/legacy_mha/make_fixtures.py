"""Weight files written by the first release's `MultiHeadAttention`.

The first release (git commit 875b1d1) gave `keras_attn.MultiHeadAttention`
eight variables of its own (query/key/value/output kernels and biases);
the layer now keeps them in `EinsumDense` sub-layers, as
`keras.layers.MultiHeadAttention` does. `tests/test_mha_legacy_weights.py`
checks that files saved by the release still load, using the fixtures this
script writes beside itself, for each model `NAME` in `BUILDERS`:

    NAME.weights.h5   `model.save_weights` of the release model
    NAME.keras        `model.save` of the release model (members deflated)
    NAME.npz          `input_0`, `input_1`, ..., the release's `output`, and
                      `variables`: the paths of its trainable variables, in
                      the order an optimizer's state follows

It needs the release's code, not this tree's. From the repository root:

    mkdir -p /tmp/release
    git archive 875b1d1 | tar -x -C /tmp/release
    PYTHONPATH=/tmp/release python tests/data/legacy_mha/make_fixtures.py

The builders use only arguments both versions accept, so the test imports
this module and builds the same models with the current code. Weights and
inputs come from a fixed NumPy generator; biases and LayerNorm parameters
are random too, so a bias loaded into the wrong projection changes outputs.
"""

import pathlib
import sys
import zipfile

import keras
import numpy as np

from keras_attn import layers

HERE = pathlib.Path(__file__).parent


def _inputs(*shapes):
    return [keras.Input(shape, batch_size=2) for shape in shapes]


def self_attention():
    (x,) = _inputs((3, 8))
    return keras.Model(x, layers.MultiHeadAttention(2, name="attention")(x))


def head_dims():
    """Query/key depth 3, value depth 5, output 6: every kernel differs."""
    (x,) = _inputs((3, 8))
    mha = layers.MultiHeadAttention(
        2, key_dim=3, value_dim=5, output_dim=6, name="attention"
    )
    return keras.Model(x, mha(x))


def cross_attention():
    """Query, value and key of different widths (8, 6, 4)."""
    q, v, k = _inputs((3, 8), (5, 6), (5, 4))
    mha = layers.MultiHeadAttention(2, key_dim=3, value_dim=5, name="attention")
    return keras.Model([q, v, k], mha(q, v, key=k))


def no_bias():
    (x,) = _inputs((3, 8))
    mha = layers.MultiHeadAttention(2, use_bias=False, name="attention")
    return keras.Model(x, mha(x))


def transformer():
    """A post-norm encoder block and a pre-norm decoder block (causal
    self-attention, cross-attention): a tiny translator."""
    src, tgt = _inputs((5, 8), (3, 8))
    memory = layers.TransformerEncoder(
        1, num_heads=2, intermediate_dim=16, name="encoder"
    )(src)
    out = layers.TransformerDecoder(
        1, num_heads=2, intermediate_dim=16, norm_first=True, name="decoder"
    )(tgt, memory)
    return keras.Model([src, tgt], out)


BUILDERS = {
    f.__name__: f
    for f in (self_attention, head_dims, cross_attention, no_bias, transformer)
}


def _deflate(path):
    """Keras stores a `.keras` archive's members uncompressed; the same
    members deflated take a tenth of the space and load the same way."""
    with zipfile.ZipFile(path) as archive:
        members = [(i, archive.read(i)) for i in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def main():
    from keras_attn.layers import MultiHeadAttention

    if hasattr(MultiHeadAttention, "query_dense"):
        sys.exit(
            "This is the current keras_attn, not the release: run with "
            "PYTHONPATH=/tmp/release (see the module docstring)."
        )
    rng = np.random.default_rng(0)
    for name, build in BUILDERS.items():
        model = build()
        for w in model.weights:
            w.assign(rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype))
        inputs = [
            rng.normal(size=(2, *x.shape[1:])).astype("float32")
            for x in model.inputs
        ]
        output = model(inputs[0] if len(inputs) == 1 else inputs)
        output = keras.ops.convert_to_numpy(output)
        model.save_weights(HERE / f"{name}.weights.h5")
        model.save(HERE / f"{name}.keras")
        _deflate(HERE / f"{name}.keras")
        arrays = {f"input_{i}": x for i, x in enumerate(inputs)}
        paths = np.array([v.path for v in model.trainable_variables])
        np.savez_compressed(
            HERE / f"{name}.npz", output=output, variables=paths, **arrays
        )
        print(name, output.shape, keras.backend.backend())


if __name__ == "__main__":
    main()
