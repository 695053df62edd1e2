"""Weight files of the first release's `MultiHeadAttention` (875b1d1).

That layer created eight variables of its own, in this order: query,
key, value and output kernels, each followed by its bias (four kernels
without `use_bias`). The layer now keeps them in its `EinsumDense`
sub-layers (`query_dense`, `key_dense`, `value_dense`, `output_dense`),
with the same shapes: kernels `(D, N, H)` and `(N, Hv, D_out)`, biases
`(N, H)` and `(D_out,)`. So a release file has, under the layer's path,
the eight variables and no entries for the sub-layers.

Keras (3.15) loads a `.weights.h5` or `.keras` file by walking the
layers: each layer's `load_own_variables(store)` gets the file's entry at
the layer's path (an empty store when the file has none), first the layer,
then its sub-layers by attribute path (`.../attention/query_dense`). A
layer whose entry does not match its variables raises; `load_weights` and
`load_model` go on with the rest, then raise one `ValueError` listing
every such layer (`skip_mismatch=True` only warns). A missing entry is no
exception: the sub-layer raises "expected 2 variables, but received 0".

So `MultiHeadAttention.load_own_variables` hands a store with more entries
than the layer writes itself (`save_own_variables`: nothing, or `sinks`)
to `load_release_store`. That checks every shape against the release's
layout (else a `ValueError` with the shapes expected and received, before
anything is assigned), loads each projection through the sub-layer's own
`load_own_variables` (so LoRA and dtype handling stay Keras'), and lets
each sub-layer accept the one empty entry Keras passes it next.
"""

_PROJECTIONS = ("query_dense", "key_dense", "value_dense", "output_dense")


def is_release_store(layer, store):
    """Whether `store`, the file's entry for the built `layer`, holds more
    variables than the layer saves itself: a release file or neither."""
    own = {}
    layer.save_own_variables(own)
    return layer.built and len(store.keys()) > len(own)


def load_release_store(layer, store):
    """Load the release's variables in `store` into `layer`'s projections."""
    projections = [getattr(layer, name) for name in _PROJECTIONS]
    counts = [1 if p.bias is None else 2 for p in projections]
    expected = [
        tuple(w.shape)
        for p in projections
        for w in (p.kernel, p.bias)
        if w is not None
    ]  # the release's order: kernel, bias per projection
    received = {k: tuple(store[k].shape) for k in store.keys()}
    if received != {str(i): shape for i, shape in enumerate(expected)}:
        shapes = [received[k] for k in sorted(received, key=_index)]
        raise ValueError(
            f"MultiHeadAttention '{layer.path or layer.name}' cannot load "
            "the weights file's entry for it: it is neither this layer's "
            "format (projections in the sub-layers query, key, value, "
            "attention_output) nor the first keras_attn release's (query, "
            "key, value, output kernels, each followed by its bias). "
            f"Expected (release): {expected}. Received: {len(received)} "
            f"variables of shapes {shapes}"
        )
    extra = [
        w.path
        for w in layer.weights
        if not any(w is v for p in projections for v in p.weights)
    ]
    if extra:
        raise ValueError(
            f"MultiHeadAttention '{layer.path or layer.name}' holds weights "
            "the first keras_attn release never had, so a file of that "
            "release cannot fill them. Build the layer as in the release "
            "(no use_sinks, qk_norm, use_gate, position_bias). Received: "
            f"a release file; weights without a value: {extra}"
        )
    values = iter(store[str(i)] for i in range(len(expected)))
    for projection, count in zip(projections, counts):
        projection.load_own_variables(
            {str(i): next(values) for i in range(count)}  # kernel[, bias]
        )
        _accept_next_empty_entry(projection)


def _index(key):
    """Store keys are "0", "1", ...: sorted by number, others last."""
    return (not key.isdigit(), len(key), key)


def _accept_next_empty_entry(projection):
    """Keras visits `projection` right after its parent, with the release
    file's entry for it, which is empty: accept that one entry."""

    def load_own_variables(store):
        del projection.load_own_variables  # the class's method again
        if len(store.keys()):
            projection.load_own_variables(store)

    projection.load_own_variables = load_own_variables
