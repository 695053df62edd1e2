"""Model zoo: reference models built from `keras_attn` layers."""
