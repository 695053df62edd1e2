"""Every public core layer goes through the generic contract."""

import numpy as np
import pytest

import keras_attn
from tests.layer_contract import run_layer_contract

B, T, S, D = 2, 3, 5, 8
rng = np.random.default_rng(0)
X = rng.normal(size=(B, T, D)).astype("float32")
MEM = rng.normal(size=(B, S, 6)).astype("float32")
IDS = np.array([[3, 5, 0], [7, 1, 2]], "int32")

CASES = {
    "ScaledDotProductAttention": (
        keras_attn.ScaledDotProductAttention,
        {"dropout": 0.1, "seed": 1},
        {"query": X, "value": rng.normal(size=(B, S, D)).astype("float32")},
        {},
        (B, T, D),
        False,
    ),
    "MultiHeadAttention/self": (
        keras_attn.MultiHeadAttention,
        {"num_heads": 2, "dropout": 0.1},
        {"query": X},
        {"use_causal_mask": True},
        (B, T, D),
        True,
    ),
    "MultiHeadAttention/cross": (
        keras_attn.MultiHeadAttention,
        {"num_heads": 2, "key_dim": 3, "value_dim": 5, "output_dim": 7},
        {"query": X, "value": MEM},
        {},
        (B, T, 7),
        True,
    ),
    "SinusoidalPositionEncoding": (
        keras_attn.SinusoidalPositionEncoding,
        {"max_wavelength": 100.0},
        {"inputs": X},
        {},
        (B, T, D),
        False,
    ),
    "PositionEmbedding": (
        keras_attn.PositionEmbedding,
        {"max_length": 6},
        {"inputs": X},
        {},
        (B, T, D),
        True,
    ),
    "TokenAndPositionEmbedding": (
        keras_attn.TokenAndPositionEmbedding,
        {
            "vocabulary_size": 11,
            "max_length": 6,
            "embedding_dim": D,
            "mask_zero": True,
        },
        {"token_ids": IDS},
        {},
        (B, T, D),
        True,
    ),
    "FeedForward": (
        keras_attn.FeedForward,
        {"intermediate_dim": 12, "activation": "gelu", "dropout": 0.1},
        {"inputs": X},
        {},
        (B, T, D),
        True,
    ),
    "TransformerEncoderBlock": (
        keras_attn.TransformerEncoderBlock,
        {"num_heads": 2, "intermediate_dim": 12, "dropout": 0.1},
        {"inputs": X},
        {},
        (B, T, D),
        True,
    ),
    "TransformerDecoderBlock": (
        keras_attn.TransformerDecoderBlock,
        {"num_heads": 2, "intermediate_dim": 12, "norm_first": True},
        {"inputs": X, "encoder_outputs": MEM},
        {},
        (B, T, D),
        True,
    ),
    "TransformerEncoder": (
        keras_attn.TransformerEncoder,
        {"num_layers": 2, "num_heads": 2, "intermediate_dim": 12},
        {"inputs": X},
        {},
        (B, T, D),
        True,
    ),
    "TransformerDecoder": (
        keras_attn.TransformerDecoder,
        {
            "num_layers": 2,
            "num_heads": 2,
            "intermediate_dim": 12,
            "norm_first": True,
        },
        {"inputs": X},
        {},
        (B, T, D),
        True,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_contract(case):
    cls, init, data, call, shape, trainable = CASES[case]
    run_layer_contract(
        cls,
        init,
        data,
        call_kwargs=call,
        expected_output_shape=shape,
        expect_trainable_weights=trainable,
    )


def test_every_public_layer_has_a_contract_case():
    covered = {cls.__name__ for cls, *_ in CASES.values()}
    assert covered == set(keras_attn.layers.__all__)
