"""Training pieces shared by pretraining and fine-tuning: the optimizer and
the attention plot."""

import keras
import numpy as np

from zoo.bert.tokenizer import CLS_ID
from zoo.bert.tokenizer import SEP_ID

# BERT applies no weight decay to LayerNorm scales/offsets and biases.
NO_DECAY = ["gamma", "beta", "bias"]


def make_optimizer(
    learning_rate, total_steps, warmup_fraction, weight_decay, clipnorm
):
    """AdamW; linear warmup to `learning_rate`, then cosine decay to 0."""
    warmup = int(round(warmup_fraction * total_steps))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        schedule, weight_decay=weight_decay, clipnorm=clipnorm
    )
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer


def attention_of(encoder, tokenizer, sentence, layer, max_length):
    """`(tokens, weights (N, T, T))` of a layer over `[CLS] sentence [SEP]`."""
    ids = tokenizer.tokenize([sentence])[0].numpy()[: max_length - 2]
    ids = np.array([[CLS_ID, *ids, SEP_ID]], "int32")
    outputs = encoder(
        {"token_ids": ids, "segment_ids": np.zeros_like(ids)},
        training=False,
        return_attention_scores=True,
    )
    weights = keras.ops.convert_to_numpy(outputs["attention_scores"][layer])
    return tokenizer.tokens(ids[0]), weights[0]


def save_attention_plot(encoder, tokenizer, sentence, layer, max_length, path):
    """All heads of one layer over a sentence, as a PNG at `path`."""
    from keras_attn.visualize import plot_attention_heads

    layer = layer % encoder.num_layers
    tokens, weights = attention_of(
        encoder, tokenizer, sentence, layer, max_length
    )
    figure = plot_attention_heads(
        weights,
        tokens,
        tokens,
        ncols=min(4, weights.shape[0]),
        title=f"BERT self-attention, layer {layer}",
    )
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path
