"""Metrics the zoo's sequence models share."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class MaskedAccuracy(keras.metrics.Metric):
    """Token accuracy over the labels that are not `pad_id`.

    Counts its own hits and valid tokens, so the result does not depend on
    whether the predictions carry a Keras mask (a function metric would be
    averaged with the predictions' mask when there is one, and over the
    padding when there is none).
    """

    def __init__(self, pad_id=0, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.hits = self.add_variable((), "zeros", name="hits")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "`MaskedAccuracy` takes no `sample_weight`: padding is "
                "masked by `pad_id`. Received: sample_weight of shape "
                f"{tuple(sample_weight.shape)}"
            )
        labels = ops.cast(y_true, "int32")
        valid = ops.cast(ops.not_equal(labels, self.pad_id), "float32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        hits = ops.cast(ops.equal(predicted, labels), "float32") * valid
        self.hits.assign_add(ops.sum(hits))
        self.count.assign_add(ops.sum(valid))

    def result(self):
        return ops.divide_no_nan(self.hits, self.count)

    def reset_state(self):
        self.hits.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
