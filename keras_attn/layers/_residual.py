"""The residual wrapper shared by the Transformer blocks."""


def residual(x, sublayer, layer_norm, dropout, norm_first, training):
    """Post-norm `LN(x + drop(f(x)))` or pre-norm `x + drop(f(LN(x)))`.

    `sublayer` maps the (normalised) input to a tuple whose first item is
    the branch output; the rest (attention maps, caches) is passed back.
    """
    branch_in = layer_norm(x) if norm_first else x
    out, *extras = sublayer(branch_in)
    y = x + dropout(out, training=training)
    if not norm_first:
        y = layer_norm(y)
    return y, extras
