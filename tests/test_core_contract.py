"""Every public core layer goes through the generic contract."""

import ast
import pathlib

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
    "TransformerDecoder/llama-style": (
        keras_attn.TransformerDecoder,
        {
            "num_layers": 2,
            "num_heads": 4,
            "intermediate_dim": 12,
            "norm_first": True,
            "normalization": "rms_norm",
            "activation": "swiglu",
            "use_bias": False,
            "num_key_value_heads": 2,
            "rotary_embedding": True,
            "sliding_window": 2,
            "position_bias": "relative",
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


def _contract_covered_names():
    """Class names that some test file passes to `run_layer_contract`.

    Looks at the first argument of every `run_layer_contract` call, the
    `@pytest.mark.parametrize` values of the function making the call (and
    the module-level lists they name), and this module's CASES.
    """
    names = {cls.__name__ for cls, *_ in CASES.values()}
    for path in pathlib.Path(__file__).parent.glob("test_*.py"):
        tree = ast.parse(path.read_text())
        module_values = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            calls = [
                n
                for n in ast.walk(func)
                if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "run_layer_contract"
            ]
            if not calls:
                continue
            for node in [c.args[0] for c in calls] + func.decorator_list:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
                        if sub.id in module_values:  # a module-level list
                            for item in ast.walk(module_values[sub.id]):
                                if isinstance(item, ast.Name):
                                    names.add(item.id)
                    elif isinstance(sub, ast.Attribute):
                        names.add(sub.attr)
    return names


def test_every_public_layer_goes_through_the_contract():
    missing = set(keras_attn.layers.__all__) - _contract_covered_names()
    assert not missing, f"no contract test for {sorted(missing)}"
