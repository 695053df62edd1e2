"""Metrics for zoo models: token accuracy, and scores of generated images.

`MaskedAccuracy` is the token accuracy of the sequence models.

The image scores are FID-style and Inception-style scores computed with a
classifier the zoo trains itself (the SAGAN uses the SE-ResNet trained by
`python -m zoo train se-resnet`). **Not the Inception-based FID/IS.** The
standard FID (Heusel et al. 2017) and Inception Score (Salimans et al.
2016) use an ImageNet-trained Inception-v3; its weights cannot be fetched
here, and an ImageNet network is a poor judge of 32×32 grey clothing
anyway. Their values are comparable only with other values computed with
the same feature network (same work directory), never with published
FID/IS numbers.

* FID-style score: the Fréchet distance between Gaussians fitted to the
  classifier's pooled penultimate features of real and generated images:
      d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½)
  (the symmetric form of Tr (Σ₁Σ₂)^½, computed with `eigh`: real and
  stable, no complex `sqrtm` round-off). Lower is better; 0 for identical
  sets.
* Inception-style score: exp(E_x KL(p(y|x) ‖ p(y))) with the classifier's
  softmax over its classes, mean ± std over splits. 1 (worst) to the
  number of classes.
"""

import keras
import numpy as np
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


def _sqrt_psd(matrix):
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    values = np.clip(values, 0.0, None)
    return (vectors * np.sqrt(values)) @ vectors.T


def frechet_distance(mu_1, sigma_1, mu_2, sigma_2):
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (float64)."""
    mu_1, mu_2 = np.asarray(mu_1, "float64"), np.asarray(mu_2, "float64")
    sigma_1 = np.asarray(sigma_1, "float64")
    sigma_2 = np.asarray(sigma_2, "float64")
    root_1 = _sqrt_psd(sigma_1)
    middle = root_1 @ sigma_2 @ root_1
    middle = (middle + middle.T) / 2.0  # symmetric up to round-off
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0, None)))
    diff = mu_1 - mu_2
    value = diff @ diff + np.trace(sigma_1) + np.trace(sigma_2)
    return float(max(value - 2.0 * trace_sqrt, 0.0))


def feature_statistics(features):
    """Mean `(D,)` and covariance `(D, D)` of features `(N, D)`."""
    features = np.asarray(features, "float64")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_of_features(features_1, features_2):
    """The Fréchet distance of two feature sets `(N, D)`, `(M, D)`."""
    return frechet_distance(
        *feature_statistics(features_1), *feature_statistics(features_2)
    )


def inception_style_score(probabilities, splits=10):
    """`(mean, std)` of exp(E KL(p(y|x) ‖ p(y))) over `splits` chunks."""
    probabilities = np.asarray(probabilities, "float64")
    scores = []
    for chunk in np.array_split(probabilities, splits):
        marginal = chunk.mean(axis=0, keepdims=True)  # p(y)
        kl = chunk * (np.log(chunk + 1e-12) - np.log(marginal + 1e-12))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


class FeatureScorer:
    """FID-style and Inception-style scores from one trained classifier.

    Args:
        classifier: a Keras model, images → class logits (for the SAGAN,
            the se-resnet `model.keras`: `(B, 32, 32, 1)` in [-1, 1]).
        features_model: images → the features the Fréchet distance
            compares (`(B, D)`, e.g. the classifier's pooled penultimate
            layer).
        batch_size: prediction batch size.
    """

    def __init__(self, classifier, features_model, batch_size=500):
        self.classifier = classifier
        self.features_model = features_model
        self.batch_size = batch_size

    def features(self, images):
        return self.features_model.predict(
            images, batch_size=self.batch_size, verbose=0
        )

    def probabilities(self, images):
        logits = self.classifier.predict(
            images, batch_size=self.batch_size, verbose=0
        )
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    def fid_style(self, images_1, images_2):
        """Fréchet distance of the features of two image sets."""
        return frechet_distance_of_features(
            self.features(images_1), self.features(images_2)
        )

    def inception_style(self, images, splits=10):
        return inception_style_score(self.probabilities(images), splits)
