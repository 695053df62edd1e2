"""Text generation from any model that exposes one step function.

A model exposes

    step_fn(token_ids, state, index) -> (logits, new_state)

`token_ids` are the `(N,)` previous tokens, at position `index` (a scalar
int32 tensor; a Python int while an eager prompt is fed token by token);
`logits` are the `(N, V)` next-token logits; `state` is any
nest (tuples, named tuples such as `keras_attn.SelfAttentionCache` and
`CrossAttentionCache`, dicts) of tensors with leading axis N: an RNN
state, a fixed-size KV cache, the prefix so far. Optionally a prompt is
prefilled in one call by `prefill_fn(prompt_ids (N, P), state) ->
(logits (N, V) after the prompt, state)` (a GPT fills its KV cache with
the whole prompt, then generates one token per step).

The samplers, `greedy_search`, `beam_search` (GNMT length penalty,
finished hypotheses kept) and `sample` (temperature, top-k, top-p), run the
step function in a `keras.ops.while_loop` with fixed shapes: batched,
stopping when every row has produced the end token, and compilable once
under `tf.function(jit_compile=True)` and `jax.jit`. On PyTorch
`keras.ops.while_loop` is a Python loop: it runs eagerly (not under
`torch.compile`, untested). Tokens stream to a `callback` in eager mode.
"""

from keras_attn.generation.beam import beam_search
from keras_attn.generation.beam import length_penalty
from keras_attn.generation.greedy import greedy_search
from keras_attn.generation.sampling import sample

__all__ = ["beam_search", "greedy_search", "length_penalty", "sample"]
