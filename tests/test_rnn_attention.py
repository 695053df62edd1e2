import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.layers.bahdanau_attention import BahdanauAttention
from keras_attn.layers.luong_attention import LuongAttention
from tests.layer_contract import run_layer_contract

B, T, S, DQ, DK, DV, U = 2, 3, 5, 6, 4, 8, 7
RNG = np.random.default_rng(0)
QUERY = RNG.normal(size=(B, T, DQ)).astype("float32")
KEY = RNG.normal(size=(B, S, DK)).astype("float32")
VALUE = RNG.normal(size=(B, S, DV)).astype("float32")
VALUE_DQ = RNG.normal(size=(B, S, DQ)).astype("float32")


def _np(x):
    return ops.convert_to_numpy(x)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _reference_scores(layer, query, key):
    """NumPy scores (B, T, S) from the layer's own weights."""
    if isinstance(layer, BahdanauAttention) or layer.score == "concat":
        q = query @ _np(layer.query_dense.kernel)  # (B, T, U)
        k = key @ _np(layer.key_dense.kernel)  # (B, S, U)
        hidden = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        return hidden @ _np(layer.score_vector)
    if layer.score == "general":
        query = query @ _np(layer.query_dense.kernel)  # (B, T, Dk)
    return query @ np.swapaxes(key, -1, -2)


CASES = [
    (BahdanauAttention, {"units": U}, QUERY, KEY, VALUE),
    (LuongAttention, {"score": "dot"}, QUERY, None, VALUE_DQ),
    (LuongAttention, {"score": "general"}, QUERY, KEY, VALUE),
    (LuongAttention, {"score": "concat", "units": U}, QUERY, KEY, VALUE),
]


@pytest.mark.filterwarnings("ignore:The model does not have any trainable")
@pytest.mark.parametrize("cls,kwargs,query,key,value", CASES)
def test_contract(cls, kwargs, query, key, value):
    data = {"query": query, "value": value}
    if key is not None:
        data["key"] = key
    run_layer_contract(
        cls,
        kwargs,
        data,
        expected_output_shape=(B, T, value.shape[-1]),
        expect_trainable_weights=kwargs.get("score") != "dot",
    )


def test_contract_single_step_with_weights():
    run_layer_contract(
        BahdanauAttention,
        {"units": U, "dropout": 0.1, "seed": 1},
        {"query": QUERY[:, 0], "value": VALUE},
        call_kwargs={"return_attention_scores": True},
        expected_output_shape=[(B, DV), (B, S)],
        check_compute_output_shape=False,
    )


@pytest.mark.parametrize("cls,kwargs,query,key,value", CASES)
def test_matches_numpy_reference(cls, kwargs, query, key, value):
    layer = cls(**kwargs)
    context, weights = layer(
        query, value, key=key, return_attention_scores=True
    )
    key = value if key is None else key
    ref_weights = _softmax(_reference_scores(layer, query, key))
    np.testing.assert_allclose(_np(weights), ref_weights, atol=1e-5)
    np.testing.assert_allclose(_np(context), ref_weights @ value, atol=1e-5)


def test_single_step_equals_length_one_sequence():
    layer = LuongAttention(score="general")
    step, w_step = layer(QUERY[:, 1], VALUE, KEY, return_attention_scores=True)
    seq, w_seq = layer(QUERY[:, 1:2], VALUE, KEY, return_attention_scores=True)
    assert tuple(step.shape) == (B, DV) and tuple(w_step.shape) == (B, S)
    np.testing.assert_allclose(_np(step), _np(seq)[:, 0], atol=1e-6)
    np.testing.assert_allclose(_np(w_step), _np(w_seq)[:, 0], atol=1e-6)


@pytest.mark.parametrize("cls,kwargs,query,key,value", CASES)
def test_value_mask_zero_weights_and_padding_invariance(
    cls, kwargs, query, key, value
):
    layer = cls(**kwargs)
    key = value if key is None else key
    lengths = np.array([3, 5])
    value_mask = np.arange(S)[None, :] < lengths[:, None]  # (B, S)
    context, weights = layer(
        query, value, key, value_mask=value_mask, return_attention_scores=True
    )
    weights = _np(weights)
    assert np.all(weights[0, :, 3:] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    # Padding invariance: the padded example equals the unpadded one.
    short, short_w = layer(
        query[:1],
        value[:1, :3],
        key[:1, :3],
        return_attention_scores=True,
    )
    np.testing.assert_allclose(_np(context)[:1], _np(short), atol=1e-5)
    np.testing.assert_allclose(weights[:1, :, :3], _np(short_w), atol=1e-5)
    # Changing the padded values changes nothing.
    noisy = value.copy()
    noisy[0, 3:] = 100.0
    again = layer(query, noisy, key, value_mask=value_mask)
    np.testing.assert_allclose(_np(again), _np(context), atol=1e-5)


def test_explicit_mask_equals_value_mask():
    layer = BahdanauAttention(units=U)
    value_mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    a = layer(QUERY, VALUE, KEY, value_mask=value_mask)
    b = layer(QUERY, VALUE, KEY, attention_mask=value_mask[:, None, :])
    np.testing.assert_allclose(_np(a), _np(b), atol=1e-6)
    # A single step takes a (B, S) attention mask.
    c, w = layer(
        QUERY[:, 0],
        VALUE,
        KEY,
        attention_mask=value_mask,
        return_attention_scores=True,
    )
    assert np.all(_np(w)[~value_mask] == 0.0)
    np.testing.assert_allclose(_np(c), _np(a)[:, 0], atol=1e-5)


def test_keras_masks_are_consumed_and_query_mask_propagates():
    embed = keras.layers.Embedding(10, DV, mask_zero=True)
    ids = np.array([[4, 2, 7, 0, 0], [1, 3, 5, 8, 9]])
    value = embed(ids)  # carries a (B, S) Keras mask
    q_embed = keras.layers.Embedding(10, DV, mask_zero=True)
    q_ids = np.array([[3, 0, 0], [2, 6, 1]])
    query = q_embed(q_ids)
    layer = LuongAttention(score="dot")
    out, weights = layer(query, value, return_attention_scores=True)
    weights = _np(weights)
    assert np.all(weights[0, :, 3:] == 0.0)
    # Padded queries get zero weights and a zero context.
    assert np.all(weights[0, 1:] == 0.0) and np.all(_np(out)[0, 1:] == 0.0)
    np.testing.assert_allclose(weights[0, 0].sum(), 1.0, atol=1e-6)
    np.testing.assert_array_equal(_np(out._keras_mask), q_ids != 0)
    explicit = layer(
        _np(query), _np(value), value_mask=ids != 0, query_mask=q_ids != 0
    )
    np.testing.assert_allclose(_np(out), _np(explicit), atol=1e-6)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: BahdanauAttention(units=0), "units=0"),
        (lambda: BahdanauAttention(units=4, dropout=1.5), "dropout=1.5"),
        (lambda: LuongAttention(score="cosine"), "score='cosine'"),
        (lambda: LuongAttention(score="dot", units=4), "units=4"),
        (lambda: LuongAttention(score="concat", units=-2), "units=-2"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_dot_score_rejects_mismatched_depths():
    with pytest.raises(ValueError, match="key_shape=.*4"):
        LuongAttention(score="dot")(QUERY, VALUE, KEY)


def test_non_boolean_mask_is_rejected():
    with pytest.raises(ValueError, match="value_mask|mask"):
        BahdanauAttention(units=U)(
            QUERY, VALUE, value_mask=np.ones((B, S), "float32")
        )
