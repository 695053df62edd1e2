"""SE-ResNet (and its plain-ResNet twin) for 32×32 grey images.

    stem:    conv3x3(filters[0]) → BN → ReLU                 # (B, 32, 32, f0)
    stage i: blocks_per_stage × block(filters[i]), the first
             with stride 2 for i > 0                        # (B, 32/2^i, ., fi)
    head:    global average pool ("features") → Dense(10)   # logits

The block is `keras_attn.SEResidualBlock`; with `use_se=False` it is
`ResidualBlock`, the same block with the SE gate replaced by the identity,
so the two networks differ only by SE. The "features" layer (the pooled
penultimate activations) is what the SAGAN's FID-style score uses.
"""

import keras

import keras_attn

FEATURES_LAYER = "features"


@keras.saving.register_keras_serializable(package="zoo")
class ResidualBlock(keras_attn.SEResidualBlock):
    """`SEResidualBlock` without the SE gate: the plain ResNet basic block.

        y = relu(BN(conv3x3(relu(BN(conv3x3_stride(x))))) + shortcut(x))

    Same arguments, weights names and shortcut rule as `SEResidualBlock`
    (`ratio` is accepted and unused), so ResNet vs SE-ResNet compares
    exactly the SE gate.
    """

    def __init__(self, filters, **kwargs):
        super().__init__(filters, **kwargs)
        self.squeeze_excite = keras.layers.Identity(
            dtype=self.dtype_policy, name="identity_gate"
        )


def build_classifier(config, num_classes=10, image_size=32):
    """The functional classifier; outputs logits `(B, num_classes)`."""
    block = keras_attn.SEResidualBlock if config.use_se else ResidualBlock
    images = keras.Input((image_size, image_size, 1), name="images")
    x = keras.layers.Conv2D(
        config.filters[0],
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name="stem_conv",
    )(images)  # (B, 32, 32, f0)
    x = keras.layers.BatchNormalization(name="stem_norm")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(config.filters):
        for index in range(config.blocks_per_stage):
            strides = 2 if stage > 0 and index == 0 else 1
            x = block(
                filters,
                strides=strides,
                ratio=config.ratio,
                name=f"stage{stage}_block{index}",
            )(x)  # (B, 32 / 2^stage, 32 / 2^stage, filters)
    features = keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    logits = keras.layers.Dense(num_classes, name="logits")(features)
    name = "se_resnet" if config.use_se else "resnet"
    return keras.Model(images, logits, name=name)


def feature_extractor(classifier):
    """`images (B, 32, 32, 1) → features (B, filters[-1])` of a classifier."""
    return keras.Model(
        classifier.input,
        classifier.get_layer(FEATURES_LAYER).output,
        name="feature_extractor",
    )
